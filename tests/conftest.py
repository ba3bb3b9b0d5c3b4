"""Shared fixtures: a real gateway process and a loopback image host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiohttp import web

from tests.support.background import BackgroundApp
from tests.support.clients import close_opened_since, opened
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import make_image, text_image

OCR_WORDS = {
    "sign.png": ["OPEN DAILY", "PARKING 42"],
    "menu.png": ["COFFEE", "CROISSANT"],
}


def _image_host_app() -> web.Application:
    files = {name: text_image(lines) for name, lines in OCR_WORDS.items()}
    files["red.jpg"] = make_image("JPEG", (320, 240))
    app = web.Application()

    async def serve(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in files:
            raise web.HTTPNotFound()
        mime = "image/png" if name.endswith(".png") else "image/jpeg"
        return web.Response(body=files[name], content_type=mime)

    app.router.add_get("/img/{name}", serve)
    return app


@pytest.fixture(scope="session")
def image_host() -> Iterator[BackgroundApp]:
    """An image server on 127.0.0.1 (the gateway under test allows private hosts)."""
    with BackgroundApp(_image_host_app()) as srv:
        yield srv


@pytest.fixture(scope="session")
def gateway() -> Iterator[GatewayProcess]:
    """One offline gateway (local/ocr only) shared by the tests that need no special env."""
    with run_gateway() as gw:
        yield gw


@pytest.fixture(autouse=True)
def _sdk_clients_closed() -> Iterator[None]:
    """Every SDK client a test (or its function-scoped fixtures) made is closed when it ends."""
    mark = opened()
    yield
    close_opened_since(mark)


@pytest.fixture(scope="session", autouse=True)
def _shared_sdk_clients_closed() -> Iterator[None]:
    """The clients that module- or session-scoped fixtures made, closed at the very end."""
    yield
    close_opened_since(0)
