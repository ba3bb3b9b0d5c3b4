"""What differs between OpenAI and the hosts that speak its Chat Completions API.

Together, OpenRouter, MiniMax and self-hosted servers such as vLLM use the same adapter
as OpenAI. Their differences are data in the provider's ``[providers.X]`` table, read
once into a :class:`HostProfile`; the adapter asks the profile, never the provider's
name. The defaults describe a plain OpenAI-compatible server, and OpenAI itself opts in
to its newer fields.

``quirks`` (a list of flags):

- ``max_completion_tokens``: send the output limit as ``max_completion_tokens`` (OpenAI)
  rather than ``max_tokens`` (what every compatible server knows).
- ``developer_role``: the host knows the ``developer`` role; elsewhere such messages are
  sent as ``system``.
- ``no_stream_options``: the host refuses ``stream_options``; usage is then whatever the
  stream carries on its own.
- ``stream_obfuscation``: the host pads stream chunks with an ``obfuscation`` member and
  takes ``stream_options.include_obfuscation`` (OpenAI); a client's choice is passed on.
- ``temperature_max_1``: temperatures are clamped into (0, 1].
- ``minimax_base_resp``: errors may come inside a 200 answer as ``base_resp``.
- ``minimax_final_chunk``: a stream ends with the whole message again (object
  ``chat.completion``); only its finish reason and usage are taken.

``options``: ``auth = "none"`` (send no ``Authorization`` header, for an open vLLM
server), ``app_url`` / ``app_title`` (OpenRouter's attribution headers ``HTTP-Referer``
and ``X-Title``). Extra static headers go in the table's ``headers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from visiongate.errors import (
    GatewayError,
    InvalidRequest,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)

if TYPE_CHECKING:
    from visiongate.core.catalog import ProviderEntry

__all__ = ["KNOWN_QUIRKS", "HostProfile", "minimax_base_resp_error"]

KNOWN_QUIRKS = frozenset(
    {
        "max_completion_tokens",
        "developer_role",
        "no_stream_options",
        "stream_obfuscation",
        "temperature_max_1",
        "minimax_base_resp",
        "minimax_final_chunk",
    }
)

# The lowest temperature a (0, 1] host accepts stands in for a client's 0 (greedy).
_MIN_TEMPERATURE = 0.01


@dataclass(frozen=True, slots=True)
class HostProfile:
    """The wire differences of one OpenAI-compatible host, read from its catalog entry."""

    max_tokens_field: str = "max_tokens"
    developer_role: bool = False
    stream_options: bool = True
    stream_obfuscation: bool = False
    temperature_max_1: bool = False
    base_resp: bool = False
    final_chunk_repeats: bool = False
    send_auth: bool = True
    attribution: Mapping[str, str] | None = None

    @classmethod
    def from_entry(cls, entry: ProviderEntry) -> HostProfile:
        """Raises ValueError naming the provider for a quirk or auth mode it does not know:
        a typo in the config must fail at start-up, not as odd upstream answers."""
        unknown = set(entry.quirks) - KNOWN_QUIRKS
        if unknown:
            raise ValueError(
                f"provider {entry.name!r}: unknown quirks {sorted(unknown)}; "
                f"known: {sorted(KNOWN_QUIRKS)}"
            )
        auth = str(entry.options.get("auth", "bearer")).lower()
        if auth not in ("bearer", "none"):
            raise ValueError(f"provider {entry.name!r}: auth must be 'bearer' or 'none'")
        attribution = {
            header: str(entry.options[option])
            for option, header in (("app_url", "HTTP-Referer"), ("app_title", "X-Title"))
            if entry.options.get(option)
        }
        quirks = entry.quirks
        return cls(
            max_tokens_field=(
                "max_completion_tokens" if "max_completion_tokens" in quirks else "max_tokens"
            ),
            developer_role="developer_role" in quirks,
            stream_options="no_stream_options" not in quirks,
            stream_obfuscation="stream_obfuscation" in quirks,
            temperature_max_1="temperature_max_1" in quirks,
            base_resp="minimax_base_resp" in quirks,
            final_chunk_repeats="minimax_final_chunk" in quirks,
            send_auth=auth == "bearer",
            attribution=attribution or None,
        )

    def headers(self, api_key: str | None) -> dict[str, str]:
        """The per-request headers: Bearer auth (unless ``auth = "none"``) and attribution.

        Static ``[providers.X] headers`` are added by ``HttpProvider.post`` itself.
        """
        out: dict[str, str] = dict(self.attribution or {})
        if self.send_auth and api_key:
            out["Authorization"] = f"Bearer {api_key}"
        return out

    def temperature(self, value: float) -> float:
        if not self.temperature_max_1:
            return value
        return min(max(value, _MIN_TEMPERATURE), 1.0)

    def role(self, role: str) -> str:
        return "system" if role == "developer" and not self.developer_role else role


# MiniMax ``base_resp.status_code`` values worth telling apart; anything else is a 502.
_MINIMAX_RATE_LIMIT = frozenset({1002})
_MINIMAX_CREDENTIALS = frozenset({1004, 2049})
_MINIMAX_BALANCE = frozenset({1008})
_MINIMAX_TOKEN_LIMIT = frozenset({1039})
_MINIMAX_INVALID = frozenset({2013})
_MINIMAX_TIMEOUT = frozenset({1001})


def minimax_base_resp_error(provider: str, body: Mapping[str, object]) -> GatewayError | None:
    """The error a MiniMax ``base_resp`` reports, or None when it says success (or is absent).

    MiniMax answers HTTP 200 with ``base_resp.status_code`` != 0 for failures such as an
    exhausted balance, so this is checked on every answer and every stream event.
    """
    base = body.get("base_resp")
    if not isinstance(base, Mapping):
        return None
    code = base.get("status_code")
    if code in (0, None):
        return None
    said = str(base.get("status_msg") or "").strip()
    detail = f"{provider} reported status {code}" + (f": {said}" if said else "")
    if code in _MINIMAX_RATE_LIMIT:
        return RateLimited(f"{detail}; retry later")
    if code in _MINIMAX_CREDENTIALS:
        return UpstreamError(
            f"{provider} refused the gateway's credentials; the operator must check the "
            f"provider key and its region's base URL. Upstream said: {detail}"
        )
    if code in _MINIMAX_BALANCE:
        return UpstreamError(
            f"{provider} account balance is insufficient; the operator must top it up. "
            f"Upstream said: {detail}"
        )
    if code in _MINIMAX_TOKEN_LIMIT:
        return InvalidRequest(
            f"{detail}. The conversation and max_tokens exceed the model's token limit.",
            code="context_length_exceeded",
            param="messages",
        )
    if code in _MINIMAX_INVALID:
        return InvalidRequest(f"{detail}", code="upstream_invalid_request")
    if code in _MINIMAX_TIMEOUT:
        return UpstreamTimeout(detail)
    return UpstreamError(detail)
