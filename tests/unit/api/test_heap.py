"""When the heap is trimmed (after a large body, or on going idle after many body bytes),
and the allocator thresholds that keep large buffers in the heap meanwhile."""

from __future__ import annotations

import platform
import sys

import pytest

from visiongate.api.heap import IDLE_AFTER, LARGE_BODY, HeapTrimmer, keep_large_blocks


def test_trims_after_a_large_body_even_while_busy() -> None:
    calls: list[int] = []
    heap = HeapTrimmer(lambda: calls.append(1))
    assert heap.after_request(LARGE_BODY, idle=False)
    assert calls == [1]


def test_small_bodies_add_up_and_trim_once_the_server_is_idle() -> None:
    calls: list[int] = []
    heap = HeapTrimmer(lambda: calls.append(1))
    piece = 2 * 1024 * 1024
    for _ in range(IDLE_AFTER // piece):
        assert not heap.after_request(piece, idle=False)  # busy: never in the way
    assert heap.after_request(0, idle=True)
    assert not heap.after_request(piece, idle=True)  # counted again from zero
    assert calls == [1]


def test_the_real_trim_runs_on_this_platform() -> None:
    assert HeapTrimmer().after_request(LARGE_BODY, idle=True)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)
def test_keep_large_blocks_sets_glibc_thresholds() -> None:
    # mallopt answers 0 for a value it refuses (e.g. an mmap threshold over its maximum).
    assert keep_large_blocks() is True
    assert keep_large_blocks() is True  # idempotent: called once per worker process
