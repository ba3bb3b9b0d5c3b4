"""What every inbound surface does when the unexpected happens: a bug, or a client gone.

Two pieces, for any surface (``api/chat.py`` uses both; a new surface does the same):

* :func:`internal_error` turns an exception that is not a :class:`GatewayError` (a bug)
  into one: the traceback is logged once with the request id, and the client gets a 500
  in the surface's own envelope that names the request id, instead of the server's plain
  text 500 while metrics and the usage row said 200. The surface catches ``Exception``
  around its handler, sets ``outcome.status = 500`` through the returned error, and
  renders it as it renders any :class:`GatewayError`.
* :class:`CancelOnDisconnect` cancels the work of a request whose answer is not streamed
  once the client disconnects, as streams already are: an upstream call the client no
  longer waits for keeps costing money and a connection. Inside it, the surface awaits
  the whole answer; leaving it raises :class:`ClientClosed` (status 499) if the client
  went, which the surface records and does not try to answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any

from visiongate.errors import GatewayError

__all__ = ["CancelOnDisconnect", "ClientClosed", "internal_error"]

log = logging.getLogger("visiongate.request")

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ClientClosed(GatewayError):
    """The client disconnected before its answer was ready (recorded as 499, not sent)."""

    status = 499
    type = "client_closed"
    default_code = "client_closed"


def internal_error(exc: BaseException, request_id: str) -> GatewayError:
    """The 500 for an exception no layer expected; logs its traceback with the request id.

    The message never carries the exception's text (it may hold a key or a prompt); the
    request id ties the client's report to the logged traceback.
    """
    log.error(
        "unexpected %s while serving request %s",
        type(exc).__name__,
        request_id,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"request_id": request_id},
    )
    return GatewayError(
        f"The gateway failed while serving this request (request id {request_id}). The "
        "failure is logged under that id; report it to the gateway's operator.",
        code="internal_error",
    )


class CancelOnDisconnect:
    """``async with CancelOnDisconnect(receive):`` cancels the block when the client leaves.

    A watcher task waits on ``receive()`` (which, once the body is read, returns only
    ``http.disconnect``) and cancels the task running the block. Leaving the block then
    raises :class:`ClientClosed` instead of the cancellation; a cancellation from anywhere
    else (server shutdown) passes through untouched. Enter it only after the request body
    has been read whole.

    The watcher is started only once the block has run for ``ARM_AFTER_S``: a task per
    request was a measurable part of a fast answer's cost, and an answer that comes back
    sooner than that costs nothing worth cancelling; a timer handle is cheap. A client
    that leaves earlier is noticed when the watcher starts.
    """

    ARM_AFTER_S = 0.05

    __slots__ = ("_arm", "_receive", "_task", "_watcher", "disconnected")

    def __init__(self, receive: Receive) -> None:
        self.disconnected = False
        self._task = asyncio.current_task()
        self._watcher: asyncio.Task[None] | None = None
        self._receive = receive
        self._arm: asyncio.TimerHandle | None = None
        if self._task is not None:
            self._arm = asyncio.get_running_loop().call_later(self.ARM_AFTER_S, self._start)

    def _start(self) -> None:
        self._arm = None
        self._watcher = asyncio.get_running_loop().create_task(self._watch(self._receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                if self._task is not None:
                    self._task.cancel()
                return

    async def __aenter__(self) -> CancelOnDisconnect:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._arm is not None:
            self._arm.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
        if not self.disconnected:
            return
        if self._task is not None and self._task.cancelling():
            self._task.uncancel()
        raise ClientClosed("the client disconnected before the answer was ready") from exc
