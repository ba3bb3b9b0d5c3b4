"""The hot path shared by every surface, as a plain ASGI handler.

It bypasses the web framework on purpose (the framework's request models halved the
throughput in measurements, docs/performance.md): read the body under a byte cap,
authenticate, parse once (the surface's parser), hand over to the service, render the
surface's JSON or SSE. Every request, whatever happens, leaves exactly one usage record
and one metrics observation. What differs between Chat Completions, the Responses API
and the Messages API is the :class:`~visiongate.api.surface.Surface` it is built with.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from visiongate.accounting import Accounts, Principal, UsageRecord
from visiongate.api.body import parse_body
from visiongate.api.eager import Suspended, run_eagerly
from visiongate.api.guard import CancelOnDisconnect, ClientClosed, internal_error
from visiongate.api.heap import HeapTrimmer
from visiongate.api.request_id import RequestIds
from visiongate.api.surface import StreamRenderer, Surface
from visiongate.core.messages import ChatRequest, StreamDelta
from visiongate.core.outcome import Outcome
from visiongate.errors import GatewayError, RequestTooLarge, UpstreamError
from visiongate.observability.logging import EventLog
from visiongate.observability.metrics import Metrics
from visiongate.service import ChatService, Prepared

__all__ = ["Endpoint", "usage_record"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_JOINED_UP_TO = 8 * 1024 * 1024  # bodies up to this size are joined, not buffered (_read_body)
_JSON = (b"content-type", b"application/json")
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def _length(body: bytes) -> tuple[bytes, bytes]:
    """A whole answer says its length (no chunked framing for the client to undo)."""
    return (b"content-length", b"%d" % len(body))


def _body(frames: list[bytes], more: bool = True) -> dict[str, Any]:
    return {
        "type": "http.response.body",
        "body": frames[0] if len(frames) == 1 else b"".join(frames),
        "more_body": more,
    }


class _Headers:
    """The request headers the endpoint reads, found in one pass over the list."""

    __slots__ = ("authorization", "cache_control", "content_length", "request_id", "x_api_key")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.authorization: str | None = None
        self.cache_control: str | None = None
        self.content_length: str | None = None
        self.request_id: str | None = None
        self.x_api_key: str | None = None
        for key, value in headers:
            if key == b"authorization":
                self.authorization = value.decode("latin-1")
            elif key == b"content-length":
                self.content_length = value.decode("latin-1")
            elif key == b"x-request-id":
                self.request_id = value.decode("latin-1")
            elif key == b"x-api-key":
                self.x_api_key = value.decode("latin-1")
            elif key == b"cache-control":
                self.cache_control = value.decode("latin-1")


class Endpoint:
    """One surface's POST route. Several endpoints share one request-id sequence, one
    in-flight count and one heap trimmer through ``shared`` (the first endpoint built)."""

    def __init__(
        self,
        surface: Surface,
        service: ChatService,
        accounts: Accounts,
        metrics: Metrics,
        max_body: int,
        shared: Endpoint | None = None,
    ) -> None:
        self.surface = surface
        self.service = service
        self.accounts = accounts
        self.metrics = metrics
        self.max_body = max_body
        if shared is None:
            self._ids = RequestIds()
            self._flight = _InFlight()
            metrics.count_in_flight(self._flight.count)
            self._heap = HeapTrimmer()
            self._request_log = EventLog("visiongate.request", "request")
        else:
            self._ids = shared._ids
            self._flight = shared._flight
            self._heap = shared._heap
            self._request_log = shared._request_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _Headers(scope["headers"])
        outcome = Outcome(request_id=self._ids.take(headers.request_id), endpoint=self.surface.name)
        flight = self._flight
        flight.n += 1
        try:
            await self._handle(headers, receive, send, outcome)
        except Exception as exc:  # a bug: a 500 in the envelope, recorded as one (guard.py)
            error = internal_error(exc, outcome.request_id)
            with contextlib.suppress(RuntimeError):  # unless the answer had started
                await self._send_error(send, error, outcome.request_id.encode(), outcome)
            outcome.status, outcome.error_code = error.status, error.code
        finally:
            flight.n -= 1
            self._observe(outcome)
            size = headers.content_length
            if size and len(size) > 5 and size.isdigit():  # 100 KB or more
                # The request's buffers are free by now (heap.py).
                self._heap.after_request(int(size), idle=flight.n == 0)

    async def _handle(
        self, headers: _Headers, receive: Receive, send: Send, outcome: Outcome
    ) -> None:
        rid = outcome.request_id.encode()
        surface = self.surface
        try:
            principal = await self.accounts.authenticate(surface.credentials(headers))
            outcome.key_id = principal.key_id
            # No name holds the body: it is freed once parsed (an image-heavy body can be
            # hundreds of MB, and the request goes on for as long as the provider takes).
            request = surface.parse(
                parse_body(await self._read_body(headers.content_length, receive), surface.cut)
            )
            outcome.model = request.model
            outcome.stream = request.stream
            await self.serve(request, principal, receive, send, outcome, headers.cache_control)
        except GatewayError as exc:
            await self._send_error(send, exc, rid, outcome)

    async def serve(
        self,
        request: ChatRequest,
        principal: Principal,
        receive: Receive,
        send: Send,
        outcome: Outcome,
        cache_control: str | None = None,
    ) -> None:
        """Answer a parsed, authenticated request (``cache_control``: its
        ``Cache-Control`` header, for the answer cache). Raises GatewayError for a
        failure before any output (the caller answers it in the surface's envelope)."""
        prepared = await self.service.prepare(request, principal, outcome, cache_control)
        if prepared.request.stream:
            await self._stream(receive, send, prepared, outcome)
        else:
            await self._complete(receive, send, prepared, outcome)

    async def _read_body(self, declared: str | None, receive: Receive) -> bytes | bytearray:
        """The request body, copied once at most.

        A body that arrives in one message is returned as it is. A larger one (the server
        hands it over in pieces of about 64 KB) is joined once complete when it is at
        most 8 MB; a longer one is written into one buffer sized from ``Content-Length``
        as it comes: at the peak that costs the body once, where joining costs it twice,
        but zero-filling the buffer and copying piece by piece took 2.6x the join's time.
        """
        expected = int(declared) if declared and declared.isdigit() else None
        if expected is not None and expected > self.max_body:
            raise RequestTooLarge(
                f"The request body is {expected} bytes; the limit is {self.max_body}. "
                "Send fewer or smaller images, or image URLs instead of base64.",
            )
        chunk, more = await self._piece(receive)
        if not more:
            self._check_size(len(chunk))
            return chunk
        if expected is not None and expected <= _JOINED_UP_TO:
            pieces = [chunk]
            size = len(chunk)
            while more:
                chunk, more = await self._piece(receive)
                pieces.append(chunk)
                size += len(chunk)
                self._check_size(size)
            return b"".join(pieces)
        buffer = bytearray(expected or 0)
        size = 0
        while True:
            end = size + len(chunk)
            self._check_size(end)
            if end <= len(buffer):
                buffer[size:end] = chunk
            else:  # no (or a wrong) Content-Length: grow as it comes
                del buffer[size:]
                buffer += chunk
            size = end
            if not more:
                break
            chunk, more = await self._piece(receive)
        if size < len(buffer):
            del buffer[size:]
        return buffer

    @staticmethod
    async def _piece(receive: Receive) -> tuple[bytes, bool]:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GatewayError("client disconnected", code="client_closed", status=499)
        return message.get("body", b""), bool(message.get("more_body"))

    def _check_size(self, size: int) -> None:
        if size > self.max_body:
            raise RequestTooLarge(
                f"The request body is over the limit of {self.max_body} bytes. Send "
                "fewer or smaller images, or image URLs instead of base64."
            )

    def _headers(
        self, rid: bytes, prepared: Prepared | None, extra: dict[str, str] | None = None
    ) -> list[tuple[bytes, bytes]]:
        headers = [(b"x-request-id", rid)]
        if prepared is not None:
            for name, value in prepared.admission.headers.items():
                headers.append((name.encode(), value.encode()))
            for name, value in prepared.headers().items():
                headers.append((name.encode(), value.encode()))
        for name, value in (extra or {}).items():
            headers.append((name.lower().encode(), str(value).encode()))
        return headers

    async def _send_error(
        self, send: Send, exc: GatewayError, rid: bytes, outcome: Outcome
    ) -> None:
        outcome.status = exc.status
        outcome.error_code = exc.code
        status, body = self.surface.error(exc)
        await self.send_json(send, status, body, self._headers(rid, None, exc.headers))

    @staticmethod
    async def send_json(
        send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        """A whole JSON answer; a client that is gone by then is not an error."""
        with contextlib.suppress(OSError):
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [_JSON, _length(body), *headers],
                }
            )
            await send({"type": "http.response.body", "body": body})

    async def _complete(
        self, receive: Receive, send: Send, prepared: Prepared, outcome: Outcome
    ) -> None:
        rid = outcome.request_id.encode()
        try:
            async with CancelOnDisconnect(receive):  # the client gone: stop the call (499)
                response = await self.service.complete(prepared, outcome)
        except ClientClosed as exc:
            outcome.status, outcome.error_code = exc.status, exc.code
            return
        except GatewayError as exc:
            await self._send_error(send, exc, rid, outcome)
            return
        body = self.surface.render(response, prepared.request, outcome)
        headers = [_JSON, _length(body), *self._headers(rid, prepared)]
        # What this answer cost at the catalog's prices (a stream's cost is in its usage record).
        headers.append((b"x-visiongate-cost-usd", b"%.8f" % outcome.cost_usd))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _stream(
        self, receive: Receive, send: Send, prepared: Prepared, outcome: Outcome
    ) -> None:
        rid = outcome.request_id.encode()
        renderer = self.surface.stream(prepared.request, outcome)
        deltas = self.service.stream(prepared, outcome)
        # The first delta decides: an upstream failure before it is a normal HTTP error.
        try:
            first = await anext(deltas)
        except GatewayError as exc:
            await self._send_error(send, exc, rid, outcome)
            return
        except StopAsyncIteration:
            await self._send_error(
                send, UpstreamError("the provider sent an empty stream"), rid, outcome
            )
            return
        task = asyncio.current_task()
        disconnected = False

        async def watch() -> None:
            nonlocal disconnected
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected = True
                    if task is not None:
                        task.cancel()
                    return

        # Started the first time the stream waits for the provider: until then the
        # stream only writes, and a client that is gone makes the write fail. A stream
        # whose answer came in one read never needs it (a task costs ~10 µs).
        watcher: asyncio.Task[None] | None = None
        # Rendered, not yet written: what the surface sends before the first delta.
        frames: list[bytes] = [renderer.start()]
        waiting: Suspended[StreamDelta] | None = None
        ping = renderer.ping_interval
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": _SSE_HEADERS + self._headers(rid, prepared),
                }
            )
            delta = first
            while True:
                if delta.usage is None:
                    frames.append(renderer.delta(delta))
                else:
                    frames.append(renderer.usage(delta.usage))
                # Deltas that are already there join this write; the frames go out
                # just before the stream would wait for the provider (eager.py).
                try:
                    step = run_eagerly(anext(deltas))
                except StopAsyncIteration:
                    break
                if not isinstance(step, Suspended):
                    delta = step
                    continue
                waiting = step
                await send(_body(frames))
                frames.clear()
                waiting = None  # awaiting it finishes or closes it
                if watcher is None:
                    watcher = asyncio.create_task(watch())
                try:
                    if ping is None:
                        delta = await step
                    else:
                        delta = await _with_pings(step, ping, renderer, send)
                except StopAsyncIteration:
                    break
            frames.append(renderer.end())
            await send(_body(frames, more=False))
        except OSError:
            outcome.status, outcome.error_code = 499, "client_closed"
        except Exception as exc:  # the provider's error, or a bug (guard.py): one error event
            rid_text = outcome.request_id
            error = exc if isinstance(exc, GatewayError) else internal_error(exc, rid_text)
            outcome.status, outcome.error_code = error.status, error.code
            frames.append(renderer.error(error))
            with contextlib.suppress(OSError, RuntimeError):
                await send(_body(frames, more=False))
        except asyncio.CancelledError:
            if not disconnected:
                outcome.status, outcome.error_code = 499, "server_shutdown"
                raise
            if task is not None:
                task.uncancel()
            outcome.status, outcome.error_code = 499, "client_closed"
        finally:
            if watcher is not None:
                watcher.cancel()
            if waiting is not None:  # interrupted while writing, with a step half-run
                await waiting.unwind()
            await deltas.aclose()

    def _observe(self, outcome: Outcome) -> None:
        latency = outcome.latency_s
        self.metrics.observe(outcome, latency)
        self.accounts.record(usage_record(outcome, latency))
        line: dict[str, object] = {
            "request_id": outcome.request_id,
            "model": outcome.model,
            "provider": outcome.provider,
            "status": outcome.status,
            "error_code": outcome.error_code,
            "latency_ms": round(latency * 1000.0, 2),
            "images": outcome.images,
            "stream": outcome.stream,
            "endpoint": outcome.endpoint,
        }
        if outcome.failures or outcome.fallback:  # every failed call, when there was one
            line.update(
                deployment=outcome.deployment,
                attempts=outcome.attempts,
                fallback=outcome.fallback,
                failures=outcome.failures,
            )
        self._request_log.write(line)


