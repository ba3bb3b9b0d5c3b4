"""Local vision-language models from configuration, as catalog override tables.

Operators register in-process models without touching the catalog's own keys::

    VISIONGATE_LOCAL_MODELS='{"local/qwen2-vl": {"source": "Qwen/Qwen2-VL-2B-Instruct"}}'

or, in the config file, ``[local_models."local/qwen2-vl"]`` tables. Each entry becomes a
``[models."id"]`` override served by the ``local`` provider's transformers engine, so the
same catalog machinery (aliases, limits, ``/v1/models``) applies to it. An id that already
exists (``local/smolvlm``, or a hosted model such as a Llama 3.2 Vision id) is re-pointed
key by key: only what the table names changes, plus what serving in process implies (the
local provider and image profile, no price, not retired).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from visiongate.settings import Settings

__all__ = ["LOCAL_MODEL_KEYS", "local_model_entry", "local_model_overrides"]

LOCAL_MODEL_KEYS = frozenset(
    {
        "source",
        "revision",
        "max_images",
        "context_window",
        "max_output_tokens",
        "chat_template",
        "dtype",
        "device",
        "aliases",
    }
)
_DTYPES = frozenset({"auto", "float32", "float16", "bfloat16"})
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_ENGINE_OPTIONS = ("revision", "chat_template", "dtype", "device")


def local_model_overrides(settings: Settings) -> dict[str, Any]:
    """Catalog override tables (``{"models": {id: {...}}}``) for ``settings.local_models``.

    Raises ValueError naming the model when an entry has unknown keys or bad values: a
    typo in the config must stop the server at start-up, not at the first request.
    """
    models = {
        str(model_id): local_model_entry(str(model_id), raw)
        for model_id, raw in settings.local_models.items()
    }
    return {"models": models} if models else {}


def local_model_entry(model_id: str, raw: Any) -> dict[str, Any]:
    """One ``[models."id"]`` table for a local model; ``raw`` is its config table, or just
    the source (a hub id or a directory) as a string."""
    where = f"local model {model_id!r}"
    if isinstance(raw, str):
        raw = {"source": raw}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a table of settings, got {type(raw).__name__}")
    unknown = set(raw) - LOCAL_MODEL_KEYS
    if unknown:
        raise ValueError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(LOCAL_MODEL_KEYS)}"
        )
    # Served in process: no per-token price, and a hosted model's retirement (a Llama
    # 3.2 Vision id pointed at local weights) no longer applies.
    entry: dict[str, Any] = {
        "provider": "local",
        "image_profile": "local",
        "price_input": 0.0,
        "price_output": 0.0,
        "retired": None,
        "successor": None,
    }
    options: dict[str, Any] = {"engine": "transformers"}
    if "source" in raw:
        entry["upstream"] = _text(raw["source"], where, "source")
    for key in ("context_window", "max_output_tokens"):
        if key in raw:
            entry[key] = _positive_int(raw[key], where, key)
    if "max_images" in raw:
        entry["image"] = {"max_images": _positive_int(raw["max_images"], where, "max_images")}
    if "aliases" in raw:
        aliases = raw["aliases"]
        if not isinstance(aliases, list | tuple) or not all(isinstance(a, str) for a in aliases):
            raise ValueError(f"{where}: aliases must be a list of strings")
        entry["aliases"] = list(aliases)
    for key in _ENGINE_OPTIONS:
        if key in raw:
            options[key] = _text(raw[key], where, key)
    if options.get("dtype", "auto") not in _DTYPES:
        raise ValueError(f"{where}: dtype must be one of {sorted(_DTYPES)}")
    if not _DEVICE.match(options.get("device", "auto")):
        raise ValueError(f"{where}: device must be auto, cpu, mps, cuda or cuda:N")
    entry["options"] = options
    return entry


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {key} must be a non-empty string")
    return value.strip() if key != "chat_template" else value


def _positive_int(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where}: {key} must be a positive integer")
    return value
