"""When the heap is trimmed: after a large body, or on going idle after many body bytes."""

from __future__ import annotations

from visiongate.api.heap import IDLE_AFTER, LARGE_BODY, HeapTrimmer


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
