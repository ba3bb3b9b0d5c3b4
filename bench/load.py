"""The load generator: wrk (closed loop, keep-alive, one thread) driven by ``post.lua``.

wrk is a C program, so at the request rates a fast gateway reaches it costs a fraction of
what a Python client would, and the client does not become what is measured. Debian
packages it; :func:`ensure_wrk` installs it with apt-get when it is missing.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time

from procs import pinned

__all__ = ["ensure_wrk", "run_wrk"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def ensure_wrk() -> str:
    """The path of wrk, installing the Debian package first when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("[bench] wrk not found: installing it with apt-get (Debian package 'wrk')", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is required: apt-get install wrk")
    return found


def run_wrk(
    url: str,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    duration_s: float,
    scratch: str,
    cores: str | None,
    bust: str | None = None,
    timeout_s: int = 30,
) -> dict[str, object]:
    """One closed-loop run; returns wrk's summary plus its own CPU seconds and wall time."""
    body_path = os.path.join(scratch, "body.json")
    headers_path = os.path.join(scratch, "headers.txt")
    out_path = os.path.join(scratch, "wrk.json")
    with open(body_path, "wb") as fh:
        fh.write(body)
    with open(headers_path, "w") as fh:
        fh.writelines(f"{k}: {v}\n" for k, v in headers.items())
    if os.path.exists(out_path):
        os.remove(out_path)
    env = dict(os.environ, VG_BODY=body_path, VG_HEADERS=headers_path, VG_OUT=out_path)
    env.pop("VG_BUST", None)
    if bust and bust.encode() in body:
        env["VG_BUST"] = bust
    argv = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        f"{timeout_s}s",
        "-s",
        os.path.join(_HERE, "post.lua"),
        url,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(
        pinned(argv, cores), env=env, capture_output=True, text=True, timeout=duration_s + 90
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        with open(out_path) as fh:
            result: dict[str, object] = json.load(fh)
    except (OSError, ValueError):
        tail = (proc.stderr or proc.stdout or "")[-300:]
        result = {"requests": 0, "failed": f"wrk exited {proc.returncode}: {tail}"}
    result["wall_s"] = round(wall, 3)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["wrk_cpu_s"] = round(cpu, 3)
    return result
