"""Resumable, checksum-verified, atomic file downloads.

A download goes to ``<target>.part``; only a complete file (and, when pinned, one whose sha256
matches) is renamed into place, so a reader never sees a partial or corrupt model.

An interrupted download resumes only when the bytes that follow are known to belong to the same
file: the first response's strong ETag (or Last-Modified) is kept in ``<target>.part.json``, the
resume asks ``Range: bytes=N-`` with ``If-Range`` set to it, and the answer is appended only if it
is a 206 whose ``Content-Range`` starts at N and whose total and validator match.  Anything else
(a 200, a 206 from another offset, another total or ETag, no validator at all) starts again from
byte zero.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
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


def download_verified(
    url: str, target: Path, sha256: str, *, timeout_s: float = 60.0, client: httpx.Client | None = None
) -> Path:
    """Download ``url`` to ``target`` unless a verified copy is already there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.with_name(target.name + ".lock")):
        if target.exists() and (not sha256 or sha256_of(target) == sha256):
            return target
        own_client = client is None
        client = client or httpx.Client(
            follow_redirects=True, timeout=timeout_s, headers={"User-Agent": "immich-zh-plugin-service"}
        )
        try:
            _fetch_to_part(url, target, sha256, client)
        except httpx.HTTPError as exc:
            raise DownloadError(f"GET {_safe(url)} failed: {exc}") from exc
        finally:
            if own_client:
                client.close()
    return target


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive file lock, so two workers sharing one model directory download once.

    The holder removes the lock file when done (also after a failure).  A waiter that then gets
    the lock on the removed file notices (its inode is no longer the path's) and locks afresh.
    """
    while True:
        handle = open(lock_path, "a")  # noqa: SIM115 - closed below, after the unlock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                current = os.stat(lock_path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(handle.fileno()).st_ino:
                break
        except BaseException:
            handle.close()
            raise
        handle.close()  # the previous holder removed this file: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@dataclass(frozen=True)
class _Validator:
    """What identifies the remote file a ``.part`` holds the start of."""

    url: str
    etag: str | None
    last_modified: str | None
    total: int | None

    @property
    def if_range(self) -> str | None:
        # RFC 9110 §13.1.5: If-Range needs a strong validator; a weak ETag cannot be used.
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified

    @classmethod
    def of(cls, url: str, response: httpx.Response, total: int | None) -> _Validator:
        return cls(url, response.headers.get("etag"), response.headers.get("last-modified"), total)


def _fetch_to_part(url: str, target: Path, sha256: str, client: httpx.Client) -> None:
    part = target.with_name(target.name + ".part")
    meta = target.with_name(target.name + ".part.json")
    resume = _resumable(url, part, meta)
    offset = part.stat().st_size if resume else 0
    if not resume:
        part.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
    # identity: the byte counts and ranges must be those of the file itself, not of a compressed stream
    headers = {"Accept-Encoding": "identity"}
    if resume and resume.if_range:
        headers.update({"Range": f"bytes={offset}-", "If-Range": resume.if_range})
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and offset:  # the .part is complete, or the file shrank
            log.info("range not satisfiable for %s; downloading it again from the start", target.name)
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            response.close()
            return _fetch_to_part(url, target, sha256, client)
        if response.status_code not in (200, 206):
            raise DownloadError(f"GET {_safe(url)} answered HTTP {response.status_code}")
        if response.status_code == 206:
            continues, total = _continuation(response, offset, resume)
            if not continues and not offset:
                raise DownloadError(f"GET {_safe(url)} answered a partial file to a request for all of it")
            if not continues:
                log.warning("%s answered a range that does not continue %s; starting again", _safe(url), target.name)
                part.unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
                response.close()
                return _fetch_to_part(url, target, sha256, client)
            if offset:
                log.info("resuming %s at %d bytes", target.name, offset)
        else:
            if offset:
                log.info("%s changed or ignores ranges; downloading %s from the start", _safe(url), target.name)
            offset = 0
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
        if not offset:
            meta.write_text(json.dumps(asdict(_Validator.of(url, response, total))))
        _write(response, part, offset, total, target.name)
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f"GET {_safe(url)} ended after {size} of {total} bytes")
    actual = sha256_of(part)
    if sha256 and actual != sha256:  # an empty sha256 is an unpinned file (the store records it)
        part.unlink(missing_ok=True)  # a corrupt partial must not be resumed
        meta.unlink(missing_ok=True)
        raise DownloadError(f"checksum mismatch for {target.name} from {_safe(url)}: expected {sha256}, got {actual}")
    os.replace(part, target)
    meta.unlink(missing_ok=True)
    log.info("downloaded %s (%d bytes) from %s", target.name, size, _safe(url))


def _resumable(url: str, part: Path, meta: Path) -> _Validator | None:
    """The validator of the file ``part`` holds the start of, when it can be resumed."""
    if not part.exists() or part.stat().st_size == 0 or not meta.exists():
        return None
    try:
        validator = _Validator(**json.loads(meta.read_text()))
    except (ValueError, TypeError):
        return None
    if validator.url != url or validator.if_range is None:
        return None
    if validator.total is not None and part.stat().st_size >= validator.total:
        return None
    return validator


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _continuation(response: httpx.Response, offset: int, resume: _Validator | None) -> tuple[bool, int | None]:
    """Whether this 206 carries exactly the rest of the file from ``offset`` (of the file the
    ``.part`` holds the start of, when resuming), and the file's total size if known."""
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    if match is None or int(match.group(1)) != offset:
        return False, None
    total = None if match.group(3) == "*" else int(match.group(3))
    if total is not None and int(match.group(2)) != total - 1:
        return False, None  # a slice, not the rest of the file
    if offset == 0:
        return True, total
    if resume is None or (resume.total is not None and total is not None and total != resume.total):
        return False, None
    etag = response.headers.get("etag")
    if resume.etag and etag and etag != resume.etag:
        return False, None
    return True, total if total is not None else resume.total


def _write(response: httpx.Response, part: Path, offset: int, total: int | None, name: str) -> None:
    done, last_report = offset, time.monotonic()
    with open(part, "ab" if offset else "wb") as handle:
        for chunk in response.iter_bytes():  # as received: an interrupted transfer keeps what arrived
            handle.write(chunk)
            done += len(chunk)
            if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                last_report = time.monotonic()
                log.info("downloading %s: %s", name, _progress(done, total))
        handle.flush()
        os.fsync(handle.fileno())


def _progress(done: int, total: int | None) -> str:
    mib = done / (1 << 20)
    return f"{mib:.1f} MiB of {total / (1 << 20):.1f} MiB ({100 * done / total:.0f}%)" if total else f"{mib:.1f} MiB"


def _safe(url: str) -> str:
    """The URL without credentials or query string, for logs."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"", query=None))
