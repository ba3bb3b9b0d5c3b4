"""What PDFs cost the gateway: pages drawn per second, the latency a document adds, memory.

    .venv/bin/python bench/documents.py [--rounds 5] [--pages 10] [--big 100]

The PDF is made here: pages of body text (45 lines of Helvetica, a text layer) with a
photograph (an 800x600 JPEG) on every other page, US Letter. Three measurements:

1. **Pages per second** at the default profile (``openai_compatible``: 2048 px long edge,
   capped at 200 dpi) and at Anthropic's (1568 px, 1.15 MP): ``read_pdf`` in this process
   (PDFium alone), then through the sandbox (a forked child per document, as served).
2. **Added latency of a 10-page PDF**: the service's preparation of one request (document
   pipeline, image pipeline, the upstream payload serialised), for a model that renders
   (``MiniMax-Text-01``) and one that reads PDFs natively (``gpt-4o``), against the same
   request without the PDF. Runs alternate between the three, round by round.
3. **Memory for a 100-page PDF** rendered for ``gpt-4o`` with ``documents = "render"``:
   the peak RSS of the gateway process and of the sandbox child, sampled every 5 ms.

Prints milliseconds (best and median) and MB; writes nothing. The machine is shared: the
numbers are noisy, compare them only within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.pdfs import _Writer

from visiongate.core.catalog import load_catalog
from visiongate.core.messages import ChatRequest, DocumentPart, Message, TextPart
from visiongate.documents import DocumentPipeline
from visiongate.documents.ingest import _target
from visiongate.documents.pdfium import Job, read_pdf
from visiongate.documents.sandbox import Sandbox
from visiongate.images import ImagePipeline
from visiongate.providers.body import serialise
from visiongate.providers.openai import to_openai_payload
from visiongate.settings import Settings

WORDS = [
    "invoice",
    "total",
    "amount",
    "delivery",
    "address",
    "payment",
    "terms",
    "order",
    "quantity",
    "price",
    "tax",
]


def _photo(seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (800, 600))
    pixels = image.load()
    for y in range(0, 600, 4):
        for x in range(0, 800, 4):
            color = (rng.randrange(256), (x * 255) // 800, (y * 255) // 600)
            for dy in range(4):
                for dx in range(4):
                    pixels[x + dx, y + dy] = color  # type: ignore[index]
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def make_pdf(pages: int, seed: int = 1) -> bytes:
    """US Letter pages of text, a photograph on every other one."""
    rng = random.Random(seed)
    w = _Writer()
    font = w.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    photo = _photo(seed)
    image = w.stream(
        photo,
        "/Type /XObject /Subtype /Image /Width 800 /Height 600 /ColorSpace /DeviceRGB "
        "/BitsPerComponent 8 /Filter /DCTDecode ",
    )
    pages_id = 3 + pages * 2
    kids = []
    for number in range(pages):
        lines = ["BT", "/F1 10 Tf", "60 740 Td", "14 TL"]
        for _ in range(45):
            text = " ".join(rng.choice(WORDS) for _ in range(12))
            lines.append(f"({text}) Tj T*")
        lines.append("ET")
        if number % 2:
            lines.append("q 400 0 0 300 106 60 cm /Im1 Do Q")
        content = w.stream("\n".join(lines).encode())
        kids.append(
            w.add(
                f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 612 792] "
                f"/Resources << /Font << /F1 {font} 0 R >> /XObject << /Im1 {image} 0 R >> >> "
                f"/Contents {content} 0 R >>".encode()
            )
        )
    refs = " ".join(f"{k} 0 R" for k in kids)
    assert w.add(f"<< /Type /Pages /Kids [{refs}] /Count {pages} >>".encode()) == pages_id
    return w.render(w.add(f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode()))


def _ms(samples: list[float]) -> str:
    return (
        f"best {min(samples) * 1000:8.1f} ms   median {statistics.median(samples) * 1000:8.1f} ms"
    )


async def pages_per_second(data: bytes, pages: int, rounds: int) -> None:
    catalog = load_catalog(environ={})
    sandbox = Sandbox(timeout=120)
    await sandbox.run(len, "warm the forkserver")
    trips = []
    for _ in range(rounds):
        started = time.perf_counter()
        await sandbox.run(len, "a child that does nothing")
        trips.append(time.perf_counter() - started)
    print(f"sandbox round trip (fork, call, answer): {_ms(trips)}")
    for name, model in (("default", "MiniMax-Text-01"), ("anthropic", "claude-3-haiku-20240307")):
        job = Job(data, "render", None, _target(catalog.models[model].image), 1000, 10**8)
        local, boxed = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            result = read_pdf(job)
            local.append(time.perf_counter() - started)
            started = time.perf_counter()
            await sandbox.run(read_pdf, job)
            boxed.append(time.perf_counter() - started)
        size = f"{result.pages[0].width}x{result.pages[0].height}"
        print(
            f"{name:9s} profile ({size}): in process {pages / min(local):6.1f} pages/s, "
            f"sandboxed {pages / min(boxed):6.1f} pages/s  ({_ms(boxed)} per {pages} pages)"
        )


def _request(model: str, data: bytes | None) -> ChatRequest:
    parts: list = [TextPart("Summarise the document.")]
    if data is not None:
        url = "data:application/pdf;base64," + base64.b64encode(data).decode()
        parts.append(DocumentPart("messages[0].content[1].file.file_data", url=url))
    return ChatRequest(model=model, messages=[Message("user", parts)])


async def added_latency(data: bytes, rounds: int) -> None:
    settings = Settings()
    catalog = load_catalog(environ={})
    images = ImagePipeline(settings)
    documents = DocumentPipeline(settings, images)
    await documents.sandbox.run(len, "warm the forkserver")
    cases = (
        ("no PDF (gpt-4o)", "gpt-4o", None),
        ("rendered (MiniMax-Text-01)", "MiniMax-Text-01", data),
        ("native (gpt-4o)", "gpt-4o", data),
    )
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for _ in range(rounds):
        for name, model_id, pdf in cases:  # alternating: drift moves every case alike
            model = catalog.models[model_id]
            request = _request(model_id, pdf)
            started = time.perf_counter()
            await documents.prepare(request, model, "native")
            await images.prepare(request, model)
            body = serialise(to_openai_payload(request, model))
            times[name].append(time.perf_counter() - started)
            del body
    base = min(times[cases[0][0]])
    for name, samples in times.items():
        extra = (min(samples) - base) * 1000
        print(f"{name:28s} {_ms(samples)}   added {extra:8.1f} ms")
    await images.close()


async def memory(data: bytes) -> None:
    settings = Settings(documents="render", max_document_pages=1000)
    catalog = load_catalog(environ={})
    images = ImagePipeline(settings)
    documents = DocumentPipeline(settings, images)
    await documents.sandbox.run(len, "warm the forkserver")
    me = psutil.Process()
    before = me.memory_info().rss
    peak = {"parent": before, "child": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["parent"] = max(peak["parent"], me.memory_info().rss)
            for child in me.children(recursive=True):
                try:  # the reader is forked by the forkserver: a grandchild of this process
                    if child.ppid() != me.pid:
                        peak["child"] = max(peak["child"], child.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.005)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    model = catalog.models["gpt-4o"]
    request = _request("gpt-4o", data)
    started = time.perf_counter()
    stats = await documents.prepare(request, model, "native")
    await images.prepare(request, model)
    elapsed = time.perf_counter() - started
    done.set()
    watcher.join()
    sent = sum(p.nbytes for p in request.images)
    print(
        f"{stats.pages} pages ({len(data) / 1e6:.1f} MB PDF) rendered in {elapsed:.2f} s: "
        f"gateway RSS {before / 1e6:.0f} -> peak {peak['parent'] / 1e6:.0f} MB "
        f"(+{(peak['parent'] - before) / 1e6:.0f} MB; the page images themselves "
        f"{sent / 1e6:.1f} MB), sandbox child peak {peak['child'] / 1e6:.0f} MB"
    )
    await images.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--big", type=int, default=100)
    args = parser.parse_args()
    data = make_pdf(args.pages)
    print(f"{args.pages}-page PDF, {len(data) / 1e3:.0f} KB")
    await pages_per_second(data, args.pages, args.rounds)
    await added_latency(data, args.rounds)
    await memory(make_pdf(args.big, seed=2))


if __name__ == "__main__":
    # As under `python -m visiongate`, whose __main__ the forked readers do not import
    # again: without this each reader would first re-run this script's imports (~100 ms).
    import importlib.machinery

    sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec("bench.__main__", None)
    asyncio.run(main())
