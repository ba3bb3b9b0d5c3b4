"""The image pipeline: parse, fetch (behind the SSRF guard), inspect, fit and count.

:class:`ImagePipeline` is what the request service calls; the modules below it each do one
job: ``data_url`` (strict data: URLs), ``fetch`` (http(s) and the SSRF guard), ``cache``
(fetched bytes, one copy per body), ``sniff`` (format and size from the header), ``fit``
(convert and resize per model) and ``tokens`` (per-provider token formulas).
"""

from visiongate.images.ingest import ImagePipeline, ImageStats, too_many_images
from visiongate.images.tokens import estimate_image_tokens

__all__ = ["ImagePipeline", "ImageStats", "estimate_image_tokens", "too_many_images"]
