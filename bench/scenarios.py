"""The benchmark's images and request bodies.

Every scenario is a request to the gateway (a system message, a user message,
``max_tokens: 64``) in the shape of the surface it is sent to (Chat Completions by
default; the Responses API or the Messages API with ``--surfaces``) and the request a
gateway should send upstream for it, used for the "direct" runs that measure what the
fake upstream and the load generator cost without a gateway in between. Images are made
with Pillow from a fixed seed, so every run sends the same bytes.
"""

from __future__ import annotations

import base64
import io
import itertools
import random
from dataclasses import dataclass
from typing import Any

import orjson
from PIL import Image, ImageDraw

__all__ = ["BUST", "SCENARIOS", "SURFACES", "Case", "make_images", "make_jpeg"]

BUST = "__VG_BENCH_BUST__"  # replaced per request by the load generator (unique image URLs)
SCENARIOS = {
    "text": "text only",
    "image_b64": "one 1024x768 JPEG (~150 KB) as a base64 data URL",
    "image_url": "one 1024x768 JPEG by http URL, unique per request (no cache hit)",
    "multi_image": "four base64 JPEGs, 2x 1024x768 + 2x 2560x1700 (~2 MB body)",
    "stream": "text, streamed: the upstream sends 20 content chunks",
}
ROUTES = ("openai", "anthropic")
# The gateway's path and the answer's format for each inbound surface.
SURFACES = {
    "chat": ("/v1/chat/completions", "openai"),
    "responses": ("/v1/responses", "responses"),
    "messages": ("/v1/messages", "anthropic"),
}
_SYSTEM = "You are a concise assistant."
_ASK_TEXT = "Write one short sentence about benchmarks."
_ASK_IMAGE = "Describe the image(s) in one sentence."


