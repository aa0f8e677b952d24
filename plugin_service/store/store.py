"""The model store: one cache directory, files fetched on first use.

Layout: ``<model_dir>/<task>/<model name>/<file path>``, the same shape as
Immich's ML cache.  Files shipped inside installed packages are used in place.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from plugin_service.config import Settings
from plugin_service.store.catalog import ModelFile, ModelSpec, Source
from plugin_service.store.download import DownloadError, download_verified, sha256_of

log = logging.getLogger(__name__)


class ModelUnavailableError(RuntimeError):
    """A model file is missing and cannot be fetched (offline, or every source failed)."""


@dataclass(frozen=True)
class FileStatus:
    path: str
    location: Path | None
    state: str  # "ok" | "missing" | "corrupt"


class ModelStore:
    def __init__(self, settings: Settings):
        self.root = Path(settings.model_dir).expanduser()
        self.offline = settings.offline
        self.hf_endpoint = settings.hf_endpoint.rstrip("/")
        self.modelscope_endpoint = settings.modelscope_endpoint.rstrip("/")
        self.timeout_s = settings.download_timeout_s

    def model_dir(self, spec: ModelSpec) -> Path:
        return self.root / spec.task / spec.name

    def ensure(self, spec: ModelSpec) -> Path:
        """Make every file of ``spec`` present and verified; returns the model directory."""
        for file in spec.files:
            self.ensure_file(spec, file)
        return self.model_dir(spec)

    def file_path(self, spec: ModelSpec, relpath: str) -> Path:
        """Local path of one file of ``spec`` (fetching it if needed)."""
        for file in spec.files:
            if file.path == relpath:
                return self.ensure_file(spec, file)
        raise KeyError(f"{spec.name} has no file {relpath!r}")

    def ensure_file(self, spec: ModelSpec, file: ModelFile) -> Path:
        packaged = self._packaged(file)
        if packaged is not None:
            return packaged
        target = self.model_dir(spec) / file.path
        if target.exists():
            # Checked on every load: a silently corrupted model is worse than a slow start.
            if file.sha256 and sha256_of(target) == file.sha256:
                return target
            if not file.sha256 and _first_use_state(target) != "corrupt":
                return target
            log.warning("%s is corrupt (checksum mismatch); fetching it again", target)
        # Named relative to the model directory: these messages reach clients, who must not learn local paths.
        where_in_store = f"{spec.task}/{spec.name}/{file.path} in the model directory"
        remote = [s for s in file.sources if s.kind != "package"]
        if not remote:
            packages = sorted({s.package for s in file.sources if s.kind == "package"})
            where = (
                f"ships only inside the Python package(s) {', '.join(packages)}: install it (pip)"
                if packages
                else "has no known download source: create it"
            )
            raise ModelUnavailableError(
                f"model '{spec.name}' needs {where_in_store}, which {where} or use another model"
            )
        if self.offline:
            raise ModelUnavailableError(
                f"model '{spec.name}' needs {where_in_store} (sha256 {file.sha256[:12] or 'not pinned'}…) "
                "but it is missing and offline mode is on; "
                f"run 'plugin-service models fetch {spec.name}' on a connected machine or copy the file there"
            )
        if not file.sha256:
            log.warning("%s of model '%s' has no pinned sha256; it is used as downloaded", file.path, spec.name)
        _forget(target)  # a corrupt copy is replaced, never resumed from
        errors = []
        for source in remote:
            url = self.url_for(source)
            try:
                path = download_verified(url, target, file.sha256, timeout_s=self.timeout_s)
                if not file.sha256:
                    _record_pending(path, DOWNLOADED)
                return path
            except DownloadError as exc:
                log.warning("%s", exc)
                errors.append(str(exc))
        raise ModelUnavailableError(f"could not fetch {file.path} of model '{spec.name}': " + "; ".join(errors))

    def url_for(self, source: Source) -> str:
        if source.kind == "huggingface":
            return f"{self.hf_endpoint}/{source.repo}/resolve/{source.revision}/{source.path}"
        if source.kind == "modelscope":
            return f"{self.modelscope_endpoint}/models/{source.repo}/resolve/{source.revision}/{source.path}"
        if source.kind == "url":
            return source.url
        raise ValueError(f"source kind {source.kind!r} has no URL")

    def status(self, spec: ModelSpec) -> list[FileStatus]:
        """Presence and checksum of every file, without downloading anything."""
        result = []
        for file in spec.files:
            location = self._packaged(file) or self.model_dir(spec) / file.path
            if not location.exists():
                result.append(FileStatus(file.path, None, "missing"))
            else:
                expected = file.sha256 or _recorded(location)
                state = "corrupt" if expected is not None and sha256_of(location) != expected else "ok"
                result.append(FileStatus(file.path, location, state))
        return result

    # Unpinned files are trusted on first use, and "use" means the file loaded: ensure_file records
    # the sha256 of a new file as pending, the code that opens the file confirms it once the model
    # loaded (``confirm``), or reports the failure (``reject``), which removes a file the store
    # downloaded so that the next request fetches it again instead of failing on it forever.
    @staticmethod
    def confirm(path: Path) -> None:
        """``path`` loaded: its pending sha256 becomes the one later loads must match."""
        pending = _pending_path(path)
        if pending.exists():
            record = _record_path(path)
            tmp = record.with_name(record.name + ".tmp")
            tmp.write_text(pending.read_text().split()[0] + "\n")
            tmp.replace(record)
            pending.unlink(missing_ok=True)
            log.info("recorded the sha256 of %s (first use, no checksum is pinned for it)", path)

    @staticmethod
    def reject(path: Path) -> None:
        """``path`` failed to load: forget it if the store downloaded it and it never loaded before."""
        pending = _pending_path(path)
        if pending.exists() and _pending_origin(pending) == DOWNLOADED:
            log.warning("%s failed to load right after it was downloaded; removed so that it is fetched again", path)
            _forget(path)

    @staticmethod
    def _packaged(file: ModelFile) -> Path | None:
        """A copy shipped in an installed wheel, if one with the right checksum exists."""
        for source in file.sources:
            if source.kind != "package":
                continue
            found = importlib.util.find_spec(source.package)
            if found is None or not found.submodule_search_locations:
                continue
            candidate = Path(list(found.submodule_search_locations)[0]) / source.path
            # Another wheel version may ship a different file under the same name.
            if candidate.exists() and sha256_of(candidate) == file.sha256:
                return candidate
        return None


# Trust on first use for files whose checksum is not pinned in the catalogue: ``<file>.sha256``
# holds the sha256 of a file that loaded; ``<file>.sha256.pending`` that of a file not yet loaded
# (with where it came from).  Later loads must match, so corruption or a silent swap on disk is
# still caught, and a file that arrived corrupt is never trusted.
DOWNLOADED, FOUND = "downloaded", "found"


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _pending_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256.pending")


def _record_pending(target: Path, origin: str) -> None:
    pending = _pending_path(target)
    tmp = pending.with_name(pending.name + ".tmp")
    tmp.write_text(f"{sha256_of(target)} {origin}\n")
    tmp.replace(pending)


def _pending_origin(pending: Path) -> str:
    parts = pending.read_text().split()
    return parts[1] if len(parts) > 1 else FOUND


def _recorded(target: Path) -> str | None:
    """The sha256 recorded for ``target``, confirmed or pending; None when there is none."""
    for record in (_record_path(target), _pending_path(target)):
        if record.exists():
            parts = record.read_text().split()
            return parts[0] if parts else ""
    return None


def _first_use_state(target: Path) -> str:
    """ "trusted", "pending" or "corrupt"; a file seen for the first time is recorded as pending."""
    expected = _recorded(target)
    if expected is None:
        log.info("%s has no pinned checksum; its sha256 is recorded once it loads", target)
        _record_pending(target, FOUND)
        return "pending"
    if sha256_of(target) != expected:
        return "corrupt"
    return "trusted" if _record_path(target).exists() else "pending"


def _forget(target: Path) -> None:
    for path in (target, _record_path(target), _pending_path(target)):
        path.unlink(missing_ok=True)
