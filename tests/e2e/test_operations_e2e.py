"""Models listing, health, readiness, metrics, logs and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest
import requests

from tests.support.gateway import GatewayProcess, run_gateway
from tests.support.images import data_url, text_image

pytestmark = pytest.mark.timeout(120)


def _catalog_ids() -> set[str]:
    text = resources.files("visiongate").joinpath("data/models.toml").read_text()
    return set(tomllib.loads(text)["models"])


DESIGN_IDS = {
    "gpt-4o",
    "gpt-4o-2024-08-06",
    "gpt-4o-2024-05-13",
    "gpt-4o-mini",
    "gpt-4o-mini-2024-07-18",
    "gpt-4-turbo",
    "gpt-4-turbo-2024-04-09",
    "chatgpt-4o-latest",
    "claude-3-5-sonnet-latest",
    "claude-3-5-sonnet-20241022",
    "claude-3-5-sonnet-20240620",
    "claude-3-5-haiku-latest",
    "claude-3-haiku-latest",
    "claude-3-haiku-20240307",
    "claude-3-opus-latest",
    "claude-3-opus-20240229",
    "claude-3-sonnet-latest",
    "claude-3-sonnet-20240229",
    "gemini-1.5-flash",
    "gemini-1.5-pro",
    "gemini-2.0-flash-exp",
    "meta-llama/Llama-3.2-90B-Vision-Instruct-Turbo",
    "meta-llama/Llama-3.2-11B-Vision-Instruct-Turbo",
    "meta-llama/Llama-Vision-Free",
    "meta-llama/Llama-Guard-3-11B-Vision-Turbo",
    "MiniMax-Text-01",
    "abab6.5s-chat",
    "qwen/qvq-72b-preview",
    "local/ocr",
    "local/smolvlm",
}


def test_models_list_has_every_catalog_id(gateway: GatewayProcess) -> None:
    models = gateway.client().models.list()
    ids = {m.id for m in models.data}
    assert ids >= DESIGN_IDS
    assert _catalog_ids() <= ids
    raw = requests.get(
        f"{gateway.base_url}/models",
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=10,
    ).json()
    cards = {m["id"]: m for m in raw["data"]}
    assert raw["object"] == "list"
    ocr = cards["local/ocr"]
    assert ocr["available"] is True and ocr["provider"] == "local"
    assert ocr["limits"]["max_images"] >= 1
    gpt = cards["gpt-4o"]
    assert gpt["available"] is False and gpt["requires"] == "OPENAI_API_KEY"
    assert gpt["provider"] == "openai" and gpt["object"] == "model"
    assert cards["chatgpt-4o-latest"]["retired"] == "2026-02-17"
    assert cards["claude-3-haiku-latest"]["upstream_model"] == "claude-3-haiku-20240307"
    assert (
        requests.get(
            f"{gateway.root}/models",
            headers={"Authorization": f"Bearer {gateway.api_key}"},
            timeout=10,
        ).status_code
        == 200
    )


def test_single_model_route_accepts_slashes(gateway: GatewayProcess) -> None:
    client = gateway.client()
    assert (
        client.models.retrieve("meta-llama/Llama-3.2-90B-Vision-Instruct-Turbo").id
        == "meta-llama/Llama-3.2-90B-Vision-Instruct-Turbo"
    )
    resp = requests.get(
        f"{gateway.base_url}/models/nope/nope",
        headers={"Authorization": f"Bearer {gateway.api_key}"},
        timeout=10,
    )
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "model_not_found"


def test_health_ready_metrics_and_logs(gateway: GatewayProcess) -> None:
    assert requests.get(f"{gateway.root}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{gateway.root}/readyz", timeout=5).status_code == 200
    image = data_url(text_image(["METRICS"]), "image/png")
    gateway.client().chat.completions.create(
        model="local/ocr",
        messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}
        ],
    )
    text = requests.get(f"{gateway.root}/metrics", timeout=5).text
    for name in (
        "visiongate_requests_total",
        "visiongate_request_seconds_bucket",
        "visiongate_upstream_seconds_bucket",
        "visiongate_image_seconds_bucket",
        "visiongate_image_fetched_bytes_total",
        "visiongate_image_cache_hits_total",
        "visiongate_requests_in_flight",
    ):
        assert name in text, name
    assert (
        'visiongate_requests_total{endpoint="chat.completions",'
        'model="local/ocr",provider="local",status="200"}'
    ) in text
    lines = [json.loads(line) for line in gateway.log_text().splitlines() if line.startswith("{")]
    requests_logged = [line for line in lines if line.get("msg") == "request"]
    assert requests_logged and all(line.get("request_id") for line in requests_logged)
    log = gateway.log_text()
    assert gateway.api_key not in log
    assert image.split(",", 1)[1][:64] not in log


def test_openapi_and_docs(gateway: GatewayProcess) -> None:
    schema = requests.get(f"{gateway.root}/openapi.json", timeout=5).json()
    assert "/v1/chat/completions" in schema["paths"]
    assert requests.get(f"{gateway.root}/docs", timeout=5).status_code == 200


def _cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VISIONGATE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "visiongate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
        cwd=cwd,
    )


def test_cli_models_table(tmp_path: Path) -> None:
    out = _cli("models", env={"VISIONGATE_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "local/ocr" in out.stdout and "set OPENAI_API_KEY" in out.stdout
    assert "qwen/qvq-72b-preview" in out.stdout


def test_cli_ask_streams_ocr_of_a_file_and_a_url(tmp_path: Path) -> None:
    from tests.conftest import _image_host_app
    from tests.support.background import BackgroundApp

    sign = tmp_path / "note.png"
    sign.write_bytes(text_image(["HELLO TERMINAL"]))
    with BackgroundApp(_image_host_app()) as host:
        out = _cli(
            "ask",
            "-m",
            "local/ocr",
            "-i",
            str(sign),
            "-i",
            f"{host.url}/img/menu.png",
            "What does it say?",
            env={
                "VISIONGATE_DATA_DIR": str(tmp_path / "data"),
                "VISIONGATE_ALLOW_PRIVATE_IMAGE_HOSTS": "1",
            },
        )
    assert out.returncode == 0, out.stderr
    assert "HELLO" in out.stdout and "TERMINAL" in out.stdout
    assert "COFFEE" in out.stdout
    assert "Image 2:" in out.stdout


def test_cli_ask_refuses_private_url_by_default(tmp_path: Path) -> None:
    out = _cli("ask", "-i", "http://127.0.0.1:9/x.png", env={"VISIONGATE_DATA_DIR": str(tmp_path)})
    assert out.returncode == 1
    assert "image_url_blocked" in out.stderr


def test_two_servers_do_not_share_state() -> None:
    with run_gateway(env={"VISIONGATE_API_KEYS": "other-key"}) as gw:
        assert (
            requests.get(
                f"{gw.base_url}/models", headers={"Authorization": "Bearer other-key"}, timeout=10
            ).status_code
            == 200
        )
        assert (
            requests.get(
                f"{gw.base_url}/models", headers={"Authorization": "Bearer test-key"}, timeout=10
            ).status_code
            == 401
        )
