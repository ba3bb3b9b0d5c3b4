"""Peak memory of one request carrying many large images (default 20 x ~5 MB JPEGs).

    .venv/bin/python bench/memory.py [--images 20] [--routes openai,anthropic] [--size 4032x3024]

Starts the fake upstream and a gateway (with the body cap raised to take the request),
sends the request once per route, and samples the gateway's RSS every 10 ms meanwhile.
Reports RSS before, the peak, and 2 s after, next to the request body's size: the project
wants the growth at the peak within 3x the payload. Both routes have to re-encode these
images (OpenAI: the request is over its 50 MB of images; Anthropic: each image is over
3.75 MB), so this is the worst case: every image is decoded (no two are the same, so the
cache of recent conversions does not help). ``--size 1092x1092 --mb 1`` sends images both
providers take as they are instead: none is decoded or copied. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import sys
import tempfile
import threading
import time

import gateways
import orjson
from procs import Proc, can_pin, pinned
from scenarios import make_jpeg

_HERE = os.path.dirname(os.path.abspath(__file__))


def _images(count: int, target_mb: float, size: tuple[int, int] = (4032, 3024)) -> list[bytes]:
    """``count`` different JPEGs of about ``target_mb`` each (at most what quality 98
    gives): 4 distinct pictures, each repeated with a comment that makes every file
    unique, so that the gateway's cache of recent conversions cannot answer for any."""
    distinct = []
    for seed in range(min(count, 4)):
        quality, data = 76, b""
        while quality <= 98:
            data = make_jpeg(*size, seed=100 + seed, quality=quality)
            if len(data) >= target_mb * 1e6:
                break
            quality += 2
        distinct.append(data)
    return [_tagged(distinct[i % len(distinct)], i) for i in range(count)]


def _tagged(jpeg: bytes, index: int) -> bytes:
    """``jpeg`` with a COM segment naming ``index`` right after its SOI marker."""
    text = b"bench image %d" % index
    return jpeg[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + jpeg[2:]


def _body(model: str, images: list[bytes]) -> bytes:
    parts: list[dict[str, object]] = [{"type": "text", "text": "What do these show?"}]
    for data in images:
        url = "data:image/jpeg;base64," + base64.b64encode(data).decode()
        parts.append({"type": "image_url", "image_url": {"url": url}})
    body = {"model": model, "messages": [{"role": "user", "content": parts}], "max_tokens": 64}
    return orjson.dumps(body)


def _send(port: int, body: bytes, auth: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers=auth)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _measure(
    gw: Proc, port: int, body: bytes, auth: dict[str, str]
) -> tuple[int, bytes, float, int]:
    """Send ``body`` while sampling RSS every 10 ms: status, answer, seconds, peak RSS."""
    peak, done = gw.rss(), threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, gw.rss())
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        status, answer = _send(port, body, auth)
    finally:
        done.set()
        sampler.join()
    return status, answer, time.perf_counter() - started, peak


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--mb", type=float, default=5.0, help="size of each image")
    ap.add_argument("--size", default="4032x3024", help="pixels of each image, WxH")
    ap.add_argument("--routes", default="openai,anthropic")
    ap.add_argument("--port", type=int, default=18110)
    ap.add_argument("--upstream-port", type=int, default=18190)
    ap.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="for the gateway"
    )
    args = ap.parse_args()
    run_dir = tempfile.mkdtemp(prefix="vg-bench-memory-")
    pin = can_pin()
    upstream = Proc(
        "upstream",
        pinned(
            [sys.executable, os.path.join(_HERE, "upstream.py"), "--port", str(args.upstream_port)],
            "1" if pin else None,
        ),
        os.path.join(run_dir, "upstream.log"),
    )
    width, height = (int(n) for n in args.size.lower().split("x"))
    images = _images(args.images, args.mb, (width, height))
    payload = sum(len(d) for d in images)
    each = payload / len(images) / 1e6
    print(
        f"{len(images)} images of {width}x{height}, {payload / 1e6:.1f} MB of JPEG "
        f"({each:.2f} MB each)"
    )
    spec = gateways.visiongate(
        run_dir,
        args.port,
        f"http://127.0.0.1:{args.upstream_port}",
        extra_env={
            "VISIONGATE_MAX_BODY_BYTES": str(400 * 1024 * 1024),
            **dict(item.split("=", 1) for item in args.env),
        },
    )
    gw = Proc(
        "visiongate",
        pinned(spec.argv, "0" if pin else None),
        os.path.join(run_dir, "gw.log"),
        spec.env,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _send(args.port, b"{}", spec.auth)[0] == 400:
                    break
            except OSError:
                time.sleep(0.1)
        time.sleep(3.0)
        for route in args.routes.split(","):
            body = _body(gateways.MODELS[route], images)
            before = gw.rss()
            status, answer, took, peak = _measure(gw, args.port, body, spec.auth)
            time.sleep(2.0)
            after, growth = gw.rss(), peak - before
            print(
                f"{route:9s} HTTP {status} in {took:5.2f} s; body {len(body) / 1e6:.1f} MB; "
                f"RSS before {before / 2**20:.0f} MB, peak {peak / 2**20:.0f} MB "
                f"(+{growth / 2**20:.0f} MB = {growth / len(body):.2f}x the body), "
                f"2 s later {after / 2**20:.0f} MB"
            )
            if status != 200:
                print("   ", answer[:300].decode("utf-8", "replace"))
    finally:
        gw.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
