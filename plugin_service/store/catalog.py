"""What the model store can provide: model names → files, checksums and sources.

The store knows files, not inference.  Each engine declares its models in its
own ``catalog`` module with these types; ``plugin_service.catalog`` joins them
for the ``models`` command.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class Source(msgspec.Struct, frozen=True, kw_only=True):
    """One place a file can come from.

    * ``huggingface``: ``{HF_ENDPOINT}/{repo}/resolve/{revision}/{path}`` (mirrors via ``HF_ENDPOINT``)
    * ``modelscope``: ``{modelscope_endpoint}/models/{repo}/resolve/{revision}/{path}``
    * ``url``: a plain URL
    * ``package``: a file shipped inside an installed Python package (offline)
    """

    kind: Literal["huggingface", "modelscope", "url", "package"]
    repo: str = ""
    path: str = ""
    revision: str = "master"
    url: str = ""
    package: str = ""


class ModelFile(msgspec.Struct, frozen=True, kw_only=True):
    path: str  # relative to the model's directory in the store
    sha256: str
    sources: tuple[Source, ...]
    size: int | None = None


class ModelSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    task: str  # "ocr" | "clip" | "facial-recognition"
    files: tuple[ModelFile, ...]
    description: str = ""
    license: str = ""
    # Free-form facts an engine needs that are not files (e.g. embedding size).
    info: dict[str, object] = msgspec.field(default_factory=dict)


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Catalog:
    """A family's models by name (each engine owns one; ``plugin_service.catalog`` joins them)."""

    def __init__(self, specs: tuple[ModelSpec, ...] | list[ModelSpec]):
        self.specs: dict[str, ModelSpec] = {}
        for spec in specs:
            key = f"{spec.task}/{spec.name}"
            if key in self.specs:
                raise ValueError(f"model {key} declared twice")
            self.specs[key] = spec

    def __add__(self, other: Catalog) -> Catalog:
        return Catalog([*self.specs.values(), *other.specs.values()])

    def find(self, name: str, task: str | None = None) -> ModelSpec:
        """Look a model up by ``name`` (optionally within ``task``) or ``task/name``."""
        if task is not None:
            key = f"{task}/{name}"
            if key in self.specs:
                return self.specs[key]
        elif name in self.specs:
            return self.specs[name]
        else:
            matches = [s for s in self.specs.values() if s.name == name]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                choices = ", ".join(f"{s.task}/{s.name}" for s in matches)
                raise UnknownModelError(f"model name {name!r} is ambiguous; use one of {choices}")
        raise UnknownModelError(f"unknown model {name!r}" + (f" for task {task!r}" if task else ""))
