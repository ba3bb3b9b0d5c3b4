"""``serve --workers N`` (workers.py): one listening socket per worker, connections spread
over them, dead workers replaced, a clean drain on SIGTERM, no restart loop on a bad start."""

from __future__ import annotations

import http.client
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import psutil
import pytest
import requests

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, run_gateway

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="balanced workers need Linux's SO_REUSEPORT"
)

UPSTREAM_KEY = "sk-upstream-workers"
_BODY = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}'


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI(api_key=UPSTREAM_KEY)
    with BackgroundApp(fake.app()) as app:
        yield fake, f"{app.url}/v1"


def _gateway(
    upstream: tuple[FakeOpenAI, str], workers: int
) -> AbstractContextManager[GatewayProcess]:
    return run_gateway(
        env={"OPENAI_API_KEY": UPSTREAM_KEY, "OPENAI_BASE_URL": upstream[1]},
        args=["--workers", str(workers)],
    )


def _workers(gw: GatewayProcess, count: int, timeout: float = 30) -> list[psutil.Process]:
    """The supervisor's worker processes, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    found: list[psutil.Process] = []
    while time.monotonic() < deadline:
        found = [
            child
            for child in psutil.Process(gw.proc.pid).children()
            if "resource_tracker" not in " ".join(child.cmdline())
        ]
        if len(found) == count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} workers, found {len(found)}")


def _port(gw: GatewayProcess) -> int:
    return int(gw.root.rsplit(":", 1)[1])


def _listening(port: int) -> int:
    """How many sockets listen on ``port`` (all processes; from /proc/net/tcp)."""
    with open("/proc/net/tcp") as fh:
        next(fh)
        rows = [line.split() for line in fh]
    return sum(1 for row in rows if int(row[1].split(":")[1], 16) == port and row[3] == "0A")


def _post(conn: http.client.HTTPConnection, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.request("POST", "/v1/chat/completions", _BODY, headers)
    response = conn.getresponse()
    response.read()
    return response.status


def test_each_worker_accepts_on_its_own_socket(upstream: tuple[FakeOpenAI, str]) -> None:
    with _gateway(upstream, 3) as gw:
        workers = _workers(gw, 3)
        assert _listening(_port(gw)) == 3  # uvicorn's own supervisor shares one
        # 30 keep-alive clients, all connected before any request: each lands on one
        # worker, and every worker gets some of them (a shared socket let one take all).
        conns = [http.client.HTTPConnection("127.0.0.1", _port(gw), timeout=30) for _ in range(30)]
        for conn in conns:
            conn.connect()
        assert [_post(conn, gw.api_key) for conn in conns] == [200] * 30
        client_ports = {conn.sock.getsockname()[1] for conn in conns if conn.sock}
        held = [
            sum(1 for c in w.net_connections("tcp") if c.raddr and c.raddr.port in client_ports)
            for w in workers
        ]
        for conn in conns:
            conn.close()
        assert sum(held) == 30 and min(held) >= 1, held
        # The official SDK works through any of them.
        answer = gw.client().chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
        assert answer.choices[0].message.content


def test_a_worker_that_dies_is_replaced_on_its_socket(upstream: tuple[FakeOpenAI, str]) -> None:
    with _gateway(upstream, 2) as gw:
        first = _workers(gw, 2)
        first[0].kill()
        first[0].wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = _workers(gw, 2)
            if first[0].pid not in {w.pid for w in now}:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the dead worker was not replaced")
        assert _listening(_port(gw)) == 2  # the supervisor kept its socket open
        # Fresh connections hash to both sockets; every one is answered once the
        # replacement has started (it needs a moment to import and build the app).
        deadline = time.monotonic() + 30
        statuses: list[int] = []
        while time.monotonic() < deadline:
            statuses = []
            for _ in range(20):
                conn = http.client.HTTPConnection("127.0.0.1", _port(gw), timeout=30)
                statuses.append(_post(conn, gw.api_key))
                conn.close()
            if statuses == [200] * 20:
                break
        assert statuses == [200] * 20
        assert "exited with code" in gw.log_text()


def test_sigterm_lets_every_worker_finish_its_requests(upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    with _gateway(upstream, 2) as gw:
        workers = _workers(gw, 2)
        before = len(fake.requests)
        results: list[int] = []

        def slow() -> None:
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "[[delay=1.5]]"}]}
            headers = {"Authorization": f"Bearer {gw.api_key}"}
            url = f"{gw.base_url}/chat/completions"
            results.append(requests.post(url, json=body, headers=headers, timeout=60).status_code)

        threads = [threading.Thread(target=slow) for _ in range(8)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while len(fake.requests) - before < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(fake.requests) - before == 8, "requests never reached upstream"
        assert gw.stop(signal.SIGTERM, timeout=30) == 0
        for thread in threads:
            thread.join(timeout=30)
        assert results == [200] * 8
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", _port(gw)), timeout=1).close()


def test_a_worker_that_cannot_start_stops_the_server(tmp_path: Path) -> None:
    """A start-up failure in the workers (here: the data directory is a file) exits with
    uvicorn's start-up failure code, once, instead of restarting workers forever."""
    blocker = f"{tmp_path}/a-file"
    with open(blocker, "w") as fh:
        fh.write("not a directory")
    env = {"VISIONGATE_DATA_DIR": f"{blocker}/data"}
    started = time.monotonic()
    with (
        pytest.raises(RuntimeError, match="gateway exited with 3"),
        run_gateway(env=env, args=["--workers", "2"]),
    ):
        pass
    assert time.monotonic() - started < 30


def test_workers_stop_when_the_supervisor_is_killed(upstream: tuple[FakeOpenAI, str]) -> None:
    """SIGKILL leaves the supervisor no chance to stop its workers: the kernel's parent-death
    signal does, so no orphan keeps serving on the port."""
    with _gateway(upstream, 2) as gw:
        workers = _workers(gw, 2)
        gw.proc.kill()
        gw.proc.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=40)
        assert not alive
        assert _listening(_port(gw)) == 0
