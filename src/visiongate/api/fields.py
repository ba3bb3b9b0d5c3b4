"""Field checks every surface's parser shares: each refusal is a 400 naming the field."""

from __future__ import annotations

from typing import Any

from visiongate.errors import InvalidRequest

__all__ = ["bad", "boolean", "fallbacks", "integer", "number", "string"]

_MAX_FALLBACKS = 8  # a request's own fallbacks (beyond its route's)


def bad(message: str, param: str | None, code: str = "invalid_request_error") -> InvalidRequest:
    return InvalidRequest(message, code=code, param=param)


def number(data: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(f"'{key}' must be a number.", key)
    if not low <= value <= high:
        raise bad(f"'{key}' must be between {low:g} and {high:g}; got {value}.", key)
    return float(value)


def integer(data: dict[str, Any], key: str, low: int, high: int | None = None) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"'{key}' must be an integer.", key)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad(f"'{key}' must be {bound}; got {value}.", key)
    return value


def string(value: Any, param: str, *, required: bool = False) -> str | None:
    """``value`` as a string (None when absent and not required)."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise bad(f"'{param}' must be a {'non-empty ' if required else ''}string.", param)
    return value


def boolean(value: Any, param: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise bad(f"'{param}' must be true or false.", param)


def fallbacks(value: Any) -> list[str] | None:
    """The request's own fallbacks (a visiongate extension, ``extra_body`` in the SDKs):
    model or route names tried after the route's, each checked against the key's allowlist
    by the service."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) > _MAX_FALLBACKS
        or not all(isinstance(v, str) and v for v in value)
    ):
        raise bad(
            f"'fallbacks' must be a list of at most {_MAX_FALLBACKS} model or route names.",
            "fallbacks",
        )
    return value or None
