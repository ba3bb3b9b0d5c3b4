"""``GET /healthz``, ``/readyz`` and ``/metrics`` as plain ASGI.

These are what orchestrators and Prometheus poll every few seconds, for the life of the
process. Served without the web framework, a gateway that only answers chat requests,
probes and scrapes never imports FastAPI (~8 MB and ~0.25 s of start-up on the
development VM, docs/performance.md). The answers are byte for byte what the framework
sent: the same bodies, content types and status codes. The routes are still declared in
the OpenAPI schema (``api/routes.py``), with handlers that call the functions here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from visiongate.accounting import Accounts
from visiongate.observability.metrics import Metrics

__all__ = ["HEALTHY", "METRICS_TYPE", "OPERATIONS_PATHS", "Operations", "readiness"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
HEALTHY = {"status": "ok"}
# Prometheus' text format 0.0.4; the charset is what Starlette appended to text/ types.
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_JSON = b"application/json"
_HEALTHY = orjson.dumps(HEALTHY)


async def readiness(accounts: Accounts) -> tuple[int, dict[str, str]]:
    """Status and body for ``/readyz``: 200 when the usage database answers, else 503."""
    try:
        ok = await accounts.ready()
    except Exception:  # any failure to reach the database means "not ready"
        ok = False
    return (200, {"status": "ready"}) if ok else (503, {"status": "not ready"})


class Operations:
    """Answers ``GET`` on :data:`OPERATIONS_PATHS`; the caller routes only those here."""

    def __init__(self, accounts: Accounts, metrics: Metrics) -> None:
        self._accounts = accounts
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == "/healthz":
            status, body, media = 200, _HEALTHY, _JSON
        elif path == "/readyz":
            status, ready = await readiness(self._accounts)
            body, media = orjson.dumps(ready), _JSON
        else:
            status, body, media = 200, self._metrics.render(), METRICS_TYPE.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", b"%d" % len(body)), (b"content-type", media)],
            }
        )
        await send({"type": "http.response.body", "body": body})
