"""``run.py --alternate N``: visiongate against the thin pass-through, measured in turns.

Both gateways are started together (on the gateway cores; only the one being measured
has load), then every point is run as gateway, pass-through, gateway, pass-through ...
``N`` times each, and the best of each side is compared: the best RPS and the lowest
CPU ms per request. Measured one after the other, a VM whose speed drifts by tens of
per cent within minutes (docs/performance.md) makes the ratio say more about the drift
than the code; in turns, both sides see the same machine.

``floor.py`` serves the OpenAI route only: every case, whatever its route and surface,
is compared with the pass-through answering the same scenario on that route (a
pass-through relays the provider's bytes; what the gateway does for an Anthropic
upstream or another surface is its own cost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from load import run_wrk
from procs import RssSampler
from scenarios import BUST, Case, build_cases

if TYPE_CHECKING:
    from gateways import Gateway
    from procs import Proc
    from run import Bench

__all__ = ["alternate"]


def alternate(bench: Bench, gateway: Gateway, floor: Gateway, cases: list[Case]) -> dict[str, Any]:
    """The points of ``cases`` for ``gateway`` and ``floor`` in turns; per case and
    concurrency, every run of each and the best of each, with their ratios."""
    a = bench.args
    out: dict[str, Any] = {"rounds": a.alternate, "gateway": gateway.name, "cases": {}}
    cases = bench.cases_for(gateway, cases)
    floor_cases = {
        c.scenario: c
        for c in build_cases(
            sorted({c.scenario for c in cases}),
            ["openai"],
            floor.models,
            bench.images,
            bench.image_host,
        )
    }
    started: dict[str, tuple[Proc, RssSampler]] = {}
    for spec, its_cases in ((gateway, cases), (floor, list(floor_cases.values()))):
        info: dict[str, Any] = {"version": spec.version}
        out[spec.name] = info
        proc = bench.launch(spec, its_cases, info)
        if proc is None:
            return out
        started[spec.name] = (proc, bench.sampler)
    for case in cases:
        sides = ((gateway, case), (floor, floor_cases[case.scenario]))
        for spec, its_case in sides:  # a warm-up each, as in the sequential runs
            body = _body(spec, its_case)
            run_wrk(
                spec.url(its_case.gateway_path),
                body,
                spec.auth,
                16,
                a.warmup or 1,
                bench.run_dir,
                bench.side_cores,
                BUST,
            )
            bench.settle(started[spec.name][0])
        points: dict[str, Any] = {}
        for conc in a.concurrency:
            runs: dict[str, list[dict[str, Any]]] = {gateway.name: [], floor.name: []}
            for _ in range(a.alternate):
                for spec, its_case in sides:
                    proc, bench.sampler = started[spec.name]
                    url = spec.url(its_case.gateway_path)
                    row = bench.point(url, its_case, _body(spec, its_case), spec.auth, conc, proc)
                    runs[spec.name].append(row)
            points[str(conc)] = _compare(runs, gateway.name, floor.name)
            _log(bench, case, conc, points[str(conc)])
        out["cases"][case.key] = points
    for proc, sampler in started.values():
        sampler.stop()
        proc.stop()
    return out


def _body(spec: Gateway, case: Case) -> bytes:
    return case.body.replace(case.model.encode(), spec.models[case.route].encode())


def _compare(runs: dict[str, list[dict[str, Any]]], gw: str, floor: str) -> dict[str, Any]:
    best = {
        name: {
            "rps": max(r["rps"] for r in rows),
            "cpu_ms_per_req": min(r["cpu_ms_per_req"] or float("inf") for r in rows),
        }
        for name, rows in runs.items()
    }
    return {
        "runs": runs,
        "best": best,
        "rps_ratio": round(best[gw]["rps"] / best[floor]["rps"], 3) if best[floor]["rps"] else None,
        "cpu_ratio": round(best[gw]["cpu_ms_per_req"] / best[floor]["cpu_ms_per_req"], 3),
    }


def _log(bench: Bench, case: Case, conc: int, point: dict[str, Any]) -> None:
    from run import log

    names = list(point["best"])
    shown = "  ".join(
        f"{n} {point['best'][n]['rps']:.0f} rps {point['best'][n]['cpu_ms_per_req']:.3f} ms"
        for n in names
    )
    log(
        f"  alternate {case.key:24s} c={conc:<3d} best: {shown}  "
        f"RPS {point['rps_ratio']:.0%}, CPU {point['cpu_ratio']:.2f}x"
    )
