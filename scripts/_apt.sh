# ensure_apt_packages PKG...: install the Debian packages that are missing (only as root on Debian;
# elsewhere it does nothing and whatever needs them says so). Sourced, not executed.
ensure_apt_packages() {
  command -v dpkg >/dev/null 2>&1 && [ "$(id -u)" = 0 ] || return 0
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}
