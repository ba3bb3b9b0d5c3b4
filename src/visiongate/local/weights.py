"""Where a local model's weights are: a directory, the Hugging Face cache, or the hub.

A model's ``source`` is either a directory holding a saved model (``config.json`` and
weights) or a hub id such as ``HuggingFaceTB/SmolVLM-256M-Instruct``. Checking for weights
must be cheap and offline (``GET /v1/models`` asks for every model), so it only looks at
the file system; fetching is a separate, explicit step (:func:`download`) used by
``visiongate models pull`` and by the engine's first load.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

__all__ = [
    "DOWNLOAD_PATTERNS",
    "cached_snapshot",
    "download",
    "engine_installed",
    "hub_allowed",
    "is_directory_source",
    "weights_present",
]

# What AutoProcessor + AutoModelForImageTextToText read. Hub repos often also hold ONNX,
# GGUF or original-format copies many times the size; those are left out.
DOWNLOAD_PATTERNS = (
    "*.json",
    "*.safetensors",
    "*.jinja",
    "*.txt",
    "*.model",
    "*.tiktoken",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_TRUE = frozenset({"1", "true", "yes", "on"})

ProgressFn = Callable[[dict[str, int]], None]


def engine_installed() -> bool:
    """Whether the ``local`` extra (torch, transformers) is installed, without importing it."""
    return find_spec("torch") is not None and find_spec("transformers") is not None


def hub_allowed() -> bool:
    """Whether weights may be fetched: huggingface_hub installed and no offline switch set."""
    if find_spec("huggingface_hub") is None:
        return False
    return not any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def is_directory_source(source: str) -> bool:
    """A source is a directory when it looks like a path (a hub id is ``owner/name``)."""
    return source.startswith(("/", ".", "~")) or Path(source).expanduser().is_dir()


def _has_weights(folder: Path) -> bool:
    if not (folder / "config.json").is_file():
        return False
    return any(p.name.endswith(_WEIGHT_SUFFIXES) for p in folder.iterdir())


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The local snapshot folder of a hub model in the Hugging Face cache, if its config and
    weights are there; never touches the network."""
    if find_spec("huggingface_hub") is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        found: Any = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except ValueError:  # not a valid repo id
        return None
    if not isinstance(found, str):
        return None
    folder = Path(found).parent
    return folder if _has_weights(folder) else None


def weights_present(source: str, revision: str | None = None) -> bool:
    """Whether the model can be loaded without any download."""
    if is_directory_source(source):
        folder = Path(source).expanduser()
        return folder.is_dir() and _has_weights(folder)
    return cached_snapshot(source, revision) is not None


def download(repo_id: str, revision: str | None = None, progress: ProgressFn | None = None) -> Path:
    """Fetch the files a transformers model needs into the Hugging Face cache and return the
    snapshot folder. ``progress`` receives ``{"files_done", "files_total", "bytes_done",
    "bytes_total"}`` as the download advances (totals grow as files start).

    Blocking (run it in a thread). Raises whatever huggingface_hub raises (no network,
    unknown repo, gated model without a token) for the caller to explain.
    """
    from huggingface_hub import snapshot_download

    kwargs: dict[str, Any] = {}
    if progress is not None:
        kwargs["tqdm_class"] = _progress_class(progress)
    path = snapshot_download(
        repo_id, revision=revision, allow_patterns=list(DOWNLOAD_PATTERNS), **kwargs
    )
    return Path(path)


def _progress_class(progress: ProgressFn) -> type:
    """A tqdm subclass that reports to ``progress`` instead of drawing on stderr (which
    would break the server's JSON log lines): huggingface_hub takes a class, not a
    callback, so the callback is closed over here. It makes one bar counting files and
    others counting bytes (``unit="B"``); the largest byte count is reported."""
    from tqdm.auto import tqdm

    bars: list[Any] = []

    def report() -> None:
        files = [b for b in bars if b.unit != "B"]
        byte_bars = [b for b in bars if b.unit == "B"]
        progress(
            {
                "files_done": int(sum(b.n for b in files)),
                "files_total": int(sum(b.total or 0 for b in files)),
                "bytes_done": int(max((b.n for b in byte_bars), default=0)),
                "bytes_total": int(max((b.total or 0 for b in byte_bars), default=0)),
            }
        )

    class _Report(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["file"] = io.StringIO()
            super().__init__(*args, **kwargs)
            bars.append(self)

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            report()
            return shown

    return _Report
