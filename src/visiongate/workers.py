"""``serve --workers N``: N server processes, each accepting on a listening socket of its own.

uvicorn's own supervisor gives every worker the same listening socket, and the worker
whose event loop wakes first accepts a whole burst of new connections. With four workers
and 64 keep-alive clients the connections split 36/15/12/1 on an idle machine and
27/0/0/37 on a busy one (``bench/workers.py``): the load no longer spreads, and four
workers served what two would. Here each worker gets its own socket, bound to the same
address with ``SO_REUSEPORT``, and the kernel spreads connections over the sockets by a
hash of the client's address and port, whichever worker happens to be awake.

The supervisor makes the sockets before any worker starts, so a port already in use fails
at once, in one place. It keeps them open, so a worker that dies is replaced on the
same socket and connections waiting in its queue are served by the replacement rather
than reset. A worker that fails while starting (bad configuration, unreachable database)
stops the whole server with uvicorn's start-up failure code instead of being restarted in
a loop. SIGINT and SIGTERM reach every worker, which drain their requests (uvicorn's
graceful shutdown) before the supervisor exits; a worker whose supervisor dies without
that (SIGKILL) is sent SIGTERM by the kernel (Linux's parent-death signal).

Only where ``SO_REUSEPORT`` balances connections (Linux); elsewhere ``serve`` falls back
to uvicorn's supervisor.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

__all__ = [
    "STARTUP_FAILURE",
    "Supervisor",
    "balanced_workers_supported",
    "listening_sockets",
    "serve_on",
]

log = logging.getLogger("visiongate.workers")

STARTUP_FAILURE = 3  # uvicorn's exit code for a server that never started
_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1
_STOP_GRACE_S = 5.0  # beyond uvicorn's own graceful timeout, before SIGKILL


def balanced_workers_supported() -> bool:
    """Linux only: there ``SO_REUSEPORT`` spreads connections over the sockets bound with it
    (elsewhere, e.g. on macOS, it does not balance)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` listening sockets on one address (port 0: the port the first one got)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:  # one socket alone must fail on a port another server holds
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.listen(backlog)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _serve(config: uvicorn.Config, sock: socket.socket, supervisor: int) -> None:
    """A worker's whole life; runs in a fresh (spawned) interpreter."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        # The supervisor died before the line above ran. Compared with its pid, not with 1:
        # in a container the supervisor itself is often pid 1.
        if os.getppid() != supervisor:
            return
    code = serve_on(config, sock)
    if code:
        sys.exit(code)


def serve_on(config: uvicorn.Config, sock: socket.socket) -> int:
    """Run one server process on ``sock`` until it is told to stop; its exit code."""
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else STARTUP_FAILURE


class Supervisor:
    """Starts one worker per socket, replaces workers that die, stops them all on a signal."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self._config = config
        self._sockets = sockets
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess] = []
        self._stop = threading.Event()

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM; returns the exit code."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        host, port = self._sockets[0].getsockname()[:2]
        log.info(
            "starting %d workers on %s:%d, one listening socket each (SO_REUSEPORT)",
            len(self._sockets),
            host,
            port,
        )
        self._workers = [self._start(i) for i in range(len(self._sockets))]
        code = 0
        while not self._stop.wait(_POLL_S):
            failed = self._replace_dead()
            if failed is not None:
                code = failed
                break
        self._stop_all()
        for sock in self._sockets:
            sock.close()
        return code

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._stop.set()

    def _start(self, index: int) -> BaseProcess:
        worker = self._context.Process(
            target=_serve,
            args=(self._config, self._sockets[index], os.getpid()),
            name=f"visiongate-worker-{index}",
        )
        worker.start()
        return worker

    def _replace_dead(self) -> int | None:
        """Restart workers that exited; a start-up failure's code ends the server."""
        for index, worker in enumerate(self._workers):
            if worker.is_alive():
                continue
            worker.join()
            code = worker.exitcode
            if code == STARTUP_FAILURE:
                log.error("worker %d failed to start; stopping the server", index)
                return STARTUP_FAILURE
            log.warning(
                "worker %d (pid %s) exited with code %s; starting a new one on its socket",
                index,
                worker.pid,
                code,
            )
            self._workers[index] = self._start(index)
        return None

    def _stop_all(self) -> None:
        """SIGTERM to each worker, then wait out their drain.

        Always SIGTERM: after Ctrl+C the workers have had the terminal's SIGINT already,
        and a second SIGINT makes uvicorn quit at once, dropping requests in flight.
        """
        for worker in self._workers:
            if worker.is_alive() and worker.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGTERM)
        grace = (self._config.timeout_graceful_shutdown or 0) + _STOP_GRACE_S
        deadline = time.monotonic() + grace
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                log.warning("worker pid %s did not stop in %.0f s; killing it", worker.pid, grace)
                worker.kill()
                worker.join()
