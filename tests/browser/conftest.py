"""One gateway for the browser tests: the offline ``local/ocr``, three models on a fake
OpenAI-compatible upstream (one takes a single image, one has no price), an admin key, and
usage records flushed quickly so the usage tab sees them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.browser import chromium
from tests.support.gateway import GatewayProcess, run_gateway

ADMIN_KEY = "admin-" + secrets.token_hex(16)
CONFIG = """
[providers.fakeai]
kind = "openai"
base_url = "{url}/v1"
options = {{ auth = "none" }}
capabilities = ["vision", "streaming"]

[models."fake/vision"]
provider = "fakeai"
upstream = "fake-vision-1"
image_profile = "openai_compatible"
price_input = 2.5
price_output = 10.0

[models."fake/unpriced"]
provider = "fakeai"
upstream = "fake-unpriced-1"
image_profile = "openai_compatible"

[models."fake/one-image"]
provider = "fakeai"
upstream = "fake-one-image-1"
image_profile = "llama_vision"
price_input = 0.5
price_output = 0.5
"""


@dataclass
class Site:
    gateway: GatewayProcess
    fake: FakeOpenAI

    @property
    def root(self) -> str:
        return self.gateway.root


@pytest.fixture(scope="package")
def site() -> Iterator[Site]:
    fake = FakeOpenAI(api_key=None)
    with BackgroundApp(fake.app()) as upstream:
        env = {"VISIONGATE_ADMIN_KEY": ADMIN_KEY, "VISIONGATE_USAGE_FLUSH_INTERVAL": "0.2"}
        with run_gateway(env=env, config=CONFIG.format(url=upstream.url)) as gateway:
            yield Site(gateway, fake)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Not session-wide: while Playwright's sync API is open, its event loop counts as running
    # in this thread, and the async tests of the other packages could not start theirs.
    with chromium() as launched:
        yield launched


_ALL_FINISHED = """() => {
    const columns = [...document.querySelectorAll('.column')];
    const finished = (c) => (c.dataset.state ?? 'streaming') !== 'streaming';
    return columns.length > 0 && columns.every(finished);
}"""


@dataclass
class Tab:
    """One page of the playground in a fresh browser context, with every request it sent."""

    page: Page
    context: BrowserContext
    site: Site
    sent: list[Request] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.site.root

    def open(self, key: str | None = None, fragment: str = "") -> None:
        self.page.goto(f"{self.site.root}/playground{fragment}")
        if key is not None:
            self.page.get_by_label("API key").fill(key)
            expect(self.page.locator("#models-status")).to_contain_text("models available")

    def message(self, text: str) -> None:
        self.page.get_by_label("Message", exact=True).fill(text)

    def choose(self, model: str, label: str = "Model") -> None:
        self.page.get_by_label(label, exact=True).select_option(model)

    def send(self) -> None:
        """Click Send and wait until every column has finished (done, failed or stopped)."""
        self.page.get_by_role("button", name="Send").click()
        self.page.wait_for_function(_ALL_FINISHED)

    def foreign_requests(self) -> list[str]:
        """URLs the page asked for outside its own origin (data: and blob: stay in the page)."""
        own = urlsplit(self.origin).netloc
        return [
            r.url
            for r in self.sent
            if urlsplit(r.url).scheme not in ("data", "blob") and urlsplit(r.url).netloc != own
        ]


@pytest.fixture
def tab(browser: Browser, site: Site) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.root)
    page = context.new_page()
    opened = Tab(page, context, site)
    context.on("request", lambda request: opened.sent.append(request))
    try:
        yield opened
    finally:
        site.fake.reply = None
        context.close()
