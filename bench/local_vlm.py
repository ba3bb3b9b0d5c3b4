"""Time to first token and decode speed of the in-process transformers engine.

    .venv/bin/python bench/local_vlm.py                 # tiny random model, built here
    .venv/bin/python bench/local_vlm.py --smolvlm       # + SmolVLM-256M if its weights are present
    .venv/bin/python bench/local_vlm.py --source DIR    # any saved model directory or hub id

Requests go through ``VlmEngine.stream`` (the code path the server uses, minus HTTP) with
greedy decoding, ``max_tokens`` new tokens, one text question and 1 or 4 JPEG photos of
640x480. For each case: the model is loaded and warmed by one request, then ``--runs``
requests are timed. TTFT is from the call to the first text piece (image decoding,
processor, vision encoder and prefill included); decode speed is tokens after the first
divided by the time after the first. Nothing is downloaded: a hub model whose weights are
not in the local cache is reported as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from visiongate.core.catalog import load_catalog  # noqa: E402
from visiongate.core.messages import ChatRequest, ImagePart, Message, TextPart  # noqa: E402
from visiongate.local import weights  # noqa: E402
from visiongate.local.registry import local_model_overrides  # noqa: E402
from visiongate.local.vlm import VlmEngine  # noqa: E402
from visiongate.settings import Settings  # noqa: E402

SMOLVLM = "HuggingFaceTB/SmolVLM-256M-Instruct"


def photo(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG with gradients and shapes (so it is not trivially compressible)."""
    from PIL import Image, ImageDraw

    img = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(img)
    for i in range(12):
        x, y = (seed * 97 + i * 53) % size[0], (seed * 61 + i * 31) % size[1]
        draw.ellipse((x, y, x + 80, y + 60), fill=((i * 40) % 255, (seed * 70) % 255, 120))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def request(model_id: str, n_images: int, max_tokens: int) -> ChatRequest:
    parts: list = [TextPart("Describe these images in detail.")]
    for i in range(n_images):
        parts.append(ImagePart(param=f"img{i}", data=photo(i), media_type="image/jpeg"))
    return ChatRequest(
        model=model_id, messages=[Message("user", parts)], max_tokens=max_tokens, temperature=0
    )


async def one(engine: VlmEngine, req: ChatRequest) -> tuple[float, float, float, int, int]:
    """(ttft s, decode tokens/s, decode CPU ms per token, prompt tokens, completion tokens)
    of one streamed request. CPU time is the process's, all threads: unlike wall time it
    hardly moves when other jobs share the machine."""
    start = time.perf_counter()
    first = 0.0
    cpu_first = 0.0
    usage = None
    async for delta in engine.stream(req):
        if delta.content and not first:
            first, cpu_first = time.perf_counter(), time.process_time()
        if delta.usage is not None:
            usage = delta.usage
    end, cpu_end = time.perf_counter(), time.process_time()
    assert usage is not None
    steps = max(1, usage.completion_tokens - 1)
    first = first or end
    rate = steps / (end - first) if end > first else float("nan")
    cpu_ms = (cpu_end - (cpu_first or cpu_end)) * 1000 / steps
    return first - start, rate, cpu_ms, usage.prompt_tokens, usage.completion_tokens


def baseline(entry, config: Settings, req: ChatRequest, runs: int) -> tuple[float, float, float]:
    """(prefill s, decode tokens/s, decode CPU ms per token) of ``model.generate`` called
    directly on inputs already prepared: no queue, threads, streaming or stop strings, and
    no image decoding or processor (which the engine's TTFT includes)."""
    import torch

    from visiongate.local.job import prepare_job
    from visiongate.local.loader import load_model

    loaded = load_model(entry, config, lambda *a: None)
    job = prepare_job(loaded, entry, req)

    def generate(n: int) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            loaded.model.generate(**job.inputs, max_new_tokens=n, do_sample=False)
        return time.perf_counter() - started, time.process_time() - cpu

    generate(2)  # warm
    first = [generate(1) for _ in range(runs)]
    whole = [generate(job.max_new_tokens) for _ in range(runs)]
    steps = job.max_new_tokens - 1
    prefill = statistics.median(w for w, _ in first)
    prefill_cpu = statistics.median(c for _, c in first)
    rate = statistics.median(steps / (w - prefill) for w, _ in whole)
    cpu_ms = statistics.median((c - prefill_cpu) * 1000 / steps for _, c in whole)
    return prefill, rate, cpu_ms


async def bench_model(
    label: str,
    source: str,
    images: list[int],
    runs: int,
    max_tokens: int,
    settings: dict,
    warmup: int,
) -> list[str]:
    config = Settings(local_models={"bench/model": {"source": source}}, **settings)
    entry = load_catalog(local_model_overrides(config)).models["bench/model"]
    engine = VlmEngine(entry, config)
    rows = []
    try:
        started = time.perf_counter()
        await one(engine, request("bench/model", 1, 2))
        load = time.perf_counter() - started
        status = engine.status()
        where = f"{status['device']} {status['dtype']}"
        print(f"{label}: loaded + first request in {load:.1f} s on {where}", file=sys.stderr)
        for n in images:
            req = request("bench/model", n, max_tokens)
            for _ in range(warmup):  # the first requests after a load run slower
                await one(engine, req)
            results = [await one(engine, req) for _ in range(runs)]
            ttft = statistics.median(r[0] for r in results)
            rate = statistics.median(r[1] for r in results)
            cpu_ms = statistics.median(r[2] for r in results)
            prompt, completion = results[0][3], results[0][4]
            base = await asyncio.to_thread(baseline, entry, config, req, runs)
            rows.append(
                f"| {label} | {where} | {n} | {prompt} | {completion} | {ttft * 1000:.0f} ms "
                f"| {rate:.0f} | {cpu_ms:.2f} | {base[0] * 1000:.0f} ms | {base[1]:.0f} "
                f"| {base[2]:.2f} |"
            )
    finally:
        await engine.close()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", help="a model directory or hub id to bench as well")
    parser.add_argument("--smolvlm", action="store_true", help=f"also bench {SMOLVLM}")
    parser.add_argument("--images", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=8, help="untimed requests per case")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    settings = {"local_device": args.device, "local_dtype": args.dtype}

    import torch
    from tests.support.tiny_vlm import build_tiny_vlm

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads", file=sys.stderr)
    rows = [
        "| model | device | images | prompt tok | output tok | engine TTFT | engine tok/s "
        "| engine CPU ms/tok | generate() prefill | generate() tok/s | generate() CPU ms/tok |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tiny = str(build_tiny_vlm(Path(tmp) / "tiny"))
        rows += await bench_model(
            "tiny random Idefics3",
            tiny,
            args.images,
            args.runs,
            args.max_tokens,
            settings,
            args.warmup,
        )
    targets = [(args.source, args.source)] if args.source else []
    if args.smolvlm:
        targets.append(("SmolVLM-256M-Instruct", SMOLVLM))
    for label, source in targets:
        if not weights.weights_present(source):
            print(
                f"{label}: skipped, weights of {source} not present locally "
                "(run `visiongate models pull` first)",
                file=sys.stderr,
            )
            continue
        rows += await bench_model(
            label, source, args.images, args.runs, args.max_tokens, settings, args.warmup
        )
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
