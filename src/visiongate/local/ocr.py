"""``local/ocr``: the text each image contains, read by PaddleOCR's PP-OCRv6 models.

The ONNX models ship inside the ``rapidocr`` wheel, so this model answers offline on any
machine and never downloads anything. It reads the images, not the question: the answer is
each image's text in reading order (columns one after another, table cells joined by
`` | ``), image by image. ``ocr_reader`` finds and reads the lines, ``ocr_layout`` orders
them; this module is the engine the gateway talks to: lazy loading, a bounded queue, and
the work in a worker thread, never on the event loop.

Usage: the recogniser is a CTC model over a character dictionary, so every character it
emits is one output token; ``completion_tokens`` counts those (plus the line breaks and
headers the answer adds). It consumes no prompt text, so ``prompt_tokens`` counts only the
image: one token per text region the detector found and fed to the recogniser.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from visiongate.core.catalog import ModelEntry
from visiongate.core.messages import (
    ChatRequest,
    ChatResponse,
    Choice,
    FinishReason,
    ImagePart,
    StreamDelta,
    Usage,
)
from visiongate.errors import InvalidRequest, Overloaded
from visiongate.local.ocr_layout import page_lines
from visiongate.local.ocr_reader import ModelFiles, PageReader, bundled_models
from visiongate.settings import Settings

__all__ = ["OcrEngine", "local_threads"]

log = logging.getLogger("visiongate.local.ocr")


class OcrEngine:
    """Loads RapidOCR once, lazily, and runs it in worker threads, a bounded number at once."""

    def __init__(self, model: ModelEntry, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        self._engine: Any = None
        self._load_lock = threading.Lock()
        self._slots = asyncio.Semaphore(max(1, settings.local_concurrency))
        # Its own threads, one per slot: reading a page holds a thread for a second or
        # more, which the loop's default executor (DNS, file I/O) should not wait behind.
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, settings.local_concurrency), thread_name_prefix="local-ocr"
        )
        self._waiting = 0
        self._state = "not_loaded"

    def status(self) -> dict[str, Any]:
        return {
            "state": self._state,
            "source": self._files().name,
            "weights_present": True,
            "threads": local_threads(self.settings),
        }

    def _files(self) -> ModelFiles:
        """The bundled models, or ONNX files the catalog entry names instead
        (``options.det_model``, ``cls_model``, ``rec_model``: PP-OCRv4's, for one)."""
        files = bundled_models()
        chosen = {k: self.model.options.get(f"{k}_model") for k in ("det", "cls", "rec")}
        if not any(chosen.values()):
            return files
        return ModelFiles(
            det=Path(chosen["det"] or files.det),
            cls=Path(chosen["cls"] or files.cls),
            rec=Path(chosen["rec"] or files.rec),
            name="ONNX files from the catalog (options.det_model, cls_model, rec_model)",
        )

    def available(self) -> bool:
        return True

    def _load(self) -> Any:
        with self._load_lock:
            if self._engine is None:
                self._state = "loading"
                threads = local_threads(self.settings)
                self._engine = PageReader(threads, self._files())
                self._state = "ready"
                log.info(
                    "local/ocr engine loaded (%s, %d threads)", self._engine.files.name, threads
                )
        return self._engine

    async def warm(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._load)

    def _read(self, image: ImagePart) -> tuple[list[str], int]:
        import numpy as np
        from PIL import Image, ImageOps

        assert image.data is not None
        with Image.open(io.BytesIO(image.data)) as img:
            img.seek(0)
            rgb = ImageOps.exif_transpose(img).convert("RGB")
        array = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])  # OpenCV's BGR order
        boxes = self._load().read(array)
        return page_lines(boxes), len(boxes)

    async def _read_all(self, request: ChatRequest) -> list[tuple[list[str], int]]:
        images = request.images
        if not images:
            raise InvalidRequest(
                "local/ocr reads text from images: add at least one image_url part.",
                code="invalid_request_error",
                param="messages",
            )
        if self._waiting >= self.settings.local_queue_size + self.settings.local_concurrency:
            raise Overloaded("local/ocr is busy; retry shortly.", headers={"Retry-After": "1"})
        self._waiting += 1
        try:
            async with self._slots:
                loop = asyncio.get_running_loop()
                return [await loop.run_in_executor(self._pool, self._read, i) for i in images]
        finally:
            self._waiting -= 1

    @staticmethod
    def _sections(pages: list[tuple[list[str], int]]) -> list[str]:
        many = len(pages) > 1
        out = []
        for i, (lines, _regions) in enumerate(pages, start=1):
            body = "\n".join(lines) if lines else "(no text found)"
            out.append(f"Image {i}:\n{body}" if many else body)
        return out

    @staticmethod
    def _usage(pages: list[tuple[list[str], int]], text: str) -> Usage:
        return Usage(
            prompt_tokens=sum(regions for _lines, regions in pages),
            completion_tokens=len(text),
            image_tokens=sum(regions for _lines, regions in pages),
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        pages = await self._read_all(request)
        text = "\n\n".join(self._sections(pages))
        text = _truncate(text, request.max_tokens)
        finish: FinishReason = (
            "length" if request.max_tokens and len(text) >= request.max_tokens else "stop"
        )
        return ChatResponse(
            choices=[Choice(content=text, finish_reason=finish)],
            usage=self._usage(pages, text),
            upstream_model="rapidocr-pp-ocrv6",
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamDelta]:
        yield StreamDelta(role="assistant", content="")
        response = await self.complete(request)
        choice = response.choices[0]
        text = choice.content or ""
        for i, line in enumerate(text.split("\n")):
            yield StreamDelta(content=line if i == 0 else "\n" + line)
        yield StreamDelta(finish_reason=choice.finish_reason, usage=response.usage)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._engine = None


def local_threads(settings: Settings) -> int:
    """Compute threads per OCR request: ``local_threads`` when set, else the cores this
    process may use (its CPU affinity) shared among ``local_concurrency`` requests, so the
    OCR requests running at once never ask for more cores than the operator gave."""
    if settings.local_threads:
        return max(1, settings.local_threads)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, settings.local_concurrency))


def _truncate(text: str, max_tokens: int | None) -> str:
    if max_tokens is None or len(text) <= max_tokens:
        return text
    return text[:max_tokens]
