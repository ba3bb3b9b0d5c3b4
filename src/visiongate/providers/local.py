"""The ``local`` provider: models that run inside the server, each on its own engine.

A catalog entry picks its engine with ``options.engine``: ``"ocr"`` (RapidOCR, always
installed) or ``"transformers"`` (any Hugging Face image-text-to-text model, needs the
``local`` extra). Engines are created on first use and shared by the requests for that model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

from visiongate.core.catalog import ModelEntry, ProviderEntry
from visiongate.core.messages import ChatRequest, ChatResponse, StreamDelta
from visiongate.providers.base import Provider
from visiongate.settings import Settings

__all__ = ["LocalProvider", "engine_name"]


class Engine(Protocol):
    def status(self) -> dict[str, Any]: ...
    def available(self) -> bool: ...
    async def complete(self, request: ChatRequest) -> ChatResponse: ...
    def stream(self, request: ChatRequest) -> AsyncIterator[StreamDelta]: ...
    async def close(self) -> None: ...


def engine_name(model: ModelEntry) -> str:
    engine = model.options.get("engine")
    if engine:
        return str(engine)
    return "ocr" if model.upstream == "rapidocr" else "transformers"


def _engine_class(name: str) -> type:
    if name == "ocr":
        from visiongate.local.ocr import OcrEngine

        return OcrEngine
    if name == "transformers":
        from visiongate.local.vlm import VlmEngine

        return VlmEngine
    raise ValueError(f"unknown local engine {name!r}")


class LocalProvider(Provider):
    def __init__(self, entry: ProviderEntry, settings: Settings) -> None:
        super().__init__(entry, settings)
        self._engines: dict[str, Engine] = {}
        self._ocr_models: list[ModelEntry] = []
        self._warmups: list[Any] = []

    def serve(self, models: list[ModelEntry]) -> None:
        """Tell the provider which catalog models it serves (for warm-up at start)."""
        self._ocr_models = [m for m in models if engine_name(m) == "ocr"]

    async def start(self) -> None:
        """Load the OCR engines named in ``local_preload`` in the background, so their first
        request does not wait; others load on first use (an idle gateway stays small)."""
        import asyncio

        from visiongate.local.ocr import OcrEngine

        self._warmups = [
            asyncio.create_task(engine.warm())
            for engine in (
                self.engine(m) for m in self._ocr_models if m.id in self.settings.local_preload
            )
            if isinstance(engine, OcrEngine)
        ]

    def engine(self, model: ModelEntry) -> Engine:
        engine = self._engines.get(model.id)
        if engine is None:
            engine = _engine_class(engine_name(model))(model, self.settings)
            self._engines[model.id] = engine
        return engine

    def describe(self, model: ModelEntry) -> dict[str, Any]:
        return {"available": self.available(model), "status": self.status(model)}

    def status(self, model: ModelEntry) -> dict[str, Any]:
        try:
            engine = self.engine(model)
        except ImportError as exc:
            return {"state": "unavailable", "reason": f"install the local extra: {exc.name}"}
        return engine.status()

    def available(self, model: ModelEntry) -> bool:
        try:
            return self.engine(model).available()
        except ImportError:
            return False

    def pdf_form(self, model: ModelEntry) -> Literal["native", "text"] | None:
        """The OCR engine reads a page's text layer where it has one (documents/reading.py);
        other local models get rendered pages."""
        return "text" if engine_name(model) == "ocr" else None

    async def complete(self, request: ChatRequest, model: ModelEntry) -> ChatResponse:
        engine = self.engine(model)
        if request.documents and engine_name(model) == "ocr":
            from visiongate.documents.reading import read_documents

            return await read_documents(request, engine.complete)
        return await engine.complete(request)

    def stream(self, request: ChatRequest, model: ModelEntry) -> AsyncIterator[StreamDelta]:
        engine = self.engine(model)
        if request.documents and engine_name(model) == "ocr":
            from visiongate.documents.reading import stream_documents

            return stream_documents(request, engine.complete)
        return engine.stream(request)

    async def close(self) -> None:
        for task in self._warmups:
            task.cancel()
        for engine in self._engines.values():
            await engine.close()
        self._engines.clear()
