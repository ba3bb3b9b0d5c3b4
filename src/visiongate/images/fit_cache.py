"""Remembers recent conversions, so an image sent again is not decoded and re-encoded again.

Clients resend images all the time: a multi-turn conversation carries every earlier turn's
images in each new request, and batch jobs reuse the same reference picture. Converting a
photo costs tens of milliseconds of CPU; finding the earlier result costs one hash of the
bytes (cached by CPython on the bytes object) and one comparison. The key is the source
bytes themselves plus the plan, so a hit is exact, never a digest collision.
"""

from __future__ import annotations

from collections import OrderedDict

from visiongate.images.fit import FitPlan, Fitted

__all__ = ["FitCache"]


class FitCache:
    """LRU of ``(source bytes, plan) -> (Fitted, base64)`` within a byte budget.

    The budget counts the source and the result, since both are held. Used from one event
    loop only, so it needs no lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[bytes, FitPlan], tuple[Fitted, str]] = OrderedDict()
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, source: bytes, plan: FitPlan) -> tuple[Fitted, str] | None:
        key = (source, plan)
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
        return hit

    def put(self, source: bytes, plan: FitPlan, fitted: Fitted, b64: str) -> None:
        cost = len(source) + len(fitted.data) + len(b64)
        if self.max_bytes <= 0 or cost > self.max_bytes // 4:
            return  # one entry may use at most a quarter of the budget
        key = (source, plan)
        old = self._entries.pop(key, None)
        if old is not None:
            self._size -= len(source) + len(old[0].data) + len(old[1])
        self._entries[key] = (fitted, b64)
        self._size += cost
        while self._size > self.max_bytes:
            (src, _), (done, text) = self._entries.popitem(last=False)
            self._size -= len(src) + len(done.data) + len(text)

    def clear(self) -> None:
        self._entries.clear()
        self._size = 0
