"""The image pipeline through a real server and the official openai SDK.

The gateway runs with the SSRF guard on (as in production) and 127.0.0.2 allow-listed,
which stands for "an internal image host the operator chose to admit".
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from aiohttp import web

from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import data_url, make_image, text_image

pytestmark = pytest.mark.timeout(120)

IMAGE_PARAM = "messages[0].content[1].image_url.url"
SIGN = text_image(["OPEN DAILY"])


def _host_app() -> web.Application:
    app = web.Application()

    async def sign(request: web.Request) -> web.Response:
        return web.Response(body=SIGN, content_type="image/png")

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": request.query["to"]})

    app.router.add_get("/sign.png", sign)
    app.router.add_get("/redirect", redirect)
    return app


@pytest.fixture(scope="module")
def loopback_host() -> Iterator[BackgroundApp]:
    with BackgroundApp(_host_app(), host="127.0.0.1") as srv:
        yield srv


@pytest.fixture(scope="module")
def allowed_host() -> Iterator[BackgroundApp]:
    with BackgroundApp(_host_app(), host="127.0.0.2") as srv:
        yield srv


@pytest.fixture(scope="module")
def guarded() -> Iterator[GatewayProcess]:
    env = {
        "VISIONGATE_ALLOW_PRIVATE_IMAGE_HOSTS": "0",
        "VISIONGATE_IMAGE_HOST_ALLOWLIST": "127.0.0.2",
        "VISIONGATE_IMAGE_FETCH_TIMEOUT": "5",
    }
    with run_gateway(env=env) as gw:
        yield gw


def _ask(gw: GatewayProcess, url: str) -> Any:
    return gw.client().chat.completions.create(
        model="local/ocr",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What does it say?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    )


def _refused(gw: GatewayProcess, url: str, code: str) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as info:
        _ask(gw, url)
    error = info.value
    assert error.status_code == 400
    assert (error.code, error.param) == (code, IMAGE_PARAM), error.body
    assert error.type == "invalid_request_error"
    return error


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/sign.png",
        "http://localhost:{port}/sign.png",
        "http://10.0.0.1/sign.png",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::1]:{port}/sign.png",
        "http://[::ffff:127.0.0.1]:{port}/sign.png",
    ],
)
def test_private_addresses_are_blocked(
    guarded: GatewayProcess, loopback_host: BackgroundApp, url: str
) -> None:
    error = _refused(guarded, url.format(port=loopback_host.port), "image_url_blocked")
    assert "non-public" in error.message


def test_an_allow_listed_host_is_fetched_and_read(
    guarded: GatewayProcess, allowed_host: BackgroundApp
) -> None:
    reply = _ask(guarded, f"{allowed_host.url}/sign.png")
    assert "OPEN DAILY" in (reply.choices[0].message.content or "").upper()


def test_a_redirect_from_an_allowed_host_to_a_blocked_one_is_refused(
    guarded: GatewayProcess, allowed_host: BackgroundApp, loopback_host: BackgroundApp
) -> None:
    url = f"{allowed_host.url}/redirect?to=http://127.0.0.1:{loopback_host.port}/sign.png"
    _refused(guarded, url, "image_url_blocked")


def test_other_schemes_are_refused(guarded: GatewayProcess) -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/a.png", "/etc/passwd"):
        _refused(guarded, url, "invalid_image_url")


def _png_bomb() -> bytes:
    """~100 bytes whose header claims 60000 x 60000 pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 32))
        + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_refused(guarded: GatewayProcess) -> None:
    error = _refused(guarded, data_url(_png_bomb(), "image/png"), "invalid_image")
    assert "pixels" in error.message


def test_a_truncated_jpeg_is_refused(guarded: GatewayProcess) -> None:
    jpeg = make_image("JPEG", (400, 300), quality=95)
    error = _refused(guarded, data_url(jpeg[: len(jpeg) // 2], "image/jpeg"), "invalid_image")
    assert "truncated" in error.message


def test_bytes_that_are_not_an_image_are_refused(guarded: GatewayProcess) -> None:
    text = data_url(b"%PDF-1.7 this is a document, not a picture", "image/png")
    _refused(guarded, text, "invalid_image")


def test_bad_base64_is_refused(guarded: GatewayProcess) -> None:
    _refused(guarded, "data:image/png;base64,iVBORw0KGgo*not*base64", "invalid_image_url")


def test_a_non_image_declared_type_is_refused(guarded: GatewayProcess) -> None:
    payload = base64.b64encode(make_image("PNG")).decode()
    _refused(guarded, f"data:text/plain;base64,{payload}", "invalid_image_url")


def test_a_mislabelled_image_is_accepted_by_its_real_type(guarded: GatewayProcess) -> None:
    reply = _ask(guarded, data_url(SIGN, "image/jpeg"))  # really a PNG
    assert "OPEN DAILY" in (reply.choices[0].message.content or "").upper()


def test_the_server_stays_up_after_refusals(guarded: GatewayProcess) -> None:
    _refused(guarded, data_url(_png_bomb(), "image/png"), "invalid_image")
    assert guarded.proc.poll() is None
    reply = _ask(guarded, data_url(SIGN, "image/png"))
    assert reply.choices[0].message.content
