"""Start a real visiongate server as a subprocess on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import requests

from tests.support.clients import openai_client

__all__ = ["GatewayProcess", "free_port", "run_gateway"]

TEST_KEY = "test-key"
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class GatewayProcess:
    root: str
    api_key: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def log_text(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def client(self, **kw: Any) -> openai.OpenAI:
        """An OpenAI SDK client for this gateway, closed when the test ends."""
        return openai_client(self.base_url, self.api_key, **kw)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode


def _wait_ready(gw: GatewayProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gw.proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {gw.proc.returncode}:\n{gw.log_text()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{gw.root}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    gw.stop()
    raise RuntimeError(f"gateway not ready after {timeout}s:\n{gw.log_text()}")


@contextlib.contextmanager
def run_gateway(
    env: dict[str, str] | None = None,
    config: str | None = None,
    args: list[str] | None = None,
    ready_timeout: float = 60,
) -> Iterator[GatewayProcess]:
    """A server with a static test key, a temp data dir and the SSRF guard off
    (tests serve images from 127.0.0.1); ``env`` overrides any of that."""
    with tempfile.TemporaryDirectory(prefix="vg-test-") as tmp:
        tmpdir = Path(tmp)
        port = free_port()
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("VISIONGATE_")
            and not k.endswith(("_API_KEY", "_BASE_URL"))
            and k.lower() not in _PROXY_VARIABLES  # a machine's proxy must not catch loopback
        }
        full_env.update(
            {
                "VISIONGATE_API_KEYS": TEST_KEY,
                "VISIONGATE_DATA_DIR": str(tmpdir / "data"),
                "VISIONGATE_ALLOW_PRIVATE_IMAGE_HOSTS": "1",
                "VISIONGATE_LOG_LEVEL": "info",
                "PYTHONUNBUFFERED": "1",
            }
        )
        full_env.update(env or {})
        cmd = [
            sys.executable,
            "-m",
            "visiongate",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        if config is not None:
            cfg = tmpdir / "config.toml"
            cfg.write_text(config)
            cmd += ["--config", str(cfg)]
        cmd += args or []
        log_path = tmpdir / "server.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        api_key = full_env["VISIONGATE_API_KEYS"].split(",")[0]
        gw = GatewayProcess(
            root=f"http://127.0.0.1:{port}",
            api_key=api_key,
            proc=proc,
            log_path=log_path,
            data_dir=tmpdir / "data",
            env=full_env,
        )
        try:
            _wait_ready(gw, ready_timeout)
            yield gw
        finally:
            gw.stop()
