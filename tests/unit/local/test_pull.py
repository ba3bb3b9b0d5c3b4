"""``visiongate models pull``: checks directories, fetches hub models, never at test time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from visiongate.cli import main


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a test must never reach the hub
    monkeypatch.delenv("VISIONGATE_CONFIG", raising=False)
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "config.json").write_text("{}")
    (saved / "model.safetensors").write_bytes(b"\0")
    monkeypatch.setenv(
        "VISIONGATE_LOCAL_MODELS",
        json.dumps({"local/saved": str(saved), "local/gone": str(tmp_path / "gone")}),
    )


def test_directory_sources_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "pull", "local/saved"]) == 0
    assert "present" in capsys.readouterr().out
    assert main(["models", "pull", "local/gone"]) == 1
    assert "MISSING" in capsys.readouterr().out


def test_hub_models_are_not_fetched_when_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "pull"]) == 1  # local/smolvlm by default
    err = capsys.readouterr().err
    assert "local/smolvlm" in err and "HF_HUB_OFFLINE" in err


def test_models_that_are_not_local_transformers_models_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "pull", "gpt-4o", "local/ocr", "no-such-model"]) == 1
    err = capsys.readouterr().err
    assert err.count("not a local transformers model") == 3
