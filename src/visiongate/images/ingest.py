"""The image pipeline the request service calls: parse, fetch, inspect, fit, count.

One :class:`ImagePipeline` per process, built in the app's lifespan (or by the CLI). For
each request, :meth:`ImagePipeline.prepare` turns every :class:`ImagePart` into what the
target model takes, in place:

1. data URLs are validated strictly but not decoded: only their first and last bytes
   are kept; http(s) URLs are fetched through the SSRF guard, all of a request's in
   parallel, de-duplicated and cached, unless the provider fetches them itself;
2. every image's bytes are identified from the header (never the declared type);
3. images the model cannot take as they are are decoded and converted in worker
   threads; the rest go upstream byte for byte, after a structural truncation check
   (from the last bytes), and a data URL as the client's own base64;
4. the request's image tokens are estimated for the model.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pybase64

from visiongate.core.catalog import ImageLimits, ModelEntry
from visiongate.core.messages import ChatRequest, ImagePart
from visiongate.errors import ImageError
from visiongate.images.cache import ImageCache
from visiongate.images.data_url import DataUrl, parse_data_url
from visiongate.images.fetch import ImageFetcher, parse_http_url
from visiongate.images.fit import FitPlan, Fitted, apply_fit, make_plan, plan_fit
from visiongate.images.fit_cache import FitCache
from visiongate.images.sniff import (
    MEDIA_TYPES,
    ImageInfo,
    check_complete,
    check_tail,
    inspect_head,
    inspect_image,
)
from visiongate.images.tokens import estimate_image_tokens
from visiongate.settings import Settings

__all__ = ["ImagePipeline", "ImageStats", "too_many_images"]

_FORMAT_OF = {media: name for name, media in MEDIA_TYPES.items()}
_SUFFIX_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


@dataclass(slots=True)
class ImageStats:
    count: int = 0  # images in the request
    bytes: int = 0  # bytes of the images as sent upstream (0 for passthrough URLs)
    fetched: int = 0  # URLs fetched over the network
    fetched_bytes: int = 0
    cache_hits: int = 0
    converted: int = 0  # images re-encoded
    tokens: int = 0  # estimated image tokens for this model
    seconds: float = 0.0  # wall time of image work (fetch + inspect + fit)


class ImagePipeline:
    """Validates, fetches, inspects and fits the images of requests for their model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = ImageCache(settings.image_cache_bytes, settings.image_cache_ttl)
        self.fitted = FitCache(settings.fit_cache_bytes)
        self.fetcher = ImageFetcher(settings)
        self._inflight: dict[str, asyncio.Task[bytes]] = {}
        # Conversions at once, across requests: one per core this process may run on.
        # Pillow releases the GIL, so that keeps every core busy, while each conversion
        # in flight holds its decoded source and pixels (~20 MB for a 12 MP photo).
        self._fit_slots = asyncio.Semaphore(_usable_cores())

    async def start(self) -> None:
        """Open the fetching session (optional: the first fetch opens it too)."""
        await self.fetcher.start()

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        await self.fetcher.close()
        self.cache.clear()
        self.fitted.clear()

    async def prepare(
        self,
        request: ChatRequest,
        model: ModelEntry,
        fetched: dict[str, bytes] | None = None,
        parts: list[ImagePart] | None = None,
    ) -> ImageStats:
        """Validate, fetch, inspect and fit every ImagePart of the request for this model,
        in place. After it returns, every part has media_type/width/height set, and has
        bytes (part.has_bytes; for an untouched data URL still as the client's base64,
        decoded only if part.data is read) unless it is an http(s) URL that the model
        fetches itself (model.image.url_passthrough and not
        settings.fetch_passthrough_urls); such a part keeps width = height = 0 and a
        media type guessed from the URL's suffix (None when there is none).
        ``fetched`` (URL -> bytes), when given, is read before fetching and filled after:
        the routing policy passes one per request, so a request fitted again for another
        model never fetches an image twice, whatever the cache holds. ``parts``, when
        given, is ``request.images`` as the caller already collected it.
        Raises ImageError.
        """
        started = time.perf_counter()
        if parts is None:
            parts = request.images
        stats = ImageStats(count=len(parts))
        if not parts:
            return stats
        limits = model.image
        too_many = too_many_images(parts, model)
        if too_many is not None:
            raise too_many
        inline = await self._load_bytes(parts, limits, stats, fetched)
        await self._fit_parts(parts, inline, limits)
        await self._fit_request_budget(parts, limits)
        for part in parts:
            stats.bytes += part.nbytes
            stats.converted += part.converted
            stats.tokens += estimate_image_tokens(part, limits)
        stats.seconds = time.perf_counter() - started
        return stats

    # ---------------------------------------------------------------- bytes

    async def _load_bytes(
        self,
        parts: Sequence[ImagePart],
        limits: ImageLimits,
        stats: ImageStats,
        fetched: dict[str, bytes] | None,
    ) -> list[DataUrl | None]:
        """Give every part its bytes; returns the parsed data URL of each part (or None)."""
        passthrough = limits.url_passthrough and not self.settings.fetch_passthrough_urls
        to_fetch: list[ImagePart] = []
        inline: list[DataUrl | None] = [None] * len(parts)
        for i, part in enumerate(parts):
            url = part.url
            if part.data is not None:
                self._check_given_bytes(part)
            elif url is None:
                raise ImageError(
                    "The image part has no URL; set image_url.url to an http(s) or data: URL.",
                    code="invalid_image_url",
                    param=part.param,
                )
            elif isinstance(url, bytes) or url[:5].lower() == "data:":  # bytes: api/cut.py
                parsed = parse_data_url(url, part.param, self.settings.max_image_bytes)
                part.use_base64(parsed.nbytes, at=parsed.at, b64=parsed.b64)
                inline[i] = parsed
            else:
                parsed_url = parse_http_url(url, part.param)
                if passthrough:
                    part.media_type = _SUFFIX_TYPES.get(_suffix(parsed_url.path))
                else:
                    to_fetch.append(part)
        if to_fetch:
            await _first_error(self._fetch_into(part, stats, fetched) for part in to_fetch)
        return inline

    def _check_given_bytes(self, part: ImagePart) -> None:
        assert part.data is not None
        if len(part.data) > self.settings.max_image_bytes:
            raise ImageError(
                f"The image is larger than the gateway's limit of "
                f"{self.settings.max_image_bytes} bytes; send a smaller image.",
                code="image_too_large",
                param=part.param,
            )

    async def fetch(self, url: str, param: str) -> bytes:
        """The bytes behind an http(s) URL, through the SSRF guard, the fetched-image
        cache and the fetches in flight, without validating them as an image. For the
        answer cache's key of an image the provider fetches itself. Raises ImageError."""
        cached = self.cache.get(url)
        if cached is not None:
            return cached
        parse_http_url(url, param)
        task = self._inflight.get(url)
        if task is None:
            task = asyncio.create_task(self._download(url, param))
            self._inflight[url] = task
            task.add_done_callback(lambda done: self._settle(url, done))
        return await asyncio.shield(task)

    async def _fetch_into(
        self, part: ImagePart, stats: ImageStats, fetched: dict[str, bytes] | None
    ) -> None:
        assert isinstance(part.url, str)
        url = part.url
        if fetched is not None and url in fetched:
            stats.cache_hits += 1
            part.data = fetched[url]
            return
        cached = self.cache.get(url)
        if cached is not None:
            stats.cache_hits += 1
            part.data = cached
            if fetched is not None:
                fetched[url] = cached
            return
        task = self._inflight.get(url)
        owner = task is None
        if task is None:
            task = asyncio.create_task(self._download(url, part.param))
            self._inflight[url] = task
            task.add_done_callback(lambda done: self._settle(url, done))
        try:
            data = await asyncio.shield(task)
        except ImageError as exc:
            if exc.param == part.param:
                raise
            raise ImageError(exc.message, code=exc.code, param=part.param) from exc
        if owner:
            stats.fetched += 1
            stats.fetched_bytes += len(data)
        else:
            stats.cache_hits += 1  # the same URL, fetched once for both
        part.data = data
        if fetched is not None:
            fetched[url] = data

    async def _download(self, url: str, param: str) -> bytes:
        data = await self.fetcher.fetch(url, param)
        self.cache.put(url, data)
        return data

    def _settle(self, url: str, task: asyncio.Task[bytes]) -> None:
        if self._inflight.get(url) is task:
            del self._inflight[url]
        if not task.cancelled():
            task.exception()  # retrieved here so an abandoned failure is not logged

    # ---------------------------------------------------------------- fit

    async def _fit_parts(
        self, parts: Sequence[ImagePart], inline: Sequence[DataUrl | None], limits: ImageLimits
    ) -> None:
        many = bool(limits.many_images) and len(parts) > limits.many_images
        jobs: list[tuple[ImagePart, FitPlan]] = []
        for part, parsed in zip(parts, inline, strict=True):
            if not part.has_bytes:
                continue  # passed through as a URL
            info, whole = self._inspect(part, parsed)
            plan = plan_fit(info, part.nbytes, limits, detail=part.detail, many=many)
            if plan is None:
                if whole is not None:
                    check_complete(whole, info, part.param)
                elif parsed is not None and not check_tail(parsed.tail, parsed.nbytes, info):
                    check_complete(part.read_bytes(), info, part.param)  # the end can't tell
                _describe(part, info)
            else:
                jobs.append((part, plan))
        if jobs:
            await self._run_fits(jobs)

    def _inspect(self, part: ImagePart, parsed: DataUrl | None) -> tuple[ImageInfo, bytes | None]:
        """The header facts and, when they were needed for them, all the bytes.

        A data URL is judged from its first bytes when they are enough; otherwise (GIF,
        WebP, the formats Pillow reads, a JPEG with a scan past them) its base64 is decoded
        for the inspection and the truncation check, but not kept.
        """
        limit = self.settings.max_image_pixels
        if parsed is None:
            data = part.data or b""
        elif len(parsed.head) >= parsed.nbytes:
            data = parsed.head  # a short payload: its first bytes are all of it
        else:
            info = inspect_head(parsed.head, parsed.nbytes, part.param, limit)
            if info is not None:
                return info, None
            data = part.read_bytes()
        return inspect_image(data, part.param, limit), data

    async def _fit_request_budget(self, parts: Sequence[ImagePart], limits: ImageLimits) -> None:
        """Shrink the largest images when together they exceed the model's request cap."""
        cap = limits.max_request_image_bytes
        if not cap or sum(p.nbytes for p in parts) <= cap:  # 0 for URLs passed through
            return
        inline = [p for p in parts if p.has_bytes]
        share = cap // len(inline)
        jobs = [
            (
                part,
                make_plan(
                    _info_of(part),
                    limits,
                    size=(part.width, part.height),
                    reasons=("request_bytes",),
                    max_bytes=share,
                ),
            )
            for part in inline
            if part.nbytes > share
        ]
        await self._run_fits(jobs)

    async def _run_fits(self, jobs: Sequence[tuple[ImagePart, FitPlan]]) -> None:
        async def fit_one(part: ImagePart, plan: FitPlan) -> None:
            source = part.source  # the bytes, or the base64 not yet decoded
            hit = self.fitted.get(source, plan)
            if hit is None:
                async with self._fit_slots:
                    # Asked again: the same image may have been converted while this
                    # one waited (a conversation resends its earlier images).
                    hit = self.fitted.get(source, plan)
                    if hit is None:
                        # Decoded here, not in the worker: pybase64 takes ~1 ms for a
                        # 12 MP photo, and the main heap's reused pages cost less than
                        # a worker's fresh ones.
                        data = part.read_bytes()
                        hit = await asyncio.to_thread(_fit_and_encode, data, plan, part.param)
                        del data
                        self.fitted.put(source, plan, *hit)
            _store(part, *hit)

        await _first_error(fit_one(part, plan) for part, plan in jobs)


