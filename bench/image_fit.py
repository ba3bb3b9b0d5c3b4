"""How long fitting a 12 MP phone photo for Anthropic takes, on one core.

    .venv/bin/python bench/image_fit.py [--rounds 15] [--model claude-3-5-sonnet-latest]

A 4032x3024 JPEG is over Anthropic's preferred size (1568 px long edge, ~1.15 MP), so the
gateway decodes it, downscales and re-encodes it. This times that work three ways, pinned
to one core: ``apply_fit`` alone (decode at a reduced DCT scale, resize, encode), the whole
``ImagePipeline.prepare`` for a request holding the photo as a data URL (base64 decode,
header inspection, the fit in a worker thread, token estimate; a new pipeline each time, so
its cache of recent conversions does not answer), and, for contrast, ``prepare`` for a
1024x768 JPEG that needs no change (its pixels must not be decoded at all).
Prints milliseconds (best and median) and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import time

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


if __name__ == "__main__":
    main()
