"""Structured log lines: one JSON object per line, with the request id when there is one.

Only fields passed explicitly are written — never request bodies, image bytes or keys.

Every chat request writes one line, so the cost of a line matters (docs/performance.md):
the records skip the caller lookup and the thread/process fields (nothing here prints
them), and lines written from the event loop during one loop iteration go out in a single
write at the end of it instead of one write each.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TextIO

import orjson

__all__ = ["EventLog", "JsonFormatter", "JsonLineHandler", "configure_logging"]

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = record.__dict__
        for key in fields.keys() - _STANDARD:  # the ``extra`` fields, found in C
            if key[0] != "_":
                line[key] = fields[key]
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class JsonLineHandler(logging.Handler):
    """Writes formatted lines to ``stream``, batching the lines of one loop iteration.

    On the event loop's thread a line is queued and one flush is scheduled with
    ``call_soon``, so every line produced in the same iteration shares one write. From
    any other thread (or with no loop running) the line and anything queued are written
    at once. ``flush`` (called at interpreter exit by ``logging.shutdown``) writes what is
    left.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._pending: list[str] = []
        self._scheduled: asyncio.AbstractEventLoop | None = None  # loop a flush is due on

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._queue(self.format(record))
        except Exception:
            self.handleError(record)

    def write_line(self, line: str) -> None:
        """Queue an already formatted line (:class:`EventLog`'s short cut)."""
        self.acquire()
        try:
            self._queue(line)
        finally:
            self.release()

    def _queue(self, line: str) -> None:
        self._pending.append(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write()
            return
        if self._scheduled is not loop:  # also when a loop closed before its flush ran
            self._scheduled = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        self.acquire()
        try:
            self._scheduled = None
            self._write()
        finally:
            self.release()

    def _write(self) -> None:
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed stderr must not break a request
            pass


class EventLog:
    """One INFO line per event (a chat request) on a named logger, built cheaply.

    When the line could only end up in a :class:`JsonLineHandler` on the root logger (what
    :func:`configure_logging` sets up: no handlers, filters or levels in between), the
    JSON line is built straight from the fields, with the keys :class:`JsonFormatter`
    writes, and queued on that handler: ~3 µs instead of ~12 µs for a ``LogRecord`` and
    the handler chain. Any other logging set-up gets an ordinary ``logger.info``.
    """

    def __init__(self, name: str, message: str) -> None:
        self._logger = logging.getLogger(name)
        self._name = name
        self._message = message

    def write(self, fields: dict[str, object]) -> None:
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handler = self._direct_handler()
        if handler is None:
            logger.info(self._message, extra=fields)
            return
        line = {
            "ts": round(time.time(), 3),
            "level": "info",
            "logger": self._name,
            "msg": self._message,
            **fields,
        }
        handler.write_line(orjson.dumps(line, default=str).decode())

    def _direct_handler(self) -> JsonLineHandler | None:
        logger: logging.Logger | None = self._logger
        while logger is not None and logger.parent is not None:  # up to the root
            if logger.handlers or logger.filters or not logger.propagate:
                return None
            logger = logger.parent
        root = logging.getLogger()
        if root.filters or len(root.handlers) != 1:
            return None
        handler = root.handlers[0]
        if (
            type(handler) is not JsonLineHandler
            or type(handler.formatter) is not JsonFormatter
            or handler.filters
            or handler.level > logging.INFO
        ):
            return None
        return handler


def configure_logging(level: str = "info") -> None:
    handler = JsonLineHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.Formatter.converter = time.gmtime
    # The logging HOWTO's "Optimization" settings for fields these lines never show:
    # no caller lookup (sys._getframe per record), no thread, process or
    # multiprocessing names. ~10 µs of the ~30 µs a request line cost.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
