"""Processes the benchmark starts, pinned to cores, and what they cost (CPU, RSS).

Each one runs in its own process group and is stopped through that group only (SIGTERM,
then SIGKILL), so nothing else on the machine is touched. CPU and RSS are summed over the
process tree (``--workers`` forks children).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

import psutil

__all__ = ["Proc", "RssSampler", "can_pin", "machine_busy_s", "pinned"]


def can_pin() -> bool:
    """Whether there are two cores to keep the gateway apart from everything else."""
    if (os.cpu_count() or 1) < 2:
        return False
    try:
        return subprocess.call(["taskset", "-c", "1", "true"], stderr=subprocess.DEVNULL) == 0
    except FileNotFoundError:
        return False


def pinned(argv: Sequence[str], cores: str | None) -> list[str]:
    return ["taskset", "-c", cores, *argv] if cores else list(argv)


class Proc:
    def __init__(
        self, name: str, argv: Sequence[str], log_path: str, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            list(argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu_s(self) -> float:
        total = 0.0
        for proc in self.tree():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    def rss(self) -> int:
        total = 0
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def stop(self, grace: float = 10.0) -> int | None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.popen.wait(grace)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # leftovers of our own group only
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        self._log.close()
        return self.popen.returncode

    def log_tail(self, lines: int = 20) -> list[str]:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 4000))
                return fh.read().decode("utf-8", "replace").splitlines()[-lines:]
        except OSError:
            return []


class RssSampler(threading.Thread):
    """Samples a process tree's RSS every ``period`` seconds; ``take_peak`` per window."""

    def __init__(self, proc: Proc, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self._proc = proc
        self._period = period
        self._lock = threading.Lock()
        self._peak = 0
        self.overall_peak = 0
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            rss = self._proc.rss()
            with self._lock:
                self._peak = max(self._peak, rss)
                self.overall_peak = max(self.overall_peak, rss)
            self._stop.wait(self._period)

    def take_peak(self) -> int:
        with self._lock:
            peak, self._peak = self._peak, 0
        return peak

    def stop(self) -> None:
        self._stop.set()


def machine_busy_s() -> float:
    """CPU seconds (user + nice + system) all cores have spent since boot, from /proc/stat.

    The difference over a run, minus what the benchmark's own processes used, is the
    "other load": work by other people on a shared machine, which makes a point noisy.
    """
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
    except OSError:
        return 0.0
    return (int(fields[1]) + int(fields[2]) + int(fields[3])) / os.sysconf("SC_CLK_TCK")
