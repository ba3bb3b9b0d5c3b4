"""How to start each gateway the benchmark can measure: visiongate, and LiteLLM's proxy.

Both get the same fake upstream (OpenAI-type at ``<upstream>/v1``, Anthropic-type at
``<upstream>``), the same two model names, and one worker pinned to core 0.

visiongate runs with every feature on: a database key with request and token limits
(authentication goes through the key cache and the limiter), Prometheus metrics, usage
records written to SQLite, request validation and image inspection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field

__all__ = ["Gateway", "floor", "litellm", "visiongate"]

LITELLM_VERSION = "1.106.2"
_CLI = (sys.executable, "-m", "visiongate")
# limits far above what one core can do: the limiter runs on every request, never refuses
_LIMITS = ("--rpm", str(10**9), "--tpm", str(10**12))
MODELS = {"openai": "gpt-4o", "anthropic": "claude-3-5-sonnet-latest"}


@dataclass
class Gateway:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    auth: dict[str, str]
    version: str
    models: dict[str, str] = field(default_factory=lambda: dict(MODELS))

    @property
    def chat_url(self) -> str:
        return self.url("/v1/chat/completions")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def visiongate(
    run_dir: str,
    port: int,
    upstream: str,
    workers: int = 1,
    db_key: bool = True,
    extra_env: dict[str, str] | None = None,
) -> Gateway:
    """visiongate from this checkout's interpreter, with a fresh data directory.

    ``extra_env`` (``VISIONGATE_*`` settings, ``VISIONGATE_CONFIG``) wins over the rest.
    """
    env = dict(os.environ)
    env.update(
        VISIONGATE_DATA_DIR=os.path.join(run_dir, "visiongate-data"),
        VISIONGATE_API_KEYS="sk-bench-static",
        VISIONGATE_ALLOW_PRIVATE_IMAGE_HOSTS="1",
        VISIONGATE_LOG_LEVEL="info",
        OPENAI_BASE_URL=f"{upstream}/v1",
        OPENAI_API_KEY="sk-fake-openai",
        ANTHROPIC_BASE_URL=upstream,
        ANTHROPIC_API_KEY="sk-fake-anthropic",
    )
    for name in ("VISIONGATE_CONFIG", "VISIONGATE_DATABASE_URL", "VISIONGATE_REDIS_URL"):
        env.pop(name, None)
    env.update(extra_env or {})
    key = "sk-bench-static"
    if db_key:  # limits apply to database keys only
        made = subprocess.run(
            [*_CLI, "keys", "create", "--name", "bench", "--json", *_LIMITS],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key = json.loads(made.stdout)["key"]
    from visiongate import __version__

    argv = [*_CLI, "serve", "--port", str(port)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return Gateway(
        name="visiongate",
        argv=argv,
        env=env,
        port=port,
        auth={"Authorization": f"Bearer {key}"},
        version=f"visiongate {__version__}, {workers} worker(s), "
        + ("database key with rpm/tpm limits" if db_key else "static key"),
    )


_LITELLM_CONFIG = """\
model_list:
  - model_name: {openai}
    litellm_params:
      model: openai/{openai}
      api_base: {upstream}/v1
      api_key: sk-fake-openai
  - model_name: {anthropic}
    litellm_params:
      model: anthropic/{anthropic}
      api_base: {upstream}
      api_key: sk-fake-anthropic
litellm_settings:
  num_retries: 0
  request_timeout: 600
general_settings:
  master_key: sk-bench-master
  disable_spend_logs: true
  # its image-URL guard refuses loopback hosts unless they are listed
  user_url_allowed_hosts: ["127.0.0.1"]
"""


def litellm(run_dir: str, port: int, upstream: str) -> Gateway:
    """LiteLLM's proxy in its own venv under /tmp (installed from PyPI when missing)."""
    venv = os.environ.get("VG_BENCH_LITELLM_VENV", "/tmp/vg-litellm-venv")
    python = os.path.join(venv, "bin", "python")
    probe = "import importlib.metadata as m; print(m.version('litellm'))"
    installed = ""
    if os.path.exists(python):  # a fresh machine has no venv yet: not an error
        have = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
        installed = have.stdout.strip() if have.returncode == 0 else ""
    if installed != LITELLM_VERSION:
        print(f"[bench] installing litellm[proxy]=={LITELLM_VERSION} into {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"], check=True
        )
    config = os.path.join(run_dir, "litellm.yaml")
    with open(config, "w") as fh:
        fh.write(_LITELLM_CONFIG.format(upstream=upstream, **MODELS))
    env = dict(os.environ)
    # no network at import (local cost map), no .env loading, errors-only logs
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_MODE="PRODUCTION", LITELLM_LOG="ERROR")
    argv = [os.path.join(venv, "bin", "litellm"), "--config", config, "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--num_workers", "1"]
    return Gateway(
        name="litellm",
        argv=argv,
        env=env,
        port=port,
        auth={"Authorization": "Bearer sk-bench-master"},
        version=f"litellm[proxy] {LITELLM_VERSION}, 1 worker",
    )


def floor(port: int, upstream: str) -> Gateway:
    """``floor.py``: a thin OpenAI pass-through (OpenAI route only), the machine's floor."""
    here = os.path.dirname(os.path.abspath(__file__))
    argv = [sys.executable, os.path.join(here, "floor.py"), "--port", str(port)]
    argv += ["--upstream", f"{upstream}/v1", "--key", "sk-floor"]
    return Gateway(
        name="floor",
        argv=argv,
        env=dict(os.environ),
        port=port,
        auth={"Authorization": "Bearer sk-floor"},
        version="thin pass-through: uvicorn + raw ASGI + aiohttp + orjson",
        models={"openai": MODELS["openai"]},
    )
