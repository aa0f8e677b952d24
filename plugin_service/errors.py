"""Errors that reach a client, each with the HTTP status Immich's ML server uses."""

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
