"""The Markdown report of a benchmark run (the JSON next to it holds every number)."""

from __future__ import annotations

from typing import Any

__all__ = ["markdown"]

# The project's targets (docs/performance.md): best RPS on one core, per scenario[/route].
TARGET_RPS = {
    "text": 3000,
    "image_b64/anthropic": 1400,
    "image_url/anthropic": 800,
    "stream": 1200,
    "multi_image": 245,
}
TARGET_ADDED_MS = {"text": 0.5, "image_b64": 1.5}  # gateway p50 - direct p50 at c=1
TARGET_IDLE_RSS_MB = 80
TARGET_START_S = 1.5

Run = dict[str, Any]


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _head(*names: str, left: int = 2) -> list[str]:
    return [_row(*names), "|" + "---|" * left + "---:|" * (len(names) - left)]


def _by_conc(runs: list[Run]) -> dict[int, Run]:
    return {r["concurrency"]: r for r in runs}


def _best(runs: list[Run]) -> Run:
    return max(runs, key=lambda r: r["rps"]) if runs else {}


def _added(result: dict[str, Any], key: str, runs: list[Run]) -> float | None:
    """Gateway p50 minus direct p50 at the lowest concurrency both measured."""
    # Every surface's case sends the same upstream request: one direct run serves them all.
    upstream_key = key.partition("@")[0]
    direct = _by_conc(result["direct"].get(upstream_key, {}).get("runs", []))
    for run in sorted(runs, key=lambda r: r["concurrency"]):
        d = direct.get(run["concurrency"])
        if d and run["latency_ms"].get("p50") is not None:
            return round(run["latency_ms"]["p50"] - d["latency_ms"]["p50"], 3)
    return None


def _spread(run: Run | None) -> float | None:
    lat = (run or {}).get("latency_ms", {})
    return round(lat["p99"] / lat["p50"], 2) if lat.get("p50") else None


def _notes(run: Run) -> str:
    notes = []
    if run.get("other_load_cores", 0) > 0.1:
        notes.append(f"other load {run['other_load_cores']:.2f} cores")
    if run.get("side_cpu_util", 0) > 0.85:
        notes.append("load core saturated")
    if run.get("errors"):
        notes.append(f"errors {run['errors']}")
    if run.get("failed"):
        notes.append(str(run["failed"])[:80])
    return "; ".join(notes)


def _header(result: dict[str, Any]) -> list[str]:
    env, s = result["environment"], result["settings"]
    pinning = "gateway on core 0, the rest on core 1" if env["pinning"] else "off"
    images = ", ".join(f"{k} {v / 1000:.0f} KB" for k, v in result.get("images", {}).items())
    lines = [
        f"# Benchmark: {result['name']} ({result['timestamp_utc']})",
        "",
        f"- machine: {env['cpu']} x{env['cores']}, {env['memory_gib']} GiB, "
        f"Python {env['python']}, kernel {env['kernel']}; pinning: {pinning}",
        f"- load: wrk -t1, closed loop, keep-alive; {s['duration']} s per point through a "
        f"gateway, {s['direct_duration']} s direct, concurrency {s['concurrency']}; fake "
        f"upstream latency {s['latency_ms']} ms, {s['stream_chunks']} chunks per stream",
        f"- images: {images}; wall time {result.get('wall_s')} s",
    ]
    if result.get("aborted"):
        lines.append(f"- **ABORTED:** {result['aborted']}")
    loads = [
        run.get("other_load_cores", 0)
        for g in result["gateways"].values()
        for c in g.get("cases", {}).values()
        for run in c["runs"]
    ]
    if loads:
        noisy = sum(1 for x in loads if x > 0.1)
        lines.append(
            f"- other load on the machine during gateway points: max {max(loads):.2f} cores, "
            f"{noisy}/{len(loads)} points above 0.1 (a noisy point is repeated once)"
        )
    return [*lines, ""]


def _startup(result: dict[str, Any]) -> list[str]:
    lines = ["## Start-up and memory", ""]
    lines += _head(
        "gateway",
        "version",
        "listening s",
        "first answer s",
        "RSS idle MB",
        "RSS peak MB",
        "RSS after load MB",
        "idle CPU %",
    )
    for name, g in result["gateways"].items():
        lines.append(
            _row(
                name,
                g.get("version"),
                _f(g.get("start_listen_s"), 2),
                _f(g.get("start_first_answer_s"), 2),
                _f(g.get("rss_idle_mb")),
                _f(g.get("rss_peak_mb")),
                _f(g.get("rss_after_load_mb")),
                _f(g.get("idle_cpu_pct")),
            )
        )
    for name, g in result["gateways"].items():
        if g.get("failed"):
            lines += ["", f"**{name} failed:** {g['failed']}"]
    return [*lines, ""]


