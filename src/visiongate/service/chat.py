"""The chat use case: resolve the model, admit the caller, prepare images, call the provider.

Everything between the HTTP edge (which parses and renders) and the provider adapters
(which translate) happens here, in the same order for streamed and whole answers, so the
two paths cannot drift. The edge owns the request's :class:`Outcome` and records it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace

from visiongate.accounting import Accounts, Admission, Principal
from visiongate.core.catalog import Catalog, ModelEntry
from visiongate.core.messages import ChatRequest, ChatResponse, StreamDelta, TextPart, Usage
from visiongate.core.outcome import Outcome
from visiongate.errors import ModelNotAllowed, ModelNotFound
from visiongate.images import ImagePipeline
from visiongate.providers.base import Provider
from visiongate.settings import Settings

__all__ = ["ChatService", "Prepared"]


class Prepared:
    """A request that passed every check and is ready for its provider."""

    __slots__ = ("admission", "model", "provider", "request")

    def __init__(
        self, request: ChatRequest, model: ModelEntry, provider: Provider, admission: Admission
    ) -> None:
        self.request = request
        self.model = model
        self.provider = provider
        self.admission = admission


class ChatService:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        providers: Mapping[str, Provider],
        images: ImagePipeline,
        accounts: Accounts,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.providers = providers
        self.images = images
        self.accounts = accounts

    def resolve(self, model_id: str) -> tuple[ModelEntry, Provider]:
        """The catalog entry and provider for a model id.

        Raises ModelNotFound for an unknown id, or for a known one whose provider has no
        credentials — naming the variable to set. With ``follow_successors`` a retired
        model is sent to its successor (the response keeps the requested id).
        """
        entry = self.catalog.resolve(model_id)
        if entry is None:
            raise ModelNotFound(
                f"The model {model_id!r} does not exist. GET /v1/models lists the models this "
                "gateway serves.",
                param="model",
            )
        provider_entry = self.catalog.provider_of(entry)
        provider = self.providers.get(entry.provider)
        if provider is None or not provider_entry.configured:
            var = provider_entry.api_key_env or f"[providers.{provider_entry.name}] api_key"
            raise ModelNotFound(
                f"The model {model_id!r} is served by {provider_entry.name}, which is not "
                f"configured on this gateway: the operator must set {var}.",
                param="model",
            )
        if self.settings.follow_successors and entry.retired and entry.successor:
            # To the end of the chain: a successor retired in its turn is passed over.
            chain = self.catalog.successor_chain(entry)
            last = chain[-1].upstream if chain else entry.successor
            entry = replace(entry, upstream=last, successor=last)
        return entry, provider

    async def prepare(
        self, request: ChatRequest, principal: Principal, outcome: Outcome
    ) -> Prepared:
        """Every check before the provider is called, cheapest first. Raises GatewayError."""
        model, provider = await self._checked(request, principal, outcome)
        estimate = estimate_prompt_tokens(request) + outcome.image_tokens
        estimate += request.max_tokens or min(model.max_output_tokens, 1024)
        admission = await self.accounts.admit(principal, model, estimate)
        return Prepared(request, model, provider, admission)

    async def count_tokens(
        self, request: ChatRequest, principal: Principal, outcome: Outcome
    ) -> int:
        """The prompt tokens :meth:`prepare` would reserve for ``request``, images
        included, after the same checks; the provider is not called and the key's limits
        are not spent."""
        await self._checked(request, principal, outcome)
        return estimate_prompt_tokens(request) + outcome.image_tokens

    async def _checked(
        self, request: ChatRequest, principal: Principal, outcome: Outcome
    ) -> tuple[ModelEntry, Provider]:
        """Resolve the model, authorise the key, let the provider refuse what it cannot
        honour, and prepare the images (their stats go on ``outcome``)."""
        model, provider = self.resolve(request.model)
        outcome.provider = provider.name
        outcome.upstream_model = model.upstream
        if not principal.may_use(model.id):
            raise ModelNotAllowed(
                f"This API key may not use {model.id!r}; ask the operator to allow it.",
                param="model",
            )
        provider.check(request, model)
        stats = await self.images.prepare(request, model)
        outcome.images = stats.count
        outcome.image_bytes = stats.bytes
        outcome.image_tokens = stats.tokens
        outcome.image_seconds = stats.seconds
        outcome.fetched_bytes = stats.fetched_bytes
        outcome.cache_hits = stats.cache_hits
        return model, provider

    async def complete(self, prepared: Prepared, outcome: Outcome) -> ChatResponse:
        started = time.perf_counter()
        try:
            response = await prepared.provider.complete(prepared.request, prepared.model)
        except BaseException:
            # Nothing was produced: release the tokens reserved for this request.
            await self.accounts.settle(prepared.admission, 0)
            raise
        finally:
            outcome.upstream_seconds = time.perf_counter() - started
        outcome.first_token_at = time.perf_counter()
        if response.usage is None:
            response.usage = self.estimate_usage(prepared.request, outcome, response)
        if response.upstream_model:
            outcome.upstream_model = response.upstream_model
        await self.finish(prepared, outcome, response.usage)
        return response

    async def stream(self, prepared: Prepared, outcome: Outcome) -> AsyncIterator[StreamDelta]:
        """The provider's deltas; the last one always carries the usage (estimated if the
        provider gave none)."""
        started = time.perf_counter()
        usage: Usage | None = None
        text_chars = 0
        try:
            async for delta in prepared.provider.stream(prepared.request, prepared.model):
                if outcome.first_token_at is None and (
                    delta.content or delta.tool_calls or delta.refusal
                ):
                    outcome.first_token_at = time.perf_counter()
                if delta.content:
                    text_chars += len(delta.content)
                if delta.usage is not None:
                    usage = delta.usage
                    delta.usage = None
                if delta.upstream_model:
                    outcome.upstream_model = delta.upstream_model
                if (
                    delta.role
                    or delta.content is not None
                    or delta.refusal is not None
                    or delta.tool_calls
                    or delta.finish_reason
                ):
                    yield delta
        finally:
            outcome.upstream_seconds = time.perf_counter() - started
            if usage is None:
                usage = Usage(
                    prompt_tokens=estimate_prompt_tokens(prepared.request) + outcome.image_tokens,
                    completion_tokens=(text_chars + 3) // 4,
                    image_tokens=outcome.image_tokens,
                    estimated=True,
                )
            # Also when the client went away mid-stream: what was produced is still billed.
            await self.finish(prepared, outcome, usage)
        yield StreamDelta(usage=usage)

    async def finish(self, prepared: Prepared, outcome: Outcome, usage: Usage) -> None:
        outcome.usage = usage
        if not usage.image_tokens:
            usage.image_tokens = outcome.image_tokens
        outcome.cost_usd = prepared.model.cost_usd(usage.prompt_tokens, usage.completion_tokens)
        await self.accounts.settle(prepared.admission, usage.total_tokens)

    def estimate_usage(
        self, request: ChatRequest, outcome: Outcome, response: ChatResponse
    ) -> Usage:
        chars = sum(len(c.content or "") for c in response.choices)
        return Usage(
            prompt_tokens=estimate_prompt_tokens(request) + outcome.image_tokens,
            completion_tokens=(chars + 3) // 4,
            image_tokens=outcome.image_tokens,
            estimated=True,
        )


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """Text tokens before the call, about four characters each plus a few per message:
    good enough for pre-flight limits, and corrected by the provider's own count after."""
    chars = 0
    for message in request.messages:
        chars += 16
        for part in message.parts:
            if isinstance(part, TextPart):
                chars += len(part.text)
    return (chars + 3) // 4
