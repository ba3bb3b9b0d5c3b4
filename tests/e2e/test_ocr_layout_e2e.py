"""``local/ocr`` on pages the tests print themselves, through a real server and the openai SDK:
reading order (two columns, a table), long lines, code kept verbatim, turned pages, and the
thread limit (counted on the server process while it reads)."""

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


def _most_threads_at_once(pid: int, request: threading.Thread) -> int:
    """The most threads of the process that were each busy (a third of a core or more)
    in one 100 ms interval while ``request`` ran."""
    proc = psutil.Process(pid)

    def cpu() -> dict[int, float]:
        return {t.id: t.user_time + t.system_time for t in proc.threads()}

    most, last = 0, cpu()
    request.start()
    while request.is_alive():
        time.sleep(0.1)
        now = cpu()
        most = max(most, sum(1 for tid, c in now.items() if c - last.get(tid, 0.0) >= 0.033))
        last = now
    return most


@pytest.mark.parametrize("threads", [1, 2])
def test_one_request_uses_no_more_threads_than_allowed(threads: int) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs two cores to tell one thread from two")
    env = {"VISIONGATE_LOCAL_THREADS": str(threads), "VISIONGATE_LOCAL_PRELOAD": "local/ocr"}
    page = page_png(LEFT + RIGHT + [LONG] + CODE)
    with run_gateway(env) as gw:
        _read(gw, page)  # loaded and warm: the next request is all reading
        answers: list[str] = []
        request = threading.Thread(target=lambda: answers.append(_read(gw, page, page, page)))
        busy = _most_threads_at_once(gw.proc.pid, request)
        request.join()
    assert LEFT[0] in answers[0]
    assert 1 <= busy <= threads
