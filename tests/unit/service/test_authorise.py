"""One alias-aware authorisation rule: a key limited to a model's alias may use that model
whichever name the request used (before, the service checked the id alone and refused)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from visiongate.accounting import Principal
from visiongate.core.messages import ChatRequest, Message, TextPart
from visiongate.core.outcome import Outcome
from visiongate.errors import ModelNotAllowed
from visiongate.runtime import Runtime
from visiongate.settings import Settings

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    overrides = {"models": {"gpt-4o": {"aliases": ["house-vision"]}}}
    settings = Settings(api_keys=["k"], data_dir=tmp_path, catalog_overrides=overrides)
    rt = Runtime(settings, {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://127.0.0.1:9"})
    await rt.accounts.start()
    yield rt
    await rt.accounts.close()


def ask(model: str) -> ChatRequest:
    return ChatRequest(model, [Message("user", [TextPart("hi")])])


@pytest.mark.parametrize("asked", ["gpt-4o", "house-vision"])
async def test_a_key_limited_to_an_alias_may_use_the_model_by_either_name(
    runtime: Runtime, asked: str
) -> None:
    principal = Principal("key_a", "a", models=("house-*",))
    prepared = await runtime.service.prepare(ask(asked), principal, Outcome("r"))
    assert prepared.model.id == "gpt-4o"


@pytest.mark.parametrize("asked", ["gpt-4o", "house-vision"])
async def test_a_key_for_other_models_is_refused_by_either_name(
    runtime: Runtime, asked: str
) -> None:
    principal = Principal("key_b", "b", models=("claude-*",))
    with pytest.raises(ModelNotAllowed) as info:
        await runtime.service.prepare(ask(asked), principal, Outcome("r"))
    assert info.value.param == "model" and info.value.status == 403
