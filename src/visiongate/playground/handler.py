"""``GET /playground`` and its files as plain ASGI, and ``/`` redirected to it.

The page is a handful of ES modules and one stylesheet read from the package on the first
request and kept in memory (under 200 KB). Only those files can be named: a path is looked
up in the set read from ``static/``, never joined onto a directory, so no request can reach
another file. The page is served like the API it calls: no framework, no key (the page
holds none; the person types one in and the browser sends it to the API).

Every answer carries a Content-Security-Policy that lets the page run only its own scripts
and talk only to this origin, so even if a model's answer were ever turned into markup, it
could neither run a script nor send anything elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson

__all__ = ["CONTENT_SECURITY_POLICY", "Playground", "is_playground_path"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PAGE = "/playground"
_PREFIX = PAGE + "/"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
}


def is_playground_path(path: str) -> bool:
    """Whether the gateway routes ``path`` here (for GET and HEAD)."""
    return path == "/" or path == PAGE or path.startswith(_PREFIX)


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    media_type: bytes
    etag: bytes


def _load() -> dict[str, _File]:
    """Every servable file of ``static/`` by its URL path; ``index.html`` is the page itself."""
    files: dict[str, _File] = {}
    for entry in resources.files(__package__).joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if not entry.is_file() or suffix not in _TYPES:
            continue
        body = entry.read_bytes()
        etag = b'"%s"' % hashlib.sha256(body).hexdigest()[:20].encode()
        url = PAGE if entry.name == "index.html" else _PREFIX + entry.name
        files[url] = _File(body, _TYPES[suffix], etag)
    return files


class Playground:
    """Answers GET and HEAD on the paths :func:`is_playground_path` accepts."""

    def __init__(self) -> None:
        self._files: dict[str, _File] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        # Relative locations keep the page working behind a proxy that adds a path prefix.
        if path == "/":
            await _redirect(send, b"playground")
        elif path == _PREFIX:
            await _redirect(send, b"../playground")
        else:
            await self._serve(scope, send, path)

    async def _serve(self, scope: Scope, send: Send, path: str) -> None:
        if self._files is None:
            self._files = _load()  # ~100 KB from the package, once
        found = self._files.get(path)
        if found is None:
            await _not_found(send, path)
            return
        headers = [(b"etag", found.etag), (b"cache-control", b"no-cache"), *_SECURITY_HEADERS]
        if _header(scope, b"if-none-match") == found.etag:
            await _respond(send, 304, headers, b"")
            return
        headers.append((b"content-type", found.media_type))
        body = b"" if scope["method"] == "HEAD" else found.body
        await _respond(send, 200, headers, body, len(found.body))


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


async def _redirect(send: Send, location: bytes) -> None:
    await _respond(send, 302, [(b"location", location), *_SECURITY_HEADERS], b"")


async def _not_found(send: Send, path: str) -> None:
    error = {
        "message": f"No playground file at {path[:200]}.",
        "type": "invalid_request_error",
        "param": None,
        "code": "not_found",
    }
    headers = [(b"content-type", b"application/json"), *_SECURITY_HEADERS]
    await _respond(send, 404, headers, orjson.dumps({"error": error}))


async def _respond(
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    length: int | None = None,
) -> None:
    size = len(body) if length is None else length
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", b"%d" % size), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