def make_jpeg(width: int, height: int, seed: int, quality: int) -> bytes:
    """A photo-like JPEG: smooth colour fields, shapes and fine noise, so it compresses
    like a camera picture rather than like a flat test card."""
    rnd = random.Random(seed)
    small = Image.new("RGB", (16, 12))
    small.putdata([tuple(rnd.randrange(256) for _ in range(3)) for _ in range(16 * 12)])
    img = small.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        x, y = rnd.randrange(width), rnd.randrange(height)
        r = rnd.randrange(10, max(11, width // 8))
        colour = tuple(rnd.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=rnd.randrange(1, 6))
    noise = Image.effect_noise((width, height), 48).convert("RGB")
    img = Image.blend(img, noise, 0.15)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def make_images() -> dict[str, bytes]:
    """``small.jpg`` (1024x768, what needs no change anywhere) and ``large.jpg``
    (2560x1700, over Anthropic's and OpenAI's preferred long edge)."""
    return {
        "small.jpg": make_jpeg(1024, 768, seed=7, quality=72),
        "large.jpg": make_jpeg(2560, 1700, seed=11, quality=68),
    }


@dataclass(slots=True)
class Case:
    scenario: str
    route: str  # "openai" or "anthropic"
    model: str
    body: bytes  # to the gateway (OpenAI format)
    direct_path: str  # the upstream endpoint the gateway should call
    direct_body: bytes  # what the gateway should send there
    direct_headers: dict[str, str]
    surface: str = "chat"

    @property
    def stream(self) -> bool:
        return self.scenario == "stream"

    @property
    def key(self) -> str:
        where = f"{self.scenario}/{self.route}"
        return where if self.surface == "chat" else f"{where}@{self.surface}"

    @property
    def gateway_path(self) -> str:
        return SURFACES[self.surface][0]

    @property
    def answer_api(self) -> str:
        """The format of the gateway's answer, for the probe."""
        return SURFACES[self.surface][1]


def build_cases(
    scenarios: list[str],
    routes: list[str],
    models: dict[str, str],
    images: dict[str, bytes],
    image_host: str,
    surfaces: tuple[str, ...] | list[str] = ("chat",),
) -> list[Case]:
    b64 = {name: base64.b64encode(data).decode() for name, data in images.items()}
    cases = []
    for scenario, surface, route in itertools.product(scenarios, surfaces, routes):
        model = models[route]
        chat = _openai_body(scenario, model, b64, image_host, direct=False)
        if surface == "responses":
            body = orjson.dumps(_responses_body(chat))
        elif surface == "messages":
            body = orjson.dumps(_anthropic_body(scenario, model, b64, image_host))
        else:
            body = orjson.dumps(chat)
        if route == "openai":
            path = "/v1/chat/completions"
            direct = orjson.dumps(_openai_body(scenario, model, b64, image_host, direct=True))
            headers = {"Authorization": "Bearer sk-direct"}
        else:
            path = "/v1/messages"
            direct = orjson.dumps(_anthropic_body(scenario, model, b64))
            headers = {"x-api-key": "sk-direct", "anthropic-version": "2023-06-01"}
        cases.append(Case(scenario, route, model, body, path, direct, headers, surface))
    return cases


def _responses_body(chat: dict[str, Any]) -> dict[str, Any]:
    """The Chat Completions body of a scenario as the Responses API request it stands for."""
    system, user = chat["messages"]
    content = user["content"]
    if isinstance(content, list):
        content = [
            {"type": "input_text", "text": part["text"]}
            if part["type"] == "text"
            else {"type": "input_image", "image_url": part["image_url"]["url"]}
            for part in content
        ]
    body: dict[str, Any] = {
        "model": chat["model"],
        "instructions": system["content"],
        "input": [{"role": "user", "content": content}],
        "max_output_tokens": chat["max_tokens"],
    }
    if chat.get("stream"):
        body["stream"] = True
    return body


def _image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def _openai_body(
    scenario: str, model: str, b64: dict[str, str], image_host: str, direct: bool
) -> dict[str, Any]:
    small, large = (f"data:image/jpeg;base64,{b64[n]}" for n in ("small.jpg", "large.jpg"))
    ask: dict[str, Any] = {"type": "text", "text": _ASK_IMAGE}
    user: Any
    if scenario in ("text", "stream"):
        user = _ASK_TEXT
    elif scenario == "image_b64":
        user = [ask, _image(small)]
    elif scenario == "image_url":
        user = [ask, _image(f"http://{image_host}/img/small.jpg?n={BUST}")]
    elif scenario == "multi_image":
        user = [ask, *(_image(u) for u in (small, large, small, large))]
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}],
        "max_tokens": 64,
    }
    if scenario == "stream":
        body["stream"] = True
        if direct:  # what a gateway asks for to record usage
            body["stream_options"] = {"include_usage": True}
    return body


def _anthropic_body(
    scenario: str, model: str, b64: dict[str, str], image_host: str | None = None
) -> dict[str, Any]:
    """The Messages API body of a scenario: what a gateway sends Anthropic (a fetched URL
    goes inline), or, with ``image_host``, what a Messages client sends the gateway."""

    def image(name: str) -> dict[str, Any]:
        source = {"type": "base64", "media_type": "image/jpeg", "data": b64[name]}
        return {"type": "image", "source": source}

    ask = {"type": "text", "text": _ASK_IMAGE}
    user: Any
    if scenario in ("text", "stream"):
        user = _ASK_TEXT
    elif scenario == "image_url" and image_host is not None:
        url = f"http://{image_host}/img/small.jpg?n={BUST}"
        user = [ask, {"type": "image", "source": {"type": "url", "url": url}}]
    elif scenario in ("image_b64", "image_url"):
        user = [ask, image("small.jpg")]
    elif scenario == "multi_image":
        user = [ask, image("small.jpg"), image("large.jpg"), image("small.jpg"), image("large.jpg")]
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    body: dict[str, Any] = {
        "model": model,
        "system": _SYSTEM,
        "messages": [{"role": "user", "content": user}],
        "max_tokens": 64,
    }
    if scenario == "stream":
        body["stream"] = True
    return body
