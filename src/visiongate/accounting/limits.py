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
from dataclasses import dataclass
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
    handle: object = None  # the in-memory window, for MemoryLimiter
    seq: int = 0  # the entry's number in that window


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
        rpm, tpm = self.rpm, self.tpm
        if rpm is not None:
            left = rpm - self.requests_used
            out["x-ratelimit-limit-requests"] = str(rpm)
            out["x-ratelimit-remaining-requests"] = str(left) if left > 0 else "0"
            out["x-ratelimit-reset-requests"] = reset
        if tpm is not None:
            left = tpm - self.tokens_used
            out["x-ratelimit-limit-tokens"] = str(tpm)
            out["x-ratelimit-remaining-tokens"] = str(left) if left > 0 else "0"
            out["x-ratelimit-reset-tokens"] = reset
        if not self.allowed and self.exceeded != "tokens_oversized":
            out["retry-after"] = str(max(1, math.ceil(self.retry_after_s)))
            out["retry-after-ms"] = str(max(1, math.ceil(self.retry_after_s * 1000)))
        return out


class Limiter(Protocol):
    async def acquire(
        self, key_id: str, rpm: int | None, tpm: int | None, tokens: int, member: str = ""
    ) -> Decision:
        """Admit one request of ``tokens`` (estimated) if both limits allow it, atomically.

        ``member`` names the reservation where a limiter needs a name (Redis makes a random
        one when it is empty); the memory limiter does not use it.
        """
        ...

    async def settle(self, ticket: Ticket, actual_tokens: int) -> None:
        """Replace the reservation with the real token count (no-op once it left the window)."""
        ...

    async def close(self) -> None: ...


def format_reset(seconds: float) -> str:
    """A duration as OpenAI writes it in reset headers: ``17ms``, ``2.383s``, ``6m0s``."""
    seconds = round(seconds, 3) if seconds > 0 else 0.0
    if seconds >= 60:  # the usual case: an admitted request resets a full window from now
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes}m{rest}s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


class _Window:
    """One key's sliding log, as parallel deques of plain numbers.

    Floats and ints in a deque are not objects the garbage collector tracks, so a busy key
    (60 s x 1,500 RPS = 90k entries) adds nothing to a full collection, as one object per
    request would. Entries are numbered in admission order and ``first`` is the number of
    the oldest one still in the window, so a ticket finds its entry, or knows it has left.
    """

    __slots__ = ("at", "first", "reserved", "tokens")

    def __init__(self) -> None:
        self.at: deque[float] = deque()
        self.reserved: deque[int] = deque()
        self.tokens = 0
        self.first = 0

    def prune(self, cutoff: float) -> None:
        at = self.at
        if not at or at[0] > cutoff:
            return
        reserved = self.reserved
        freed = 0
        while at and at[0] <= cutoff:
            at.popleft()
            freed += reserved.popleft()
            self.first += 1
        self.tokens -= freed


class MemoryLimiter:
    """Limits held by this process alone (one worker, or per-process limits)."""

    def __init__(
        self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window_s = window_s
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    async def acquire(
        self, key_id: str, rpm: int | None, tpm: int | None, tokens: int, member: str = ""
    ) -> Decision:
        return self.acquire_now(key_id, rpm, tpm, tokens, member)

    def acquire_now(
        self, key_id: str, rpm: int | None, tpm: int | None, tokens: int, member: str = ""
    ) -> Decision:
        """``acquire`` without the coroutine (nothing here waits)."""
        now = self._clock()
        window = self._windows.get(key_id)
        if window is None:
            window = self._windows[key_id] = _Window()
        else:
            window.prune(now - self._window_s)
        at = window.at
        count, used = len(at), window.tokens
        exceeded, retry = None, 0.0
        if rpm is not None and count >= rpm:
            exceeded = "requests"
            retry = at[count - rpm] + self._window_s - now
        elif tpm is not None and tokens > tpm:
            exceeded = "tokens_oversized"
        elif tpm is not None and used + tokens > tpm:
            exceeded = "tokens"
            retry = self._token_retry(window, tokens, tpm, now)
        if exceeded:
            if not at:
                del self._windows[key_id]
            reset = at[-1] + self._window_s - now if at else 0.0
            return Decision(False, rpm, tpm, count, used, reset, retry, exceeded)
        at.append(now)
        window.reserved.append(tokens)
        window.tokens = used + tokens
        ticket = Ticket(key_id, member, tokens, window, window.first + count)
        return Decision(True, rpm, tpm, count + 1, used + tokens, self._window_s, ticket=ticket)

    def _token_retry(self, window: _Window, tokens: int, tpm: int, now: float) -> float:
        remaining = window.tokens
        for at, reserved in zip(window.at, window.reserved, strict=True):
            remaining -= reserved
            if remaining + tokens <= tpm:
                return at + self._window_s - now
        return self._window_s

    async def settle(self, ticket: Ticket, actual_tokens: int) -> None:
        window = ticket.handle
        if not isinstance(window, _Window) or window is not self._windows.get(ticket.key_id):
            return
        index = ticket.seq - window.first
        if index < 0:  # the entry has left the window
            return
        # A deque is indexed from its nearer end, and the entry settled is a recent one.
        reserved = window.reserved
        window.tokens += actual_tokens - reserved[index]
        reserved[index] = actual_tokens

    async def close(self) -> None:
        self._windows.clear()
