"""The provider interface, and the HTTP plumbing every upstream adapter shares.

An adapter translates the internal :class:`ChatRequest` into one wire API and the answer
back into :class:`ChatResponse` / :class:`StreamDelta`. It knows nothing of HTTP routing,
of other adapters, or of accounts. Wire-format knowledge stays in the adapter module;
what is here is transport: a pooled HTTP client per provider (``transport.py``), timeouts,
SSE framing, and mapping upstream failures onto the error tree. Retries are not here: the
routing policy (``service/routing.py``) retries, moves to the next target or falls back,
and counts each call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import orjson

from visiongate.errors import (
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from visiongate.providers.body import serialise
from visiongate.providers.delay import parse_delay, whole_seconds
from visiongate.providers.sse import SseEvent, SseSplitter, iter_sse, iter_sse_batches
from visiongate.transport import HttpClient, Response, TransportError

if TYPE_CHECKING:
    from visiongate.core.catalog import ModelEntry, ProviderEntry
    from visiongate.core.messages import ChatRequest, ChatResponse, StreamDelta
    from visiongate.settings import Settings

__all__ = [
    "HttpProvider",
    "Provider",
    "SseEvent",
    "SseSplitter",
    "iter_sse",
    "iter_sse_batches",
    "map_upstream_status",
    "unsupported",
]


class Provider(ABC):
    """One provider account (``ProviderEntry``) able to serve the models that name it."""

    # Whether the wire API has top-k sampling (Anthropic's ``top_k``, Gemini's ``topK``);
    # where it has none, a request asking for it is refused rather than sampled otherwise.
    accepts_top_k: ClassVar[bool] = False
    # Whether a native PDF may go as the client's http(s) URL, for the provider to fetch
    # (Anthropic's ``document`` URL source); elsewhere the gateway fetches and inlines it.
    accepts_pdf_urls: ClassVar[bool] = False

    def __init__(self, entry: ProviderEntry, settings: Settings) -> None:
        self.entry = entry
        self.settings = settings

    @property
    def name(self) -> str:
        return self.entry.name

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open clients or load engines; called from the app's lifespan."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`start` opened."""

    def serve(self, models: list[ModelEntry]) -> None:  # noqa: B027 - optional hook
        """The catalog models this provider serves, told once before :meth:`start` (a
        provider that loads models in process warms them up from this)."""

    def describe(self, model: ModelEntry) -> dict[str, Any]:
        """What ``GET /v1/models`` adds to or overrides in ``model``'s card: a provider
        that knows more than its credentials (a local engine's load state) says it here,
        so the edge needs no knowledge of provider kinds."""
        return {}

    def pdf_form(self, model: ModelEntry) -> Literal["native", "text"] | None:
        """How this provider's API can take a PDF for ``model``: ``"native"`` when its
        wire format has a PDF block (the catalog then decides whether the model gets it),
        ``"text"`` when it reads pages itself (text layer, else the page image), None when
        pages must be rendered to images (documents/ingest.py)."""
        return None

    def check(self, request: ChatRequest, model: ModelEntry) -> None:
        """Refuse, before any image work, what this provider cannot honour.

        Raises InvalidRequest (``unsupported_parameter``) naming the field. The default
        checks ``n`` and ``tools`` against the model's capabilities.
        """
        if request.top_k is not None and not self.accepts_top_k:
            raise unsupported("top_k", f"{model.id} has no top-k sampling; leave top_k out")
        if request.n != 1 and not model.supports("n"):
            raise unsupported("n", f"{model.id} returns one choice per request; send n=1")
        if request.tools and not model.supports("tools"):
            raise unsupported("tools", f"{model.id} does not support tool calling")
        fmt = request.response_format
        if fmt and fmt.get("type") not in (None, "text") and not model.supports("json_mode"):
            raise unsupported("response_format", f"{model.id} has no JSON mode")

    @abstractmethod
    async def complete(self, request: ChatRequest, model: ModelEntry) -> ChatResponse:
        """One whole answer."""

    @abstractmethod
    def stream(self, request: ChatRequest, model: ModelEntry) -> AsyncIterator[StreamDelta]:
        """The answer as it is produced. The first delta carries ``role``; the last carries
        ``finish_reason`` and, where known, ``usage``. Cancelling the iterator cancels the
        upstream call."""


def unsupported(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, code="unsupported_parameter", param=param)


def map_upstream_status(
    provider: str,
    status: int,
    message: str,
    model: ModelEntry | None = None,
    retry_after: float | None = None,
    upstream_code: str | None = None,
) -> GatewayError:
    """Turn an upstream HTTP failure into the gateway's error, keeping the upstream message.

    Classified by status only. Credentials and billing errors (401/402/403) become 502:
    the client's own key is fine, the gateway's provider account is not. A 404 for a
    retired model says when it was retired, what replaced it, and how to route there.
    ``retry_after``: the delay the upstream asked for, already validated and clamped
    (providers/delay.py); a 429 passes it on as ``Retry-After``. The error keeps
    ``status`` as ``upstream_status`` and the delay as ``retry_after_s`` for the routing
    policy.
    """
    text = (
        f"{provider} returned HTTP {status}: {message}"
        if message
        else f"{provider} returned HTTP {status}"
    )
    error: GatewayError
    if status == 404 and model is not None:
        if model.retired:
            successor = f"; its successor is {model.successor}" if model.successor else ""
            error = ModelNotFound(
                f"{model.id} was retired by {provider} on {model.retired}{successor}. "
                "Set VISIONGATE_FOLLOW_SUCCESSORS=1 (follow_successors = true in the config "
                f"file) to route retired models to their successors. Upstream said: {message}",
                param="model",
            )
        else:
            error = ModelNotFound(
                f"{provider} does not know model {model.upstream!r}: {message}", param="model"
            )
    elif status == 429:
        retry = None if retry_after is None else whole_seconds(retry_after)
        error = RateLimited(text, headers={"Retry-After": retry} if retry else None)
    elif status in (401, 402, 403):
        error = UpstreamError(
            f"{provider} refused the gateway's credentials or account (HTTP {status}); the "
            f"operator must check the provider key and its credits. Upstream said: {message}",
        )
    elif status == 413:
        error = InvalidRequest(text, code="request_too_large", status=413)
    elif 400 <= status < 500:
        error = InvalidRequest(text, code=upstream_code or "upstream_invalid_request", status=400)
    elif status == 504:
        error = UpstreamTimeout(text)
    else:
        error = UpstreamError(text)
    error.upstream_status = status
    error.retry_after_s = retry_after
    return error


