"""The sandbox: a crash or a hang in the child fails one call, never the caller."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from tests.support.pdfs import empty_pdf, text_pdf
from visiongate.documents.pdfium import Job, Refusal, RenderTarget, read_pdf
from visiongate.documents.sandbox import Crashed, Sandbox, TimedOut

pytestmark = pytest.mark.timeout(60)


def _raise_value_error() -> None:
    raise ValueError("from the child")


def _children() -> set[int]:
    return {c.pid for c in psutil.Process().children(recursive=True)}


async def test_a_result_comes_back_from_the_child() -> None:
    sandbox = Sandbox(timeout=30)
    job = Job(text_pdf(["hello"]), "render", None, RenderTarget(max_edge=500), 10, 10**8)
    result = await sandbox.run(read_pdf, job)
    assert result.pages[0].text == "hello" and result.pages[0].image


async def test_exceptions_are_raised_in_the_caller() -> None:
    sandbox = Sandbox(timeout=30)
    with pytest.raises(ValueError, match="from the child"):
        await sandbox.run(_raise_value_error)
    job = Job(b"%PDF-1.4 junk", "render", None, RenderTarget(), 10, 10**8)
    with pytest.raises(Refusal):
        await sandbox.run(read_pdf, job)


async def test_an_empty_pdf_is_told_apart_from_a_damaged_one() -> None:
    # PDFium's last error is per process: each document's fresh child reads it clean.
    sandbox = Sandbox(timeout=30)
    with pytest.raises(Refusal, match="no pages"):
        await sandbox.run(read_pdf, Job(empty_pdf(), "native", None, RenderTarget(), 10, 10**8))


async def test_a_crash_is_contained() -> None:
    sandbox = Sandbox(timeout=30)
    with pytest.raises(Crashed) as info:
        await sandbox.run(os.abort)
    assert info.value.exitcode == -6  # SIGABRT, in the child only
    assert await sandbox.run(len, "still works") == 11


async def test_a_hang_is_killed_at_the_deadline() -> None:
    sandbox = Sandbox(timeout=0.5)
    await sandbox.run(len, "warm")  # the forkserver is up, so the deadline is the child's
    before = _children()
    with pytest.raises(TimedOut):
        await sandbox.run(time.sleep, 60)
    deadline = time.monotonic() + 5
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _children() - before  # the child is gone, not left running


def _allocate(size: int) -> int:
    return len(bytearray(size))


async def test_a_child_cannot_take_more_memory_than_its_cap() -> None:
    sandbox = Sandbox(timeout=30, memory=256 * 1024**2)
    assert await sandbox.run(_allocate, 64 * 1024**2) == 64 * 1024**2
    with pytest.raises(MemoryError):
        await sandbox.run(_allocate, 1024**3)
