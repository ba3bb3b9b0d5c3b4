"""Does ``visiongate serve --workers N`` scale? N workers' throughput against N x one's.

    .venv/bin/python bench/workers.py                       # N = 1..4, text and base64
    .venv/bin/python bench/workers.py --workers 1,2 --scenarios text --share 0.4

Each worker must get a core's worth of CPU that no other worker uses, and the load must
not run short, or the run measures the machine rather than the gateway. Two ways:

- ``--mode cores`` (a machine with N + 1 cores or more): after start each worker process
  is pinned to a core of its own; the fake upstream and wrk share the cores left.
- ``--mode quota`` (the default below N + 2 cores, e.g. a 2-vCPU VM): all workers run on
  core 0, each in its own cgroup with a CPU quota of ``--share`` of a core (the ``cpu``
  controller, cgroup v1 or v2; needs root), and the load runs on core 1. One worker at
  share s stands for one core slowed to s. This measures what workers share in software
  (the listening socket and how connections spread over workers, the SQLite usage
  database, the supervisor), not what cores share in hardware (caches, memory bandwidth).

Every worker runs with every feature on, as in ``run.py``: a database key with limits,
usage records in SQLite, metrics. Per point it reports RPS, the scaling efficiency
(RPS over N x the one-worker RPS), CPU per request, each worker's share of the work and
of the open connections, and how long each quota held its worker back (a worker that
never hit its quota was not the bottleneck, and the point says so). Writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import gateways
import psutil
from load import ensure_wrk, run_wrk
from procs import Proc, pinned
from run import comma_list, wait_port
from scenarios import ROUTES, build_cases, make_images

_HERE = os.path.dirname(os.path.abspath(__file__))
_PERIOD_US = 10_000  # a short CFS period: a throttled worker waits at most ~8 ms
_NO_IMAGE_HOST = ("text", "image_b64", "multi_image", "stream")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class CpuQuota:
    """One cgroup per worker with a CPU quota (cgroup v1 ``cpu`` or v2 ``cpu.max``)."""

    def __init__(self, name: str, share: float) -> None:
        self.quota_us = max(1000, round(share * _PERIOD_US))
        v1 = "/sys/fs/cgroup/cpu"
        if os.path.exists(os.path.join(v1, "cpu.cfs_quota_us")):
            self.v2, root = False, v1
        elif os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            self.v2, root = True, "/sys/fs/cgroup"
            with open(os.path.join(root, "cgroup.subtree_control"), "w") as fh:
                fh.write("+cpu")
        else:
            raise SystemExit("no cgroup cpu controller here: use --mode cores on N + 1 cores")
        self.path = os.path.join(root, name)
        os.makedirs(self.path, exist_ok=True)
        if self.v2:
            self._write("cpu.max", f"{self.quota_us} {_PERIOD_US}")
        else:
            self._write("cpu.cfs_period_us", str(_PERIOD_US))
            self._write("cpu.cfs_quota_us", str(self.quota_us))

    def _write(self, name: str, value: str) -> None:
        with open(os.path.join(self.path, name), "w") as fh:
            fh.write(value)

    def add(self, pid: int) -> None:
        """The process and all its threads, present and future."""
        self._write("cgroup.procs", str(pid))

    def throttled_s(self) -> float:
        with open(os.path.join(self.path, "cpu.stat")) as fh:
            stat = dict(line.split() for line in fh if line.strip())
        if self.v2:
            return int(stat.get("throttled_usec", 0)) / 1e6
        return int(stat.get("throttled_time", 0)) / 1e9

    def remove(self) -> None:
        # Leftover processes go back to the root group first (rmdir needs an empty group).
        root = os.path.dirname(self.path)
        with contextlib.suppress(OSError), open(os.path.join(self.path, "cgroup.procs")) as fh:
            for pid in fh.read().split():
                with (
                    contextlib.suppress(OSError),
                    open(os.path.join(root, "cgroup.procs"), "w") as out,
                ):
                    out.write(pid)
        with contextlib.suppress(OSError):
            os.rmdir(self.path)


@dataclass
class Workers:
    """The serving processes of one gateway and what each is held to."""

    procs: list[psutil.Process]
    port: int
    quotas: list[CpuQuota] = field(default_factory=list)

    def cpu_s(self) -> list[float]:
        out = []
        for proc in self.procs:
            try:
                times = proc.cpu_times()
                out.append(times.user + times.system)
            except psutil.Error:
                out.append(0.0)
        return out

    def throttled_s(self) -> list[float]:
        return [quota.throttled_s() for quota in self.quotas]

    def connections(self) -> list[int]:
        """Open client connections per worker (the listening socket is shared)."""
        counts = []
        for proc in self.procs:
            try:
                conns = proc.net_connections(kind="tcp")
            except psutil.Error:
                conns = []
            counts.append(
                sum(
                    1
                    for c in conns
                    if c.laddr and c.laddr.port == self.port and c.status == "ESTABLISHED"
                )
            )
        return counts


def serving_processes(root: psutil.Process, n: int, timeout: float = 30.0) -> list[psutil.Process]:
    """The processes that serve: the root itself for one worker, else uvicorn's N children
    (its supervisor only watches them; multiprocessing's helpers are not workers)."""
    if n == 1:
        return [root]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [
            child
            for child in root.children(recursive=True)
            if "resource_tracker" not in " ".join(_cmdline(child))
        ]
        if len(children) >= n:
            return children[:n]
        time.sleep(0.2)
    raise RuntimeError(f"expected {n} workers under pid {root.pid}")


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def _ready(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    """Until the gateway answers the case's request 200 (a few times, to warm each worker)."""
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    answered = 0
    while time.monotonic() < deadline and answered < 8:
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
            conn.request("POST", parts.path, body, {**headers, "Content-Type": "application/json"})
            status = conn.getresponse().status
            conn.close()
            answered += status == 200
            if status != 200:
                time.sleep(0.2)
        except OSError:
            time.sleep(0.2)
    if answered < 8:
        raise RuntimeError(f"the gateway did not answer 200 at {url}")


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_dir = tempfile.mkdtemp(prefix="vg-bench-workers-")
        cores = os.cpu_count() or 1
        self.mode = args.mode or ("cores" if cores >= max(args.workers) + 1 else "quota")
        if self.mode == "cores":
            self.gw_cores = list(range(max(args.workers)))
            rest = [c for c in range(cores) if c not in self.gw_cores] or [cores - 1]
            self.load_cores = ",".join(map(str, rest))
        else:
            if args.share * max(args.workers) > 0.95:
                raise SystemExit("--share x the largest N must leave core 0 a little slack")
            self.gw_cores, self.load_cores = [0], "1" if cores > 1 else "0"
        self.procs: list[Proc] = []
        self.quotas: list[CpuQuota] = []
        self.cases: list[Any] = []

    def start_upstream(self) -> str:
        a = self.args
        argv = [sys.executable, os.path.join(_HERE, "upstream.py"), "--port", str(a.upstream_port)]
        proc = Proc("upstream", pinned(argv, self.load_cores), os.path.join(self.run_dir, "up.log"))
        self.procs.append(proc)
        if wait_port(a.upstream_port, proc, 10) is None:
            raise RuntimeError(f"the fake upstream did not start: {proc.log_tail()}")
        return f"http://127.0.0.1:{a.upstream_port}"

    def place(self, root: Proc, n: int, port: int) -> Workers:
        workers = Workers(serving_processes(psutil.Process(root.pid), n), port)
        for i, proc in enumerate(workers.procs):
            if self.mode == "cores":
                # -a: every thread (the image pool and the database thread included)
                subprocess.run(
                    ["taskset", "-a", "-p", "-c", str(self.gw_cores[i]), str(proc.pid)],
                    check=True,
                    capture_output=True,
                )
            else:
                quota = CpuQuota(f"vg-bench-worker-{os.getpid()}-{i}", self.args.share)
                self.quotas.append(quota)
                quota.add(proc.pid)
                workers.quotas.append(quota)
        return workers

    def point(
        self, n: int, case: Any, url: str, auth: dict[str, str], workers: Workers
    ) -> dict[str, Any]:
        a = self.args
        headers = {**auth, "Content-Type": "application/json"}
        run_wrk(url, case.body, headers, a.concurrency, a.warmup, self.run_dir, self.load_cores)
        seen: list[int] = []
        sampler = threading.Timer(a.duration / 2, lambda: seen.extend(workers.connections()))
        cpu0, thr0 = workers.cpu_s(), workers.throttled_s()
        sampler.start()
        result = run_wrk(
            url, case.body, headers, a.concurrency, a.duration, self.run_dir, self.load_cores
        )
        sampler.join()
        cpu1, thr1 = workers.cpu_s(), workers.throttled_s()
        seconds = int(result.get("duration_us", 0)) / 1e6 or a.duration  # type: ignore[call-overload]
        requests = int(result.get("requests", 0))  # type: ignore[call-overload]
        used = [b - a_ for a_, b in zip(cpu0, cpu1, strict=True)]
        errors = {k: v for k, v in dict(result.get("errors", {})).items() if v}  # type: ignore[call-overload]
        return {
            "n": n,
            "rps": requests / seconds,
            "cpu_ms": sum(used) * 1000 / requests if requests else 0.0,
            "cores": [u / seconds for u in used],
            "throttled": [(b - a_) / seconds for a_, b in zip(thr0, thr1, strict=True)],
            "connections": seen,
            "p50": dict(result.get("latency_us", {})).get("p50", 0) / 1000,  # type: ignore[call-overload]
            "p99": dict(result.get("latency_us", {})).get("p99", 0) / 1000,  # type: ignore[call-overload]
            "errors": errors or result.get("failed") or "-",
        }

    def start_gateway(self, n: int, upstream: str) -> tuple[gateways.Gateway, Workers]:
        a = self.args
        port = a.port + n
        spec = gateways.visiongate(os.path.join(self.run_dir, f"n{n}"), port, upstream, workers=n)
        cores = ",".join(map(str, self.gw_cores))
        log_path = os.path.join(self.run_dir, f"gw{n}.log")
        gw = Proc(f"gateway-{n}", pinned(spec.argv, cores), log_path, spec.env)
        self.procs.append(gw)
        _ready(spec.chat_url, self.cases[0].body, spec.auth, 60)
        return spec, self.place(gw, n, port)

    def run(self) -> None:
        a = self.args
        ensure_wrk()
        upstream = self.start_upstream()
        what = (
            f"{a.share:.2f} of core 0 per worker (cgroup quota)"
            if self.mode == "quota"
            else "a core of its own per worker"
        )
        log(f"mode {self.mode}: {what}; load on cores {self.load_cores}; c={a.concurrency}")
        self.cases = build_cases(a.scenarios, a.routes, gateways.MODELS, make_images(), "-")
        # Every gateway is up at once and the points alternate between them, round after
        # round, so a machine that speeds up or slows down over minutes (shared VMs do)
        # moves every N alike instead of favouring whichever ran first.
        started = {n: self.start_gateway(n, upstream) for n in a.workers}
        rows: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for round_ in range(a.rounds):
            for case in self.cases:
                for n in a.workers:
                    spec, workers = started[n]
                    row = self.point(n, case, spec.chat_url, spec.auth, workers)
                    rows.setdefault(case.key, {}).setdefault(n, []).append(row)
                    log(f"  round {round_ + 1} " + _line(case.key, row))
        print()
        print(_table(_medians(rows), self.mode, a))

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()
        for quota in self.quotas:
            quota.remove()


def _medians(
    rows: dict[str, dict[int, list[dict[str, Any]]]],
) -> dict[str, list[dict[str, Any]]]:
    """Per scenario and N, the round with the median RPS; efficiency against N = 1's."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key, by_n in rows.items():
        chosen = []
        for points in by_n.values():
            ranked = sorted(points, key=lambda row: row["rps"])
            chosen.append(dict(ranked[(len(ranked) - 1) // 2], rounds=[r["rps"] for r in points]))
        one = chosen[0]["rps"]
        for row in chosen:
            row["efficiency"] = row["rps"] / (row["n"] * one) if one else 0.0
        out[key] = chosen
    return out


def _line(key: str, row: dict[str, Any]) -> str:
    cores = "/".join(f"{c:.2f}" for c in row["cores"])
    conns = "/".join(map(str, row["connections"])) or "-"
    return (
        f"{key:20s} N={row['n']}  {row['rps']:7.0f} rps"
        f"  {row['cpu_ms']:.3f} ms CPU/req  cores {cores}  connections {conns}"
        f"  p50 {row['p50']:.1f} p99 {row['p99']:.1f} ms  errors {row['errors']}"
    )


def _table(rows: dict[str, list[dict[str, Any]]], mode: str, a: argparse.Namespace) -> str:
    head = [
        f"## --workers scaling ({mode} mode, c={a.concurrency}, {a.duration:g} s per point)",
        "",
        "| scenario | N | RPS (median) | of N x one worker | RPS per round | CPU ms/req"
        " | CPU per worker (cores) | throttled (s/s) | connections per worker"
        " | p50 / p99 ms | errors |",
        "|---|---:|---:|---:|---|---:|---|---|---|---|---|",
    ]
    for key, points in rows.items():
        for row in points:
            cores = " / ".join(f"{c:.2f}" for c in row["cores"])
            throttled = " / ".join(f"{t:.2f}" for t in row["throttled"]) or "-"
            conns = " / ".join(map(str, row["connections"])) or "-"
            head.append(
                f"| {key} | {row['n']} | {row['rps']:.0f} | {row['efficiency']:.0%} |"
                f" {' / '.join(f'{r:.0f}' for r in row['rounds'])} |"
                f" {row['cpu_ms']:.3f} | {cores} | {throttled} | {conns} |"
                f" {row['p50']:.1f} / {row['p99']:.1f} | {row['errors']} |"
            )
    return "\n".join(head)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--workers", type=comma_list(int), default=[1, 2, 3, 4], help="N values, 1 first"
    )
    ap.add_argument(
        "--scenarios", type=comma_list(str, _NO_IMAGE_HOST), default=["text", "image_b64"]
    )
    ap.add_argument("--routes", type=comma_list(str, ROUTES), default=["openai"])
    ap.add_argument("--mode", choices=("cores", "quota"), help="default: cores if N+1 cores")
    ap.add_argument(
        "--share", type=float, default=0.2, help="quota mode: a core's share per worker"
    )
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--duration", type=float, default=6, help="seconds per point")
    ap.add_argument("--warmup", type=float, default=2, help="seconds of load before each point")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; median kept")
    ap.add_argument("--port", type=int, default=18110, help="N workers listen on port + N")
    ap.add_argument("--upstream-port", type=int, default=18190)
    args = ap.parse_args()
    if args.workers[0] != 1:
        ap.error("--workers must start with 1: the other points are compared with it")
    run = Run(args)
    try:
        run.run()
    finally:
        run.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
