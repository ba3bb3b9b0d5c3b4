"""What an inbound API shape (a surface) supplies to the shared endpoint.

Chat Completions, the Responses API and the Anthropic Messages API differ only at the
edges: how the key is sent, how the body parses into the internal :class:`ChatRequest`,
how an answer, a stream and an error are rendered. Everything between (authentication,
the body cap, the use case, disconnects, usage records, metrics) is the same code
(``endpoint.py``), so a new surface cannot forget a guarantee the others keep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from visiongate.api.cut import Cut
    from visiongate.core.messages import ChatRequest, ChatResponse, StreamDelta, Usage
    from visiongate.core.outcome import Outcome
    from visiongate.errors import GatewayError

__all__ = ["Credentials", "StreamRenderer", "Surface"]


class Credentials(Protocol):
    """The request headers a surface may take the key from."""

    authorization: str | None
    x_api_key: str | None


class StreamRenderer(Protocol):
    """The frames of one streamed answer, in the surface's event format.

    The endpoint calls :meth:`delta` for every delta the service yields but the last,
    which carries only the usage and goes to :meth:`usage`; then :meth:`end`. A failure
    after the first frame goes to :meth:`error` instead of :meth:`end`. Each returns the
    bytes to write (possibly empty). ``ping_interval`` (seconds, or None) asks for
    :meth:`ping` frames while the provider is silent that long.
    """

    ping_interval: float | None

    def start(self) -> bytes: ...
    def delta(self, delta: StreamDelta) -> bytes: ...
    def usage(self, usage: Usage) -> bytes: ...
    def end(self) -> bytes: ...
    def error(self, exc: GatewayError) -> bytes: ...
    def ping(self) -> bytes: ...


class Surface(Protocol):
    """One inbound API shape. ``name`` is what usage records and metrics call it;
    ``cut`` says where its large base64 images sit in a body (``cut.py``)."""

    name: str
    cut: Cut

    def credentials(self, headers: Credentials) -> str | None:
        """The ``Authorization`` value to authenticate (``Bearer <key>``), or None."""
        ...

    def parse(self, data: dict[str, Any]) -> ChatRequest:
        """The body (already a JSON object) as the internal request. Raises
        InvalidRequest naming the offending ``param``."""
        ...

    def render(self, response: ChatResponse, request: ChatRequest, outcome: Outcome) -> bytes:
        """A whole answer's JSON body."""
        ...

    def stream(self, request: ChatRequest, outcome: Outcome) -> StreamRenderer: ...

    def error(self, exc: GatewayError) -> tuple[int, bytes]:
        """The HTTP status and JSON body of an error answered before any output."""
        ...
