"""Errors that reach a client, each with the HTTP status Immich's ML server uses.

``ModelLoadError`` is the engines' one way to say "this model cannot be used":
it carries the model's name and a reason fit for a client to read (no local
paths, no exception dumps; those go to the log).  Each protocol adapter
translates it once into its own wording: the Immich adapter into Immich's
``Failed to load model '<name>': <reason>`` (``immich_message``), the MT
Photos adapter into its ``msg``.
"""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ServiceError):
    status_code = 400


class InvalidRequestFormat(ServiceError):
    """Immich answers 422 for an ``entries`` field that is not valid JSON or lacks ``modelName``."""

    status_code = 422


class PayloadTooLarge(ServiceError):
    status_code = 413


class ModelError(ServiceError):
    """Unknown model or task combination, or a model that failed to load (Immich: 500)."""

    status_code = 500


class ModelLoadError(Exception):
    """A model could not be loaded: unknown name, missing or corrupt files, a broken graph."""

    def __init__(self, model: str, reason: str):
        super().__init__(f"{model}: {reason}")
        self.model = model
        self.reason = reason

    @property
    def immich_message(self) -> str:
        """Immich ML's wording, which Immich's server logs as it is."""
        return f"Failed to load model '{self.model}': {self.reason}"
