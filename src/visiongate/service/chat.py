"""The chat use case: route the request, admit the caller, prepare images, call the provider.

Everything between the HTTP edge (which parses and renders) and the provider adapters
(which translate) happens here, in the same order for streamed and whole answers, so the
two paths cannot drift. The edge owns the request's :class:`Outcome` and records it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping

from visiongate.accounting import Accounts, Admission, Principal
from visiongate.core.catalog import Catalog, ModelEntry
from visiongate.core.messages import ChatRequest, ChatResponse, StreamDelta, Usage
from visiongate.core.outcome import Outcome
from visiongate.documents import DocumentPipeline
from visiongate.errors import GatewayError, ModelNotAllowed, ModelNotFound
from visiongate.images import ImagePipeline
from visiongate.providers.base import Provider
from visiongate.service.attempts import Attempts, estimate_prompt_tokens
from visiongate.service.cache import AnswerCache, CacheTicket, parse_cache_control
from visiongate.service.cache_entry import CachedAnswer
from visiongate.service.cooldowns import Cooldowns, MemoryCooldowns
from visiongate.service.load import Load, MemoryLoad
from visiongate.service.routing import Candidate, Router
from visiongate.settings import Settings

__all__ = ["ChatService", "Prepared", "estimate_prompt_tokens"]


class Prepared:
    """A request that passed every check and is ready for its provider.

    ``model`` and ``provider`` are the deployment it goes to now; after the call, the one
    that served (the routing policy may have moved on: :attr:`attempts`).
    """

    __slots__ = ("admission", "attempts", "cache", "request")

    def __init__(
        self,
        request: ChatRequest,
        attempts: Attempts,
        admission: Admission,
        cache: CacheTicket | None = None,
    ) -> None:
        self.request = request
        self.attempts = attempts
        self.admission = admission
        self.cache = cache  # None: the answer cache is off for this request

    @property
    def candidate(self) -> Candidate:
        candidate = self.attempts.candidate
        assert candidate is not None
        return candidate

    @property
    def model(self) -> ModelEntry:
        return self.candidate.model

    @property
    def provider(self) -> Provider:
        return self.candidate.provider

    def headers(self) -> dict[str, str]:
        """What every surface adds to a success: which deployment served, under which
        upstream name, after how many upstream calls (0 for a cache hit), and what the
        answer cache did."""
        candidate = self.candidate
        headers = {
            "x-visiongate-provider": candidate.provider.name,
            "x-visiongate-upstream-model": candidate.model.upstream,
            "x-visiongate-attempts": str(self.attempts.calls),
        }
        if self.cache is not None:
            headers["x-visiongate-cache"] = self.cache.status
        return headers


class ChatService:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        providers: Mapping[str, Provider],
        images: ImagePipeline,
        accounts: Accounts,
        cooldowns: Cooldowns | None = None,
        load: Load | None = None,
        documents: DocumentPipeline | None = None,
        cache: AnswerCache | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.providers = providers
        self.images = images
        self.accounts = accounts
        self.documents = documents or DocumentPipeline(settings, images)
        self.cache = cache
        self.router = Router(
            settings,
            catalog,
            providers,
            cooldowns if cooldowns is not None else MemoryCooldowns(),
            load if load is not None else MemoryLoad(),
        )

    def resolve(self, model_id: str) -> tuple[ModelEntry, Provider]:
        """The catalog entry and provider for a model id (see :meth:`Router.deployment`).
        Raises ModelNotFound."""
        return self.router.deployment(model_id)

    async def prepare(
        self,
        request: ChatRequest,
        principal: Principal,
        outcome: Outcome,
        cache_control: str | None = None,
    ) -> Prepared:
        """Every check before the provider is called, cheapest first (:meth:`_checked`),
        the request's answer-cache ticket (``cache_control``: its ``Cache-Control``
        header), then admission: a hit passes the key's limits too (it is a request),
        though it spends no tokens. Raises GatewayError."""
        attempts = await self._checked(request, principal, outcome)
        candidate = attempts.candidate
        assert candidate is not None
        ticket = await self._ticket(request, attempts, principal, cache_control)
        estimate = attempts.prompt_tokens
        estimate += request.max_tokens or min(candidate.model.max_output_tokens, 1024)
        admission = await self.accounts.admit(principal, candidate.model, estimate, checked=True)
        return Prepared(request, attempts, admission, ticket)

    async def _ticket(
        self,
        request: ChatRequest,
        attempts: Attempts,
        principal: Principal,
        cache_control: str | None,
    ) -> CacheTicket | None:
        """The answer cache's ticket, keyed after the images were fitted for the first
        deployment. The table is the one of the name the client sent: a route's own, or
        for a plain model (an implicit route) the model's."""
        if self.cache is None:
            return None
        route = attempts.plan.route
        candidate = attempts.candidate
        assert candidate is not None
        config = candidate.model.cache if route.implicit else route.cache
        if config is None and not cache_control:
            return None
        return await self.cache.ticket(
            request,
            config,
            route.name,
            candidate.model.upstream if route.implicit else None,
            principal.key_id,
            parse_cache_control(cache_control),
            self.images.fetch,
        )

    async def count_tokens(
        self, request: ChatRequest, principal: Principal, outcome: Outcome
    ) -> int:
        """The prompt tokens :meth:`prepare` would reserve for ``request``, images
        included, after the same checks; the provider is not called and the key's limits
        are not spent."""
        return (await self._checked(request, principal, outcome)).prompt_tokens

    async def _checked(
        self, request: ChatRequest, principal: Principal, outcome: Outcome
    ) -> Attempts:
        """The route (or model), the key's allowlist (for the name asked for and each
        per-request fallback), and the first deployment able to take the request, its
        documents and images prepared (their stats go on ``outcome``)."""
        route = self.router.route(request.model)
        self._check_allowed(principal, request.model, route.implicit, "model")
        for i, name in enumerate(request.fallbacks or ()):
            if not self.router.knows(name):
                raise ModelNotFound(
                    f"The fallback {name!r} is neither a model nor a route of this gateway.",
                    param=f"fallbacks[{i}]",
                )
            self._check_allowed(principal, name, name not in self.catalog.routes, f"fallbacks[{i}]")
        plan = self.router.plan(route, request.fallbacks or ())
        attempts = Attempts(
            self.router,
            self.images,
            request,
            plan,
            outcome,
            self.settings.upstream_retries,
            documents=self.documents,
        )
        await attempts.choose()
        return attempts

    def _check_allowed(self, principal: Principal, name: str, model: bool, param: str) -> None:
        """A configured route is allowed by its own name (its targets come with it); a
        model by its id or one of its aliases."""
        if principal.may_use(name):
            return
        entry = self.catalog.resolve(name) if model else None
        if entry is not None and (
            principal.may_use(entry.id, entry.aliases)  # the one alias-aware rule
        ):
            return
        raise ModelNotAllowed(
            f"This API key may not use {name!r}; ask the operator to allow it.", param=param
        )

    async def complete(self, prepared: Prepared, outcome: Outcome) -> ChatResponse:
        ticket = prepared.cache
        if ticket is not None:
            answer = await self._lookup(ticket, outcome)
            if answer is not None:
                response = answer.as_response()
                await self._finish_hit(prepared, outcome, answer)
                return response
        attempts = prepared.attempts
        started = time.perf_counter()
        try:
            while True:
                candidate = prepared.candidate
                await attempts.started()
                try:
                    response = await candidate.provider.complete(prepared.request, candidate.model)
                except GatewayError as exc:
                    await attempts.ended(ok=False)
                    await attempts.failed(exc)
                    continue
                except BaseException:
                    await attempts.ended(ok=False)
                    raise
                await attempts.ended(ok=True)
                break
        except BaseException:
            if ticket is not None:
                ticket.release()  # the requests waiting for this one call themselves
            # Nothing was produced: release the tokens reserved for this request.
            await self.accounts.settle(prepared.admission, 0)
            raise
        finally:
            outcome.upstream_seconds = time.perf_counter() - started
        attempts.succeeded()
        outcome.first_token_at = time.perf_counter()
        if response.usage is None:
            response.usage = self.estimate_usage(prepared.request, outcome, response)
        if response.upstream_model:
            outcome.upstream_model = response.upstream_model
        await self.finish(prepared, outcome, response.usage)
        if ticket is not None:
            await ticket.store(response.usage, response.upstream_model, response=response)
            outcome.cache_error = ticket.error
        return response

    async def _open(
        self, prepared: Prepared
    ) -> tuple[AsyncIterator[StreamDelta], StreamDelta | None]:
        """A stream from the first deployment that sends a first delta; until then a
        failure may go to another (never after: the client may have it)."""
        attempts = prepared.attempts
        while True:
            candidate = prepared.candidate
            deltas = candidate.provider.stream(prepared.request, candidate.model)
            await attempts.started()
            try:
                first = await anext(deltas)
            except StopAsyncIteration:
                await attempts.ended(ok=True)
                return deltas, None
            except GatewayError as exc:
                await deltas.aclose()  # type: ignore[attr-defined]
                await attempts.ended(ok=False)
                await attempts.failed(exc)
                continue
            except BaseException:
                await deltas.aclose()  # type: ignore[attr-defined]
                await attempts.ended(ok=False)
                raise
            await attempts.ended(ok=True)
            attempts.succeeded()
            return deltas, first

    async def stream(self, prepared: Prepared, outcome: Outcome) -> AsyncGenerator[StreamDelta]:
        """The provider's deltas (or a cached answer's); the last one always carries the
        usage (estimated if the provider gave none)."""
        ticket = prepared.cache
        kept: list[StreamDelta] | None = None
        if ticket is not None:
            answer = await self._lookup(ticket, outcome)
            if answer is not None:
                replayed = answer.as_deltas()
                await self._finish_hit(prepared, outcome, answer)
                for cached in replayed:
                    yield cached
                yield StreamDelta(usage=answer.usage)
                return
            kept = []
        started = time.perf_counter()
        usage: Usage | None = None
        text_chars = 0
        deltas: AsyncIterator[StreamDelta] | None = None
        ended = False
        try:
            deltas, delta = await self._open(prepared)
            opened = delta is not None
            # A loop over anext rather than a generator that yields the first delta and
            # then the rest: each level of generator costs every step of the stream.
            while delta is not None:
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
                    if kept is not None:
                        kept.append(delta)
                    yield delta
                try:
                    delta = await anext(deltas)
                except StopAsyncIteration:
                    break
            ended = opened
        finally:
            if ticket is not None and not ended:
                ticket.release()  # failed, empty or abandoned: not an answer to keep
            if deltas is not None:
                await deltas.aclose()  # type: ignore[attr-defined]
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
        if ticket is not None:
            await ticket.store(usage, outcome.upstream_model, deltas=kept)
            outcome.cache_error = ticket.error
        yield StreamDelta(usage=usage)

    async def _lookup(self, ticket: CacheTicket, outcome: Outcome) -> CachedAnswer | None:
        answer = await ticket.lookup()
        outcome.cache = ticket.status
        outcome.cache_error = ticket.error
        return answer

    async def _finish_hit(self, prepared: Prepared, outcome: Outcome, answer: CachedAnswer) -> None:
        """A cached answer costs nothing; what it would have cost is what it saved."""
        usage = answer.usage
        outcome.usage = usage
        if answer.upstream_model:
            outcome.upstream_model = answer.upstream_model
        outcome.first_token_at = time.perf_counter()
        outcome.cost_usd = 0.0
        outcome.saved_usd = prepared.model.cost_usd(usage.prompt_tokens, usage.completion_tokens)
        await self.accounts.settle(prepared.admission, 0)

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
