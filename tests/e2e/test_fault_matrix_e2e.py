"""The fault matrix, end to end: a hostile upstream (closes mid-headers, mid-body and
mid-stream; 1 MiB of headers or 10,000 of them; an endless body; a drip of a byte a
second; invalid UTF-8, invalid JSON, a JSON array; HTTP/1.0 without a length; a reset)
and hostile clients (idle connections, slowloris, a reader that stops). Each case is
bounded, gets a clear answer, leaves exactly one usage row, and the server healthy."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import openai
import psutil
import pytest
import requests

from tests.fakes.hostile_upstream import HostileUpstream
from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.usage import usage_rows

pytestmark = pytest.mark.timeout(120)

UPSTREAM_KEY = "sk-hostile-0123456789"


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileUpstream]:
    with HostileUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gw(hostile: HostileUpstream) -> Iterator[GatewayProcess]:
    env = {
        "OPENAI_BASE_URL": hostile.url,
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "VISIONGATE_UPSTREAM_RETRIES": "0",
        "VISIONGATE_UPSTREAM_TIMEOUT": "3",
        "VISIONGATE_UPSTREAM_DEADLINE": "5",
        "VISIONGATE_MAX_UPSTREAM_RESPONSE_BYTES": str(1024 * 1024),
    }
    with run_gateway(env=env) as server:
        yield server


def _chat(gw: GatewayProcess, text: str, stream: bool = False) -> tuple[int, str, str]:
    """(status, error code or "", request id), by plain HTTP."""
    rid = f"fault-{uuid.uuid4().hex[:12]}"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], "stream": stream}
    headers = {"Authorization": f"Bearer {gw.api_key}", "x-request-id": rid}
    answer = requests.post(
        f"{gw.base_url}/chat/completions", json=body, headers=headers, timeout=60
    )
    code = ""
    if answer.status_code != 200:
        code = answer.json()["error"]["code"]
    elif stream and '"error"' in answer.text:
        code = "stream_error"
    return answer.status_code, code, rid


def _healthy(gw: GatewayProcess) -> None:
    status, _, _ = _chat(gw, "hello")
    assert status == 200
    assert requests.get(f"{gw.root}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("fault", "status", "code", "row"),
    [
        ("mid-headers", 502, "upstream_error", 502),
        ("mid-body", 502, "upstream_error", 502),
        ("huge-header", 502, "upstream_error", 502),
        ("many-headers", 502, "upstream_error", 502),
        ("endless-body", 502, "upstream_error", 502),
        ("drip", 504, "upstream_timeout", 504),
        ("invalid-utf8", 502, "upstream_error", 502),
        ("invalid-json", 502, "upstream_error", 502),
        ("json-array", 502, "upstream_error", 502),
        ("http10-no-length", 200, "", 200),  # legal HTTP: the body ends at the close
        ("reset", 502, "upstream_error", 502),
    ],
)
def test_a_hostile_upstream_gets_a_clear_answer_and_one_usage_row(
    gw: GatewayProcess, fault: str, status: int, code: str, row: int
) -> None:
    got_status, got_code, rid = _chat(gw, f"[[fault={fault}]] hi")
    assert (got_status, got_code) == (status, code)
    assert [v[0] for v in usage_rows(gw, [rid]).values()] == [row]
    _healthy(gw)


def test_a_stream_cut_midway_ends_with_an_error_event(gw: GatewayProcess) -> None:
    client = gw.client()
    rid = f"fault-{uuid.uuid4().hex[:12]}"
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "[[fault=mid-stream]] hi"}],
        stream=True,
        extra_headers={"x-request-id": rid},
    )
    got = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content if chunk.choices else None)
    assert "one " in got
    assert [v[0] for v in usage_rows(gw, [rid]).values()] == [502]
    _healthy(gw)


# ---------------------------------------------------------------- hostile clients


def _slowloris(port: int, stop: threading.Event, opened: list[socket.socket]) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    opened.append(sock)
    request = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-slow: " + b"a" * 1000
    for byte in request:
        if stop.is_set():
            return
        try:
            sock.send(bytes([byte]))
        except OSError:
            return
        stop.wait(1.0)


def test_idle_connections_and_slowloris_do_not_starve_a_normal_client(
    gw: GatewayProcess,
) -> None:
    port = int(gw.root.rsplit(":", 1)[1])
    idle: list[socket.socket] = []
    stop = threading.Event()
    slow: list[socket.socket] = []
    threads = [
        threading.Thread(target=_slowloris, args=(port, stop, slow), daemon=True) for _ in range(50)
    ]
    try:
        # Opened inside the try: a connection refused halfway still closes the others.
        for _ in range(500):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        for thread in threads:
            thread.start()
        time.sleep(2)  # the attack is under way: 500 idle, 50 dripping headers
        assert len(slow) == 50
        for _ in range(5):
            # Answered while the attack runs; the timeout is the failure condition.
            status, _, _ = _chat(gw, "hello")
            assert status == 200
            models = requests.get(
                f"{gw.base_url}/models",
                headers={"Authorization": f"Bearer {gw.api_key}"},
                timeout=10,
            )
            assert models.status_code == 200
    finally:
        stop.set()
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join(timeout=5)
        for sock in idle + slow:  # after the threads: none is still opening one
            sock.close()
    _healthy(gw)


def test_a_client_that_stops_reading_a_stream_keeps_the_gateway_memory_bounded(
    hostile: HostileUpstream,
) -> None:
    """The upstream streams as fast as it can; the client reads nothing. The gateway
    stops reading the upstream once its buffers fill (transport pause at 4 MiB)."""
    env = {
        "OPENAI_BASE_URL": hostile.url,
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "VISIONGATE_UPSTREAM_RETRIES": "0",
        "VISIONGATE_MAX_UPSTREAM_RESPONSE_BYTES": str(512 * 1024 * 1024),
    }
    with run_gateway(env=env) as server:
        process = psutil.Process(server.proc.pid)
        before = process.memory_info().rss
        port = int(server.root.rsplit(":", 1)[1])
        body = (
            b'{"model":"gpt-4o","stream":true,"messages":[{"role":"user",'
            b'"content":"[[fault=firehose]] go"}]}'
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
                b"content-type: application/json\r\n"
                + f"authorization: Bearer {server.api_key}\r\n".encode()
                + b"content-length: %d\r\n\r\n" % len(body)
                + body
            )
            peak = before
            for _ in range(20):  # 10 s while the upstream offers 200+ MiB
                time.sleep(0.5)
                peak = max(peak, process.memory_info().rss)
        assert peak - before < 100 * 1024 * 1024, (before, peak)
        _healthy(server)
