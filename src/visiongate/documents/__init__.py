"""The document pipeline: PDFs in, native to providers that read them, as pages elsewhere.

:class:`DocumentPipeline` is what the request service calls (before the image pipeline);
the modules below it each do one job: ``source`` (the bytes from a data: URL or base64,
and what they are), ``pages`` (the ``pages`` selection), ``pdfium`` (open, check, pick,
render, extract text, with PDFium), ``sandbox`` (PDFium in a process of its own, with a
deadline) and ``reading`` (``local/ocr``'s page-by-page reading).
"""

from visiongate.documents.ingest import Delivery, DocumentPipeline, DocumentStats, delivery

__all__ = ["Delivery", "DocumentPipeline", "DocumentStats", "delivery"]
