"""The error tree: every failure the gateway reports knows its HTTP meaning.

Each class carries the HTTP status, OpenAI error ``type`` and a default ``code``; an
instance adds the message and the ``param`` that points into the request. Errors are
raised where they are detected and rendered once, at the HTTP edge, into OpenAI's
envelope ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "DocumentError",
    "GatewayError",
    "ImageError",
    "InvalidRequest",
    "ModelNotAllowed",
    "ModelNotFound",
    "Overloaded",
    "PermissionDenied",
    "RateLimited",
    "RequestTooLarge",
    "UpstreamError",
    "UpstreamTimeout",
]


class GatewayError(Exception):
    """Base of every error that becomes an HTTP response."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = "internal_error"
    # Set on an error that an upstream's answer caused: its HTTP status, and the delay it
    # asked for in seconds. The routing policy classifies failures by these, never by
    # message text (service/routing.py).
    upstream_status: int | None = None
    retry_after_s: float | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        self.headers = headers or {}
        if status is not None:
            self.status = status  # type: ignore[misc]  # per-instance override (upstream pass-through)

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI error envelope."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    default_code = "invalid_request_error"


class ImageError(InvalidRequest):
    """A problem with one image; ``code`` says which (invalid_image, image_fetch_failed, ...)."""

    default_code = "invalid_image"


class DocumentError(InvalidRequest):
    """A problem with one document; ``code`` says which (invalid_document,
    document_too_large, unsupported_content, ...)."""

    default_code = "invalid_document"


class RequestTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class AuthenticationError(GatewayError):
    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"
    default_code = "permission_denied"


class ModelNotAllowed(PermissionDenied):
    default_code = "model_not_allowed"


class ModelNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    default_code = "model_not_found"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamError(GatewayError):
    """The provider failed or answered something unusable (status defaults to 502)."""

    status = 502
    type = "api_error"
    default_code = "upstream_error"


class Overloaded(GatewayError):
    status = 503
    type = "server_error"
    default_code = "overloaded"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "timeout_error"
    default_code = "upstream_timeout"
