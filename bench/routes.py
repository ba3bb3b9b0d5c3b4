"""What a route costs on the happy path: a two-target route against a direct model.

One gateway process serves both: ``gpt-4o`` (a plain catalog model: an implicit route of
one target) and ``pair`` (a ``[routes."pair"]`` of ``gpt-4o`` and ``gpt-4o@b``, weights
1:1, the second an OpenAI account of its own on the same fake upstream). wrk drives one
then the other for ``--duration`` seconds, in alternating order round after round, so a
machine whose speed drifts moves both alike; each point is the gateway's CPU time (its
process tree, psutil) divided by the requests wrk completed. The report is the median
per-request CPU of each, their ratio, and the median of the ratios within each round (the
two runs of a round are next to each other in time, so that one drifts least).

``--prepare`` measures instead, in this process and without HTTP, what the service's
``prepare`` costs for each (route, plan, capability check, admission): the part of a
request where a route differs from a direct model, with none of the noise of the rest.
``--asgi`` drives the whole gateway in this process through its ASGI entry point (8
requests at a time, the fake upstream over real sockets): everything but uvicorn and wrk.

    .venv/bin/python bench/routes.py [--rounds 6] [--duration 5] [--concurrency 8]
                                     [--scenario text|image_b64] [--prepare | --asgi]

Nothing asserts a timing; the numbers go in docs/routing.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from gateways import visiongate
from load import ensure_wrk, run_wrk
from procs import Proc, can_pin, pinned
from run import wait_port
from scenarios import make_images

_HERE = os.path.dirname(os.path.abspath(__file__))
_CONFIG = """
[providers.openai-b]
kind = "openai"
base_url = "{upstream}/v1"
api_key_env = "OPENAI_API_KEY"
quirks = ["max_completion_tokens", "developer_role"]

[models."gpt-4o@b"]
provider = "openai-b"
like = "gpt-4o"

