"""What an answer-cache hit costs against a miss through the fake provider, on one core.

One gateway (every feature on, as in ``run.py``: a database key with limits, metrics,
usage records) with ``cache = { ttl_s = 3600 }`` on the OpenAI route's model, pinned to
core 0; the fake upstream and wrk on core 1. Per scenario, three modes of the same body,
alternated for ``--rounds`` rounds (the median round is reported) so a machine whose
speed drifts moves all three alike:

- ``hit``: the entry exists (made by a probe first); no provider call;
- ``miss``: ``Cache-Control: no-cache`` (every request calls the provider, and writes
  its answer: the whole cost of a miss, key and store included);
- ``off``: ``Cache-Control: no-store`` (the key is computed but nothing read or written:
  what the key costs, next to ``miss``).

Nothing asserts a timing; the numbers go to docs/cache.md by hand.

    .venv/bin/python bench/cache.py [--scenarios text,image_b64,stream] [--duration 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from typing import Any

import gateways
import requests
from load import ensure_wrk, run_wrk
from procs import Proc, can_pin, pinned
from scenarios import build_cases, make_images

_HERE = os.path.dirname(os.path.abspath(__file__))
_CONFIG = '[models."gpt-4o"]\ncache = { ttl_s = 3600 }\n'
MODES = {"hit": None, "miss": "no-cache", "off": "no-store"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: Proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"{proc.name} did not start: {proc.log_tail()}")


def point(
    url: str, body: bytes, headers: dict[str, str], conc: int, a: argparse.Namespace, gw: Proc
) -> dict[str, Any]:
    cpu0 = gw.cpu_s()
    run = run_wrk(url, body, headers, conc, a.duration, a.scratch, a.side_cores)
    cpu = gw.cpu_s() - cpu0
    n = int(run.get("requests", 0))  # type: ignore[call-overload]
    seconds = int(run.get("duration_us", 0)) / 1e6 or a.duration  # type: ignore[call-overload]
    lat = dict(run.get("latency_us", {}))  # type: ignore[call-overload]
    errors = {k: v for k, v in dict(run.get("errors", {})).items() if v}  # type: ignore[call-overload]
    return {
        "rps": round(n / seconds, 1),
        "p50_ms": round(lat.get("p50", 0) / 1000, 3),
        "p99_ms": round(lat.get("p99", 0) / 1000, 3),
        "cpu_ms_per_req": round(cpu * 1000 / n, 3) if n else None,
        "errors": errors or None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scenarios", default="text,image_b64,stream")
    ap.add_argument("--concurrency", default="1,16")
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    ensure_wrk()
    a.scratch = tempfile.mkdtemp(prefix="vg-bench-cache-")
    gw_cores, a.side_cores = ("0", "1") if can_pin() else (None, None)
    up_port, gw_port = free_port(), free_port()
    upstream = Proc(
        "upstream",
        pinned(
            [sys.executable, os.path.join(_HERE, "upstream.py"), "--port", str(up_port)],
            a.side_cores,
        ),
        os.path.join(a.scratch, "upstream.log"),
    )
    wait_port(up_port, upstream)
    config = os.path.join(a.scratch, "cache.toml")
    with open(config, "w") as fh:
        fh.write(_CONFIG)
    spec = gateways.visiongate(
        a.scratch,
        gw_port,
        f"http://127.0.0.1:{up_port}",
        extra_env={"VISIONGATE_CONFIG": config, "VISIONGATE_LOG_LEVEL": "warning"},
    )
    gw = Proc(
        "visiongate", pinned(spec.argv, gw_cores), os.path.join(a.scratch, "gw.log"), spec.env
    )
    results: dict[str, Any] = {}
    try:
        wait_port(gw_port, gw)
        cases = build_cases(a.scenarios.split(","), ["openai"], spec.models, make_images(), "-")
        for case in cases:
            url = spec.url(case.gateway_path)
            primed = requests.post(url, data=case.body, headers=spec.auth, timeout=30)
            assert primed.status_code == 200, primed.text[:300]
            check = requests.post(url, data=case.body, headers=spec.auth, timeout=30)
            assert check.headers.get("x-visiongate-cache") == "hit", check.headers
            for conc in (int(c) for c in a.concurrency.split(",")):
                rounds: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
                for _ in range(a.rounds):
                    for mode, directive in MODES.items():
                        headers = dict(spec.auth)
                        if directive:
                            headers["Cache-Control"] = directive
                        rounds[mode].append(point(url, case.body, headers, conc, a, gw))
                for mode, runs in rounds.items():
                    middle = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
                    middle["rps_all"] = [r["rps"] for r in runs]
                    results[f"{case.scenario} c={conc} {mode}"] = middle
                    print(
                        f"{case.scenario:10s} c={conc:<3d} {mode:5s} {middle['rps']:>8.1f} rps"
                        f"  p50 {middle['p50_ms']:>7.3f} ms  p99 {middle['p99_ms']:>7.3f} ms"
                        f"  {middle['cpu_ms_per_req']} CPU ms/req"
                        f"  (rps by round {middle['rps_all']})",
                        flush=True,
                    )
                median_hit = statistics.median(r["rps"] for r in rounds["hit"])
                median_miss = statistics.median(r["rps"] for r in rounds["miss"])
                print(f"{'':10s} hit/miss RPS: {median_hit / max(median_miss, 1e-9):.2f}x")
    finally:
        gw.stop()
        upstream.stop()
    out = os.path.join(a.scratch, "cache.json")
    with open(out, "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"results: {out}  (pinned: {gw_cores is not None})")


if __name__ == "__main__":
    main()
