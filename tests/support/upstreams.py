"""Every provider family's fake upstream on loopback, and a gateway pointed at them all.

The surface tests (Responses, Messages) send the same request to one model of each
family; this starts the fakes once and gives the environment that points the gateway
at them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.fakes.anthropic_upstream import AnthropicFake
from tests.fakes.gemini_upstream import GeminiFake
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.background import BackgroundApp
from tests.support.gateway import GatewayProcess, run_gateway
from visiongate.core.catalog import load_catalog

__all__ = ["FAMILY_MODELS", "Upstreams", "all_upstreams"]

CATALOG = load_catalog(environ={})
# One model of each provider family, served now (not retired) in the catalog.
FAMILY_MODELS = {
    "openai": "gpt-4o",
    "anthropic": "claude-3-haiku-latest",
    "google": "gemini-1.5-flash",
    "together": "meta-llama/Llama-Guard-3-11B-Vision-Turbo",
    "openrouter": "qwen/qvq-72b-preview",
    "minimax": "MiniMax-Text-01",
}
KEYS = {
    "openai": "sk-proj-surfaces-openai-4Tq8",
    "together": "tgp-surfaces-together-7Yb2",
    "openrouter": "sk-or-v1-surfaces-openrouter-3Kd9",
    "minimax": "mm-surfaces-minimax-6Pw1",
}


@dataclass
class Upstreams:
    openai: dict[str, FakeOpenAI]  # by provider name: openai, together, openrouter, minimax
    anthropic: AnthropicFake
    gemini: GeminiFake
    env: dict[str, str] = field(default_factory=dict)

    def fake_for(self, model_id: str) -> FakeOpenAI | AnthropicFake | GeminiFake:
        provider = CATALOG.models[model_id].provider
        if provider == "anthropic":
            return self.anthropic
        if provider == "google":
            return self.gemini
        return self.openai[provider]

    def reset(self) -> None:
        for fake in self.openai.values():
            fake.requests.clear()
        self.anthropic.requests.clear()
        self.gemini.requests.clear()

    def gateway(self, **env: str) -> contextlib.AbstractContextManager[GatewayProcess]:
        return run_gateway(env={**self.env, **env})


@contextlib.contextmanager
def all_upstreams() -> Iterator[Upstreams]:
    openai_fakes = {
        "openai": FakeOpenAI(api_key=KEYS["openai"]),
        "together": FakeOpenAI(api_key=KEYS["together"], max_images=1),
        "openrouter": FakeOpenAI(api_key=KEYS["openrouter"], sse_comments=True),
        "minimax": FakeOpenAI(api_key=KEYS["minimax"], minimax=True, temperature_range=(0.0, 1.0)),
    }
    anthropic, gemini = AnthropicFake(), GeminiFake()
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        for name, fake in openai_fakes.items():
            server = stack.enter_context(BackgroundApp(fake.app()))
            env[f"{name.upper()}_API_KEY"] = KEYS[name]
            env[f"{name.upper()}_BASE_URL"] = server.url + ("" if name == "minimax" else "/v1")
        a = stack.enter_context(BackgroundApp(anthropic.app()))
        g = stack.enter_context(BackgroundApp(gemini.app()))
        env |= {
            "ANTHROPIC_BASE_URL": a.url,
            "ANTHROPIC_API_KEY": anthropic.api_key,
            "GEMINI_BASE_URL": g.url,
            "GEMINI_API_KEY": gemini.api_key,
        }
        yield Upstreams(openai_fakes, anthropic, gemini, env)
