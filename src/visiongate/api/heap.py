"""Keep large request buffers in the heap while serving; give them back when done.

Every fresh page costs a fault, and faults are expensive on virtual machines. glibc's
defaults put blocks over a moving threshold (128 KB to start with) into their own
mappings and shrink the heap's top whenever enough of it is free, so a steady load of
2 MB image requests faulted in ~1.4 MB of new pages per request (~380 faults, 15-20% of
its CPU time; docs/performance.md). :func:`keep_large_blocks` raises both thresholds once
at start, so those buffers are reused from the heap instead; forcing big blocks into
their own mappings the other way made parsing a 2 MB body 4x slower.

Memory still goes back, on purpose rather than on every free: ``malloc_trim`` runs after a
request with a large body, and when the server falls idle after many body bytes. After 20
images of 5 MB the RSS went back near its level before, and a steady stream of ordinary
requests pays nothing.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

__all__ = ["HeapTrimmer", "keep_large_blocks"]

LARGE_BODY = 8 * 1024 * 1024  # a body this large is trimmed after at once
IDLE_AFTER = 32 * 1024 * 1024  # body bytes since the last trim that make going idle trim
# mallopt parameters (malloc.h) and the values set: blocks up to 32 MB (glibc's largest
# allowed threshold on 64-bit) come from the heap, and its top is not shrunk by free()
# until 128 MB of it is unused; HeapTrimmer gives the memory back instead.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024
_TRIM_THRESHOLD = 128 * 1024 * 1024


def keep_large_blocks() -> bool:
    """Set the allocator's thresholds (glibc only); returns whether they were set.

    Called once per process, before serving. Setting the mmap threshold also stops glibc
    from moving it by itself.
    """
    libc = _glibc()
    if libc is None:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )


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


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim  # noqa: B018 - musl has no malloc_trim (nor glibc's mallopt codes)
    except (OSError, AttributeError):
        return None
    return libc


def _libc_trim() -> Callable[[], None]:
    libc = _glibc()
    if libc is None:
        return _nothing
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def run() -> None:
        trim(0)

    return run


def _nothing() -> None:
    return None
