"""Loading a Hugging Face image-text-to-text model and its processor, once, in a thread.

Whatever ``AutoModelForImageTextToText`` and ``AutoProcessor`` load is served: SmolVLM and
Idefics3, Qwen2-VL and Qwen2.5-VL, LLaVA, Llama 3.2 Vision (Mllama), ... Remote code is
never executed (``trust_remote_code`` stays off): a model that needs it is refused by
transformers with a clear error instead.

Placement: ``device`` and ``dtype`` come from the model's options, else from
``VISIONGATE_LOCAL_DEVICE`` / ``VISIONGATE_LOCAL_DTYPE``; ``auto`` means the first GPU when
there is one (bfloat16 where supported, else float16) and the CPU in float32 otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visiongate.core.catalog import ModelEntry
from visiongate.errors import ModelNotFound, UpstreamError
from visiongate.local import weights
from visiongate.settings import Settings

__all__ = ["LoadedModel", "Progress", "load_model", "resolve_device", "resolve_dtype"]

log = logging.getLogger("visiongate.local.vlm")

Progress = Callable[[str, dict[str, int] | None], None]


@dataclass(slots=True)
class LoadedModel:
    """A model ready to generate, with what each request needs to know about it."""

    model: Any
    processor: Any
    path: Path
    device: str
    dtype: str
    context_window: int
    placeholder: str | None
    image_token_id: int | None
    eos_ids: frozenset[int]
    defaults: dict[str, Any] = field(default_factory=dict)
    load_seconds: float = 0.0
    parameters: int = 0


def resolve_device(setting: str) -> str:
    """``auto`` → ``cuda`` when a CUDA GPU is visible, ``mps`` on Apple silicon, else ``cpu``."""
    import torch

    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(setting: str, device: str) -> Any:
    """``auto`` → bfloat16 (or float16) on a GPU, float32 on the CPU, where half precision
    is slow and loses accuracy."""
    import torch

    if setting != "auto":
        return getattr(torch, setting)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def _option(entry: ModelEntry, key: str, fallback: str) -> str:
    value = entry.options.get(key)
    return str(value) if value not in (None, "", "auto") else fallback


def locate(entry: ModelEntry, progress: Progress) -> Path:
    """The folder to load from: the source directory, the cached snapshot, or a fresh
    download (reported through ``progress``). Raises ModelNotFound when the weights are
    missing and cannot be fetched."""
    source = entry.upstream
    revision = entry.options.get("revision")
    if weights.is_directory_source(source):
        folder = Path(source).expanduser()
        if not weights.weights_present(source):
            raise ModelNotFound(
                f"{entry.id}: {folder} is not a saved model (no config.json and weights "
                "there); fix its source in local_models.",
                param="model",
            )
        return folder
    cached = weights.cached_snapshot(source, revision)
    if cached is not None:
        return cached
    if not weights.hub_allowed():
        raise ModelNotFound(
            f"{entry.id}: the weights of {source} are not in the Hugging Face cache and "
            "downloads are off (HF_HUB_OFFLINE). Run `visiongate models pull "
            f"{entry.id}` where the hub is reachable, or point its source at a directory.",
            param="model",
        )
    log.info("downloading local model weights", extra={"model": entry.id, "source": source})
    progress("downloading", None)
    try:
        return weights.download(source, revision, lambda counts: progress("downloading", counts))
    except Exception as exc:  # network, auth, unknown repo: all mean "cannot fetch"
        raise UpstreamError(
            f"{entry.id}: could not download {source} from the Hugging Face hub "
            f"({type(exc).__name__}: {exc}). Run `visiongate models pull {entry.id}` to retry.",
            code="local_model_unavailable",
        ) from exc


def load_model(entry: ModelEntry, settings: Settings, progress: Progress) -> LoadedModel:
    """Locate, download if needed, and load ``entry``'s model and processor. Blocking.

    Raises ModelNotFound (weights missing, offline) or UpstreamError
    ``local_model_load_failed`` (files present but transformers cannot load them).
    """
    started = time.monotonic()
    folder = locate(entry, progress)
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from transformers.utils import logging as hf_logging

    # transformers draws tqdm bars on stderr, which would break the JSON log lines; the
    # phases are reported through ``progress`` and the log instead.
    hf_logging.disable_progress_bar()
    device = resolve_device(_option(entry, "device", settings.local_device))
    dtype = resolve_dtype(_option(entry, "dtype", settings.local_dtype), device)
    try:
        progress("loading processor", None)
        processor = AutoProcessor.from_pretrained(folder)
        template = _chat_template(entry, processor)
        progress("loading weights", None)
        kwargs: dict[str, Any] = {"dtype": dtype}
        if device != "cpu":
            kwargs["device_map"] = device
        model = AutoModelForImageTextToText.from_pretrained(folder, **kwargs).eval()
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise UpstreamError(
            f"{entry.id}: transformers could not load {folder} as an image-text-to-text "
            f"model ({type(exc).__name__}: {exc}).",
            code="local_model_load_failed",
        ) from exc
    processor.chat_template = template
    tokenizer = processor.tokenizer
    placeholder = getattr(processor, "image_token", None)
    image_token_id = getattr(processor, "image_token_id", None)
    if image_token_id is None and placeholder:
        image_token_id = tokenizer.convert_tokens_to_ids(placeholder)
    gen = model.generation_config
    eos = gen.eos_token_id if gen.eos_token_id is not None else tokenizer.eos_token_id
    eos_ids = frozenset(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    loaded = LoadedModel(
        model=model,
        processor=processor,
        path=folder,
        device=device,
        dtype=str(dtype).removeprefix("torch."),
        context_window=entry.context_window or _max_positions(model.config),
        placeholder=str(placeholder) if placeholder else None,
        image_token_id=int(image_token_id) if image_token_id is not None else None,
        eos_ids=eos_ids,
        defaults={
            "do_sample": bool(gen.do_sample),
            "temperature": gen.temperature,
            "top_k": gen.top_k,
            "top_p": gen.top_p,
            "pad_token_id": gen.pad_token_id
            if gen.pad_token_id is not None
            else tokenizer.pad_token_id,
        },
        load_seconds=time.monotonic() - started,
        parameters=sum(p.numel() for p in model.parameters()),
    )
    return loaded


def _chat_template(entry: ModelEntry, processor: Any) -> str:
    """The configured override (text, or the path of a .jinja file), else the model's own."""
    override = entry.options.get("chat_template")
    if override:
        path = Path(str(override)).expanduser()
        if "{" not in str(override) and path.is_file():
            return path.read_text("utf-8")
        return str(override)
    template = getattr(processor, "chat_template", None)
    if not template:
        raise UpstreamError(
            f"{entry.id}: the model at {entry.upstream} ships no chat template; set "
            "chat_template in its local_models table.",
            code="local_model_load_failed",
        )
    return template


def _max_positions(config: Any) -> int:
    for cfg in (getattr(config, "text_config", None), config):
        value = getattr(cfg, "max_position_embeddings", None) if cfg is not None else None
        if isinstance(value, int) and value > 0:
            return value
    return 0
