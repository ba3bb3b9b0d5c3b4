"""One request's way through its plan: which deployment to call now, and what to do when a
call fails.

:class:`Attempts` picks the first candidate that can take the request (the capability
check, before any call: images, image count, tools and JSON mode, context window), fits
the images for it, and after a failed call either waits and calls the same deployment
again, cools it down and moves on, or goes to the fallbacks, as :func:`classify` says.
When nothing is left the client gets the *primary*'s error (the first call's), with the
number of calls made. A candidate passed over by the capability check is not a call.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import TYPE_CHECKING, Any

from visiongate.core.messages import ChatRequest, DocumentPart, ImagePart, TextPart
from visiongate.core.outcome import Outcome
from visiongate.documents import delivery
from visiongate.errors import GatewayError, ImageError, InvalidRequest
from visiongate.images import too_many_images
from visiongate.service.routing import (
    CREDENTIALS,
    FALLBACK,
    FATAL,
    RETRY,
    Candidate,
    Plan,
    backoff_s,
    classify,
)

if TYPE_CHECKING:
    from visiongate.documents import DocumentPipeline
    from visiongate.images import ImagePipeline
    from visiongate.service.routing import Router

__all__ = ["Attempts", "estimate_prompt_tokens"]

_LOAD_STRATEGIES = frozenset({"least-busy", "lowest-latency"})


class _Originals:
    """The image and document parts as the client sent them, to prepare again for another
    model (the image pipeline fits in place; the document pipeline replaces a rendered
    document by its pages)."""

    def __init__(self, request: ChatRequest) -> None:
        self._messages = [
            (message, [_copied(part) for part in message.parts])
            for message in request.messages
            if any(isinstance(part, ImagePart | DocumentPart) for part in message.parts)
        ]

    def restore(self) -> None:
        for message, parts in self._messages:
            message.parts = [_copied(part) for part in parts]


def _copied(part: Any) -> Any:
    return copy.copy(part) if isinstance(part, ImagePart | DocumentPart) else part


class Attempts:
    """The routing state of one request: the plan, the current candidate, the calls made."""

    def __init__(
        self,
        router: Router,
        images: ImagePipeline,
        request: ChatRequest,
        plan: Plan,
        outcome: Outcome,
        default_retries: int,
        documents: DocumentPipeline | None = None,
    ) -> None:
        self.router = router
        self.images = images
        self.documents = documents
        self.request = request
        self.plan = plan
        self.outcome = outcome
        self.default_retries = max(0, default_retries)
        self.candidate: Candidate | None = None
        self.calls = 0
        self.prompt_tokens = 0
        self._retries_left = 0
        self._first_error: GatewayError | None = None
        self._images = request.images
        self._image_count = len(self._images)
        self._document_count = len(request.documents)
        media = self._image_count or self._document_count
        self._originals = _Originals(request) if media and plan.may_fall_back else None
        self._fitted_for: object = None
        self._touched = False  # a pipeline has edited the parts (restore before another)
        self._document_tokens = 0
        self._fetched: dict[str, bytes] | None = {} if self._originals is not None else None
        self._call_started = 0.0
        self._reported: Candidate | None = None

    # ------------------------------------------------------------------ choosing

    async def choose(self, *, fallbacks_only: bool = False) -> Candidate:
        """The next candidate that can take the request, its images fitted for it.

        Raises the primary's error when calls were made and nothing is left, else the
        first reason a candidate was passed over (a 400 naming what none could take).
        """
        while True:
            candidate = await self.plan.next(fallbacks_only=fallbacks_only)
            fallbacks_only = False
            if candidate is None:
                raise self._exhausted()
            try:
                refusal = await self._fit(candidate)
            except GatewayError as exc:
                if not self.calls:
                    raise  # the request's own fault (an image that cannot be fetched, ...)
                refusal = exc  # failing over: this one cannot take it, the primary's error stands
            if refusal is None:
                self.candidate = candidate
                retries = candidate.route.retries
                self._retries_left = self.default_retries if retries is None else retries
                if self.calls == 0:  # until a call is made, the outcome names this one
                    self._report(candidate)
                return candidate
            self.plan.skipped.append(refusal)

    async def _fit(self, candidate: Candidate) -> GatewayError | None:
        """Why ``candidate`` cannot take the request (None: it can, images fitted)."""
        model = candidate.model
        count = self._image_count
        media = count or self._document_count
        if media and not model.supports("vision"):
            what = f"{count} image(s)" if count else f"{self._document_count} document(s)"
            return InvalidRequest(
                f"{model.id} does not read images and this request has {what}; send it to "
                "a vision model.",
                code="unsupported_content",
                param="messages",
            )
        # What the parts were prepared for: the image limits and, with documents, their
        # delivery (the same limits and delivery need no second preparation). Parts
        # prepared for another target go back to what the client sent first.
        target = (model.image, self._delivery(candidate)) if self._document_count else model.image
        if media and self._fitted_for != target and self._touched and self._originals:
            self._originals.restore()
            self._images = self.request.images  # the restored parts
            self._fitted_for = None
        too_many = too_many_images(self._images, model) if count else None
        if too_many is not None:
            return too_many
        try:
            candidate.provider.check(self.request, model)
        except InvalidRequest as exc:
            return exc
        if media and self._fitted_for != target:
            self._touched = True
            if self._document_count:
                refusal = await self._prepare_documents(candidate)
                if refusal is not None:
                    return refusal
            # Documents read as pages add image parts: the pipeline then finds them itself.
            parts = None if self._document_count else self._images
            stats = await self.images.prepare(self.request, model, self._fetched, parts)
            self._fitted_for = target
            outcome = self.outcome
            outcome.images = stats.count
            outcome.image_bytes = stats.bytes
            outcome.image_tokens = stats.tokens + self._document_tokens
            outcome.image_seconds += stats.seconds
            outcome.fetched_bytes += stats.fetched_bytes
            outcome.cache_hits += stats.cache_hits
        prompt = estimate_prompt_tokens(self.request) + self.outcome.image_tokens
        window = model.context_window
        if window and prompt + (self.request.max_tokens or 0) > window:
            return InvalidRequest(
                f"The conversation (about {prompt} tokens) plus max_tokens exceeds the "
                f"{window}-token context of {model.id}; send less or use a larger model.",
                code="context_length_exceeded",
                param="messages",
            )
        self.prompt_tokens = prompt
        return None

    def _delivery(self, candidate: Candidate) -> str:
        form = candidate.provider.pdf_form(candidate.model)
        setting = self.documents.settings.documents if self.documents is not None else "auto"
        return delivery(form, candidate.model.pdf_native, setting)

    async def _prepare_documents(self, candidate: Candidate) -> GatewayError | None:
        """Read the documents for ``candidate``; a refusal when it takes fewer images than
        the pages to send (another candidate, one that reads PDFs, may take them)."""
        assert self.documents is not None
        provider = candidate.provider
        try:
            docs = await self.documents.prepare(
                self.request,
                candidate.model,
                provider.pdf_form(candidate.model),
                urls=provider.accepts_pdf_urls,
            )
        except ImageError as exc:
            if exc.code == "too_many_images":
                return exc
            raise
        outcome = self.outcome
        outcome.documents = docs.count
        outcome.document_pages = docs.pages
        outcome.document_bytes = docs.bytes
        outcome.image_seconds += docs.seconds
        self._document_tokens = docs.tokens
        return None

    def _report(self, candidate: Candidate) -> None:
        if candidate is self._reported:
            return
        self._reported = candidate
        outcome = self.outcome
        outcome.provider = candidate.provider.name
        outcome.upstream_model = candidate.model.upstream
        outcome.deployment = candidate.model.id
        outcome.fallback = candidate.fallback

    def _exhausted(self) -> GatewayError:
        if self._first_error is not None:
            error = self._first_error
            error.headers["x-visiongate-attempts"] = str(self.calls)
            return error
        if self.plan.skipped:
            return self.plan.skipped[0]
        return GatewayError(f"the route {self.plan.route.name!r} has no deployment to call")

    # ------------------------------------------------------------------ calling

    async def started(self) -> None:
        """A call to the current candidate begins."""
        self.calls += 1
        self.outcome.attempts = self.calls
        self._call_started = time.perf_counter()
        candidate = self.candidate
        assert candidate is not None
        if candidate.route.strategy in _LOAD_STRATEGIES:
            await self.router.load.started(candidate.model.id)

    async def ended(self, ok: bool) -> None:
        """The current call ended (for a stream: its first delta came, or it failed)."""
        candidate = self.candidate
        assert candidate is not None
        if candidate.route.strategy in _LOAD_STRATEGIES:
            seconds = time.perf_counter() - self._call_started if ok else None
            await self.router.load.finished(candidate.model.id, seconds)

    def succeeded(self) -> None:
        assert self.candidate is not None
        self._report(self.candidate)

    async def failed(self, error: GatewayError) -> None:
        """After a failed call: return to call again (the same candidate after a pause, or
        the next one), or raise the error the client gets."""
        candidate = self.candidate
        assert candidate is not None
        kind = classify(error, candidate.route)
        self._log(candidate, error, kind)
        if self._first_error is None:
            self._first_error = error
        if kind == FATAL:
            error.headers["x-visiongate-attempts"] = str(self.calls)
            raise error
        cooled = False
        if kind in (RETRY, CREDENTIALS):
            cooled = await self.router.cooldowns.failed(
                candidate.model.id, candidate.route.cooldown, at_once=kind == CREDENTIALS
            )
            if cooled:
                self.outcome.cooled = [*(self.outcome.cooled or ()), candidate.model.id]
        if kind == RETRY and self._retries_left > 0 and not cooled:
            self._retries_left -= 1
            used = (
                self.default_retries if candidate.route.retries is None else candidate.route.retries
            ) - self._retries_left
            await asyncio.sleep(backoff_s(used - 1, error))
            return
        await self.choose(fallbacks_only=kind == FALLBACK)

    def _log(self, candidate: Candidate, error: GatewayError, kind: str) -> None:
        entry: dict[str, Any] = {
            "deployment": candidate.model.id,
            "provider": candidate.provider.name,
            "status": error.upstream_status or error.status,
            "code": error.code,
            "action": kind,
        }
        self.outcome.failures = [*(self.outcome.failures or ()), entry]


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
