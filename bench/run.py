"""visiongate's benchmark: what the gateway adds on top of a provider that costs nothing.

    make bench                                   # everything, ~6 minutes
    make bench BENCH_ARGS="--scenarios text --routes openai --duration 3"
    .venv/bin/python bench/run.py --with-litellm # LiteLLM's proxy side by side

It starts a fake upstream and an image host (``upstream.py``, ``imagehost.py``), measures
each scenario straight against the fake ("direct"), then through the gateway with wrk, and
writes ``bench/results/<name>-<time>.json`` and ``.md``. On a machine with two or more
cores the gateway runs alone on core 0 and everything else on core 1 (``taskset``). Nothing
here passes or fails: the report puts the numbers next to the project's targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import platform
import resource
import socket
import sys
import tempfile
import time
from typing import Any

import gateways
import orjson
import psutil
import report
from alternate import alternate
from load import ensure_wrk, run_wrk
from probe import probe
from procs import Proc, RssSampler, can_pin, machine_busy_s, pinned
from scenarios import BUST, ROUTES, SCENARIOS, SURFACES, Case, build_cases, make_images

_HERE = os.path.dirname(os.path.abspath(__file__))
_NOISY = 0.15  # cores of other load that make a point worth repeating


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _get_json(port: int, path: str, method: str = "GET") -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        return orjson.loads(conn.getresponse().read())
    finally:
        conn.close()


def wait_port(port: int, proc: Proc, timeout: float) -> float | None:
    """Seconds from the process start until ``port`` accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return time.monotonic() - proc.started
        except OSError:
            time.sleep(0.01)
    return None


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v - before.get(k, 0)
        for k, v in after.items()
        if isinstance(v, int | float) and v != before.get(k, 0)
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.now = dt.datetime.now(dt.UTC)
        self.stamp = self.now.strftime("%Y%m%dT%H%M%SZ")
        self.run_dir = tempfile.mkdtemp(prefix=f"vg-bench-{self.stamp}-")
        self.pin = can_pin() and not args.no_pin
        self.gw_cores = args.gateway_cores or ("0" if self.pin else None)
        self.side_cores = args.load_cores or ("1" if self.pin else None)
        self.procs: list[Proc] = []
        self.result: dict[str, Any] = {
            "name": args.name,
            "timestamp_utc": self.now.isoformat(timespec="seconds"),
            "settings": {k: v for k, v in vars(args).items()},
            "environment": self._environment(),
            "direct": {},
            "gateways": {},
        }

    # ------------------------------------------------------------------ setup

    def _environment(self) -> dict[str, Any]:
        cpu = platform.processor()
        try:
            with open("/proc/cpuinfo") as fh:
                cpu = next(
                    (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu
                )
        except OSError:
            pass
        return {
            "cpu": cpu,
            "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "pinning": can_pin() and not self.args.no_pin,
        }

    def start_side(self) -> None:
        """The fake upstream and the image host, on the load generator's core."""
        image_dir = os.path.join(self.run_dir, "img")
        os.makedirs(image_dir)
        self.images = make_images()
        for name, data in self.images.items():
            with open(os.path.join(image_dir, name), "wb") as fh:
                fh.write(data)
        py = sys.executable
        a = self.args
        upstream_argv = [py, os.path.join(_HERE, "upstream.py"), "--port", str(a.upstream_port)]
        upstream_argv += [
            "--latency-ms",
            str(a.latency_ms),
            "--stream-chunks",
            str(a.stream_chunks),
            *(["--obfuscation"] if a.obfuscation else []),
        ]
        self.upstream = Proc(
            "upstream",
            pinned(upstream_argv, self.side_cores),
            os.path.join(self.run_dir, "upstream.log"),
        )
        host_argv = [py, os.path.join(_HERE, "imagehost.py"), "--port", str(a.image_port)]
        host_argv += ["--dir", image_dir]
        self.imagehost = Proc(
            "imagehost",
            pinned(host_argv, self.side_cores),
            os.path.join(self.run_dir, "imagehost.log"),
        )
        self.procs += [self.upstream, self.imagehost]
        for proc, port in ((self.upstream, a.upstream_port), (self.imagehost, a.image_port)):
            if wait_port(port, proc, 15) is None:
                raise RuntimeError(f"{proc.name} did not start: {proc.log_tail()}")
        self.upstream_url = f"http://127.0.0.1:{a.upstream_port}"
        self.image_host = f"127.0.0.1:{a.image_port}"
        self.result["images"] = {name: len(data) for name, data in self.images.items()}

    def side_cpu(self) -> float:
        return self.upstream.cpu_s() + self.imagehost.cpu_s()

    # ------------------------------------------------------------------ one point

    def point(
        self, url: str, case: Case, body: bytes, headers: dict[str, str], conc: int, gw: Proc | None
    ) -> dict[str, Any]:
        """One wrk run with the CPU of everything involved and the machine's other load."""
        a = self.args
        duration = a.duration if gw else a.direct_duration
        up0 = _get_json(a.upstream_port, "/stats")
        hits0 = _get_json(a.image_port, "/stats").get("hits", 0)
        side0, gw0, busy0 = self.side_cpu(), gw.cpu_s() if gw else 0.0, machine_busy_s()
        me0 = _self_cpu()
        if gw:
            self.sampler.take_peak()
        run = run_wrk(
            url, body, headers, conc, duration, self.run_dir, self.side_cores, BUST, a.timeout
        )
        side1, gw1, busy1 = self.side_cpu(), gw.cpu_s() if gw else 0.0, machine_busy_s()
        me1 = _self_cpu()
        wall = float(run["wall_s"])  # type: ignore[arg-type]
        ours = (side1 - side0) + (gw1 - gw0) + float(run["wrk_cpu_s"]) + (me1 - me0)  # type: ignore[arg-type]
        n = int(run.get("requests", 0))  # type: ignore[call-overload]
        seconds = int(run.get("duration_us", 0)) / 1e6 or duration  # type: ignore[call-overload]
        lat = {k: round(v / 1000, 3) for k, v in dict(run.get("latency_us", {})).items()}  # type: ignore[call-overload]
        row: dict[str, Any] = {
            "scenario": case.scenario,
            "route": case.route,
            "concurrency": conc,
            "requests": n,
            "rps": round(n / seconds, 1),
            "latency_ms": lat,
            "errors": {k: v for k, v in dict(run.get("errors", {})).items() if v},  # type: ignore[call-overload]
            "upstream": _delta(up0, _get_json(a.upstream_port, "/stats")),
            "image_hits": _get_json(a.image_port, "/stats").get("hits", 0) - hits0,
            "side_cpu_util": round(((side1 - side0) + float(run["wrk_cpu_s"])) / seconds, 3),  # type: ignore[arg-type]
            "other_load_cores": round(max(0.0, (busy1 - busy0) - ours) / max(wall, 1e-6), 3),
        }
        if "failed" in run:
            row["failed"] = run["failed"]
        if gw:
            row["cpu_ms_per_req"] = round((gw1 - gw0) * 1000 / n, 3) if n else None
            row["gateway_cpu_util"] = round((gw1 - gw0) / seconds, 3)
            row["rss_peak_mb"] = round(self.sampler.take_peak() / 2**20, 1)
            self.settle(gw)
        return row

    def measured(
        self, url: str, case: Case, body: bytes, headers: dict[str, str], conc: int, gw: Proc | None
    ) -> dict[str, Any]:
        """:meth:`point`, run once more when other work on the machine disturbed it."""
        row = self.point(url, case, body, headers, conc, gw)
        if row["other_load_cores"] > _NOISY and self.retry_budget > 0:
            started = time.monotonic()
            log(f"    other load {row['other_load_cores']:.2f} cores: repeating once")
            again = self.point(url, case, body, headers, conc, gw)
            self.retry_budget -= time.monotonic() - started
            keep, drop = (
                (again, row)
                if again["other_load_cores"] <= row["other_load_cores"]
                else (row, again)
            )
            keep["repeated"] = {"other_load_cores": drop["other_load_cores"], "rps": drop["rps"]}
            row = keep
        return row

    def settle(self, gw: Proc, limit: float = 15.0) -> None:
        """Wait until the gateway is idle again (requests wrk abandoned have drained)."""
        deadline = time.monotonic() + limit
        last = gw.cpu_s()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = gw.cpu_s()
            if now - last < 0.02:
                return
            last = now

    # ------------------------------------------------------------------ phases

    def direct(self, cases: list[Case]) -> None:
        a = self.args
        log(f"direct runs against the fake upstream ({a.direct_duration} s per point)")
        # The upstream request is the same whatever surface the gateway is sent by.
        for case in {c.key.partition("@")[0]: c for c in reversed(cases)}.values():
            url = self.upstream_url + case.direct_path
            check = probe(url, case.direct_body, case.direct_headers, case.route, case.stream)
            rows = []
            for conc in a.concurrency:
                row = self.measured(url, case, case.direct_body, case.direct_headers, conc, None)
                rows.append(row)
                p50 = row["latency_ms"].get("p50")
                log(f"  direct {case.key:24s} c={conc:<3d} {row['rps']:>8.0f} rps  p50 {p50} ms")
            self.result["direct"][case.key.partition("@")[0]] = {"probe": check, "runs": rows}

    def gateway(self, spec: gateways.Gateway, cases: list[Case]) -> dict[str, Any]:
        a = self.args
        out: dict[str, Any] = {"version": spec.version, "argv": spec.argv[1:], "cases": {}}
        cases = self.cases_for(spec, cases)
        proc = self.launch(spec, cases, out)
        if proc is None:
            return out
        for case in cases:
            out["cases"][case.key] = self.gateway_case(spec, proc, case)
        time.sleep(2.0)
        out["rss_after_load_mb"] = round(proc.rss() / 2**20, 1)
        out["rss_peak_mb"] = round(self.sampler.overall_peak / 2**20, 1)
        if a.soak and spec.name == "visiongate":
            out["soak"] = self.soak(spec, proc, cases)
        self.sampler.stop()
        out["exit_code"] = proc.stop()
        out["log_tail"] = proc.log_tail(8)
        return out

    @staticmethod
    def cases_for(spec: gateways.Gateway, cases: list[Case]) -> list[Case]:
        """The cases ``spec`` can serve: its routes; surfaces other than chat on visiongate."""
        return [
            c
            for c in cases
            if c.route in spec.models and (c.surface == "chat" or spec.name == "visiongate")
        ]

    def launch(self, spec: gateways.Gateway, cases: list[Case], out: dict[str, Any]) -> Proc | None:
        """Start ``spec``, wait for its first answer, and note its start-up and idle
        figures in ``out``; None (with ``out["failed"]``) when it does not come up.
        Leaves :attr:`sampler` sampling its RSS."""
        a = self.args
        log(f"starting {spec.name}: {' '.join(spec.argv[-6:])}")
        proc = Proc(
            spec.name,
            pinned(spec.argv, self.gw_cores),
            os.path.join(self.run_dir, f"{spec.name}.log"),
            spec.env,
        )
        self.procs.append(proc)
        listen = wait_port(spec.port, proc, a.ready_timeout)
        first_ok = None
        if not cases:
            out["failed"] = "no case for this gateway's routes"
            return None
        # Ready = a text request answered, whichever scenarios are measured.
        route = cases[0].route
        text = build_cases(["text"], [route], spec.models, self.images, self.image_host)[0]
        body = text.body
        while (
            listen is not None
            and time.monotonic() - proc.started < a.ready_timeout
            and proc.alive()
        ):
            if probe(spec.chat_url, body, spec.auth, "openai", False)["ok"]:
                first_ok = time.monotonic() - proc.started
                break
            time.sleep(0.02)
        if first_ok is None:
            out["failed"] = f"not ready after {a.ready_timeout} s: {proc.log_tail()}"
            proc.stop()
            return None
        out["start_listen_s"] = round(listen or 0, 3)
        out["start_first_answer_s"] = round(first_ok, 3)
        log(f"  listening after {listen:.2f} s, first answer after {first_ok:.2f} s")
        self.sampler = RssSampler(proc)
        self.sampler.start()
        time.sleep(3.0)
        c0 = proc.cpu_s()
        time.sleep(2.0)
        out["idle_cpu_pct"] = round((proc.cpu_s() - c0) / 2.0 * 100, 1)
        out["rss_idle_mb"] = round(proc.rss() / 2**20, 1)
        return proc

    def gateway_case(self, spec: gateways.Gateway, proc: Proc, case: Case) -> dict[str, Any]:
        a = self.args
        body = case.body.replace(case.model.encode(), spec.models[case.route].encode())
        url = spec.url(case.gateway_path)
        up0 = _get_json(a.upstream_port, "/stats")
        hits0 = _get_json(a.image_port, "/stats").get("hits", 0)
        probes = []
        for i in range(3):
            one = body.replace(BUST.encode(), f"probe-{self.stamp}-{i}".encode())
            probes.append(probe(url, one, spec.auth, case.answer_api, case.stream))
        upstream = _delta(up0, _get_json(a.upstream_port, "/stats"))
        check = {
            "ok": all(p["ok"] for p in probes),
            "first_ms": probes[0]["ms"],
            "warm_ms": sorted(p["ms"] for p in probes[1:])[0],
            "ttft_ms": probes[-1].get("ttft_ms"),
            "error": next((p["error"] for p in probes if p.get("error")), None),
            "upstream": upstream,
            "image_hits": _get_json(a.image_port, "/stats").get("hits", 0) - hits0,
        }
        if not check["ok"]:
            log(f"  PROBE FAILED {case.key}: {check['error']}")
        if a.warmup:
            run_wrk(url, body, spec.auth, 16, a.warmup, self.run_dir, self.side_cores, BUST)
            self.settle(proc)
        rows = []
        for conc in a.concurrency:
            row = self.measured(url, case, body, spec.auth, conc, proc)
            rows.append(row)
            lat = row["latency_ms"]
            log(
                f"  {spec.name} {case.key:24s} c={conc:<3d} {row['rps']:>8.0f} rps  "
                f"p50 {lat.get('p50')} p99 {lat.get('p99')} ms  "
                f"{row['cpu_ms_per_req']} ms CPU/req  errors {row['errors'] or 0}"
                + (
                    f"  other load {row['other_load_cores']:.2f}"
                    if row["other_load_cores"] > 0.1
                    else ""
                )
            )
        return {"probe": check, "runs": rows}

    def soak(self, spec: gateways.Gateway, proc: Proc, cases: list[Case]) -> dict[str, Any]:
        """``--soak N`` requests in 5-second slices that rotate through the cases, with
        the RSS after each: memory that keeps growing shows as a rising line."""
        a = self.args
        log(f"soak: {a.soak} requests at c=16, rotating through {len(cases)} cases")
        done, samples, i = 0, [], 0
        started = time.monotonic()
        while done < a.soak and time.monotonic() - started < a.soak_limit:
            case = cases[i % len(cases)]
            i += 1
            body = case.body.replace(case.model.encode(), spec.models[case.route].encode())
            run = run_wrk(
                spec.url(case.gateway_path),
                body,
                spec.auth,
                16,
                5,
                self.run_dir,
                self.side_cores,
                BUST,
            )
            errors = sum(dict(run.get("errors", {})).values())  # type: ignore[call-overload]
            done += int(run.get("requests", 0))  # type: ignore[call-overload]
            self.settle(proc)
            samples.append(
                {
                    "requests": done,
                    "case": case.key,
                    "rss_mb": round(proc.rss() / 2**20, 1),
                    "errors": errors,
                }
            )
            log(f"  soak {done:>7d} requests  rss {samples[-1]['rss_mb']} MB  ({case.key})")
        time.sleep(2.0)
        first = samples[min(len(cases), len(samples)) - 1]["rss_mb"] if samples else None
        return {
            "requests": done,
            "samples": samples,
            "rss_after_first_round_mb": first,
            "rss_end_mb": round(proc.rss() / 2**20, 1),
        }

    # ------------------------------------------------------------------ all

    def run(self) -> None:
        a = self.args
        if self.pin and self.side_cores:
            os.sched_setaffinity(0, {int(c) for c in self.side_cores.split(",") if c.isdigit()})
        self.retry_budget = float(a.noisy_retry_budget)
        self.start_side()
        cases = build_cases(
            a.scenarios, a.routes, gateways.MODELS, self.images, self.image_host, a.surfaces
        )
        if not a.skip_direct:
            self.direct(cases)
        targets = []
        if not a.only_litellm:
            extra = dict(item.split("=", 1) for item in a.env)
            if a.config:
                extra["VISIONGATE_CONFIG"] = os.path.abspath(a.config)
            targets.append(
                gateways.visiongate(
                    self.run_dir, a.port, self.upstream_url, a.workers, not a.static_key, extra
                )
            )
        if a.with_floor or a.alternate:
            targets.append(gateways.floor(a.floor_port, self.upstream_url))
        if a.with_litellm or a.only_litellm:
            targets.append(gateways.litellm(self.run_dir, a.litellm_port, self.upstream_url))
        if a.alternate:
            self.result["alternate"] = alternate(self, targets[0], targets[1], cases)
            return
        for spec in targets:
            self.result["gateways"][spec.name] = self.gateway(spec, cases)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def comma_list(kind: type, allowed: Any = None) -> Any:
    """An argparse type: a comma-separated list of ``kind``, each one of ``allowed``."""

    def parse(text: str) -> list[Any]:
        items = [kind(x) for x in text.split(",") if x.strip()]
        if allowed is not None:
            bad = [x for x in items if x not in allowed]
            if bad:
                raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {sorted(allowed)}")
        return items

    return parse


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--name", default="visiongate", help="label of the result files")
    ap.add_argument("--scenarios", type=comma_list(str, SCENARIOS), default=list(SCENARIOS))
    ap.add_argument("--routes", type=comma_list(str, ROUTES), default=list(ROUTES))
    ap.add_argument(
        "--surfaces",
        type=comma_list(str, SURFACES),
        default=["chat"],
        help="the gateway's inbound APIs to send each scenario by: chat, responses, messages",
    )
    ap.add_argument("--concurrency", type=comma_list(int), default=[1, 16, 64])
    ap.add_argument("--duration", type=float, default=5, help="seconds per point through a gateway")
    ap.add_argument("--direct-duration", type=float, default=3, help="seconds per direct point")
    ap.add_argument("--warmup", type=float, default=1, help="seconds of warm-up per case (c=16)")
    ap.add_argument(
        "--latency-ms", type=float, default=0, help="the fake upstream's delay (try 50)"
    )
    ap.add_argument("--stream-chunks", type=int, default=20)
    ap.add_argument(
        "--obfuscation",
        action="store_true",
        help="the fake upstream pads each OpenAI stream chunk, as OpenAI does by default",
    )
    ap.add_argument("--workers", type=int, default=1, help="visiongate --workers")
    ap.add_argument("--gateway-cores", help="taskset list for the gateway (default 0)")
    ap.add_argument("--load-cores", help="taskset list for everything else (default 1)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    ap.add_argument("--static-key", action="store_true", help="a static key: no limits on the path")
    ap.add_argument("--config", help="a visiongate config file (TOML) for the gateway")
    ap.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="gateway env setting"
    )
    ap.add_argument(
        "--with-litellm", action="store_true", help=f"also LiteLLM {gateways.LITELLM_VERSION}"
    )
    ap.add_argument("--only-litellm", action="store_true", help="LiteLLM alone")
    ap.add_argument(
        "--with-floor",
        action="store_true",
        help="also floor.py, a thin pass-through (OpenAI route)",
    )
    ap.add_argument(
        "--alternate",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="visiongate and floor.py up together, measured in turns (gateway, floor, ...) "
        "ROUNDS times per point; the best of each is compared",
    )
    ap.add_argument("--skip-direct", action="store_true")
    ap.add_argument(
        "--soak", type=int, default=0, help="then N more requests, RSS after each slice"
    )
    ap.add_argument(
        "--soak-limit", type=float, default=600, help="seconds the soak may take at most"
    )
    ap.add_argument(
        "--noisy-retry-budget", type=float, default=60, help="seconds for repeating noisy points"
    )
    ap.add_argument("--timeout", type=int, default=30, help="per-request timeout for wrk (s)")
    ap.add_argument("--ready-timeout", type=float, default=120)
    ap.add_argument("--port", type=int, default=18100)
    ap.add_argument("--litellm-port", type=int, default=18104)
    ap.add_argument("--floor-port", type=int, default=18102)
    ap.add_argument("--upstream-port", type=int, default=18180)
    ap.add_argument("--image-port", type=int, default=18181)
    ap.add_argument("--results-dir", default=os.path.join(_HERE, "results"))
    args = ap.parse_args()
    ensure_wrk()
    os.makedirs(args.results_dir, exist_ok=True)
    bench = Bench(args)
    code = 0
    started = time.monotonic()
    try:
        bench.run()
    except KeyboardInterrupt:
        bench.result["aborted"] = "interrupted"
        code = 130
    except Exception as exc:
        bench.result["aborted"] = f"{type(exc).__name__}: {exc}"
        log(f"ABORTED: {bench.result['aborted']}")
        code = 1
    finally:
        bench.stop()
    bench.result["wall_s"] = round(time.monotonic() - started, 1)
    base = os.path.join(args.results_dir, f"{args.name}-{bench.stamp}")
    with open(base + ".json", "wb") as fh:
        fh.write(orjson.dumps(bench.result, option=orjson.OPT_INDENT_2, default=str))
    with open(base + ".md", "w") as fh:
        fh.write(report.markdown(bench.result))
    log(f"wrote {base}.md and .json (scratch files in {bench.run_dir})")
    return code


if __name__ == "__main__":
    sys.exit(main())
