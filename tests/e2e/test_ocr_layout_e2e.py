"""``local/ocr`` on pages the tests print themselves, through a real server and the openai SDK:
reading order (two columns, a table), long lines, code kept verbatim, turned pages, and the
thread limit (the cores the server process keeps busy while it reads)."""

from __future__ import annotations

import os
import threading
import time

import psutil
import pytest

from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import data_url
from tests.support.pages import page_png, table_png, two_columns_png

pytestmark = pytest.mark.timeout(180)

LEFT = [
    "amber basil cobalt dune",
    "ember fjord garnet hazel",
    "indigo juniper kelp lava",
    "maple nectar onyx pearl",
    "quartz russet sienna teal",
]
RIGHT = [
    "umber violet walnut xenon",
    "yarrow zinnia acorn birch",
    "cedar dahlia elm fern",
    "ginger holly iris jade",
    "kale lotus moss nutmeg",
]
TABLE = [
    ["Service", "Port", "Protocol"],
    ["nginx", "8080", "http"],
    ["redis", "6379", "tcp"],
    ["postgres", "5432", "tcp"],
]
LONG = (
    "The quick brown fox jumps over the lazy dog while seventeen wizards quietly juggle "
    "boxes of frozen kiwis near the old harbour gate at dawn."
)
CODE = [
    "./configure --prefix=/usr --enable-shared",
    "x = a_b.c(d) + len(items[0])",
    "make -j4 DESTDIR=/tmp/stage install",
]


def _read(gateway: GatewayProcess, *pngs: bytes) -> str:
    content = [
        {"type": "image_url", "image_url": {"url": data_url(png, "image/png")}} for png in pngs
    ]
    completion = gateway.client(timeout=150).chat.completions.create(
        model="local/ocr", messages=[{"role": "user", "content": content}]
    )
    return completion.choices[0].message.content or ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_two_columns_are_read_one_after_the_other(gateway: GatewayProcess) -> None:
    lines = _lines(_read(gateway, two_columns_png(LEFT, RIGHT)))
    assert lines == LEFT + RIGHT


def test_table_rows_are_read_as_rows_with_cells_apart(gateway: GatewayProcess) -> None:
    lines = _lines(_read(gateway, table_png(TABLE)))
    assert lines == [" | ".join(row) for row in TABLE]


def test_a_line_of_more_than_120_characters_is_read_whole(gateway: GatewayProcess) -> None:
    assert len(LONG) > 120
    page = page_png(["A short line above.", LONG, "A short line below."])
    lines = _lines(_read(gateway, page))
    assert lines == ["A short line above.", LONG, "A short line below."]


@pytest.mark.parametrize("kind", ["mono", "sans"])
def test_code_and_options_are_kept_verbatim(gateway: GatewayProcess, kind: str) -> None:
    lines = _lines(_read(gateway, page_png(CODE, kind=kind)))
    assert lines == CODE


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_a_turned_page_is_read_upright_and_in_order(gateway: GatewayProcess, degrees: int) -> None:
    lines = _lines(_read(gateway, page_png(LEFT, rotate=degrees)))
    assert lines == LEFT


def _most_cores_at_once(pid: int, request: threading.Thread) -> float:
    """The most cores the process kept busy at once while ``request`` ran: its CPU time over
    the wall time of each 250 ms interval, the highest of them.

    Not a count of distinct threads seen busy in an interval: ONNX Runtime gives each of the
    three models its own intra-op pool, so with a limit of two, the detector's helper and the
    recogniser's helper can both show work in one interval while never running together."""
    proc = psutil.Process(pid)

    def cpu() -> float:
        times = proc.cpu_times()
        return times.user + times.system

    most, last, then = 0.0, cpu(), time.monotonic()
    request.start()
    while request.is_alive():
        time.sleep(0.25)
        now, at = cpu(), time.monotonic()
        most = max(most, (now - last) / (at - then))
        last, then = now, at
    return most


@pytest.mark.parametrize("threads", [1, 2])
def test_one_request_uses_no_more_cores_than_threads_allowed(threads: int) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs two cores to tell one thread from two")
    env = {"VISIONGATE_LOCAL_THREADS": str(threads), "VISIONGATE_LOCAL_PRELOAD": "local/ocr"}
    page = page_png(LEFT + RIGHT + [LONG] + CODE)
    with run_gateway(env) as gw:
        _read(gw, page)  # loaded and warm: the next request is all reading
        answers: list[str] = []
        request = threading.Thread(target=lambda: answers.append(_read(gw, page, page, page)))
        cores = _most_cores_at_once(gw.proc.pid, request)
        request.join()
    assert LEFT[0] in answers[0]
    # One thread reads at 1.0 core (measured 0.96-1.04), two at up to 1.9; the event loop
    # and the clock tick's rounding fit in the margin, a second busy core does not.
    assert 0.5 <= cores <= threads + 0.35, cores
