"""ImagePipeline.prepare, called directly: the contract the request service relies on."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator

import pytest
from aiohttp import web
from PIL import Image

from tests.support.background import BackgroundApp
from tests.support.images import data_url, make_image
from tests.unit.images.helpers import decode, make_settings, photo, request_with
from tests.unit.images.servers import HITS, PNG, image_host
from visiongate.core.catalog import ImageLimits, ModelEntry
from visiongate.core.messages import ChatRequest, ImagePart, Message, TextPart
from visiongate.errors import ImageError
from visiongate.images import ImagePipeline, ImageStats, ingest
from visiongate.images.sniff import register_plugins

pytestmark = pytest.mark.timeout(60)
Model = Callable[[str], ModelEntry]
CLAUDE = "claude-3-5-sonnet-20241022"


@pytest.fixture(scope="module")
def host() -> Iterator[BackgroundApp]:
    with BackgroundApp(image_host()) as srv:
        yield srv


async def prepare(
    request: ChatRequest, model: ModelEntry, **settings: object
) -> tuple[ImageStats, list[ImagePart]]:
    pipeline = ImagePipeline(make_settings(**settings))
    try:
        stats = await pipeline.prepare(request, model)
    finally:
        await pipeline.close()
    return stats, request.images


def custom(**limits: object) -> ModelEntry:
    return ModelEntry(id="test/custom", provider="local", upstream="x", image=ImageLimits(**limits))  # type: ignore[arg-type]


async def test_an_untouched_data_url_is_forwarded_byte_for_byte(model: Model) -> None:
    jpeg = make_image("JPEG", (640, 480))
    url = data_url(jpeg, "image/jpeg")
    stats, (part,) = await prepare(request_with(url), model("gpt-4o"))
    assert part.source == url.split(",", 1)[1]  # still the client's base64: not decoded
    assert part.data_url() is url  # forwarded as the very string the client sent
    assert part.base64() == url.split(",", 1)[1]  # the client's base64, not re-encoded
    assert part.data == jpeg  # decoded only when something asks for the bytes
    assert (part.media_type, part.width, part.height, part.converted) == (
        "image/jpeg", 640, 480, False,
    )  # fmt: skip
    assert stats == ImageStats(count=1, bytes=len(jpeg), tokens=85 + 2 * 170, seconds=stats.seconds)
    assert stats.seconds > 0


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
async def test_a_large_untouched_data_url_is_judged_from_its_ends(
    model: Model, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = photo((1400, 1000), fmt)
    assert len(image) > 200_000  # several validation pieces: only the ends are kept
    url = data_url(image, f"image/{fmt.lower()}")
    seen = whole_file_checks(monkeypatch)
    stats, (part,) = await prepare(request_with(url), model("gpt-4o"))
    assert seen == []  # neither inspected nor checked as a whole
    assert part.source is url and part.data_url() is url
    assert (part.width, part.height, stats.bytes) == (1400, 1000, len(image))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
async def test_a_large_truncated_data_url_is_refused(model: Model, fmt: str) -> None:
    image = photo((1400, 1000), fmt)
    url = data_url(image[: len(image) * 3 // 4], f"image/{fmt.lower()}")
    with pytest.raises(ImageError) as info:
        await prepare(request_with(url), model("gpt-4o"))
    assert info.value.code == "invalid_image"
    assert "truncated" in info.value.message


def whole_file_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the length of every image the pipeline inspects or checks as a whole."""
    seen: list[int] = []
    for name in ("inspect_image", "check_complete"):
        real = getattr(ingest, name)

        def spy(data: bytes, *args: object, _real: Callable[..., object] = real) -> object:
            seen.append(len(data))
            return _real(data, *args)

        monkeypatch.setattr(ingest, name, spy)
    return seen


