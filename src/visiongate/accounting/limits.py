"""Per-key request and token limits over a sliding one-minute window, in process memory.

A sliding log (every admitted request with its reserved tokens, kept for one window) is
exact: no burst at a window boundary lets through more than the limit, which a fixed
window would, and no refill during a burst lets through more, which a token bucket would.
Tokens are reserved before the call from an estimate and corrected by ``settle`` once the
real usage is known. ``RedisLimiter`` (``redis_limits.py``) implements the same rules for
several processes.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "WINDOW_S",
    "Decision",
    "Limiter",
    "MemoryLimiter",
    "Ticket",
    "format_reset",
]

WINDOW_S = 60.0


@dataclass(slots=True)
class Ticket:
    """What ``settle`` needs to correct one request's token reservation."""

    key_id: str
    member: str
    tokens: int
    handle: object = None  # the in-memory entry, for MemoryLimiter


@dataclass(slots=True)
class Decision:
    """The outcome of one admission, with what the ``x-ratelimit-*`` headers report."""

    allowed: bool
    rpm: int | None
    tpm: int | None
    requests_used: int  # in the window, this request included when allowed
    tokens_used: int
    reset_s: float  # until the window is empty again ("resets to its initial state")
    retry_after_s: float = 0.0  # when refused: until this request would fit
    exceeded: str | None = None  # "requests", "tokens", or "tokens_oversized"
    ticket: Ticket | None = None

    def headers(self) -> dict[str, str]:
        """OpenAI's rate-limit headers for the limits this key has."""
        out: dict[str, str] = {}
        reset = format_reset(self.reset_s)
        if self.rpm is not None:
            out["x-ratelimit-limit-requests"] = str(self.rpm)
            out["x-ratelimit-remaining-requests"] = str(max(self.rpm - self.requests_used, 0))
            out["x-ratelimit-reset-requests"] = reset
        if self.tpm is not None:
            out["x-ratelimit-limit-tokens"] = str(self.tpm)
            out["x-ratelimit-remaining-tokens"] = str(max(self.tpm - self.tokens_used, 0))
            out["x-ratelimit-reset-tokens"] = reset
        if not self.allowed and self.exceeded != "tokens_oversized":
            out["retry-after"] = str(max(1, math.ceil(self.retry_after_s)))
            out["retry-after-ms"] = str(max(1, math.ceil(self.retry_after_s * 1000)))
        return out


class Limiter(Protocol):
    async def acquire(
        self, key_id: str, rpm: int | None, tpm: int | None, tokens: int, member: str
    ) -> Decision:
        """Admit one request of ``tokens`` (estimated) if both limits allow it, atomically."""
        ...

    async def settle(self, ticket: Ticket, actual_tokens: int) -> None:
        """Replace the reservation with the real token count (no-op once it left the window)."""
        ...

    async def close(self) -> None: ...


def format_reset(seconds: float) -> str:
    """A duration as OpenAI writes it in reset headers: ``17ms``, ``2.383s``, ``6m0s``."""
    seconds = round(max(seconds, 0.0), 3)
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest}s"


@dataclass(slots=True)
class _Entry:
    at: float
    tokens: int
    live: bool = True


@dataclass(slots=True)
class _Window:
    entries: deque[_Entry] = field(default_factory=deque)
    tokens: int = 0

    def prune(self, cutoff: float) -> None:
        while self.entries and self.entries[0].at <= cutoff:
            entry = self.entries.popleft()
            entry.live = False
            self.tokens -= entry.tokens


class MemoryLimiter:
    """Limits held by this process alone (one worker, or per-process limits)."""

    def __init__(
        self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window_s = window_s
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    async def acquire(
        self, key_id: str, rpm: int | None, tpm: int | None, tokens: int, member: str
    ) -> Decision:
        return self.acquire_now(key_id, rpm, tpm, tokens, member)

    def acquire_now(
        self, key_id: str, rpm: int | None, tpm: int | None, tokens: int, member: str
    ) -> Decision:
        """``acquire`` without the coroutine (nothing here waits)."""
        now = self._clock()
        window = self._windows.setdefault(key_id, _Window())
        window.prune(now - self._window_s)
        count, used = len(window.entries), window.tokens
        exceeded, retry = None, 0.0
        if rpm is not None and count >= rpm:
            exceeded = "requests"
            retry = window.entries[count - rpm].at + self._window_s - now
        elif tpm is not None and tokens > tpm:
            exceeded = "tokens_oversized"
        elif tpm is not None and used + tokens > tpm:
            exceeded = "tokens"
            retry = self._token_retry(window, tokens, tpm, now)
        if exceeded:
            if not window.entries:
                del self._windows[key_id]
            reset = window.entries[-1].at + self._window_s - now if window.entries else 0.0
            return Decision(False, rpm, tpm, count, used, reset, retry, exceeded)
        entry = _Entry(now, tokens)
        window.entries.append(entry)
        window.tokens += tokens
        ticket = Ticket(key_id, member, tokens, entry)
        return Decision(True, rpm, tpm, count + 1, used + tokens, self._window_s, ticket=ticket)

    def _token_retry(self, window: _Window, tokens: int, tpm: int, now: float) -> float:
        remaining = window.tokens
        for entry in window.entries:
            remaining -= entry.tokens
            if remaining + tokens <= tpm:
                return entry.at + self._window_s - now
        return self._window_s

    async def settle(self, ticket: Ticket, actual_tokens: int) -> None:
        entry = ticket.handle
        if not isinstance(entry, _Entry) or not entry.live:
            return
        window = self._windows.get(ticket.key_id)
        if window is None:
            return
        window.tokens += actual_tokens - entry.tokens
        entry.tokens = actual_tokens

    async def close(self) -> None:
        self._windows.clear()
