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
            if not file.sha256 and _matches_first_use(target):
                return target
            log.warning("%s is corrupt (checksum mismatch); fetching it again", target)
        remote = [s for s in file.sources if s.kind != "package"]
        if not remote:
            packages = sorted({s.package for s in file.sources if s.kind == "package"})
            where = f"ships only inside the Python package(s) {', '.join(packages)}: install it (pip)" if packages else "has no known download source: create it"
            raise ModelUnavailableError(f"model '{spec.name}' needs {target}, which {where} or use another model")
        if self.offline:
            raise ModelUnavailableError(
                f"model '{spec.name}' needs {target} (sha256 {file.sha256[:12] or 'not pinned'}…) but it is missing and offline mode is on; "
                f"run 'plugin-service models fetch {spec.name}' on a connected machine or copy the file there"
            )
        if not file.sha256:
            log.warning("%s of model '%s' has no pinned sha256; it is used as downloaded", file.path, spec.name)
        target.unlink(missing_ok=True)  # a corrupt copy is replaced, never resumed from
        errors = []
        for source in remote:
            url = self.url_for(source)
            try:
                path = download_verified(url, target, file.sha256, timeout_s=self.timeout_s)
                if not file.sha256:
                    _record_first_use(path)
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
            elif file.sha256 and sha256_of(location) != file.sha256:
                result.append(FileStatus(file.path, location, "corrupt"))
            elif not file.sha256 and _record_path(location).exists() and sha256_of(location) != _record_path(location).read_text().strip():
                result.append(FileStatus(file.path, location, "corrupt"))
            else:
                result.append(FileStatus(file.path, location, "ok"))
        return result

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


# Trust on first use for files whose checksum is not pinned in the catalogue: the sha256 seen
# the first time is recorded beside the file, and later loads must match it, so corruption or
# a silent swap on disk is still caught.
def _record_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _record_first_use(target: Path) -> None:
    record = _record_path(target)
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(sha256_of(target) + "\n")
    tmp.replace(record)


def _matches_first_use(target: Path) -> bool:
    record = _record_path(target)
    if not record.exists():
        log.info("recording the sha256 of %s on first use (no checksum is pinned for it)", target)
        _record_first_use(target)
        return True
    return sha256_of(target) == record.read_text().strip()
