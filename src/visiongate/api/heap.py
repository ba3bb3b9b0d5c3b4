"""Give the memory of a large request back to the system once it is done.

glibc keeps freed heap memory for reuse, and after one request with big images (hundreds
of MB of body, strings and decoded pixels) the process would stay that large. Forcing big
blocks into their own mappings (``M_MMAP_THRESHOLD``) returns them, but on this machine
kind every fresh page then costs a fault, which made parsing a 2 MB body 4x slower
(docs/performance.md). So allocation stays as it is and ``malloc_trim`` runs after a
request whose body was large: after 20 images of 5 MB the RSS went back to its level
before the request, and ordinary requests pay nothing.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

__all__ = ["LARGE_BODY", "heap_trimmer"]

LARGE_BODY = 8 * 1024 * 1024  # bytes of request body after which the heap is trimmed


def heap_trimmer() -> Callable[[], None]:
    """A function that returns free heap memory to the system (glibc), or does nothing."""
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
