"""Resumable, checksum-verified, atomic file downloads.

A download goes to ``<target>.part``; an interrupted one resumes with an HTTP
``Range`` request.  Only a file whose sha256 matches is renamed into place, so
a reader never sees a partial or corrupt model.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

CHUNK = 1 << 20
PROGRESS_EVERY_S = 5.0


class DownloadError(RuntimeError):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download_verified(url: str, target: Path, sha256: str, *, timeout_s: float = 60.0, client: httpx.Client | None = None) -> Path:
    """Download ``url`` to ``target`` unless a verified copy is already there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(target.name + ".lock")
    # A file lock so two workers sharing one model directory download once.
    with open(lock_path, "w") as lock_handle:
        fcntl.flock(lock_handle, fcntl.LOCK_EX)
        try:
            if target.exists() and (not sha256 or sha256_of(target) == sha256):
                return target
            _fetch_to_part(url, target, sha256, timeout_s, client)
        finally:
            fcntl.flock(lock_handle, fcntl.LOCK_UN)
    try:
        lock_path.unlink()
    except FileNotFoundError:
        pass
    return target


def _fetch_to_part(url: str, target: Path, sha256: str, timeout_s: float, client: httpx.Client | None) -> None:
    part = target.with_name(target.name + ".part")
    own_client = client is None
    client = client or httpx.Client(follow_redirects=True, timeout=timeout_s, headers={"User-Agent": "immich-zh-plugin-service"})
    try:
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416:  # the .part is already complete (or bigger than the file)
                offset = 0
                part.unlink(missing_ok=True)
                response.close()
                return _fetch_to_part(url, target, sha256, timeout_s, client)
            if response.status_code not in (200, 206):
                raise DownloadError(f"GET {_safe(url)} answered HTTP {response.status_code}")
            if response.status_code == 200 and offset:
                log.info("server ignored the range request; restarting %s", target.name)
                offset = 0
            total = _total_size(response, offset)
            mode = "ab" if offset else "wb"
            done, last_report = offset, time.monotonic()
            if offset:
                log.info("resuming %s at %d bytes", target.name, offset)
            with open(part, mode) as handle:
                for chunk in response.iter_bytes():  # as received: an interrupted transfer keeps what arrived
                    handle.write(chunk)
                    done += len(chunk)
                    if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                        last_report = time.monotonic()
                        log.info("downloading %s: %s", target.name, _progress(done, total))
                handle.flush()
                os.fsync(handle.fileno())
    except httpx.HTTPError as exc:
        raise DownloadError(f"GET {_safe(url)} failed: {exc}") from exc
    finally:
        if own_client:
            client.close()
    actual = sha256_of(part)
    if sha256 and actual != sha256:  # an empty sha256 is an unpinned file (logged by the store)
        part.unlink(missing_ok=True)  # a corrupt partial must not be resumed
        raise DownloadError(f"checksum mismatch for {target.name} from {_safe(url)}: expected {sha256}, got {actual}")
    os.replace(part, target)
    log.info("downloaded %s (%d bytes) from %s", target.name, target.stat().st_size, _safe(url))


def _total_size(response: httpx.Response, offset: int) -> int | None:
    length = response.headers.get("content-length")
    return int(length) + (offset if response.status_code == 206 else 0) if length else None


def _progress(done: int, total: int | None) -> str:
    mib = done / (1 << 20)
    return f"{mib:.1f} MiB of {total / (1 << 20):.1f} MiB ({100 * done / total:.0f}%)" if total else f"{mib:.1f} MiB"


def _safe(url: str) -> str:
    """The URL without credentials or query string, for logs."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"", query=None))
