"""Config typos stop ``serve`` with the name and the nearest valid one, instead of being
ignored (``extra="ignore"`` kept the default for ``upstream_timout`` without a word)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from visiongate.settings import ConfigError, load_settings, unknown_settings

pytestmark = pytest.mark.timeout(60)


def test_unknown_keys_and_variables_are_named_with_the_nearest_valid_one() -> None:
    problems = unknown_settings(
        {"upstream_timout": 5, "models": {}, "max_body_bytes": 1, "frobnicate": True},
        {
            "VISIONGATE_API_KEY": "k",
            "VISIONGATE_CONFIG": "x.toml",
            "VISIONGATE_PORT": "1",
            "OTHER_THING": "1",
        },
    )
    assert problems == [
        "config file: unknown key 'upstream_timout'; did you mean 'upstream_timeout'?",
        "config file: unknown key 'frobnicate'",
        "environment: unknown variable VISIONGATE_API_KEY; did you mean 'VISIONGATE_API_KEYS'?",
    ]


def test_strict_loading_raises_and_lenient_loading_ignores(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("max_image_byte = 10\n")
    with pytest.raises(ConfigError, match="max_image_bytes"):
        load_settings(config, strict=True, environ={})
    assert load_settings(config, environ={}).max_image_bytes == 20_000_000


@pytest.mark.parametrize(
    ("env", "config", "named"),
    [
        ({"VISIONGATE_UPSTREAM_TIMOUT": "5"}, None, "VISIONGATE_UPSTREAM_TIMEOUT"),
        ({}, "upstream_retry = 1\n", "upstream_retries"),
    ],
)
def test_serve_stops_on_a_typo(
    tmp_path: Path, env: dict[str, str], config: str | None, named: str
) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith("VISIONGATE_")}
    full.update(env, VISIONGATE_DATA_DIR=str(tmp_path))
    args = [sys.executable, "-m", "visiongate", "serve", "--port", "0"]
    if config is not None:
        path = tmp_path / "config.toml"
        path.write_text(config)
        args += ["--config", str(path)]
    done = subprocess.run(args, env=full, capture_output=True, text=True, timeout=50)
    assert done.returncode == 3
    assert named in done.stderr + done.stdout
