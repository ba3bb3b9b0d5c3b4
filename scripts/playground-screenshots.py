"""Take the README's screenshots of the playground and its usage tab (docs/*.png).

Runs everything on loopback: a fake OpenAI-compatible upstream, a gateway with the offline
``local/ocr`` and two fake models, and Debian's Chromium driven by Playwright. The images are
reduced to 256 colours so that they stay small in the repository.

    .venv/bin/python scripts/playground-screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402
from tests.browser.conftest import ADMIN_KEY, CONFIG  # noqa: E402
from tests.fakes.openai_upstream import FakeOpenAI  # noqa: E402
from tests.support.background import BackgroundApp  # noqa: E402
from tests.support.browser import chromium  # noqa: E402
from tests.support.gateway import run_gateway  # noqa: E402
from tests.support.images import text_image  # noqa: E402

REPLY = """The sign reads **OPEN DAILY** and **PARKING 42**.

- black capital letters on a white background
- two lines, left-aligned

| line | text |
|---|---|
| 1 | OPEN DAILY |
| 2 | PARKING 42 |
"""


def save(page: Page, path: Path) -> None:
    shot = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    shot.convert("RGB").quantize(256).save(path, optimize=True)
    print(f"{path}: {path.stat().st_size} bytes")


def finished(page: Page) -> None:
    for column in page.locator(".column").all():
        expect(column).not_to_have_attribute("data-state", "streaming", timeout=60_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    out = parser.parse_args().out
    fake = FakeOpenAI(api_key=None, reply=REPLY, chunk_delay=0.02)
    with tempfile.TemporaryDirectory() as tmp, BackgroundApp(fake.app()) as upstream:
        sign = Path(tmp) / "sign.png"
        sign.write_bytes(text_image(["OPEN DAILY", "PARKING 42"]))
        env = {"VISIONGATE_ADMIN_KEY": ADMIN_KEY, "VISIONGATE_USAGE_FLUSH_INTERVAL": "0.2"}
        with (
            run_gateway(env=env, config=CONFIG.format(url=upstream.url)) as gateway,
            chromium() as browser,
        ):
            created = requests.post(
                gateway.root + "/v1/admin/keys",
                json={"name": "demo-app", "rpm": 60, "budget_usd": 10, "expires_in": "90d"},
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                timeout=10,
            ).json()
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(gateway.root + "/playground")
            page.get_by_label("API key").fill(created["key"])
            expect(page.locator("#models-status")).to_contain_text("models available")
            page.get_by_label("Model", exact=True).select_option("local/ocr")
            page.get_by_role("button", name="Compare with another model").click()
            page.get_by_label("Model 2", exact=True).select_option("fake/vision")
            page.get_by_label("Message", exact=True).fill("What does the sign say?")
            page.get_by_label("Images", exact=True).set_input_files(str(sign))
            expect(page.locator(".thumb")).to_have_count(1)
            page.get_by_role("button", name="Send").click()
            finished(page)
            save(page, out / "playground.png")

            page.get_by_role("link", name="Usage").click()
            page.get_by_label("Admin key").fill(ADMIN_KEY)
            expect(page.get_by_role("table", name="Usage by model")).to_contain_text("fake/vision")
            page.get_by_label("Chart").select_option("requests")
            expect(page.get_by_role("img", name="Requests by day")).to_be_visible()
            save(page, out / "playground-usage.png")


if __name__ == "__main__":
    main()
