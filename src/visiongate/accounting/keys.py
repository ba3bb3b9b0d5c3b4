"""API key material: generation, hashing, display prefixes, and the ``Principal`` a key maps to.

Keys are 32 random bytes (``secrets``) in url-safe base64 behind the ``vg-`` prefix, so a
stored SHA-256 digest is enough: with 256 bits of entropy there is nothing to brute-force,
and a slow password hash would only add latency to every request. Only the digest and a
short display prefix are ever stored; the clear key is shown once, when it is created.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DB_KEY_ID_PREFIX",
    "KEY_PREFIX",
    "Principal",
    "display_prefix",
    "generate_key",
    "hash_key",
    "parse_bearer",
    "parse_duration",
    "static_key_id",
]

KEY_PREFIX = "vg-"
DB_KEY_ID_PREFIX = "key_"  # ids of database keys; static keys are "static:…"
_DISPLAY_CHARS = 8
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


@dataclass(slots=True, frozen=True)
class Principal:
    """Who is calling, and what they may do. Built from a key; immutable and cached."""

    key_id: str
    name: str
    models: tuple[str, ...] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None

    def may_use(self, model_id: str, aliases: Iterable[str] = ()) -> bool:
        """Whether the model, by its id or by any of its ``aliases``, matches one of the
        key's fnmatch patterns (None: every model).

        The one authorisation rule: a key limited to an alias may use the model the alias
        names, however the request spelled it.
        """
        if self.models is None:
            return True
        names = (model_id, *aliases)
        return any(fnmatch.fnmatchcase(n, pattern) for pattern in self.models for n in names)

    @property
    def limited(self) -> bool:
        """Whether admission has anything to check for this principal."""
        return self.rpm is not None or self.tpm is not None or self.budget_usd is not None


def generate_key() -> str:
    """A new client key: ``vg-`` plus 32 random bytes, url-safe base64 (43 characters)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The hex SHA-256 digest under which a key is stored and looked up."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    """The first characters of a key, enough for a person to tell keys apart in a list."""
    return key[: len(KEY_PREFIX) + _DISPLAY_CHARS]


def static_key_id(key: str) -> str:
    """The stable record id of a key from ``VISIONGATE_API_KEYS`` (reveals nothing usable)."""
    return "static:" + hash_key(key)[:8]


def parse_bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, or None when absent/malformed."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``15m``, ``90s``, ``2w`` or a bare number of seconds.

    Raises ValueError with a message fit for a user.
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number with s, m, h, d or w (e.g. 30d)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be positive")
    return seconds
