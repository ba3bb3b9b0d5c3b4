"""The gateway's own CPU per request, in process: no HTTP server, no load generator.

    .venv/bin/python bench/asgi_cpu.py                          # this checkout
    .venv/bin/python bench/asgi_cpu.py --ab /path/to/other/src  # alternate with another tree
    .venv/bin/python bench/asgi_cpu.py --scenarios text,stream --requests 3000 --rounds 5
    .venv/bin/python bench/asgi_cpu.py --instructions --ab ../old/src --scenarios text
    .venv/bin/python bench/asgi_cpu.py --floor --ab src --scenarios text,stream  # vs floor.py
    .venv/bin/python bench/asgi_cpu.py --surface responses --scenarios stream   # or messages
    .venv/bin/python bench/asgi_cpu.py --floor --ab src --scenarios stream --chunk-delay-ms 1

wrk through uvicorn measures the whole server, and on a shared machine its numbers move
15-40% from run to run. Comparing two versions of the request path needs a steadier clock:
this script builds the gateway (``factory()``, the same settings the server would read),
answers its lifespan, and drives ``requests`` ASGI calls, ``concurrency`` at a time, with
in-memory ``receive``/``send``; ``time.process_time()`` over the batch, divided by the
count, is the gateway's CPU per request (plus this driver's, which is the same for every
version). The fake upstream (``upstream.py``) runs in its own process and is not counted.

With ``--ab SRC`` every round runs this checkout and the tree at ``SRC`` (a ``src``
directory, e.g. of a ``git worktree`` at an older commit) one after the other, each in a
fresh process; the table gives min and median per version, so the machine's drift falls on
both alike. ``--instructions`` counts instructions per request under valgrind instead
(``_instructions``): minutes per point, but the same count on a busy machine as on an
idle one. Nothing passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_SRC = os.path.join(os.path.dirname(_HERE), "src")
sys.path.insert(0, _HERE)

from scenarios import make_images  # noqa: E402

_MODELS = {"openai": "gpt-4o", "anthropic": "claude-3-5-sonnet-latest"}
_EACH = b"{each}"  # replaced in each request's body by a number of its own
_LINKED_URL = "https://images.example.invalid/photos/2026/cat-on-a-mat.jpg?n={each}"
_INSTR_BASE, _INSTR_MORE = 50, 500  # requests in the two runs of --instructions


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}


def _bodies(route: str, surface: str = "chat") -> dict[str, bytes]:
    import base64

    b64 = base64.b64encode(make_images()["small.jpg"]).decode()
    text = [{"type": "text", "text": "Say hello in one sentence."}]
    image = [
        {"type": "text", "text": "Describe the image in one sentence."},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64}"}},
    ]
    # An http URL the OpenAI route hands to the provider as it is: the gateway's share is
    # parsing and checking it. Each request's is new (no parse cache helps), as in
    # bench/run.py; ``.invalid`` never resolves, should anything try.
    linked = [image[0], {"type": "image_url", "image_url": {"url": _LINKED_URL}}]

    def body(content: list[dict[str, Any]], **extra: Any) -> bytes:
        if surface == "responses":  # the same turn as a Responses API request
            parts = [
                {"type": "input_text", "text": p["text"]}
                if p["type"] == "text"
                else {"type": "input_image", "image_url": p["image_url"]["url"]}
                for p in content
            ]
            extra["max_output_tokens"] = extra.pop("max_tokens")
            turn = [{"role": "user", "content": parts}]
            return json.dumps({"model": _MODELS[route], "input": turn, **extra}).encode()
        if surface == "messages":  # and as an Anthropic Messages API request
            content = [p if p["type"] == "text" else _messages_image(p) for p in content]
        msg = {"role": "user", "content": content}
        return json.dumps({"model": _MODELS[route], "messages": [msg], **extra}).encode()

    return {
        "text": body(text, max_tokens=64),
        "image_b64": body(image, max_tokens=64),
        "image_url": body(linked, max_tokens=64),
        "stream": body(text, max_tokens=64, stream=True),
    }


def _messages_image(part: dict[str, Any]) -> dict[str, Any]:
    url = part["image_url"]["url"]
    if not url.startswith("data:"):
        return {"type": "image", "source": {"type": "url", "url": url}}
    data = url.partition(",")[2]
    return {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": data}}


async def _drive(
    app: Any, body: bytes, key: str, requests: int, concurrency: int, path: str
) -> float:
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    statuses: dict[int, int] = {}
    numbered = itertools.count()
    unique = _EACH in body  # a URL made unique per request, as bench/run.py's are

    async def one() -> None:
        sent = False
        payload = body.replace(_EACH, str(next(numbered)).encode()) if unique else body
        gone = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        await app(dict(scope), receive, send)
        gone.set()

    async def worker(n: int) -> None:
        for _ in range(n):
            await one()

    per = [
        requests // concurrency + (1 if i < requests % concurrency else 0)
        for i in range(concurrency)
    ]
    for _ in range(50):  # warm-up: connections, caches, first-call imports
        await one()
    statuses.clear()
    start = time.process_time()
    main_start = time.thread_time()
    await asyncio.gather(*(worker(n) for n in per))
    spent = time.process_time() - start
    if os.environ.get("VG_ASGI_MAIN_THREAD"):
        spent = time.thread_time() - main_start
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses: {statuses}")
    return spent / requests * 1e6


async def _child(args: argparse.Namespace) -> None:
    """One version, one round: print {scenario: µs per request} as JSON."""
    if args.floor:  # floor.py's pass-through, the same driver: what a bare relay costs
        from floor import Floor

        app: Any = Floor(os.environ["OPENAI_BASE_URL"], args.key)
        return await _serve(app, args)
    from visiongate.app import factory

    if os.environ.get("VG_ASGI_ARM_AFTER_S"):  # under valgrind every answer takes > 50 ms
        with contextlib.suppress(ImportError):
            from visiongate.api.guard import CancelOnDisconnect

            CancelOnDisconnect.ARM_AFTER_S = float(os.environ["VG_ASGI_ARM_AFTER_S"])
    await _serve(factory(), args)


async def _serve(app: Any, args: argparse.Namespace) -> None:
    """Start ``app``'s lifespan, drive each scenario, print the µs per request as JSON;
    ``VG_ASGI_PROFILE=FILE`` writes a cProfile of the driven requests there."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        started.set()

    life = asyncio.create_task(app({"type": "lifespan"}, queue.get, send))
    await started.wait()
    bodies = _bodies(args.route, args.surface)
    out = {}
    profile = None
    if os.environ.get("VG_ASGI_PROFILE"):
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    for name in args.scenarios.split(","):
        out[name] = await _drive(
            app, bodies[name], args.key, args.requests, args.concurrency, _PATHS[args.surface]
        )
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.environ["VG_ASGI_PROFILE"])
    await queue.put({"type": "lifespan.shutdown"})
    await life
    print(json.dumps(out))