class HttpProvider(Provider):
    """Base for adapters that call an HTTP API: one pooled client, timeouts, error mapping."""

    def __init__(self, entry: ProviderEntry, settings: Settings) -> None:
        super().__init__(entry, settings)
        self._client: HttpClient | None = None

    async def start(self) -> None:
        """Open the pooled client.

        The read timeout bounds every wait for upstream bytes (the headers, a whole body,
        the next stream event): it is what turns a stalled upstream into a 504; the
        deadline bounds the whole call (an upstream that drips a byte at a time), the body
        cap an answer that never ends (a 502), and the per-host limit the connections.
        """
        settings = self.settings
        self._client = HttpClient(
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_timeout,
            deadline=settings.upstream_deadline,
            max_body=settings.max_upstream_response_bytes,
            max_per_host=settings.upstream_max_connections,
            proxy=self.entry.proxy,
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            raise RuntimeError(f"provider {self.name} used before start()")
        return self._client

    def error_message(self, body: bytes) -> tuple[str, str | None]:
        """(message, code) out of an error body; adapters override for their shape."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body[:500].decode("utf-8", "replace").strip(), None
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            code = err.get("code") if isinstance(err.get("code"), str) else None
            return str(err.get("message") or err.get("type") or err), code
        if isinstance(err, str):
            return err, None
        return str(data)[:500], None

    def retry_after(self, status: int, headers: Mapping[str, str], body: bytes) -> float | None:
        """How long the upstream asks to wait before trying again, in seconds (validated and
        clamped by :func:`parse_delay`), for a failed answer; None when it does not say.

        Used for the retry backoff and, rounded up, as the ``Retry-After`` of the 429 the
        client gets. The default reads the ``Retry-After`` header; adapters whose API puts
        the delay in the error body (Gemini's ``RetryInfo``) override it.
        """
        return parse_delay(headers.get("retry-after"))

    async def post(
        self,
        url: str,
        payload: Any,
        headers: Mapping[str, str],
        model: ModelEntry,
    ) -> Response:
        """POST ``payload`` (already serialised, or an object for :func:`serialise`) once and
        return a 2xx response whose body the caller reads (and must release).

        One call, no retry: retries, the next target and fallbacks are the routing
        policy's (``service/routing.py``), which counts every upstream call. Raises the
        mapped GatewayError; one caused by an answer carries its ``upstream_status`` and
        the delay the upstream asked for (:meth:`retry_after`, validated).
        """
        body = payload if isinstance(payload, bytes | list) else serialise(payload)
        all_headers = {"content-type": "application/json", **self.entry.headers, **headers}
        try:
            response = await self.client.post(url, body, all_headers)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{self.name} did not answer in time") from exc
        except TransportError as exc:
            raise UpstreamError(f"could not reach {self.name}: {exc}") from exc
        if response.status < 300:
            return response
        try:
            raw = await response.read()
        except (TransportError, TimeoutError):
            raw = b""
            response.close()
        hint = self.retry_after(response.status, response.headers, raw)
        message, code = self.error_message(raw)
        raise map_upstream_status(self.name, response.status, message, model, hint, code)

    async def read_json(self, response: Response) -> Any:
        """The whole body of a 2xx answer as JSON; nonsense becomes a 502."""
        try:
            raw = await response.read()
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{self.name} stopped answering") from exc
        except TransportError as exc:
            raise UpstreamError(f"{self.name} broke the connection: {exc}") from exc
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"{self.name} answered with something that is not JSON") from exc

    async def events(self, response: Response) -> AsyncGenerator[SseEvent, None]:
        """SSE events of a 2xx streaming answer; a broken or stalled stream becomes an error."""
        try:
            async for event in iter_sse(response.iter_chunks()):
                yield event
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{self.name} stopped sending the stream") from exc
        except TransportError as exc:
            raise UpstreamError(f"{self.name} broke the stream: {exc}") from exc
        finally:
            response.release()

    async def event_blocks(self, response: Response, splitter: SseSplitter) -> list[str]:
        """The blocks of the events that the next network reads complete (as
        :meth:`SseSplitter.feed_blocks`; a read that completes none is waited past), ``[]``
        once the body has ended; for :func:`~visiongate.providers.sse.block_event` to
        read. An awaited call rather than a generator: each level of async generator
        costs a stream a registration, a close and a step per read. The caller releases
        ``response``."""
        try:
            while True:
                chunk = await response.next_chunk()
                if not chunk:
                    return splitter.end_blocks()
                blocks = splitter.feed_blocks(chunk)
                if blocks:
                    return blocks
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{self.name} stopped sending the stream") from exc
        except TransportError as exc:
            raise UpstreamError(f"{self.name} broke the stream: {exc}") from exc