[routes."pair"]
targets = [{{ model = "gpt-4o", weight = 1 }}, {{ model = "gpt-4o@b", weight = 1 }}]
"""


def _body(model: str, scenario: str) -> bytes:
    content: list[dict[str, object]] = [{"type": "text", "text": "One short sentence."}]
    if scenario == "image_b64":
        import base64

        data = base64.b64encode(make_images()["small.jpg"]).decode()
        url = f"data:image/jpeg;base64,{data}"
        content.append({"type": "image_url", "image_url": {"url": url}})
    body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": content}]}
    return json.dumps(body).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--scenario", choices=("text", "image_b64"), default="text")
    ap.add_argument("--upstream-port", type=int, default=18181)
    ap.add_argument("--port", type=int, default=18182)
    ap.add_argument("--prepare", action="store_true", help="in process: prepare() only")
    ap.add_argument("--asgi", action="store_true", help="in process: the whole ASGI path")
    a = ap.parse_args()
    if a.prepare:
        import asyncio

        asyncio.run(_prepare_cost(a.rounds))
        return
    if a.asgi:
        _asgi_cost(a)
        return
    ensure_wrk()
    pin = can_pin()
    gateway_cores, side_cores = ("0", "1") if pin else (None, None)
    run_dir = tempfile.mkdtemp(prefix="vg-bench-routes-")
    upstream_url = f"http://127.0.0.1:{a.upstream_port}"
    argv = [sys.executable, os.path.join(_HERE, "upstream.py"), "--port", str(a.upstream_port)]
    upstream = Proc("upstream", pinned(argv, side_cores), os.path.join(run_dir, "up.log"))
    procs = [upstream]
    try:
        if wait_port(a.upstream_port, upstream, 15) is None:
            raise SystemExit(f"upstream did not start: {upstream.log_tail()}")
        config = os.path.join(run_dir, "routes.toml")
        with open(config, "w") as fh:
            fh.write(_CONFIG.format(upstream=upstream_url))
        spec = visiongate(
            run_dir,
            a.port,
            upstream_url,
            extra_env={"VISIONGATE_CONFIG": config, "VISIONGATE_LOG_LEVEL": "warning"},
        )
        gateway = Proc(
            "gateway", pinned(spec.argv, gateway_cores), os.path.join(run_dir, "gw.log"), spec.env
        )
        procs.append(gateway)
        if wait_port(a.port, gateway, 30) is None:
            raise SystemExit(f"gateway did not start: {gateway.log_tail()}")
        cases = {"direct": _body("gpt-4o", a.scenario), "route": _body("pair", a.scenario)}
        for body in cases.values():  # warm-up, and every model answers
            run_wrk(spec.chat_url, body, spec.auth, a.concurrency, 2, run_dir, side_cores)
        points: dict[str, list[float]] = {"direct": [], "route": []}
        rps: dict[str, list[float]] = {"direct": [], "route": []}
        for n in range(a.rounds):
            order = ["direct", "route"] if n % 2 == 0 else ["route", "direct"]
            for name in order:
                before = gateway.cpu_s()
                result = run_wrk(
                    spec.chat_url,
                    cases[name],
                    spec.auth,
                    a.concurrency,
                    a.duration,
                    run_dir,
                    side_cores,
                )
                cpu = gateway.cpu_s() - before
                done = int(result.get("requests", 0) or 0)
                errors = result.get("errors") or {}
                if not done or any(errors.values()):  # type: ignore[union-attr]
                    raise SystemExit(f"{name}: {result}")
                points[name].append(cpu / done * 1e6)
                rps[name].append(done / float(result["wall_s"]))
                print(
                    f"round {n + 1} {name:6} {points[name][-1]:7.1f} us CPU/request "
                    f"{rps[name][-1]:8.0f} req/s",
                    flush=True,
                )
        direct, route = statistics.median(points["direct"]), statistics.median(points["route"])
        paired = [r / d for r, d in zip(points["route"], points["direct"], strict=True)]
        summary = {
            "scenario": a.scenario,
            "rounds": a.rounds,
            "duration_s": a.duration,
            "concurrency": a.concurrency,
            "pinned": pin,
            "direct_us_per_request": points["direct"],
            "route_us_per_request": points["route"],
            "direct_median_us": round(direct, 1),
            "route_median_us": round(route, 1),
            "route_over_direct": round(route / direct, 4),
            "route_over_direct_per_round_median": round(statistics.median(paired), 4),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        print(json.dumps(summary, indent=2))
        out_dir = os.path.join(_HERE, "results")
        os.makedirs(out_dir, exist_ok=True)
        name = f"routes-{a.scenario}-{summary['at'].replace(':', '')}.json"
        with open(os.path.join(out_dir, name), "w") as fh:
            json.dump(summary, fh, indent=2)
    finally:
        for proc in reversed(procs):
            proc.stop()


async def _prepare_cost(rounds: int, n: int = 20_000) -> None:
    """Per-request CPU of parsing a text request and ``ChatService.prepare`` for the direct
    model and the route, alternating, in this process (no provider is called)."""
    import tomllib

    from visiongate.api.chat.parse import parse_chat_request
    from visiongate.core.outcome import Outcome
    from visiongate.runtime import Runtime
    from visiongate.settings import Settings

    overrides = tomllib.loads(_CONFIG.format(upstream="http://127.0.0.1:9"))
    settings = Settings(
        data_dir=tempfile.mkdtemp(prefix="vg-bench-prepare-"),
        api_keys=["sk-bench"],
        catalog_overrides=overrides,
    )
    runtime = Runtime(settings, {"OPENAI_API_KEY": "sk-fake-openai"})
    await runtime.start()
    try:
        principal = await runtime.accounts.authenticate("Bearer sk-bench")
        bodies = {"direct": "gpt-4o", "route": "pair"}
        cost: dict[str, list[float]] = {"direct": [], "route": []}
        for r in range(rounds):
            for name in ("direct", "route") if r % 2 == 0 else ("route", "direct"):
                started = time.process_time()
                for _ in range(n):
                    request = parse_chat_request(json.loads(_body(bodies[name], "text")))
                    prepared = await runtime.service.prepare(
                        request, principal, Outcome(request_id="bench")
                    )
                    prepared.headers()
                cost[name].append((time.process_time() - started) / n * 1e6)
        for name, values in cost.items():
            shown = " ".join(f"{v:.1f}" for v in values)
            print(f"{name:6} median {statistics.median(values):.1f} us ({shown})")
    finally:
        await runtime.close()


def _asgi_cost(a: argparse.Namespace, n: int = 3000) -> None:
    """Per-request CPU of this process serving ``n`` requests of each through the
    gateway's ASGI callable, alternating, against the fake upstream in another process."""
    import asyncio
    import tomllib

    from visiongate.app import Gateway
    from visiongate.settings import Settings

    run_dir = tempfile.mkdtemp(prefix="vg-bench-asgi-")
    upstream_url = f"http://127.0.0.1:{a.upstream_port}"
    argv = [sys.executable, os.path.join(_HERE, "upstream.py"), "--port", str(a.upstream_port)]
    upstream = Proc("upstream", argv, os.path.join(run_dir, "up.log"))
    try:
        if wait_port(a.upstream_port, upstream, 15) is None:
            raise SystemExit(f"upstream did not start: {upstream.log_tail()}")
        os.environ.update(OPENAI_API_KEY="sk-fake-openai", OPENAI_BASE_URL=f"{upstream_url}/v1")
        settings = Settings(
            data_dir=run_dir,
            api_keys=["sk-bench"],
            catalog_overrides=tomllib.loads(_CONFIG.format(upstream=upstream_url)),
        )
        asyncio.run(_drive(Gateway(settings), a, n))
    finally:
        upstream.stop()


async def _drive(gateway: object, a: argparse.Namespace, n: int) -> None:
    import asyncio

    async def one(body: bytes) -> None:
        sent: list[dict[str, object]] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, object]:
            if messages:
                return messages.pop()
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        headers = [(b"authorization", b"Bearer sk-bench"), (b"content-length", b"%d" % len(body))]
        scope = {"type": "http", "path": "/v1/chat/completions", "method": "POST"}
        await gateway({**scope, "headers": headers}, receive, send)  # type: ignore[operator]
        if sent[0].get("status") != 200:
            raise SystemExit(f"answer {sent}")

    runtime = gateway.runtime  # type: ignore[attr-defined]
    await runtime.start()
    try:
        bodies = {"direct": _body("gpt-4o", a.scenario), "route": _body("pair", a.scenario)}
        cost: dict[str, list[float]] = {"direct": [], "route": []}
        for r in range(a.rounds):
            for name in ("direct", "route") if r % 2 == 0 else ("route", "direct"):
                started = time.process_time()
                for _ in range(n // 8):
                    await asyncio.gather(*(one(bodies[name]) for _ in range(8)))
                cost[name].append((time.process_time() - started) / n * 1e6)
        for name, values in cost.items():
            shown = " ".join(f"{v:.1f}" for v in values)
            print(f"{name:6} median {statistics.median(values):.1f} us ({shown})")
        paired = [r / d for r, d in zip(cost["route"], cost["direct"], strict=True)]
        print(f"route/direct per round, median {statistics.median(paired):.4f}")
    finally:
        await runtime.close()


if __name__ == "__main__":
    main()
