"""Run an awaitable as far as it goes without waiting, to batch what is already there.

A provider's stream often hands over many events at once (one network read holds many
SSE events). Sending each as its own ASGI message costs a server call and a socket write
per event; :func:`run_eagerly` lets the stream loop collect every delta that is ready and
write them together just before it would have to wait, which adds no latency.

The coroutine protocol makes this exact: an awaitable is driven with ``send(None)``; it
either finishes (``StopIteration`` carries the result) or yields what it waits on. In the
second case :class:`Suspended` hands that same object to the event loop when awaited and
keeps delegating to the half-run awaitable, as ``yield from`` would. A half-run step that
will not be awaited (the client went away while the batch was being written) must be
unwound, not dropped: an async generator stays marked as running until its step ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Generator
from typing import Any, Generic, TypeVar

__all__ = ["Suspended", "run_eagerly"]

T = TypeVar("T")


class Suspended(Generic[T]):
    """An awaitable that was started and is waiting. Await it (once) for its result, or
    :meth:`unwind` it when it will not be awaited."""

    __slots__ = ("_iterator", "_throw", "_waiting_on")

    def __init__(self, iterator: Generator[Any, Any, T], waiting_on: Any) -> None:
        self._iterator = iterator
        self._waiting_on = waiting_on
        self._throw: BaseException | None = None

    def __await__(self) -> Generator[Any, Any, T]:
        iterator, waiting_on, pending = self._iterator, self._waiting_on, self._throw
        while True:
            if pending is None:
                try:
                    sent = yield waiting_on
                except BaseException as thrown:  # cancellation, forwarded like ``yield from``
                    pending = thrown
                    continue
                try:
                    waiting_on = iterator.send(sent)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
            else:
                error, pending = pending, None
                try:
                    waiting_on = iterator.throw(error)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]

    async def unwind(self) -> None:
        """Cancel it the way a cancellation while awaiting it would (its ``finally``
        blocks run, awaiting what they need), and wait until it has finished. For a
        step of an async generator this also releases the generator for ``aclose``."""
        self._throw = asyncio.CancelledError()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self


def run_eagerly(awaitable: Awaitable[T]) -> T | Suspended[T]:
    """The result when ``awaitable`` completes without waiting, else a :class:`Suspended`
    to await. Exceptions it raises (``StopAsyncIteration`` from ``anext`` included)
    propagate from here."""
    iterator = awaitable.__await__()
    try:
        waiting_on = iterator.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    return Suspended(iterator, waiting_on)
