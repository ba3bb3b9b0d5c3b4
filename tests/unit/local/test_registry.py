"""local_models config → catalog entries served by the transformers engine."""

from __future__ import annotations

import json

import pytest

from visiongate.core.catalog import load_catalog
from visiongate.local.registry import local_model_entry, local_model_overrides
from visiongate.providers.local import engine_name
from visiongate.settings import Settings, load_settings


def test_new_model_from_env_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "VISIONGATE_LOCAL_MODELS",
        json.dumps(
            {
                "local/qwen2-vl": {
                    "source": "Qwen/Qwen2-VL-2B-Instruct",
                    "max_images": 4,
                    "context_window": 32768,
                    "max_output_tokens": 1024,
                    "dtype": "bfloat16",
                    "device": "cuda:1",
                    "aliases": ["qwen-local"],
                }
            }
        ),
    )
    catalog = load_catalog(local_model_overrides(Settings()))
    entry = catalog.resolve("qwen-local")
    assert entry is not None and entry.id == "local/qwen2-vl"
    assert entry.provider == "local"
    assert entry.upstream == "Qwen/Qwen2-VL-2B-Instruct"
    assert entry.image.max_images == 4
    assert entry.image.url_passthrough is False  # the local profile: the gateway fetches bytes
    assert (entry.context_window, entry.max_output_tokens) == (32768, 1024)
    assert dict(entry.options) == {
        "engine": "transformers",
        "dtype": "bfloat16",
        "device": "cuda:1",
    }
    assert engine_name(entry) == "transformers"


def test_config_file_tables_repoint_smolvlm_key_by_key(tmp_path) -> None:
    cfg = tmp_path / "vg.toml"
    cfg.write_text('[local_models."local/smolvlm"]\nsource = "/models/smolvlm-500m"\n')
    settings = load_settings(cfg)
    catalog = load_catalog(local_model_overrides(settings))
    entry = catalog.models["local/smolvlm"]
    assert entry.upstream == "/models/smolvlm-500m"
    assert entry.context_window == 8192  # untouched keys keep the shipped values
    assert entry.max_output_tokens == 2048
    assert engine_name(entry) == "transformers"


def test_hosted_llama_id_can_point_at_local_weights() -> None:
    llama = "meta-llama/Llama-3.2-11B-Vision-Instruct-Turbo"
    settings = Settings(local_models={llama: "/weights/llama-3.2-11b-vision"})
    entry = load_catalog(local_model_overrides(settings)).models[llama]
    assert entry.provider == "local"
    assert entry.upstream == "/weights/llama-3.2-11b-vision"
    assert engine_name(entry) == "transformers"
    # served in process: free, and the hosted model's retirement no longer applies
    assert (entry.price_input, entry.price_output) == (0.0, 0.0)
    assert entry.retired is None and entry.successor is None
    assert entry.context_window == 131072  # the shipped limits stay


def test_catalog_override_form_for_llama_works_too() -> None:
    llama = "meta-llama/Llama-3.2-11B-Vision-Instruct-Turbo"
    overrides = {
        "models": {
            llama: {
                "provider": "local",
                "upstream": "/weights/llama",
                "image_profile": "local",
                "options": {"engine": "transformers"},
            }
        }
    }
    entry = load_catalog(overrides).models[llama]
    assert (entry.provider, entry.upstream, engine_name(entry)) == (
        "local",
        "/weights/llama",
        "transformers",
    )


def test_source_defaults_to_the_id_as_hub_id() -> None:
    settings = Settings(local_models={"HuggingFaceTB/SmolVLM-500M-Instruct": {}})
    entry = load_catalog(local_model_overrides(settings)).models[
        "HuggingFaceTB/SmolVLM-500M-Instruct"
    ]
    assert entry.upstream == "HuggingFaceTB/SmolVLM-500M-Instruct"


def test_no_local_models_no_overrides() -> None:
    assert local_model_overrides(Settings()) == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"source": "x", "dtyp": "float16"}, "unknown keys"),
        ({"source": ""}, "source must be a non-empty string"),
        ({"source": "x", "max_images": 0}, "max_images must be a positive integer"),
        ({"source": "x", "context_window": "big"}, "context_window must be"),
        ({"source": "x", "dtype": "int4"}, "dtype must be one of"),
        ({"source": "x", "device": "tpu"}, "device must be"),
        ({"source": "x", "aliases": "one"}, "aliases must be a list"),
        (42, "expected a table"),
    ],
)
def test_bad_entries_fail_loudly_naming_the_model(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        local_model_entry("local/broken", raw)
    assert "local/broken" in str(info.value)
