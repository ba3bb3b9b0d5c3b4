"""What an OpenAI-format stream must remember between its events (``providers/openai.py``).

Which choices started (the first delta of each names the role), the final deltas held
back until the usage (which OpenAI sends after the finish reason) is known, and how the
upstream writes its text chunks (:class:`~visiongate.providers.openai_shapes.TextChunkShape`);
and :func:`joined`, one delta for text chunks of one choice that were read together.
"""

from __future__ import annotations

from visiongate.core.messages import StreamDelta, Usage
from visiongate.providers.openai_shapes import TextChunkShape

__all__ = ["StreamState", "joined"]


class StreamState:
    """What a stream must remember: which choices started, and the final deltas held
    back until the usage (which OpenAI sends after the finish reason) is known."""

    def __init__(self) -> None:
        self.started: set[int] = set()
        self.held: dict[int, StreamDelta] = {}
        self.usage: Usage | None = None
        self.done = False
        # How the upstream writes its text chunks, once one was parsed: later ones that
        # are written alike are read without parsing (TextChunkShape).
        self.shape: TextChunkShape | None = None

    def take(self, delta: StreamDelta) -> StreamDelta | None:
        """The delta to send now, or None when it is kept for the end."""
        if delta.usage is not None:
            self.usage = delta.usage
            if not (delta.content or delta.tool_calls or delta.finish_reason or delta.role):
                return None
            delta.usage = None
        if delta.index not in self.started:
            self.started.add(delta.index)
            if delta.role is None:
                delta.role = "assistant"
                delta.chunks = None
        if delta.finish_reason is None:
            return delta
        held = self.held.get(delta.index)
        if held is None:
            self.held[delta.index] = delta
        else:
            held.content = (held.content or "") + (delta.content or "") or None
            held.tool_calls = (held.tool_calls or []) + (delta.tool_calls or []) or None
            held.finish_reason = delta.finish_reason
            held.chunks = None
        return None

    def take_all(self, deltas: list[StreamDelta]) -> list[StreamDelta]:
        """:meth:`take` for each, the ones to send now."""
        out = []
        for delta in deltas:
            sent = self.take(delta)
            if sent is not None:
                out.append(sent)
        return out

    def final(self) -> list[StreamDelta]:
        """The held final deltas, the last one carrying the usage; a stream that ended
        with ``[DONE]`` but no finish reason gets ``stop``."""
        if not self.held:
            self.held[0] = StreamDelta(
                role=None if 0 in self.started else "assistant", finish_reason="stop"
            )
        finals = [self.held[i] for i in sorted(self.held)]
        finals[-1].usage = self.usage
        return finals


def joined(run: list[StreamDelta]) -> StreamDelta:
    """One delta for text deltas of one choice read together, each with its chunk
    (:attr:`StreamDelta.parts`)."""
    if len(run) == 1:
        return run[0]
    texts = [d.content for d in run if d.content is not None]
    return StreamDelta(
        index=run[0].index,
        role="assistant" if any(d.role for d in run) else None,
        content="".join(texts) if texts else None,
        upstream_model=run[0].upstream_model,
        chunks=[c for d in run for c in d.chunks or ()],
        parts=run,
    )