async def test_trailing_bytes_after_a_large_jpeg_are_accepted(
    model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = whole_file_checks(monkeypatch)
    image = photo((1000, 700)) + bytes(200_000)
    url = data_url(image, "image/jpeg")
    _, (part,) = await prepare(request_with(url), model("gpt-4o"))
    assert (part.width, part.height, part.converted) == (1000, 700, False)
    # The end-of-image marker is not in the last bytes, so the whole file was checked,
    # and then dropped: the part still holds only the client's base64.
    assert seen == [len(image)] and part.source is url


async def test_a_jpeg_whose_scan_starts_past_the_first_bytes_is_inspected_whole(
    model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    big_exif = Image.Exif()
    big_exif[0x010E] = "x" * 60_000  # ImageDescription
    seen = whole_file_checks(monkeypatch)
    image = photo((1400, 1000), exif=big_exif, icc_profile=bytes(30_000))
    assert image.find(b"\xff\xda") > 65_536  # past the first bytes that are kept
    url = data_url(image, "image/jpeg")
    _, (part,) = await prepare(request_with(url), model("gpt-4o"))
    assert (part.width, part.height, part.converted) == (1400, 1000, False)
    assert seen == [len(image), len(image)] and part.source is url


async def test_a_wrong_declared_type_is_rebuilt_in_the_url_sent_upstream(model: Model) -> None:
    jpeg = make_image("JPEG")
    url = data_url(jpeg, "image/png")
    _, (part,) = await prepare(request_with(url), model("gpt-4o"))
    assert part.data_url() == url.replace("image/png", "image/jpeg", 1)


async def test_a_non_image_declared_type_is_refused(model: Model) -> None:
    url = data_url(make_image("JPEG"), "text/plain")
    with pytest.raises(ImageError) as info:
        await prepare(request_with(url), model("gpt-4o"))
    assert (info.value.code, info.value.param) == (
        "invalid_image_url", "messages[0].content[1].image_url.url",
    )  # fmt: skip


async def test_bytes_that_are_not_an_image_are_refused_with_the_parts_param(model: Model) -> None:
    good = data_url(make_image("PNG"), "image/png")
    bad = "data:image/png;base64," + base64.b64encode(b"just some text" * 20).decode()
    with pytest.raises(ImageError) as info:
        await prepare(request_with(good, bad), model("gpt-4o"))
    assert (info.value.code, info.value.param) == (
        "invalid_image", "messages[0].content[2].image_url.url",
    )  # fmt: skip


async def test_a_truncated_untouched_image_is_refused(model: Model) -> None:
    jpeg = photo((300, 200))
    url = data_url(jpeg[: len(jpeg) * 2 // 3], "image/jpeg")
    with pytest.raises(ImageError) as info:
        await prepare(request_with(url), model("gpt-4o"))
    assert info.value.code == "invalid_image"
    assert "truncated" in info.value.message


async def test_conversions_are_counted_and_drop_the_stale_base64(model: Model) -> None:
    register_plugins()
    request = request_with(
        data_url(make_image("BMP", (100, 50)), "image/bmp"),
        data_url(photo((120, 80), "HEIF"), "image/heic"),
        data_url(make_image("PNG", (30, 30)), "image/png"),
    )
    stats, (bmp, heic, png) = await prepare(request, model("gpt-4o"))
    assert (bmp.media_type, bmp.converted) == ("image/png", True)
    new_b64 = base64.b64encode(bmp.data or b"")  # the new bytes', not the stale ones
    assert bmp.base64() == new_b64 and bmp.data_url() == b"data:image/png;base64," + new_b64
    assert (heic.media_type, heic.width, heic.height) == ("image/jpeg", 120, 80)
    assert heic.base64() == base64.b64encode(heic.data or b"")  # as ASCII bytes (body.py)
    assert not png.converted and png.base64() == base64.b64encode(png.data or b"").decode()
    assert stats.converted == 2
    assert stats.bytes == sum(len(p.data or b"") for p in (bmp, heic, png))


async def test_anthropic_images_are_shrunk_and_counted_after_fitting(model: Model) -> None:
    url = data_url(photo((3000, 2000)), "image/jpeg")
    stats, (part,) = await prepare(request_with(url), model(CLAUDE))
    assert part.converted and max(part.width, part.height) <= 1568
    assert decode(part.data or b"").size == (part.width, part.height)
    assert stats.tokens == -(-part.width * part.height // 750)


async def test_low_detail_shrinks_the_image(model: Model) -> None:
    url = data_url(photo((1600, 1200)), "image/jpeg")
    _, (part,) = await prepare(request_with(url, detail="low"), model("gemini-1.5-pro"))
    assert (part.width, part.height) == (384, 288)


async def test_more_images_than_the_model_takes_is_refused_up_front(model: Model) -> None:
    url = data_url(make_image("PNG"), "image/png")
    with pytest.raises(ImageError) as info:
        await prepare(
            request_with(url, url), model("meta-llama/Llama-3.2-11B-Vision-Instruct-Turbo")
        )
    assert (info.value.code, info.value.param) == (
        "too_many_images",
        "messages[0].content[2].image_url.url",
    )


async def test_images_in_every_message_are_prepared(model: Model) -> None:
    first = ImagePart(
        param="messages[0].content[0].image_url.url", url=data_url(make_image("GIF"), "image/gif")
    )
    later = ImagePart(
        param="messages[2].content[1].image_url.url", url=data_url(make_image("BMP"), "image/bmp")
    )
    request = ChatRequest(
        model="m",
        messages=[
            Message(role="user", parts=[first]),
            Message(role="assistant", parts=[TextPart("a red square")]),
            Message(role="user", parts=[TextPart("and this?"), later]),
        ],
    )
    stats, _ = await prepare(request, model("gemini-1.5-pro"))
    assert stats.count == 2 and stats.converted == 2
    assert first.media_type == later.media_type == "image/png"


async def test_bytes_given_directly_are_inspected_too(model: Model) -> None:
    part = ImagePart(param="messages[0].content[0]", data=make_image("WEBP", (90, 60)))
    request = ChatRequest(model="m", messages=[Message(role="user", parts=[part])])
    stats, _ = await prepare(request, model("local/ocr"))
    assert (part.media_type, part.width, part.height) == ("image/webp", 90, 60)
    assert stats.bytes == len(part.data or b"")


async def test_the_request_byte_budget_shrinks_the_images() -> None:
    model = custom(max_request_image_bytes=120_000, max_image_bytes=10_000_000)
    urls = [data_url(photo((700, 500), "PNG"), "image/png") for _ in range(2)]
    request = request_with(*urls)
    assert sum(len(p) for p in urls) * 3 // 4 > 120_000
    stats, parts = await prepare(request, model)
    assert stats.bytes <= 120_000
    assert all(p.converted for p in parts)


# ---------------------------------------------------------------- URLs


async def test_a_url_the_provider_fetches_is_passed_through_unfetched(
    model: Model, host: BackgroundApp
) -> None:
    before = host.app[HITS]["/img.png"]
    url = f"{host.url}/img.png"
    stats, (part,) = await prepare(
        request_with(url), model("gpt-4o"), allow_private_image_hosts=True
    )
    assert part.data is None and part.url == url
    assert (part.media_type, part.width, part.height) == ("image/png", 0, 0)
    assert stats.tokens == 765 and stats.bytes == 0 and stats.fetched == 0
    assert host.app[HITS]["/img.png"] == before


async def test_passthrough_urls_are_fetched_when_configured(
    model: Model, host: BackgroundApp
) -> None:
    stats, (part,) = await prepare(
        request_with(f"{host.url}/img.png"),
        model("gpt-4o"),
        allow_private_image_hosts=True,
        fetch_passthrough_urls=True,
    )
    assert part.data == PNG and stats.fetched == 1 and stats.fetched_bytes == len(PNG)


async def test_passthrough_still_refuses_other_schemes(model: Model) -> None:
    with pytest.raises(ImageError) as info:
        await prepare(request_with("file:///etc/passwd"), model("gpt-4o"))
    assert info.value.code == "invalid_image_url"


async def test_the_guard_applies_to_urls_the_gateway_fetches(
    model: Model, host: BackgroundApp
) -> None:
    with pytest.raises(ImageError) as info:
        await prepare(request_with(f"{host.url}/img.png"), model("local/ocr"))
    assert (info.value.code, info.value.param) == (
        "image_url_blocked", "messages[0].content[1].image_url.url",
    )  # fmt: skip


async def test_a_repeated_url_is_fetched_once(model: Model, host: BackgroundApp) -> None:
    path = "/img.png?cache-test"
    pipeline = ImagePipeline(make_settings(allow_private_image_hosts=True))
    try:
        before = host.app[HITS]["/img.png"]
        first = await pipeline.prepare(request_with(f"{host.url}{path}"), model("local/ocr"))
        second_request = request_with(f"{host.url}{path}", f"{host.url}{path}")
        second = await pipeline.prepare(second_request, model("local/ocr"))
    finally:
        await pipeline.close()
    assert (first.fetched, first.cache_hits) == (1, 0)
    assert (second.fetched, second.cache_hits) == (0, 2)
    assert host.app[HITS]["/img.png"] == before + 1
    assert all(p.data == PNG for p in second_request.images)


async def test_the_same_url_twice_in_one_request_is_fetched_once(
    model: Model, host: BackgroundApp
) -> None:
    url = f"{host.url}/img.png?twice"
    before = host.app[HITS]["/img.png"]
    stats, parts = await prepare(
        request_with(url, url), model("local/ocr"), allow_private_image_hosts=True
    )
    assert host.app[HITS]["/img.png"] == before + 1
    assert (stats.fetched, stats.cache_hits) == (1, 1)
    assert parts[0].data == parts[1].data == PNG


def _rendezvous_app(expected: int) -> web.Application:
    """Answers only once ``expected`` requests are in flight at the same time."""
    app = web.Application()
    arrived: list[int] = []
    everyone = asyncio.Event()

    async def meet(request: web.Request) -> web.Response:
        arrived.append(1)
        if len(arrived) >= expected:
            everyone.set()
        try:
            await asyncio.wait_for(everyone.wait(), timeout=5)
        except TimeoutError:
            return web.Response(status=504, text="alone")
        return web.Response(body=PNG, content_type="image/png")

    app.router.add_get("/meet/{n}", meet)
    return app


async def test_all_images_of_a_request_are_fetched_in_parallel(model: Model) -> None:
    with BackgroundApp(_rendezvous_app(3)) as srv:
        urls = [f"{srv.url}/meet/{i}" for i in range(3)]
        stats, parts = await prepare(
            request_with(*urls), model("local/ocr"), allow_private_image_hosts=True
        )
    assert stats.fetched == 3
    assert all(p.data == PNG for p in parts)


async def test_a_failed_fetch_reports_its_own_part(model: Model, host: BackgroundApp) -> None:
    urls = [f"{host.url}/img.png", f"{host.url}/status/500"]
    with pytest.raises(ImageError) as info:
        await prepare(request_with(*urls), model("local/ocr"), allow_private_image_hosts=True)
    assert (info.value.code, info.value.param) == (
        "image_fetch_failed", "messages[0].content[2].image_url.url",
    )  # fmt: skip


async def test_a_fetched_non_image_is_refused(model: Model, host: BackgroundApp) -> None:
    with pytest.raises(ImageError) as info:
        await prepare(
            request_with(f"{host.url}/huge-declared"),
            model("local/ocr"),
            allow_private_image_hosts=True,
        )
    assert info.value.code == "invalid_image"
