"""JSON log lines: the batched handler and the request-line short cut write the same lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from visiongate.observability.logging import (
    EventLog,
    JsonFormatter,
    JsonLineHandler,
    configure_logging,
)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("info")
    out = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, JsonLineHandler)
    handler.stream = out
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


FIELDS = {"request_id": "r1", "model": "gpt-4o", "status": 200, "error_code": None}


def test_short_cut_and_logger_write_the_same_line(stream: io.StringIO) -> None:
    EventLog("visiongate.request", "request").write(dict(FIELDS))
    logging.getLogger("visiongate.request").info("request", extra=dict(FIELDS))
    short, normal = _lines(stream)
    short.pop("ts"), normal.pop("ts")
    assert (
        short
        == normal
        == {"level": "info", "logger": "visiongate.request", "msg": "request", **FIELDS}
    )


def test_other_logging_setups_get_an_ordinary_record(stream: io.StringIO) -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    extra = Keep()
    logging.getLogger("visiongate").addHandler(extra)
    try:
        EventLog("visiongate.request", "request").write({"request_id": "r2"})
    finally:
        logging.getLogger("visiongate").removeHandler(extra)
    assert seen and seen[0].request_id == "r2"  # type: ignore[attr-defined]
    assert _lines(stream)[0]["request_id"] == "r2"  # and the root line still appears


def test_a_disabled_level_writes_nothing(stream: io.StringIO) -> None:
    logging.getLogger().setLevel(logging.WARNING)
    EventLog("visiongate.request", "request").write(dict(FIELDS))
    assert stream.getvalue() == ""


@pytest.mark.timeout(5)
async def test_lines_of_one_loop_iteration_share_one_write(stream: io.StringIO) -> None:
    writes: list[str] = []
    original = stream.write

    def counting(text: str) -> int:
        writes.append(text)
        return original(text)

    stream.write = counting  # type: ignore[method-assign]
    log = EventLog("visiongate.request", "request")
    for i in range(5):
        log.write({"request_id": f"r{i}"})
    assert writes == []  # queued until the loop gets control
    await asyncio.sleep(0)
    assert len(writes) == 1
    assert [line["request_id"] for line in _lines(stream)] == [f"r{i}" for i in range(5)]


def test_formatter_keeps_extra_fields_and_drops_private_ones() -> None:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "hello %s", ("you",), None)
    record.model = "m"
    record._secret = "no"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello you" and line["model"] == "m" and "_secret" not in line
