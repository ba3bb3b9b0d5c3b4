"""Give the memory of large requests back to the system once they are done.

glibc keeps freed heap memory for reuse, so after a burst of image requests (bodies,
their strings, decoded pixels in the fitting threads) the process would stay as large as
at the burst's peak. Forcing big blocks into their own mappings (``M_MMAP_THRESHOLD``)
returns them, but on this machine kind every fresh page then costs a fault, which made
parsing a 2 MB body 4x slower (docs/performance.md). So allocation stays as it is and
``malloc_trim`` runs after a request with a large body, and when the server falls idle
after many body bytes: after 20 images of 5 MB the RSS went back near its level before,
and a steady stream of ordinary requests pays nothing.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

__all__ = ["HeapTrimmer"]

LARGE_BODY = 8 * 1024 * 1024  # a body this large is trimmed after at once
IDLE_AFTER = 32 * 1024 * 1024  # body bytes since the last trim that make going idle trim


class HeapTrimmer:
    """Decides after each request whether to trim, and trims (glibc only)."""

    __slots__ = ("_since", "_trim")

    def __init__(self, trim: Callable[[], None] | None = None) -> None:
        self._trim = trim if trim is not None else _libc_trim()
        self._since = 0

    def after_request(self, body_bytes: int, idle: bool) -> bool:
        """Called when a request ends; ``idle``: no other request is being served.
        Returns whether it trimmed."""
        self._since += body_bytes
        if body_bytes < LARGE_BODY and not (idle and self._since >= IDLE_AFTER):
            return False
        self._since = 0
        self._trim()
        return True


def _libc_trim() -> Callable[[], None]:
    if not sys.platform.startswith("linux"):
        return _nothing
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return _nothing
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def run() -> None:
        trim(0)

    return run


def _nothing() -> None:
    return None
