"""A tiny random SmolVLM-architecture model on disk, and engines serving it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from visiongate.core.catalog import load_catalog
from visiongate.local.registry import local_model_overrides
from visiongate.settings import Settings


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="the local extra (torch) is not installed")
    pytest.importorskip("transformers", reason="the local extra (transformers) is not installed")
    from tests.support.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm") / "model")


@dataclass
class Reference:
    """The model and processor loaded directly with transformers: the expected values."""

    processor: Any
    model: Any

    def inputs(self, conversation: list[dict[str, Any]], images: list[Any]) -> Any:
        prompt = self.processor.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=False
        )
        return self.processor(
            text=prompt, images=images or None, add_special_tokens=False, return_tensors="pt"
        )

    def greedy(self, inputs: Any, max_new_tokens: int) -> list[int]:
        import torch

        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        return out[0, inputs["input_ids"].shape[1] :].tolist()

    def decode(self, ids: list[int]) -> str:
        return self.processor.tokenizer.decode(ids, skip_special_tokens=True)


@pytest.fixture(scope="session")
def reference(tiny_dir: Path) -> Reference:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return Reference(
        AutoProcessor.from_pretrained(tiny_dir),
        AutoModelForImageTextToText.from_pretrained(tiny_dir).eval(),
    )


@pytest.fixture
async def make_engine(tiny_dir: Path) -> AsyncIterator[Callable[..., Any]]:
    """``make_engine(model_id="local/tiny", table=None, **settings)``: an engine for the tiny
    model registered through local_models, exactly as a user configures one."""
    from visiongate.local.vlm import VlmEngine

    engines: list[VlmEngine] = []

    def make(
        model_id: str = "local/tiny", table: dict[str, Any] | None = None, **settings: Any
    ) -> VlmEngine:
        spec = {"source": str(tiny_dir), "max_output_tokens": 4000, **(table or {})}
        config = Settings(local_models={model_id: spec}, **settings)
        entry = load_catalog(local_model_overrides(config)).models[model_id]
        engine = VlmEngine(entry, config)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()
