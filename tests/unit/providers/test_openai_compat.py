"""Host differences as data: the profile read from a [providers.X] table, MiniMax errors."""

from __future__ import annotations

from typing import Any

import pytest

from visiongate.core.catalog import ProviderEntry, load_catalog
from visiongate.errors import InvalidRequest, RateLimited, UpstreamError
from visiongate.providers.openai_compat import HostProfile, minimax_base_resp_error


def entry(**kw: Any) -> ProviderEntry:
    values: dict[str, Any] = {"name": "host", "kind": "openai", "base_url": "http://h/v1"}
    values.update(kw)
    return ProviderEntry(**values)


def test_defaults_describe_a_plain_compatible_server() -> None:
    host = HostProfile.from_entry(entry())
    assert host == HostProfile()
    assert host.max_tokens_field == "max_tokens"
    assert host.role("developer") == "system" and host.role("user") == "user"
    assert host.headers("sk-1") == {"Authorization": "Bearer sk-1"}
    assert host.temperature(1.8) == 1.8


def test_shipped_catalog_flags() -> None:
    catalog = load_catalog(environ={})
    openai = HostProfile.from_entry(catalog.providers["openai"])
    assert openai.max_tokens_field == "max_completion_tokens"
    assert openai.role("developer") == "developer"
    minimax = HostProfile.from_entry(catalog.providers["minimax"])
    assert (minimax.base_resp, minimax.final_chunk_repeats, minimax.temperature_max_1) == (
        True,
        True,
        True,
    )
    assert catalog.providers["minimax"].chat_path == "/v1/text/chatcompletion_v2"
    for name in ("together", "openrouter"):
        assert HostProfile.from_entry(catalog.providers[name]) == HostProfile()


def test_openrouter_attribution_from_options_and_no_auth() -> None:
    host = HostProfile.from_entry(
        entry(options={"app_url": "https://myapp.example", "app_title": "My App"})
    )
    assert host.headers("sk-or") == {
        "HTTP-Referer": "https://myapp.example",
        "X-Title": "My App",
        "Authorization": "Bearer sk-or",
    }
    open_host = HostProfile.from_entry(entry(options={"auth": "none"}, api_key="ignored"))
    assert open_host.headers("ignored") == {}


def test_no_auth_provider_counts_as_configured_without_a_key() -> None:
    catalog = load_catalog(
        overrides={
            "providers": {
                "myvllm": {"kind": "openai", "base_url": "http://10.0.0.5:8000/v1/"},
                "openvllm": {
                    "kind": "openai",
                    "base_url": "http://10.0.0.6:8000/v1",
                    "options": {"auth": "none"},
                },
            }
        },
        environ={},
    )
    assert not catalog.providers["myvllm"].configured
    assert catalog.providers["openvllm"].configured
    assert catalog.providers["myvllm"].base_url == "http://10.0.0.5:8000/v1"


@pytest.mark.parametrize(
    ("kw", "word"),
    [
        ({"quirks": frozenset({"temprature_max_1"})}, "unknown quirks"),
        ({"options": {"auth": "basic"}}, "auth"),
    ],
)
def test_typos_fail_loudly_naming_the_provider(kw: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word) as caught:
        HostProfile.from_entry(entry(**kw))
    assert "'host'" in str(caught.value)


@pytest.mark.parametrize(
    ("code", "kind", "status"),
    [
        (1002, RateLimited, 429),
        (1004, UpstreamError, 502),
        (2049, UpstreamError, 502),
        (1008, UpstreamError, 502),
        (1039, InvalidRequest, 400),
        (2013, InvalidRequest, 400),
        (1000, UpstreamError, 502),
        (1013, UpstreamError, 502),
    ],
)
def test_minimax_base_resp_codes(code: int, kind: type, status: int) -> None:
    error = minimax_base_resp_error(
        "minimax", {"base_resp": {"status_code": code, "status_msg": "why"}}
    )
    assert type(error) is kind
    assert error.status == status
    assert str(code) in error.message and "why" in error.message


def test_minimax_credentials_and_balance_messages_tell_the_operator_what_to_do() -> None:
    creds = minimax_base_resp_error("minimax", {"base_resp": {"status_code": 1004}})
    balance = minimax_base_resp_error("minimax", {"base_resp": {"status_code": 1008}})
    assert creds is not None and "credentials" in creds.message
    assert balance is not None and "balance" in balance.message
    assert balance.code == "upstream_error"


@pytest.mark.parametrize(
    "body", [{}, {"base_resp": None}, {"base_resp": {"status_code": 0, "status_msg": "success"}}]
)
def test_minimax_success_is_no_error(body: dict) -> None:
    assert minimax_base_resp_error("minimax", body) is None