def _round(
    src: str, args: argparse.Namespace, env: dict[str, str], floor: bool = False
) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", "--route", args.route, "--key", args.key]
    argv += ["--surface", args.surface]
    argv += ["--floor"] if floor else []
    argv += ["--scenarios", args.scenarios, "--requests", str(args.requests)]
    argv += ["--concurrency", str(args.concurrency)]
    run_env = dict(env, PYTHONPATH=src)
    done = subprocess.run(argv, env=run_env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{src}: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _instructions(
    src: str, args: argparse.Namespace, env: dict[str, str], name: str, floor: bool = False
) -> int:
    """Instructions per request under valgrind's callgrind: the difference between a run
    of ``INSTR_BASE + INSTR_MORE`` requests and one of ``INSTR_BASE``, over
    ``INSTR_MORE`` (start-up, warm-up and shutdown cancel out). Counted, not timed, so
    another job on the machine does not move it. The usage writer's interval and the
    disconnect guard's timer are pushed past the run's length: under valgrind every
    request takes 50x longer, and timers that never fire in production would."""
    counts = []
    for requests in (_INSTR_BASE, _INSTR_BASE + _INSTR_MORE):
        with tempfile.TemporaryDirectory(prefix="vg-callgrind-") as tmp:
            argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out"]
            argv += [sys.executable, __file__, "--child", "--route", args.route]
            argv += ["--surface", args.surface]
            argv += ["--key", args.key, "--scenarios", name, "--requests", str(requests)]
            argv += ["--floor"] if floor else []
            argv += ["--concurrency", str(args.concurrency)]
            run_env = dict(
                env,
                PYTHONPATH=src,
                VISIONGATE_DATA_DIR=tmp,
                VISIONGATE_USAGE_FLUSH_INTERVAL="100000",
                VG_ASGI_ARM_AFTER_S="100000",
                PYTHONHASHSEED="0",  # string hashes decide dict probing: ±2% run to run
            )
            done = subprocess.run(argv, env=run_env, capture_output=True, text=True, check=False)
            found = re.search(r"Collected : (\d+)", done.stderr)
            if done.returncode != 0 or found is None:
                raise SystemExit(f"{src}: {done.stderr[-2000:]}")
            counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) // _INSTR_MORE


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ab", help="another tree's src directory to alternate with")
    ap.add_argument("--scenarios", default="text,image_b64,stream")
    ap.add_argument("--route", choices=sorted(_MODELS), default="openai")
    ap.add_argument(
        "--surface", choices=sorted(_PATHS), default="chat", help="the API the requests come in by"
    )
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request under valgrind instead (slow, but exact)",
    )
    ap.add_argument(
        "--floor",
        action="store_true",
        help="measure floor.py's bare pass-through in place of this checkout (OpenAI route;"
        " with --ab, against that tree)",
    )
    ap.add_argument(
        "--obfuscation",
        action="store_true",
        help="the fake upstream pads each OpenAI stream chunk, as OpenAI does by default",
    )
    ap.add_argument(
        "--chunk-delay-ms",
        type=float,
        default=0.0,
        help="the fake upstream writes each stream event on its own, this long apart, so"
        " each arrives in a read of its own (as a model's tokens do); CPU per request then"
        " prices the per-read path",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--key", default="sk-bench-static", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        # The server's loop (uvloop, as ``visiongate serve`` runs it), so timer and task
        # costs are the ones production pays.
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_child(args))
        return

    port = _free_port()
    upstream = f"http://127.0.0.1:{port}"
    fake = subprocess.Popen(
        [
            sys.executable,
            os.path.join(_HERE, "upstream.py"),
            "--port",
            str(port),
            "--latency-ms",
            "0",
            *(["--obfuscation"] if args.obfuscation else []),
            *(["--chunk-delay-ms", str(args.chunk_delay_ms)] if args.chunk_delay_ms else []),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        data = tempfile.mkdtemp(prefix="vg-asgi-cpu-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VISIONGATE_")}
        env.update(
            VISIONGATE_DATA_DIR=data,
            VISIONGATE_API_KEYS=args.key,
            VISIONGATE_LOG_LEVEL="warning",
            OPENAI_BASE_URL=f"{upstream}/v1",
            OPENAI_API_KEY="sk-fake-openai",
            ANTHROPIC_BASE_URL=upstream,
            ANTHROPIC_API_KEY="sk-fake-anthropic",
        )
        trees = {"this": _SRC}
        if args.floor:
            trees = {"floor": _SRC}
        if args.ab:
            trees["other"] = os.path.abspath(args.ab)
        if args.instructions:
            print(f"instructions per request ({args.route} route), callgrind")
            print("| scenario | " + " | ".join(f"{t} ({trees[t]})" for t in trees) + " |")
            print("| --- |" + " ---: |" * len(trees))
            for name in args.scenarios.split(","):
                cells = [
                    f"{_instructions(src, args, env, name, tree == 'floor'):,}"
                    for tree, src in trees.items()
                ]
                print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
            return
        results: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
        for r in range(args.rounds):
            for tree, src in trees.items():
                got = _round(src, args, env, tree == "floor")
                for name, us in got.items():
                    results[tree].setdefault(name, []).append(us)
                print(
                    f"round {r + 1} {tree}: " + ", ".join(f"{k} {v:.0f}" for k, v in got.items()),
                    flush=True,
                )
        print(
            f"\nµs of CPU per request, min / median over {args.rounds} rounds ({args.route} route)"
        )
        print("| scenario | " + " | ".join(f"{t} ({trees[t]})" for t in trees) + " |")
        print("| --- |" + " ---: |" * len(trees))
        for name in args.scenarios.split(","):
            cells = []
            for tree in trees:
                xs = results[tree][name]
                cells.append(f"{min(xs):.0f} / {statistics.median(xs):.0f}")
            print(f"| {name} | " + " | ".join(cells) + " |")
    finally:
        fake.terminate()
        fake.wait()


if __name__ == "__main__":
    main()
