"""The Azure OpenAI adapter: OpenAI's Chat Completions on an Azure resource.

The body and the answer are OpenAI's (``openai.py`` does the mapping); what differs is
where the request goes, how it authenticates, and Azure's content filter. Facts from
Microsoft's Azure OpenAI REST reference (learn.microsoft.com/azure/ai-services/openai/
reference, data plane inference, GA 2024-10-21) and the openai-node Azure guide
(github.com/openai/openai-node, docs/azure.md, the v1 API):

- Two URL styles. Dated API versions: ``{endpoint}/openai/deployments/{deployment}/
  chat/completions?api-version={version}``, the deployment in the path (the body needs
  no ``model``); used when the provider table sets ``api_version``. The v1 API:
  ``{endpoint}/openai/v1/chat/completions`` with the deployment name as the body's
  ``model``; used when it does not. ``upstream`` is the deployment name in both.
- Auth: the ``api-key`` header, or ``Authorization: Bearer <Microsoft Entra ID token>``
  with ``options = { auth = "bearer" }`` (e.g. ``api_key_env = "AZURE_OPENAI_AD_TOKEN"``).
  Never both.
- Content filter: a prompt the filter refuses is HTTP 400 with ``error.code =
  "content_filter"`` and ``error.innererror`` (``code: "ResponsibleAIPolicyViolation"``,
  ``content_filter_result`` per category); a filtered answer is HTTP 200 with
  ``finish_reason: "content_filter"``. Both are already OpenAI's shapes: the 400 keeps
  the code ``content_filter`` (which routes send to their fallbacks) and the inner code is
  added to the message; extra ``prompt_filter_results`` / ``content_filter_results``
  fields and the first stream chunk with no choices are ignored by the OpenAI mapping.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from visiongate.core.messages import ChatRequest
from visiongate.providers.base import HttpProvider
from visiongate.providers.openai import OpenAIProvider, to_openai_payload
from visiongate.providers.openai_compat import HostProfile

if TYPE_CHECKING:
    from visiongate.core.catalog import ModelEntry, ProviderEntry
    from visiongate.settings import Settings

__all__ = ["AzureOpenAIProvider", "azure_url"]


def azure_url(endpoint: str, deployment: str, api_version: str | None) -> str:
    """The chat completions URL of ``deployment``: the dated style when ``api_version``
    is given, else the v1 API's."""
    if api_version:
        return (
            f"{endpoint}/openai/deployments/{quote(deployment, safe='')}/chat/completions"
            f"?api-version={quote(api_version, safe='')}"
        )
    return f"{endpoint}/openai/v1/chat/completions"


class AzureOpenAIProvider(OpenAIProvider):
    """One Azure OpenAI resource (``kind = "azure_openai"``); its models' ``upstream`` is
    the deployment name. Raises ValueError for an auth mode it does not know."""

    def __init__(self, entry: ProviderEntry, settings: Settings) -> None:
        HttpProvider.__init__(self, entry, settings)
        auth = str(entry.options.get("auth", "api-key")).lower()
        if auth not in ("api-key", "bearer"):
            raise ValueError(f"provider {entry.name!r}: auth must be 'api-key' or 'bearer'")
        options = {k: v for k, v in entry.options.items() if k != "auth"}
        self.host = HostProfile.from_entry(replace(entry, options=options))
        key = entry.api_key or ""
        self._headers = {"Authorization": f"Bearer {key}"} if auth == "bearer" else {"api-key": key}
        self.url = ""  # per deployment: _payload

    def _payload(
        self, request: ChatRequest, model: ModelEntry, stream: bool
    ) -> tuple[dict[str, Any], str]:
        payload = to_openai_payload(request, model, self.host, stream=stream)
        version = self.entry.api_version
        if version:
            payload.pop("model")  # the deployment is in the path
        return payload, azure_url(self.entry.base_url, model.upstream, version)

    def error_message(self, body: bytes) -> tuple[str, str | None]:
        """OpenAI's envelope, and the content filter's inner code in the message."""
        message, code = super().error_message(body)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return message, code
        error = data.get("error") if isinstance(data, dict) else None
        inner = error.get("innererror") if isinstance(error, dict) else None
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            message = f"{message} ({inner['code']})"
        return message, code
