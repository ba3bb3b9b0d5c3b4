"""Debian's Chromium driven by Playwright, for the playground's browser tests.

The browser is the distribution's (``/usr/bin/chromium``), installed by
``scripts/ensure-browser.sh`` where missing; Playwright's own browser download
(``playwright install``) is never used. The flags keep Chromium off the network: no
background requests, component updates, sync or QUIC, so the only traffic a test sees is
what the page itself sends.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "chromium", "ensure_chromium"]

CHROMIUM = os.environ.get("VISIONGATE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_ENSURE = Path(__file__).resolve().parents[2] / "scripts" / "ensure-browser.sh"


def ensure_chromium() -> str:
    """The browser's path, installing Debian's ``chromium`` first where it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        subprocess.run([str(_ENSURE)], check=True, timeout=900)
    return CHROMIUM


@contextmanager
def chromium() -> Iterator[Browser]:
    """One headless Chromium for as long as the block runs."""
    path = ensure_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