def _table(result: dict[str, Any], name: str, g: dict[str, Any]) -> list[str]:
    concs = result["settings"]["concurrency"]
    lines = [
        f"## {name}: throughput and latency",
        "",
        "Latency in ms at the lowest concurrency; added = gateway p50 - direct p50 there. "
        "CPU ms/req = the gateway's CPU time per completed request at its best point.",
        "",
    ]
    lines += _head(
        "scenario",
        "route",
        *(f"RPS c={c}" for c in concs),
        "best RPS",
        "p50",
        "p90",
        "p99",
        "added p50",
        f"p99/p50 c={max(concs)}",
        "CPU ms/req",
        "notes",
    )
    lines[-1] = lines[-1][: -len("---:|")] + "---|"
    for key, case in g.get("cases", {}).items():
        runs = case["runs"]
        by, best = _by_conc(runs), _best(runs)
        lat = by.get(min(concs), {}).get("latency_ms", {})
        notes = "; ".join(n for n in (_notes(r) for r in runs) if n)
        if not case["probe"]["ok"]:
            notes = f"PROBE FAILED: {str(case['probe']['error'])[:120]}; {notes}"
        lines.append(
            _row(
                *key.split("/"),
                *(_f(by.get(c, {}).get("rps"), 0) for c in concs),
                f"**{_f(best.get('rps'), 0)}**",
                _f(lat.get("p50"), 2),
                _f(lat.get("p90"), 2),
                _f(lat.get("p99"), 2),
                _f(_added(result, key, runs), 2),
                _f(_spread(by.get(max(concs)))),
                _f(best.get("cpu_ms_per_req"), 3),
                notes,
            )
        )
    return [*lines, ""]


def _direct(result: dict[str, Any]) -> list[str]:
    if not result["direct"]:
        return []
    lines = ["## Direct (the fake upstream alone, on the load core)", ""]
    lines += _head("scenario", "route", "best RPS", "p50 at lowest c ms", "load core busy")
    for key, d in result["direct"].items():
        best = _best(d["runs"])
        low = min(d["runs"], key=lambda r: r["concurrency"]) if d["runs"] else {}
        lines.append(
            _row(
                *key.split("/"),
                _f(best.get("rps"), 0),
                _f(low.get("latency_ms", {}).get("p50"), 3),
                _f(best.get("side_cpu_util"), 2),
            )
        )
    return [*lines, ""]


def _versus(result: dict[str, Any]) -> list[str]:
    gws = result["gateways"]
    others = [name for name in gws if name != "visiongate" and gws[name].get("cases")]
    if "visiongate" not in gws or not others:
        return []
    vg = gws["visiongate"].get("cases", {})
    lines = ["## visiongate next to the others (same run, same machine)", ""]
    columns = ["scenario", "route", "visiongate RPS", "CPU ms/req"]
    for name in others:
        columns += [f"{name} RPS", "CPU ms/req", f"visiongate / {name}"]
    lines += _head(*columns)
    for key in vg:
        a = _best(vg[key]["runs"])
        cells = [*key.split("/"), _f(a.get("rps"), 0), _f(a.get("cpu_ms_per_req"), 3)]
        for name in others:
            b = _best(gws[name]["cases"].get(key, {}).get("runs", []))
            ratio = a["rps"] / b["rps"] if a.get("rps") and b.get("rps") else None
            cells += [_f(b.get("rps"), 0), _f(b.get("cpu_ms_per_req"), 3), _ratio(ratio)]
        lines.append(_row(*cells))
    return [*lines, ""]


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.1f}x" if ratio >= 2 else f"{ratio * 100:.0f}%"


def _target_rows(result: dict[str, Any], g: dict[str, Any]) -> list[tuple[str, Any, Any, bool]]:
    rows = []
    for key, case in g["cases"].items():
        best = _best(case["runs"])
        target = TARGET_RPS.get(key) or TARGET_RPS.get(key.split("/")[0])
        if target:
            rps = best.get("rps") or 0
            rows.append((f"{key}: best RPS", f">= {target:,}", rps, rps >= target))
        limit = TARGET_ADDED_MS.get(key.split("/")[0])
        added = _added(result, key, case["runs"])
        if limit and added is not None:
            rows.append((f"{key}: added p50 ms at c=1", f"< {limit}", added, added < limit))
        spread = _spread(_by_conc(case["runs"]).get(64))
        if spread is not None:
            rows.append((f"{key}: p99/p50 at c=64", "<= 3", spread, spread <= 3))
    for other, wanted in (("floor", 0.75), ("litellm", 30.0)):
        cases = result["gateways"].get(other, {}).get("cases", {})
        for key, case in cases.items():
            mine, theirs = _best(g["cases"].get(key, {}).get("runs", [])), _best(case["runs"])
            if mine.get("rps") and theirs.get("rps"):
                ratio = mine["rps"] / theirs["rps"]
                name = f"{key}: RPS / {other}'s"
                rows.append((name, f">= {_ratio(wanted)}", _ratio(ratio), ratio >= wanted))
    rss, start = g.get("rss_idle_mb"), g.get("start_first_answer_s")
    if rss is not None:
        rows.append(("idle RSS MB", f"< {TARGET_IDLE_RSS_MB}", rss, rss < TARGET_IDLE_RSS_MB))
    if start is not None:
        rows.append(
            ("start to first answer s", f"< {TARGET_START_S}", start, start < TARGET_START_S)
        )
    soak = g.get("soak")
    if soak and soak.get("rss_after_first_round_mb"):
        growth = round(soak["rss_end_mb"] - soak["rss_after_first_round_mb"], 1)
        what = f"RSS growth after the first round, {soak['requests']:,} requests (MB)"
        rows.append((what, "~0", growth, growth < 5))
    return rows


