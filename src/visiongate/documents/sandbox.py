"""Run PDFium where a hostile file can neither crash nor hang the gateway.

PDFium is a large C++ parser fed files from the internet; a PDF that makes it crash would
take the whole server down with it if it ran in the server's process, and one that makes
it loop would hold a thread forever. So each document is read in a process of its own,
forked from a ``forkserver`` that has pypdfium2 and Pillow imported already (a fork costs
a few milliseconds; a fresh interpreter would cost a few hundred), and:

* a crash (a signal, an abort, a child that exits without an answer) becomes a 400
  ``invalid_document`` for that request only;
* a child still working at the deadline is killed (SIGKILL), and the request gets a 400
  ``document_too_large`` saying the file took too long;
* a child that asks for more than ``memory`` bytes of address space beyond what it
  started with gets an allocation failure (``RLIMIT_AS``), so one file cannot take the
  machine's memory: PDFium then fails the file or crashes, which is the case above;
* the event loop never waits on it: the child is watched from a worker thread, and at
  most one child per core runs at once (others wait their turn).

A process per document rather than a pool of long-lived workers: a pool's worker that
hangs cannot be killed on its own (``concurrent.futures`` offers no way), and one that
crashes breaks the whole pool for every request in flight. A fresh process also frees all
of PDFium's memory when it exits.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Crashed", "Sandbox", "TimedOut"]

_PRELOAD = ["visiongate.documents.pdfium", "pypdfium2", "PIL.Image", "PIL.PngImagePlugin"]


class Crashed(Exception):
    """The child died without an answer (a signal, an abort, a hard exit)."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(f"the document reader exited with {exitcode}")
        self.exitcode = exitcode


class TimedOut(Exception):
    """The child was still working at the deadline and was killed."""


class Sandbox:
    """Calls a function in a forked child with a deadline, a few children at a time."""

    def __init__(self, timeout: float, slots: int | None = None, memory: int = 2 * 1024**3) -> None:
        self.timeout = timeout
        self.memory = memory
        self._slots = asyncio.Semaphore(slots or _usable_cores())
        self._context: Any = None
        self._lock = threading.Lock()

    def _ctx(self) -> Any:
        with self._lock:
            if self._context is None:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(_PRELOAD)
                self._context = ctx
            return self._context

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a child process: its result, or the exception it raised
        (which must pickle). Raises Crashed or TimedOut."""
        async with self._slots:
            return await asyncio.to_thread(self._run, fn, args)

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        ctx = self._ctx()
        reader, writer = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_child, args=(writer, fn, args, self.memory), daemon=True)
        try:
            process.start()
        finally:
            writer.close()  # the child holds its own end
        try:
            if not reader.poll(self.timeout):
                raise TimedOut
            try:
                ok, value = reader.recv()
            except EOFError:
                process.join(1.0)
                raise Crashed(process.exitcode) from None
        finally:
            reader.close()
            if process.is_alive():
                process.kill()
            process.join()
            process.close()
        if ok:
            return value
        raise value


def _child(
    writer: multiprocessing.connection.Connection,
    fn: Callable[..., Any],
    args: Any,
    memory: int,
) -> None:
    _limit_memory(memory)
    try:
        answer = (True, fn(*args))
    except Exception as exc:  # sent back and raised in the parent
        answer = (False, exc)
    writer.send(answer)
    writer.close()


def _limit_memory(extra: int) -> None:
    """Cap the address space at what the child uses now plus ``extra`` bytes (Linux)."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + extra, size + extra))
    except (ImportError, OSError, ValueError):  # not Linux: no cap
        pass


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
