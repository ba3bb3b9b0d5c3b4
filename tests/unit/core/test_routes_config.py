"""``like =`` on model tables and ``[routes.*]`` tables: what the catalog builds from them,
and the config errors that must fail at start-up naming the entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from visiongate.core.catalog import load_catalog
from visiongate.core.routes import CooldownPolicy, Target
from visiongate.runtime import build_catalog
from visiongate.settings import load_settings

EU = {"providers": {"openai-eu": {"kind": "openai", "base_url": "https://eu.example/v1"}}}


def catalog(models: dict[str, Any], routes: dict[str, Any] | None = None) -> Any:
    return load_catalog({**EU, "models": models, "routes": routes or {}}, environ={})


def test_like_copies_every_key_the_entry_does_not_set() -> None:
    built = catalog({"gpt-4o@eu": {"provider": "openai-eu", "like": "gpt-4o"}})
    base, eu = built.models["gpt-4o"], built.models["gpt-4o@eu"]
    assert eu.provider == "openai-eu" and eu.upstream == "gpt-4o"
    assert (eu.context_window, eu.price_input, eu.image) == (
        base.context_window,
        base.price_input,
        base.image,
    )
    assert eu.capabilities == base.capabilities
    assert eu.aliases == ()  # aliases stay with their entry
    assert built.resolve("gpt-4o-2024-08-06").id != "gpt-4o@eu"


def test_like_merges_nested_tables_and_chains() -> None:
    built = catalog(
        {
            "a": {"provider": "openai-eu", "like": "gpt-4o", "image": {"max_images": 1}},
            "b": {"like": "a", "upstream": "my-deployment", "price_input": 1.0},
        }
    )
    b = built.models["b"]
    assert b.provider == "openai-eu" and b.upstream == "my-deployment"
    assert b.image.max_images == 1
    assert b.image.resize_edge == built.models["gpt-4o"].image.resize_edge
    assert b.price_input == 1.0 and b.price_output == built.models["gpt-4o"].price_output


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ({"x": {"provider": "openai-eu", "like": "nope"}}, "is not a catalog model"),
        ({"x": {"like": "y"}, "y": {"like": "x"}}, "cycle"),
    ],
)
def test_like_errors_name_the_model(models: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        catalog(models)


def test_routes_parse_with_defaults() -> None:
    built = catalog(
        {"gpt-4o@eu": {"provider": "openai-eu", "like": "gpt-4o"}},
        {
            "vision": {
                "targets": [{"model": "gpt-4o", "weight": 3}, "gpt-4o@eu"],
                "fallbacks": ["claude-3-5-sonnet-latest", "other"],
                "retries": 1,
                "cooldown": {"failures": 2, "seconds": 5},
            },
            "other": {"targets": ["gemini-1.5-flash"], "strategy": "ordered"},
        },
    )
    vision = built.routes["vision"]
    assert vision.targets == (Target("gpt-4o", 3.0), Target("gpt-4o@eu", 1.0))
    assert vision.strategy == "weighted" and vision.retries == 1
    assert vision.cooldown == CooldownPolicy(failures=2, window_s=60.0, seconds=5.0)
    assert "content_filter" in vision.fallback_on
    assert built.routes["other"].retries is None  # the gateway's upstream_retries


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"targets": []}, "non-empty list"),
        ({"targets": ["nope"]}, "not a catalog model"),
        ({"targets": ["gpt-4o"], "strategy": "random"}, "strategy"),
        ({"targets": [{"model": "gpt-4o", "weight": 0}]}, "weight"),
        ({"targets": ["gpt-4o"], "fallbacks": ["ghost"]}, "neither a model nor a route"),
        ({"targets": ["gpt-4o"], "retries": -1}, "retries"),
        ({"targets": ["gpt-4o"], "cooldown": {"failures": 0}}, "cooldown.failures"),
        ({"targets": ["gpt-4o"], "cooldown": {"minutes": 1}}, "unknown cooldown keys"),
        ({"targets": ["gpt-4o"], "weights": [1]}, "unknown keys"),
    ],
)
def test_route_errors_name_the_route(route: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        catalog({}, {"mine": route})
    assert "'mine'" in str(caught.value)


def test_routes_come_from_the_config_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[routes."file"]\ntargets = ["gpt-4o"]\n')
    routes = {"env": {"targets": ["gpt-4o-mini"], "fallbacks": ["file"]}}
    monkeypatch.setenv("VISIONGATE_ROUTES", json.dumps(routes))
    built = build_catalog(load_settings(config), {})
    assert set(built.routes) == {"file", "env"}
    assert built.routes["env"].fallbacks == ("file",)