def _targets(result: dict[str, Any]) -> list[str]:
    g = result["gateways"].get("visiongate")
    if not g or not g.get("cases"):
        return []
    lines = ["## visiongate against the targets", ""]
    lines += _head("target", "wanted", "measured", "met", left=1)
    for name, wanted, measured, ok in _target_rows(result, g):
        lines.append(_row(name, wanted, _f(measured, 2), "yes" if ok else "**no**"))
    return [*lines, ""]


def _soak(result: dict[str, Any]) -> list[str]:
    soak = result["gateways"].get("visiongate", {}).get("soak")
    if not soak:
        return []
    lines = [f"## Soak: RSS over {soak['requests']:,} requests", ""]
    lines += _head("requests", "case", "RSS MB", "errors", left=0)
    lines += [
        _row(f"{s['requests']:,}", s["case"], s["rss_mb"], s["errors"]) for s in soak["samples"]
    ]
    return [*lines, ""]


def _probes(result: dict[str, Any]) -> list[str]:
    lines = ["## Probes (3 sequential requests per case, before its load)", ""]
    lines += _head(
        "gateway",
        "case",
        "ok",
        "first ms",
        "warm ms",
        "TTFT ms",
        "upstream saw",
        "image fetches",
    )
    for name, g in result["gateways"].items():
        for key, case in g.get("cases", {}).items():
            p = case["probe"]
            seen = ", ".join(
                f"{k} {v}" for k, v in sorted(p["upstream"].items()) if "bytes" not in k
            )
            lines.append(
                _row(
                    name,
                    key,
                    "yes" if p["ok"] else "NO",
                    _f(p["first_ms"], 1),
                    _f(p["warm_ms"], 2),
                    _f(p.get("ttft_ms"), 2),
                    seen,
                    p["image_hits"],
                )
            )
    return [*lines, ""]


def _alternate(result: dict[str, Any]) -> list[str]:
    """``--alternate``: the best of each side per point, measured in turns."""
    alt = result.get("alternate")
    if not alt or not alt.get("cases"):
        return []
    lines = [
        f"## visiongate against floor.py, in turns ({alt['rounds']} rounds, best of each)",
        "",
        "The pass-through answers each scenario on the OpenAI route. "
        "RPS ratio = visiongate / floor (higher is better); CPU ratio = visiongate's CPU ms "
        "per request / floor's (lower is better).",
        "",
    ]
    lines += _head(
        "case",
        "c",
        "visiongate RPS",
        "floor RPS",
        "RPS ratio",
        "vg CPU ms/req",
        "floor CPU ms/req",
        "CPU ratio",
        "vg runs (RPS)",
        "floor runs (RPS)",
    )
    for key, points in alt["cases"].items():
        for conc, point in points.items():
            vg, fl = point["best"]["visiongate"], point["best"]["floor"]
            lines.append(
                _row(
                    key,
                    conc,
                    _f(vg["rps"], 0),
                    _f(fl["rps"], 0),
                    f"{point['rps_ratio']:.0%}" if point["rps_ratio"] else "-",
                    _f(vg["cpu_ms_per_req"], 3),
                    _f(fl["cpu_ms_per_req"], 3),
                    _f(point["cpu_ratio"], 2),
                    " ".join(_f(r["rps"], 0) for r in point["runs"]["visiongate"]),
                    " ".join(_f(r["rps"], 0) for r in point["runs"]["floor"]),
                )
            )
    return [*lines, ""]


def markdown(result: dict[str, Any]) -> str:
    lines = _header(result) + _startup(result)
    for name, g in result["gateways"].items():
        lines += _table(result, name, g)
    lines += _alternate(result)
    lines += _versus(result) + _targets(result) + _direct(result) + _soak(result) + _probes(result)
    return "\n".join(lines) + "\n"
