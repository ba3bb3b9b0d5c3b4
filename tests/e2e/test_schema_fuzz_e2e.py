"""schemathesis against the served OpenAPI document: the chat route, described with its
real request schema, gets generated valid and invalid bodies, and never a 5xx. Most
bodies name a model the gateway serves (``tests/support/fuzz_hooks.py``), so they reach
the image and document pipelines and the provider, not only the 404.

``make test`` sends a few hundred requests (VISIONGATE_FUZZ_EXAMPLES); ``make fuzz`` at
least 10,000. The run is bounded in time; provider calls go to a fake on loopback, and
image fetches to a proxy port on loopback that is closed (no name is ever resolved, no
request leaves the machine).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.gateway import run_gateway

EXAMPLES = int(os.environ.get("VISIONGATE_FUZZ_EXAMPLES", "300"))
# Seconds: generous, still a bound; schemathesis stops generating a minute before it. Two
# shared cores ran ~7.5 requests a second over a long run, once a quarter of the bodies
# reached the provider (``make fuzz`` takes about half an hour).
TIME_LIMIT = 120 + EXAMPLES * 0.18

pytestmark = pytest.mark.timeout(int(TIME_LIMIT) + 120)

UPSTREAM_KEY = "sk-fake-upstream-0123456789"
# The hooks module (tests/support/fuzz_hooks.py) is imported by the ``st`` process.
_ROOT = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_generated_chat_requests_never_get_a_5xx(tmp_path: Path) -> None:
    fake = FakeOpenAI(api_key=UPSTREAM_KEY, check_images=False)
    with BackgroundApp(fake.app()) as upstream:
        env = {
            "OPENAI_BASE_URL": f"{upstream.url}/v1",
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "VISIONGATE_IMAGE_PROXY": f"http://127.0.0.1:{_closed_port()}",
            "VISIONGATE_IMAGE_FETCH_TIMEOUT": "2",
            "VISIONGATE_LOG_LEVEL": "warning",
        }
        with run_gateway(env=env) as gw:
            command = [
                str(Path(sys.executable).with_name("st")),
                "run",
                f"{gw.root}/openapi.json",
                "--include-path",
                "/v1/chat/completions",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                "18",
                "--header",
                f"Authorization: Bearer {gw.api_key}",
                "--request-timeout",
                "30",
                "--workers",
                "2",
                "--suppress-health-check",
                "all",
                "--max-time",
                str(int(TIME_LIMIT - 60)),
            ]
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=TIME_LIMIT,
                env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.fuzz_hooks", **_ROOT},
                cwd=tmp_path,
            )
            gw.stop()  # flushes the usage rows
            log = gw.log_text()
            with contextlib.closing(sqlite3.connect(gw.data_dir / "visiongate.db")) as conn:
                query = "SELECT status, COUNT(*) FROM usage GROUP BY status"
                codes = conn.execute(
                    "SELECT error_code, COUNT(*) FROM usage GROUP BY error_code"
                ).fetchall()
                statuses = dict(conn.execute(query).fetchall())
    print(done.stdout[-1500:], statuses, codes)  # the run's summary, for -s
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert sum(statuses.values()) >= EXAMPLES, statuses
    assert not [s for s in statuses if s >= 500], statuses
    # The generated bodies get past validation and the model lookup to the provider: a
    # fuzzer that only ever met the 400 path would pass without testing much.
    # (Most generated bodies are invalid on purpose, and schema-valid ones still meet
    # what the schema cannot say: page ranges that run backwards, 1.0 for an integer.)
    assert statuses.get(200, 0) >= max(1, EXAMPLES // 100), statuses
    assert "Traceback" not in log
