"""How many compute threads one OCR request gets (``VISIONGATE_LOCAL_THREADS``)."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from visiongate.local.ocr import local_threads
from visiongate.settings import Settings


def test_the_setting_wins() -> None:
    assert local_threads(Settings(local_threads=3, local_concurrency=4)) == 3


def test_by_default_the_process_cores_are_shared_among_the_slots() -> None:
    cores = len(os.sched_getaffinity(0))
    assert local_threads(Settings()) == cores
    assert local_threads(Settings(local_concurrency=2)) == max(1, cores // 2)
    assert local_threads(Settings(local_concurrency=cores + 5)) == 1


def test_the_environment_sets_it_and_zero_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISIONGATE_LOCAL_THREADS", "2")
    assert Settings().local_threads == 2
    monkeypatch.setenv("VISIONGATE_LOCAL_THREADS", "0")
    with pytest.raises(ValidationError):
        Settings()
