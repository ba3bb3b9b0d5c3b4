"""Helpers shared by the image pipeline's unit tests."""

from __future__ import annotations

import io

from PIL import Image

from visiongate.core.messages import ChatRequest, ImagePart, Message, TextPart
from visiongate.settings import Settings

__all__ = ["decode", "make_settings", "photo", "request_with"]


def make_settings(**overrides: object) -> Settings:
    """Settings for a test, independent of the caller's VISIONGATE_* environment."""
    base: dict[str, object] = {
        "allow_private_image_hosts": False,
        "image_host_allowlist": [],
        "image_fetch_timeout": 5.0,
        "max_image_bytes": 20_000_000,
        "max_image_pixels": 100_000_000,
        "max_image_redirects": 3,
        "image_cache_bytes": 16 * 1024 * 1024,
        "image_cache_ttl": 600.0,
        "fetch_passthrough_urls": False,
    }
    base.update(overrides)
    # model_construct: the tests' settings must not depend on the caller's environment.
    return Settings.model_construct(**base)  # type: ignore[arg-type]


def request_with(*urls: str, detail: str = "auto") -> ChatRequest:
    """A chat request with one user message holding a text part and these image URLs."""
    parts: list[TextPart | ImagePart] = [TextPart("what is this?")]
    for i, url in enumerate(urls, start=1):
        parts.append(ImagePart(param=f"messages[0].content[{i}].image_url.url", url=url))
        parts[-1].detail = detail  # type: ignore[union-attr]
    return ChatRequest(model="test", messages=[Message(role="user", parts=parts)])


def photo(size: tuple[int, int], fmt: str = "JPEG", **save: object) -> bytes:
    """A photo-like image (gradient and noise) so that encoders do real work."""
    gradient = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 40)
    image = Image.merge(
        "RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    )
    if fmt in ("PNG", "WEBP", "GIF") and save.pop("alpha", False):
        image.putalpha(Image.linear_gradient("L").resize(size))
    buf = io.BytesIO()
    image.save(buf, fmt, **save)
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
