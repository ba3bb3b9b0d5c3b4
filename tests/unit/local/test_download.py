"""Fetching weights from a hub: ``visiongate models pull`` against a fake hub on 127.0.0.1,
then the engine loading the pulled model from the Hugging Face cache, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.background import BackgroundApp
from tests.unit.local.fake_hub import fake_hub_app, repo_files
from visiongate.core.messages import ChatRequest, Message, TextPart

pytestmark = pytest.mark.timeout(180)

REPO = "tiny-org/tiny-vlm"


@pytest.fixture
def hub(tiny_dir: Path) -> Iterator[tuple[BackgroundApp, list[str]]]:
    fetched: list[str] = []
    with BackgroundApp(fake_hub_app(REPO, repo_files(tiny_dir), fetched)) as srv:
        yield srv, fetched


def _pull(hub_url: str, hf_home: Path, *models: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VISIONGATE_", "HF_"))}
    env.update(
        HF_ENDPOINT=hub_url,
        HF_HOME=str(hf_home),
        VISIONGATE_LOCAL_MODELS=json.dumps({"local/hub-tiny": REPO}),
    )
    return subprocess.run(
        [sys.executable, "-m", "visiongate", "models", "pull", *models],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


async def test_pull_fetches_what_transformers_reads_and_the_engine_loads_it_offline(
    hub: tuple[BackgroundApp, list[str]],
    tiny_dir: Path,
    tmp_path: Path,
    make_engine: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    srv, fetched = hub
    done = _pull(srv.url, tmp_path / "hf", "local/hub-tiny")
    assert done.returncode == 0, done.stderr
    assert "local/hub-tiny: ready at" in done.stdout
    assert sorted(fetched) == sorted(p.name for p in tiny_dir.iterdir() if p.is_file())
    assert "onnx/model.onnx" not in fetched

    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    engine = make_engine(model_id="local/hub-tiny", table={"source": REPO})
    assert engine.status()["weights_present"] is True
    assert engine.available()
    request = ChatRequest(
        model="local/hub-tiny",
        messages=[Message("user", [TextPart("hello")])],
        max_tokens=3,
        temperature=0,
    )
    response = await engine.complete(request)
    assert response.usage.completion_tokens == 3


def test_pull_reports_an_unknown_repo(hub: tuple[BackgroundApp, list[str]], tmp_path: Path) -> None:
    srv, fetched = hub
    env_models = {"local/missing": "tiny-org/does-not-exist"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VISIONGATE_", "HF_"))}
    env.update(
        HF_ENDPOINT=srv.url,
        HF_HOME=str(tmp_path / "hf"),
        VISIONGATE_LOCAL_MODELS=json.dumps(env_models),
    )
    done = subprocess.run(
        [sys.executable, "-m", "visiongate", "models", "pull", "local/missing"],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 1
    assert "local/missing: download failed" in done.stderr
    assert fetched == []
