"""The internal messages as a Hugging Face chat conversation, and images as Pillow images.

Every multimodal processor's chat template understands the same conversation shape:
``{"role": ..., "content": [{"type": "text", "text": ...}, {"type": "image"}, ...]}``, with
one ``{"type": "image"}`` where each image goes; the template writes the model's own
placeholder (``<image>``, ``<|image_pad|>``, ``<|image|>``...) and the processor expands
it into the image's tokens. So this module is the same for SmolVLM, Qwen2-VL or LLaVA.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from visiongate.core.messages import ImagePart, Message, TextPart
from visiongate.errors import ImageError, InvalidRequest

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["decode_image", "to_conversation"]

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def to_conversation(
    messages: list[Message], model_id: str, placeholder: str | None = None
) -> tuple[list[dict[str, Any]], list[ImagePart]]:
    """The conversation for ``processor.apply_chat_template`` and its images in order.

    Raises InvalidRequest naming the message for what a plain chat model cannot take:
    tool calls and tool results, and text containing the model's own image ``placeholder``
    (the processor would count it as an image that was never sent).
    """
    conversation: list[dict[str, Any]] = []
    images: list[ImagePart] = []
    for i, message in enumerate(messages):
        role = _ROLES.get(message.role)
        if role is None or message.tool_calls:
            raise InvalidRequest(
                f"{model_id} runs in process without tool calling; message {i} is a "
                f"{'tool call' if message.tool_calls else message.role + ' message'}. "
                "Send system, user and assistant messages only.",
                code="unsupported_parameter",
                param=f"messages[{i}]",
            )
        content: list[dict[str, Any]] = []
        for j, part in enumerate(message.parts):
            if isinstance(part, TextPart):
                if placeholder and placeholder in part.text:
                    raise InvalidRequest(
                        f"The text contains {placeholder!r}, which {model_id} reserves for "
                        "images; send images as image_url parts and remove that string.",
                        param=f"messages[{i}].content[{j}]",
                    )
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                content.append({"type": "image"})
                images.append(part)
            # A ThinkingPart handed back: a local model has no reasoning turns (README).
        conversation.append({"role": role, "content": content})
    return conversation, images


def decode_image(part: ImagePart) -> Image:
    """The image's pixels as RGB, upright (EXIF orientation applied), first frame only.

    Runs in a worker thread: decoding a large photo takes tens of milliseconds. Raises
    ImageError ``invalid_image`` naming the part when Pillow cannot decode the bytes.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    from visiongate.images.sniff import register_plugins

    if part.data is None:
        raise ImageError(
            "The image bytes were not available to the local engine.", param=part.param
        )
    register_plugins()
    try:
        with Image.open(io.BytesIO(part.data)) as img:
            img.seek(0)
            return ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(
            "The image could not be decoded; send a valid JPEG, PNG, WebP or GIF.",
            param=part.param,
        ) from exc
