"""``visiongate ask``: one request through the full pipeline, in process, streamed to stdout.

``visiongate ask -m local/ocr -i sign.jpg -i https://example.com/a.png "What does it say?"``
Local files become data URLs; http(s) URLs are fetched by the same guarded fetcher the
server uses. Usage is recorded like any request, under the key id ``cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import mimetypes
import os
import sys
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    from visiongate.cli import add_config_arg

    p = sub.add_parser("ask", help="ask a model about images, in process")
    add_config_arg(p)
    p.add_argument("-m", "--model", default="local/ocr", help="model id (default local/ocr)")
    p.add_argument("-i", "--image", action="append", default=[], help="image file or http(s) URL")
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--detail", choices=("auto", "low", "high"), default="auto")
    p.add_argument("prompt", nargs="?", default="What is in this image?")
    p.set_defaults(func=run)


def _image_url(value: str) -> str:
    if value.startswith(("http://", "https://", "data:")):
        return value
    import pybase64

    path = Path(value).expanduser()
    if not path.is_file():
        raise SystemExit(f"visiongate ask: no such image file: {value}")
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{pybase64.b64encode(path.read_bytes()).decode()}"


async def _ask(args: argparse.Namespace) -> int:
    from visiongate.accounting import Principal
    from visiongate.api.chat.parse import parse_chat_request
    from visiongate.core.outcome import Outcome
    from visiongate.errors import GatewayError
    from visiongate.runtime import Runtime
    from visiongate.settings import load_settings

    settings = load_settings(args.config)
    content: list[dict[str, object]] = [{"type": "text", "text": args.prompt}]
    for image in args.image:
        content.append(
            {"type": "image_url", "image_url": {"url": _image_url(image), "detail": args.detail}}
        )
    body: dict[str, object] = {
        "model": args.model,
        "messages": [{"role": "user", "content": content}],
        "stream": True,
    }
    if args.max_tokens:
        body["max_tokens"] = args.max_tokens
    runtime = Runtime(settings, dict(os.environ))
    await runtime.start()
    outcome = Outcome(request_id="cli")
    try:
        request = parse_chat_request(body)
        prepared = await runtime.service.prepare(
            request, Principal(key_id="cli", name="cli"), outcome
        )
        async for delta in runtime.service.stream(prepared, outcome):
            if delta.content:
                sys.stdout.write(delta.content)
                sys.stdout.flush()
        sys.stdout.write("\n")
        if outcome.usage:
            u = outcome.usage
            print(
                f"[{u.prompt_tokens} prompt + {u.completion_tokens} completion tokens]",
                file=sys.stderr,
            )
        return 0
    except GatewayError as exc:
        where = f" ({exc.param})" if exc.param else ""
        print(f"error {exc.status} {exc.code}{where}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await runtime.close()


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_ask(args))
