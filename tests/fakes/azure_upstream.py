"""A fake Azure OpenAI resource: OpenAI's Chat Completions behind Azure's URLs and auth.

It checks Azure's wire format (Microsoft's Azure OpenAI REST reference; the openai-node
Azure guide for the v1 API) and refuses anything else the way Azure does:

- dated style (``api_version`` set): ``POST /openai/deployments/{deployment}/chat/
  completions?api-version={api_version}``, no ``model`` in the body;
- v1 style (``api_version`` None): ``POST /openai/v1/chat/completions``, the deployment
  name as the body's ``model``, no ``api-version``;
- the key in the ``api-key`` header and no ``Authorization`` header (or, with
  ``bearer_token``, exactly ``Authorization: Bearer <token>`` and no ``api-key``).

Beyond :class:`FakeOpenAI`'s directives: ``[[content_filter]]`` answers Azure's 400 for a
filtered prompt (``code: content_filter`` with ``innererror``); ``[[finish=content_filter]]``
is the filtered answer (HTTP 200).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.openai_checks import Refused, RequestChecker
from tests.fakes.openai_upstream import FakeOpenAI, _directives

__all__ = ["FakeAzure"]

_FILTERED = {
    "hate": {"filtered": True, "severity": "high"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}


def _azure_error(http_status: int, code: str, message: str, **extra: Any) -> web.Response:
    body = {"error": {"code": code, "message": message, "param": None, "type": None, **extra}}
    return web.json_response(body, status=http_status)


@dataclass
class FakeAzure(FakeOpenAI):
    api_version: str | None = "2024-10-21"
    deployments: frozenset[str] = frozenset({"gpt-4o-prod"})
    bearer_token: str | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=128 * 1024 * 1024)
        app.router.add_post("/{path:.*}", self._azure)
        return app

    async def _azure(self, request: web.Request) -> web.StreamResponse:
        raw, headers, body = await self._receive(request)
        refusal = self._check_auth_azure(headers)
        if refusal is not None:
            return refusal
        if not isinstance(body, dict):
            return _azure_error(400, "BadRequest", "The request body is not JSON.")
        deployment = self._deployment(request, body)
        if isinstance(deployment, web.Response):
            return deployment
        body = {**body, "model": deployment}
        try:
            RequestChecker(self).body(body)
        except Refused as refused:
            return _azure_error(refused.status, "BadRequest", refused.message)
        if "content_filter" in _directives(body):
            return _azure_error(
                400,
                "content_filter",
                "The response was filtered due to the prompt triggering Azure OpenAI's "
                "content management policy.",
                status=400,
                innererror={
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": _FILTERED,
                },
            )
        return await self._answer(request, body, raw)

    def _check_auth_azure(self, headers: dict[str, str]) -> web.Response | None:
        if self.bearer_token is not None:
            expected = f"Bearer {self.bearer_token}"
            if "api-key" in headers or headers.get("authorization") != expected:
                return _azure_error(401, "401", "Unauthorized. Access token is missing or invalid.")
            return None
        if "authorization" in headers:
            return _azure_error(401, "401", "Send the key in api-key, not Authorization.")
        if headers.get("api-key") != self.api_key:
            return _azure_error(
                401,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint.",
            )
        return None

    def _deployment(self, request: web.Request, body: dict[str, Any]) -> str | web.Response:
        if self.api_version is not None:
            prefix, suffix = "/openai/deployments/", "/chat/completions"
            path = request.path
            if not (path.startswith(prefix) and path.endswith(suffix)):
                return _azure_error(404, "404", f"Resource not found: {path}")
            if request.query.get("api-version") != self.api_version:
                return _azure_error(404, "404", "Resource not found (api-version)")
            if "model" in body:
                return _azure_error(400, "BadRequest", "model belongs in the path here")
            name = path[len(prefix) : -len(suffix)]
        else:
            if request.path != "/openai/v1/chat/completions" or "api-version" in request.query:
                return _azure_error(404, "404", f"Resource not found: {request.path_qs}")
            name = body.get("model")
        if name not in self.deployments:
            return _azure_error(404, "DeploymentNotFound", f"The deployment {name} does not exist.")
        return str(name)