def usage_record(outcome: Outcome, latency_s: float) -> UsageRecord:
    """The usage record of a finished request.

    Built with positional arguments, in :class:`UsageRecord`'s field order: with 26
    keyword arguments the call cost 3.5 µs, positionally 0.6 µs, on every request.
    ``tests/unit/api/test_usage_record.py`` checks each field lands where it belongs.
    """
    usage = outcome.usage
    return UsageRecord(
        outcome.request_id,
        outcome.key_id,
        outcome.model,
        outcome.provider,
        outcome.upstream_model,
        outcome.status,
        outcome.error_code,
        usage.prompt_tokens if usage else 0,
        usage.completion_tokens if usage else 0,
        usage.image_tokens if usage else outcome.image_tokens,
        outcome.images,
        outcome.image_bytes,
        latency_s * 1000.0,
        outcome.ttft_ms,
        outcome.cost_usd,
        outcome.stream,
        outcome.endpoint,
        outcome.deployment,
        outcome.attempts,
        outcome.fallback,
        outcome.documents,
        outcome.document_pages,
        outcome.document_bytes,
        outcome.cache,
        outcome.saved_usd,
        outcome.created,
    )


class _InFlight:
    """Requests being served by every endpoint of the process (the in-flight gauge)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def count(self) -> int:
        return self.n


async def _with_pings(
    step: Suspended[StreamDelta], interval: float, renderer: StreamRenderer, send: Send
) -> StreamDelta:
    """The next delta, writing a ping frame each ``interval`` seconds the provider is
    silent (clients and proxies that drop idle connections see traffic). The step runs
    in a task so it can be waited on with a timeout; cancelling this cancels it."""

    async def finish() -> StreamDelta:
        return await step

    task = asyncio.ensure_future(finish())
    try:
        while True:
            done, _ = await asyncio.wait((task,), timeout=interval)
            if done:
                return task.result()
            await send(_body([renderer.ping()]))
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
