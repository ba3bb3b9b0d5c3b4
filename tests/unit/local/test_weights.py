"""Finding a local model's weights without touching the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from visiongate.local import weights

hub_constants = pytest.importorskip("huggingface_hub.constants")


def _saved_model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 8)
    return folder


def _hub_cache(root: Path, repo_id: str, with_weights: bool = True) -> Path:
    """The Hugging Face cache layout: models--owner--name/{refs/main, snapshots/<sha>/...}."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    sha = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    snap = repo / "snapshots" / sha
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    if with_weights:
        (snap / "model.safetensors").write_bytes(b"\0" * 8)
    return snap


def test_directory_sources(tmp_path: Path) -> None:
    model = _saved_model(tmp_path / "m")
    assert weights.is_directory_source(str(model))
    assert weights.weights_present(str(model))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not weights.weights_present(str(empty))
    assert not weights.weights_present(str(tmp_path / "missing"))
    assert not weights.is_directory_source("HuggingFaceTB/SmolVLM-256M-Instruct")


def test_hub_ids_are_found_in_the_cache_only_with_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    snap = _hub_cache(tmp_path, "owner/complete")
    _hub_cache(tmp_path, "owner/config-only", with_weights=False)
    assert weights.cached_snapshot("owner/complete") == snap
    assert weights.weights_present("owner/complete")
    assert not weights.weights_present("owner/config-only")
    assert not weights.weights_present("owner/never-pulled")
    assert weights.cached_snapshot("not a repo id!") is None


@pytest.mark.parametrize(
    ("env", "allowed"),
    [({}, True), ({"HF_HUB_OFFLINE": "1"}, False), ({"TRANSFORMERS_OFFLINE": "true"}, False)],
)
def test_hub_allowed_follows_the_offline_switches(
    env: dict[str, str], allowed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert weights.hub_allowed() is allowed


def test_download_patterns_skip_onnx_and_gguf_copies() -> None:
    from fnmatch import fnmatch

    def wanted(name: str) -> bool:
        return any(fnmatch(name, p) for p in weights.DOWNLOAD_PATTERNS)

    assert wanted("model.safetensors") and wanted("tokenizer.json")
    assert wanted("chat_template.jinja") and wanted("onnx/config.json")
    assert not wanted("onnx/model.onnx") and not wanted("model-q4.gguf")


def test_download_progress_is_reported_not_drawn(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[dict[str, int]] = []
    bar_class = weights._progress_class(seen.append)
    files = bar_class(total=2, desc="Fetching 2 files")
    data = bar_class(total=0, unit="B", desc="Reconstructing")
    data.total = 300  # huggingface_hub grows the byte total as files start
    data.update(100)
    files.update(1)
    data.update(200)
    files.update(1)
    for bar in (files, data):
        bar.close()
    assert seen[-1] == {"files_done": 2, "files_total": 2, "bytes_done": 300, "bytes_total": 300}
    assert seen[0] == {"files_done": 0, "files_total": 2, "bytes_done": 100, "bytes_total": 300}
    captured = capsys.readouterr()
    assert "Fetching" not in captured.err + captured.out
