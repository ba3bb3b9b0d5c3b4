"""The transformers engine: one Hugging Face vision-language model served in process.

One engine per model id (``local/smolvlm`` by default, more through ``local_models``). The
model is loaded on first use, in a thread, with its phase visible in :meth:`status` and in
log lines; every request then waits its turn in the model's bounded queue
(:mod:`visiongate.local.queue`), is prepared in a thread and generates in one of the
engine's own worker threads, so the event loop never blocks. Text reaches the client
token by token through ``loop.call_soon_threadsafe``; a client that goes away sets the
generation's cancel flag, which the stopping criteria check at every token.

Use it when one machine should answer vision questions with no provider and no network;
for throughput (continuous batching, paged KV cache) serve the model with vLLM and register
it as an OpenAI-compatible provider instead (docs/local-models.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from visiongate.core.catalog import ModelEntry
from visiongate.core.messages import ChatRequest, ChatResponse, Choice, StreamDelta, Usage
from visiongate.errors import GatewayError, ModelNotFound, Overloaded, UpstreamError
from visiongate.local import weights
from visiongate.local.queue import ModelQueue, Slot
from visiongate.settings import Settings

__all__ = ["VlmEngine"]

log = logging.getLogger("visiongate.local.vlm")
_DONE = object()


class VlmEngine:
    """Serves one catalog entry whose ``upstream`` is a hub id or a model directory."""

    def __init__(self, model: ModelEntry, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        self._queue = ModelQueue(model.id, settings.local_concurrency, settings.local_queue_size)
        self._executor = ThreadPoolExecutor(
            max_workers=self._queue.concurrency, thread_name_prefix=f"vlm-{model.id}"
        )
        self._loaded: Any = None  # loader.LoadedModel once ready
        self._load_task: asyncio.Future[Any] | None = None
        self._state = "not_loaded"
        self._phase: dict[str, Any] | None = None
        self._error: str | None = None
        self._cancels: set[threading.Event] = set()
        self._closed = False

    # ------------------------------------------------------------------ state

    def status(self) -> dict[str, Any]:
        """Load state for ``/v1/models``: cheap, offline, never loads anything."""
        revision = self.model.options.get("revision")
        out: dict[str, Any] = {
            "state": self._state,
            "progress": dict(self._phase) if self._phase else None,
            "source": self.model.upstream,
            "weights_present": self._loaded is not None
            or weights.weights_present(self.model.upstream, revision),
        }
        queue = self._queue.state()
        out["queue"] = {"running": queue.running, "waiting": queue.waiting}
        if self._loaded is not None:
            out.update(device=self._loaded.device, dtype=self._loaded.dtype)
        if self._error:
            out["error"] = self._error
        return out

    def available(self) -> bool:
        """Whether a request could be answered: the engine installed, and the weights on
        disk or fetchable from the hub."""
        if not weights.engine_installed():
            return False
        source = self.model.upstream
        if weights.weights_present(source, self.model.options.get("revision")):
            return True
        return not weights.is_directory_source(source) and weights.hub_allowed()

    # ------------------------------------------------------------------ API

    async def complete(self, request: ChatRequest) -> ChatResponse:
        pieces: list[str] = []
        final: StreamDelta | None = None
        async for delta in self.stream(request):
            if delta.content:
                pieces.append(delta.content)
            if delta.finish_reason is not None:
                final = delta
        assert final is not None
        return ChatResponse(
            choices=[Choice(content="".join(pieces), finish_reason=final.finish_reason)],
            usage=final.usage,
            upstream_model=self.model.upstream,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamDelta]:
        """Deltas: the role once generation has started (so queue, load and input errors
        are plain HTTP errors), text as it is produced, then the finish reason with usage.
        Raises Overloaded before the first delta when the model's queue is full."""
        slot = await self._admit()
        cancel = threading.Event()
        owned = True
        try:
            loaded = await self._ensure_loaded()
            job = await asyncio.to_thread(self._prepare, loaded, request)
            loop = asyncio.get_running_loop()
            pieces: asyncio.Queue[Any] = asyncio.Queue()
            future = loop.run_in_executor(
                self._executor, self._run, loaded, job, cancel, _emitter(loop, pieces)
            )
            self._cancels.add(cancel)
            future.add_done_callback(lambda f: self._finished(f, slot, cancel, pieces))
            owned = False  # the slot is now released when the worker thread ends
            yield StreamDelta(role="assistant", content="")
            while (piece := await pieces.get()) is not _DONE:
                yield StreamDelta(content=piece)
            result = self._result(future)
            yield StreamDelta(
                finish_reason=result.finish_reason,
                usage=Usage(
                    prompt_tokens=job.prompt_tokens,
                    completion_tokens=result.completion_tokens,
                    image_tokens=job.image_tokens,
                ),
                upstream_model=self.model.upstream,
            )
        finally:
            cancel.set()
            if owned:
                slot.release()

    async def close(self) -> None:
        """Stop running generations, wait for the worker threads, and free the model."""
        self._closed = True
        for cancel in list(self._cancels):
            cancel.set()
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
        on_gpu = self._loaded is not None and self._loaded.device != "cpu"
        self._loaded = None
        self._state = "not_loaded"
        torch = sys.modules.get("torch")
        if on_gpu and torch is not None:
            # Hand the GPU memory back now (a full collection takes ~0.5 s; on the CPU
            # reference counting frees the weights anyway).
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    # ------------------------------------------------------------------ internals

    async def _admit(self) -> Slot:
        if self._closed:
            raise Overloaded(
                f"{self.model.id} is shutting down; retry on another replica.",
                headers={"Retry-After": "1"},
            )
        if not weights.engine_installed():
            raise ModelNotFound(
                f"{self.model.id} needs the local engine: pip install 'visiongate[local]' "
                "(PyTorch and transformers), then restart the server.",
                param="model",
            )
        return await self._queue.acquire()

    async def _ensure_loaded(self) -> Any:
        """Load once; concurrent requests share the same load, and a client that goes away
        does not abort it (the next request would only start it again)."""
        if self._loaded is not None:
            return self._loaded
        if self._load_task is None:
            self._state, self._error = "loading", None
            self._phase = {"phase": "starting", "elapsed_s": 0.0}
            self._load_task = asyncio.ensure_future(asyncio.to_thread(self._load))
            # Retrieved here so a load nobody waits for anymore fails without a warning.
            self._load_task.add_done_callback(lambda t: t.cancelled() or t.exception())
        task = self._load_task
        try:
            self._loaded = await asyncio.shield(task)
        except GatewayError as exc:
            self._fail(task, exc.message)
            raise
        except Exception as exc:
            self._fail(task, f"{type(exc).__name__}: {exc}")
            raise UpstreamError(
                f"{self.model.id} could not be loaded: {type(exc).__name__}: {exc}",
                code="local_model_load_failed",
            ) from exc
        self._state, self._phase = "ready", None
        return self._loaded

    def _fail(self, task: asyncio.Future[Any], message: str) -> None:
        if self._load_task is task:  # the next request tries again
            self._load_task = None
            self._state, self._error, self._phase = "error", message, None

    def _load(self) -> Any:
        from visiongate.local.loader import load_model

        started = time.monotonic()
        log.info(
            "loading local model",
            extra={"model": self.model.id, "source": self.model.upstream},
        )

        def report(phase: str, counts: dict[str, int] | None) -> None:
            elapsed = round(time.monotonic() - started, 1)
            changed = self._phase is None or self._phase.get("phase") != phase
            self._phase = {"phase": phase, **(counts or {}), "elapsed_s": elapsed}
            if changed:
                log.info(f"local model {phase}", extra={"model": self.model.id})

        loaded = load_model(self.model, self.settings, report)
        log.info(
            "local model ready",
            extra={
                "model": self.model.id,
                "path": str(loaded.path),
                "device": loaded.device,
                "dtype": loaded.dtype,
                "parameters": loaded.parameters,
                "seconds": round(loaded.load_seconds, 2),
            },
        )
        return loaded

    def _prepare(self, loaded: Any, request: ChatRequest) -> Any:
        from visiongate.local.job import prepare_job

        return prepare_job(loaded, self.model, request)

    def _run(self, loaded: Any, job: Any, cancel: threading.Event, emit: Any) -> Any:
        from visiongate.local.job import run_job

        return run_job(loaded, job, cancel, emit)

    def _finished(
        self, future: asyncio.Future[Any], slot: Slot, cancel: threading.Event, pieces: Any
    ) -> None:
        """On the loop, when the worker thread is done: free the slot, wake the reader."""
        slot.release()
        self._cancels.discard(cancel)
        pieces.put_nowait(_DONE)
        if future.cancelled():
            return
        exc = future.exception()  # retrieved here too, so an abandoned failure is logged once
        if exc is not None and not isinstance(exc, GatewayError):
            log.error(
                "local generation failed",
                extra={"model": self.model.id},
                exc_info=(type(exc), exc, exc.__traceback__),
            )
        elif exc is None and future.result().cancelled:
            log.info(
                "local generation cancelled",
                extra={"model": self.model.id, "tokens": future.result().completion_tokens},
            )

    def _result(self, future: asyncio.Future[Any]) -> Any:
        try:
            return future.result()
        except GatewayError:
            raise
        except Exception as exc:
            raise UpstreamError(
                f"{self.model.id} failed while generating: {type(exc).__name__}",
                code="local_generation_failed",
            ) from exc


def _emitter(loop: asyncio.AbstractEventLoop, pieces: asyncio.Queue[Any]) -> Any:
    """A callable for the worker thread that hands a text piece to the event loop."""

    def emit(piece: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing; nobody reads anymore
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

    return emit
