"""The living catalog end to end: ``visiongate models check`` as a real process against
fake list endpoints of every provider on 127.0.0.1 (pages, a model gone, a new one, a
provider that cannot be reached), and the new fields of ``GET /v1/models`` through the
official SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest

from tests.fakes.model_lists import ModelListFake
from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, free_port
from visiongate.core.catalog import load_catalog

pytestmark = pytest.mark.timeout(120)

CATALOG = load_catalog(environ={})
DAY = "2026-12-07"
KEYS = {
    "openai": "sk-proj-list-openai-4Fh2",
    "anthropic": "sk-ant-list-anthropic-9Qe1",
    "google": "AIza-list-gemini-7Wk3",
    "together": "tgp-list-together-2Mn8",
    "openrouter": "sk-or-v1-list-openrouter-5Tx6",
    "minimax": "mm-list-minimax-3Pz0",
}
ENV_PREFIX = {"google": "GEMINI"}


def served(provider: str) -> list[str]:
    day = date.fromisoformat(DAY)
    return [
        m.upstream
        for m in CATALOG.models.values()
        if m.provider == provider and not m.retired_on(day)
    ]


@dataclass
class Lists:
    fakes: dict[str, ModelListFake]
    env: dict[str, str]


@pytest.fixture(scope="module")
def lists() -> Iterator[Lists]:
    openai_ids = [i for i in served("openai") if not i.startswith("gpt-4-turbo")]
    # Anthropic lists dated snapshots; the catalog's alias must match its snapshot.
    anthropic_ids = ["claude-haiku-4-5-20251001"]
    anthropic_ids += [i for i in served("anthropic") if i != "claude-haiku-4-5"]
    fakes = {
        "openai": ModelListFake("openai", KEYS["openai"], [*openai_ids, "gpt-5.6", "tts-2"]),
        "anthropic": ModelListFake("anthropic", KEYS["anthropic"], anthropic_ids),
        "google": ModelListFake(
            "gemini", KEYS["google"], [*served("google"), "gemini-4-pro", "gemini-4-tts"]
        ),
        "openrouter": ModelListFake(
            "openrouter",
            KEYS["openrouter"],
            [*served("openrouter"), "acme/vl-9b", "acme/text-70b"],
            vision=[*served("openrouter"), "acme/vl-9b"],
        ),
        "minimax": ModelListFake("openai", KEYS["minimax"], [*served("minimax"), "MiniMax-M2.7"]),
    }
    servers = {name: BackgroundApp(fake.app()).start() for name, fake in fakes.items()}
    try:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("VISIONGATE_") and not k.endswith(("_API_KEY", "_BASE_URL"))
        }
        for name, key in KEYS.items():
            prefix = ENV_PREFIX.get(name, name.upper())
            env[f"{prefix}_API_KEY"] = key
        env["OPENAI_BASE_URL"] = servers["openai"].url + "/v1"
        env["ANTHROPIC_BASE_URL"] = servers["anthropic"].url
        env["GEMINI_BASE_URL"] = servers["google"].url
        env["OPENROUTER_BASE_URL"] = servers["openrouter"].url + "/api/v1"
        env["MINIMAX_BASE_URL"] = servers["minimax"].url
        env["TOGETHER_BASE_URL"] = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens
        for name in KEYS:  # every provider points at loopback: nothing leaves the machine
            assert env[f"{ENV_PREFIX.get(name, name.upper())}_BASE_URL"].startswith("http://127.")
        env["VISIONGATE_UPSTREAM_CONNECT_TIMEOUT"] = "2"
        yield Lists(fakes, env)
    finally:
        for server in servers.values():
            server.stop()


def check(
    lists: Lists, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "visiongate", "models", "check", "--today", DAY, *args],
        env={**lists.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def section(output: str, provider: str) -> str:
    """The lines ``models check`` printed for one provider."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{provider}:"))
    end = next(
        (i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines)
    )
    return "\n".join(lines[start:end])


def test_check_reports_every_provider_and_fails_on_a_missing_model(lists: Lists) -> None:
    done = check(lists)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout

    openai = section(out, "openai")
    assert "MISSING upstream" in openai
    assert "gpt-4-turbo\n" in openai + "\n" and "gpt-4-turbo-2024-04-09" in openai
    assert "gone upstream as announced" in openai and "chatgpt-4o-latest" in openai
    assert "gpt-5.6" in openai and "tts-2" not in openai
    # OpenAI's page size is 2: every page was read, the last model too.
    pages = len(lists.fakes["openai"].requests)
    assert pages >= (len(lists.fakes["openai"].ids) + 1) // 2
    assert "gpt-5.6" in out

    anthropic = section(out, "anthropic")
    assert "MISSING" not in anthropic and "not in the catalog" not in anthropic
    assert "claude-3-opus-latest (sent as claude-3-opus-20240229)" in anthropic
    assert all(r["query"].get("limit") for r in lists.fakes["anthropic"].requests)
    assert any("after_id" in r["query"] for r in lists.fakes["anthropic"].requests)

    google = section(out, "google")
    assert "gemini-4-pro" in google and "gemini-4-tts" not in google
    assert "embedding-001" not in google and "MISSING" not in google
    assert any("pageToken" in r["query"] for r in lists.fakes["google"].requests)

    openrouter = section(out, "openrouter")
    assert "acme/vl-9b" in openrouter and "acme/text-70b" not in openrouter

    assert section(out, "together").startswith("together: unreachable or refused")
    assert section(out, "minimax").endswith("catalog and list agree")
    for key in KEYS.values():
        assert key not in out and key not in done.stderr


def test_check_passes_when_catalog_and_lists_agree(lists: Lists) -> None:
    done = check(lists, "--provider", "anthropic", "--provider", "google")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MISSING" not in done.stdout


def test_a_refused_key_is_reported_not_fatal(lists: Lists) -> None:
    done = check(lists, "--provider", "anthropic", env={"ANTHROPIC_API_KEY": "sk-ant-wrong"})
    assert done.returncode == 0
    assert "anthropic: unreachable or refused: HTTP 401" in done.stdout


def test_model_list_has_dates_modalities_and_sources(gateway: GatewayProcess) -> None:
    models = {m.id: m.model_dump() for m in gateway.client().models.list().data}
    assert set(CATALOG.models) <= set(models)
    retired = models["chatgpt-4o-latest"]
    assert retired["shutdown_date"] == "2026-02-17" and retired["retired"] == "2026-02-17"
    assert retired["successor"] == "gpt-5.5"
    current = models["claude-opus-5-5"]
    assert current["shutdown_date"] is None and "retired" not in current
    assert current["input_modalities"] == ["text", "image", "file"]
    assert current["source"].startswith("https://platform.claude.com/")
    assert models["qwen/qvq-72b-preview"]["input_modalities"] == ["text", "image"]
    unpriced = models["meta-llama/Llama-4-Scout-17B-16E-Instruct"]["pricing"]
    assert unpriced == {"input_per_mtok": None, "output_per_mtok": None}
    for card in models.values():
        assert card["source"] and card["as_of"]
