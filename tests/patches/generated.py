"""Regenerate the files Immich generates, in a patched Immich development tree, with Immich's own generators.

    python -m tests.patches.generated ../immich-dev [--only open-api,sdk,dart,sql]

- OpenAPI spec: the server's `dist/bin/sync-open-api.js` (what `mise run //server:sync-open-api` runs);
- TypeScript SDK: `oazapfts@7.5.0` with the arguments of Immich's `mise.toml` (`open-api-typescript`);
- Dart client (`mobile/openapi`): Immich's `open-api/bin/generate-dart-sdk.sh` with the openapi-generator version
  pinned in `open-api/openapitools.json`. Its usual launcher (`@openapitools/openapi-generator-cli`) downloads the
  jar from Maven Central, which is unreachable here; the same release's jar ships in the `openapi-generator-cli`
  wheel on PyPI, so that jar is used (checked: the unpatched v3.1.0 spec regenerates `mobile/openapi` byte for byte);
- `server/src/queries/*.sql` from `@GenerateSql`: the server's `dist/bin/sync-sql.js` against a real database
  (embedded PostgreSQL 18 + pgvector migrated by the patched server itself, then the zh_search layer installed by
  `plugin-service db upgrade`, so the layer's queries are recorded with their real SQL, not errors).

Node 24 and pnpm 11 come from IMMICH_NODE_BIN_DIR or PATH; the server is built first (`nest build`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tests._paths import REPO_ROOT
from tests.immich._series import NodeTools, node_tools
from tests.immich.e2e import stack

OAZAPFTS = "oazapfts@7.5.0"
STEPS = ("open-api", "sdk", "dart", "sql")


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 1200) -> None:
    print(f"$ {' '.join(cmd)}   (in {cwd})", flush=True)
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")


def openapi_generator(tree: Path, cache: Path) -> Path:
    """A directory with an `openapi-generator-cli` launcher of the version Immich pins, from the PyPI wheel."""
    version = json.loads((tree / "open-api" / "openapitools.json").read_text())["generator-cli"]["version"]
    jar = cache / f"openapi-generator-{version}.jar"
    if not jar.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as download:
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-d",
                    download,
                    f"openapi-generator-cli=={version}",
                ],
                cache,
                dict(os.environ),
                600,
            )
            wheel = next(Path(download).glob("*.whl"))
            with zipfile.ZipFile(wheel) as archive:
                member = next(name for name in archive.namelist() if name.endswith("openapi-generator.jar"))
                jar.write_bytes(archive.read(member))
    bin_dir = cache / f"bin-{version}"
    bin_dir.mkdir(exist_ok=True)
    launcher = bin_dir / "openapi-generator-cli"
    launcher.write_text(f'#!/bin/sh\nexec java -jar "{jar}" "$@"\n')
    launcher.chmod(0o755)
    return bin_dir


def sync_sql(tree: Path, tools: NodeTools) -> None:
    """Run sync-sql against a database migrated by the patched server, with the zh_search layer on top."""
    server = tree / "server"
    with stack.immich_services() as (scratch, pg, redis_port, ml_url):
        immich, _ = stack.start_immich(server, scratch, tools.env, pg.port, redis_port, ml_url)
        immich.stop()  # the schema is migrated once the API listens
        _run(
            [sys.executable, "-m", "plugin_service", "db", "--database-url", pg.url("immich"), "upgrade"],
            REPO_ROOT,
            dict(os.environ),
            600,
        )
        env = {
            **tools.env,
            "DB_URL": f"postgres://postgres:postgres@127.0.0.1:{pg.port}/immich",
            # as in Immich's CI (VectorChord), so the committed SQL matches what upstream would generate
            "DB_VECTOR_EXTENSION": "vectorchord",
        }
        _run(["node", "dist/bin/sync-sql.js"], server, env, 1200)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path, help="patched Immich tree with dependencies installed")
    parser.add_argument("--only", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}")
    parser.add_argument("--no-build", action="store_true", help="the server's dist/ is current")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "immich-generators")
    args = parser.parse_args(argv)
    steps = {step.strip() for step in args.only.split(",") if step.strip()}
    if unknown := steps - set(STEPS):
        parser.error(f"unknown steps: {sorted(unknown)}")
    tree = args.tree.resolve()
    tools = node_tools()
    if isinstance(tools, str):
        raise SystemExit(tools)

    if not args.no_build and steps & {"open-api", "sql"}:
        _run(["pnpm", "exec", "nest", "build"], tree / "server", tools.env)
    if "open-api" in steps:
        _run(["node", "dist/bin/sync-open-api.js"], tree / "server", tools.env)
    if "sdk" in steps:
        _run(
            [
                "pnpm",
                "dlx",
                OAZAPFTS,
                "--optimistic",
                "--argumentStyle=object",
                "--useEnumType",
                "--allSchemas",
                "open-api/immich-openapi-specs.json",
                "packages/sdk/src/fetch-client.ts",
            ],
            tree,
            tools.env,
        )
    if "dart" in steps:
        bin_dir = openapi_generator(tree, args.cache)
        env = {**tools.env, "PATH": f"{bin_dir}{os.pathsep}{tools.env['PATH']}"}
        _run(["bash", "./bin/generate-dart-sdk.sh"], tree / "open-api", env)
    if "sql" in steps:
        sync_sql(tree, tools)
    print("regenerated: " + ", ".join(step for step in STEPS if step in steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
