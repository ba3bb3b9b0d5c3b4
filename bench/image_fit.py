"""How long fitting a 12 MP phone photo for Anthropic takes, on one core.

    .venv/bin/python bench/image_fit.py [--rounds 15] [--model claude-3-5-sonnet-latest]

A 4032x3024 JPEG is over Anthropic's preferred size (1568 px long edge, ~1.15 MP), so the
gateway decodes it, downscales and re-encodes it. This times that work three ways, pinned
to one core: ``apply_fit`` alone (decode at a reduced DCT scale, resize, encode), the whole
``ImagePipeline.prepare`` for a request holding the photo as a data URL (base64 validation,
header inspection, the fit in a worker thread, token estimate; a new pipeline each time, so
its cache of recent conversions does not answer), and, for contrast, ``prepare`` for a
1024x768 JPEG that needs no change (its pixels must not be decoded at all). Then the
stages of ``apply_fit`` apart, and the cheaper ways to the same size that were tried
instead (docs/performance.md, "The 12 MP fit"), each with its PSNR against a full-size
decode resized with Lanczos. Prints milliseconds (best and median) and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

from PIL import Image
from scenarios import make_jpeg

from visiongate.core.catalog import load_catalog
from visiongate.core.messages import ChatRequest, ImagePart, Message, TextPart
from visiongate.images import ImagePipeline
from visiongate.images.fit import apply_fit, plan_fit
from visiongate.images.sniff import inspect_image
from visiongate.settings import Settings


def _ms(samples: list[float]) -> str:
    best, median = min(samples) * 1000, statistics.median(samples) * 1000
    return f"best {best:8.2f} ms   median {median:8.2f} ms"


def _best(work: Callable[[], object], rounds: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        out = work()
        times.append(time.perf_counter() - started)
    return times, out


def _decoded(photo: bytes, scale: int) -> Image.Image:
    image = Image.open(io.BytesIO(photo))
    image.draft("RGB", (image.width // scale, image.height // scale))
    image.load()
    return image


def _encoded(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _psnr(data: bytes, reference: list[int], size: tuple[int, int]) -> float:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    if image.size != size:  # a smaller result is compared at the target size
        image = image.resize(size, Image.Resampling.BICUBIC)
    pixels = image.tobytes()
    error = sum((a - b) ** 2 for a, b in zip(pixels[::97], reference, strict=False))
    return 10 * math.log10(255**2 * len(reference) / max(error, 1))


def _stages(photo: bytes, size: tuple[int, int], rounds: int) -> None:
    """The stages of the fit apart, and the alternatives to it that were measured."""
    full = Image.open(io.BytesIO(photo))
    reference = list(full.resize(size, Image.Resampling.LANCZOS).tobytes()[::97])
    half = _decoded(photo, 2)
    result = half.resize(size, Image.Resampling.HAMMING)
    for label, work in (
        ("decode at 1/2 (draft)", lambda: _decoded(photo, 2)),
        ("decode at 1/4 (draft)", lambda: _decoded(photo, 4)),
        ("decode at 1/8 (draft)", lambda: _decoded(photo, 8)),
        ("resize 1/2 -> target, Hamming", lambda: half.resize(size, Image.Resampling.HAMMING)),
        ("resize 1/2 -> target, Box", lambda: half.resize(size, Image.Resampling.BOX)),
        ("encode the result, quality 85", lambda: _encoded(result)),
    ):
        times, _ = _best(work, rounds)
        print(f"  {label:36s} {_ms(times)}")
    for label, scale, resample in (
        ("1/2 + Hamming (the fit)", 2, Image.Resampling.HAMMING),
        ("1/2 + Box", 2, Image.Resampling.BOX),
        ("1/2 + Nearest", 2, Image.Resampling.NEAREST),
        ("1/4, no resize (0.76 MP, not 1.15)", 4, None),
    ):

        def work(scale: int = scale, resample: Image.Resampling | None = resample) -> bytes:
            image = _decoded(photo, scale)
            return _encoded(image if resample is None else image.resize(size, resample))

        times, out = _best(work, rounds)
        assert isinstance(out, bytes)
        print(f"  {label:36s} {_ms(times)}  PSNR {_psnr(out, reference, size):5.2f} dB")


def _request(data: bytes, model: str) -> ChatRequest:
    url = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    part = ImagePart(param="messages[0].content[1].image_url.url", url=url)
    return ChatRequest(model=model, messages=[Message("user", [TextPart("What is it?"), part])])


async def _pipeline(data: bytes, model_id: str, rounds: int) -> tuple[list[float], ImagePart]:
    settings = Settings(data_dir="/tmp/vg-image-fit")
    model = load_catalog({}, {}).models[model_id]
    times = []
    part = ImagePart(param="-")
    for _ in range(rounds):
        pipeline = ImagePipeline(settings)  # a fresh one: its conversion cache starts empty
        request = _request(data, model_id)
        started = time.perf_counter()
        await pipeline.prepare(request, model)
        times.append(time.perf_counter() - started)
        part = request.images[0]
        await pipeline.close()
    return times, part


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--model", default="claude-3-5-sonnet-latest")
    ap.add_argument("--core", type=int, default=0, help="the one core to run on")
    ap.add_argument("--stages", action="store_true", help="also time the stages and options")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > args.core:
        os.sched_setaffinity(0, {args.core})
    photo = make_jpeg(4032, 3024, seed=12, quality=88)
    small = make_jpeg(1024, 768, seed=7, quality=72)
    limits = load_catalog({}, {}).models[args.model].image
    info = inspect_image(photo, "-", 100_000_000)
    plan = plan_fit(info, len(photo), limits)
    if plan is None:
        sys.exit(f"{args.model} takes a 4032x3024 JPEG as it is: nothing to fit")
    width, height = plan.size
    print(
        f"photo: 4032x3024 JPEG, {len(photo) / 1e6:.2f} MB -> {args.model}: {width}x{height}"
        f" ({', '.join(plan.reasons)})"
    )
    times = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        fitted = apply_fit(photo, plan, "-")
        times.append(time.perf_counter() - started)
    print(
        f"apply_fit (decode + downscale + encode):  {_ms(times)}  -> {fitted.width}x{fitted.height}"
        f" {fitted.format}, {len(fitted.data) / 1e3:.0f} KB"
    )
    times, part = asyncio.run(_pipeline(photo, args.model, args.rounds))
    print(f"ImagePipeline.prepare, 12 MP data URL:    {_ms(times)}  converted={part.converted}")
    times, part = asyncio.run(_pipeline(small, args.model, args.rounds * 4))
    print(f"ImagePipeline.prepare, 1024x768 as is:    {_ms(times)}  converted={part.converted}")
    if args.stages:
        print(f"stages and alternatives, to {width}x{height}:")
        _stages(photo, plan.size, args.rounds)


if __name__ == "__main__":
    main()