def too_many_images(parts: Sequence[ImagePart], model: ModelEntry) -> ImageError | None:
    """The error for more images than ``model`` takes (None when they fit): the routing
    policy asks before choosing a target, the pipeline before any work."""
    limit = model.image.max_images
    if not limit or len(parts) <= limit:
        return None
    return ImageError(
        f"{model.id} accepts at most {limit} image(s) per request and this request has "
        f"{len(parts)}; send fewer images.",
        code="too_many_images",
        param=parts[limit].param,  # the first image past the limit
    )


def _describe(part: ImagePart, info: ImageInfo) -> None:
    part.media_type = info.media_type
    part.width = info.width
    part.height = info.height
    part.frames = info.frames


def _fit_and_encode(data: bytes, plan: FitPlan, param: str) -> tuple[Fitted, bytes]:
    """Convert, and write the result's data URL while still off the event loop. It is
    what OpenAI-style adapters send as it is, and its base64 what the others send; kept
    in the conversion cache, it is built once however often the image comes again, and
    as ASCII bytes it goes into upstream bodies uncopied (providers/body.py)."""
    fitted = apply_fit(data, plan, param)
    prefix = b"data:%s;base64," % MEDIA_TYPES[fitted.format].encode()
    return fitted, prefix + pybase64.b64encode(fitted.data)


def _store(part: ImagePart, fitted: Fitted, data_url: bytes) -> None:
    part.use_converted(fitted.data, data_url)
    part.media_type = MEDIA_TYPES[fitted.format]
    part.width = fitted.width
    part.height = fitted.height
    part.frames = 1
    part.converted = True


def _info_of(part: ImagePart) -> ImageInfo:
    fmt = _FORMAT_OF.get(part.media_type or "", "jpeg")
    return ImageInfo(format=fmt, width=part.width, height=part.height, frames=part.frames)


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


async def _first_error(coros: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``coros`` concurrently; on the first failure cancel the rest and raise it.

    A single coroutine is awaited directly (no task), the common case.
    """
    todo = list(coros)
    if not todo:
        return
    if len(todo) == 1:
        await todo[0]
        return
    tasks = [asyncio.ensure_future(c) for c in todo]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        unfinished = [task for task in tasks if not task.done()]
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
    for task in tasks:  # the first failing part in request order, for a stable error
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
