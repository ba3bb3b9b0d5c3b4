"""Internal messages → a Hugging Face chat conversation; image bytes → Pillow images."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support.images import make_image
from visiongate.core.messages import ImagePart, Message, TextPart, ToolCall
from visiongate.errors import ImageError, InvalidRequest
from visiongate.local.inputs import decode_image, to_conversation


def _image(param: str, data: bytes | None = None) -> ImagePart:
    return ImagePart(param=param, data=data if data is not None else make_image())


def test_parts_keep_their_order_and_images_are_collected() -> None:
    first, second, third = _image("a"), _image("b"), _image("c")
    messages = [
        Message("developer", [TextPart("Be brief.")]),
        Message("user", [first, TextPart("Compare"), second]),
        Message("assistant", [TextPart("They differ.")]),
        Message("user", [TextPart("And this?"), third]),
    ]
    conversation, images = to_conversation(messages, "local/m", "<image>")
    assert conversation == [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": "Compare"}, {"type": "image"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "They differ."}]},
        {"role": "user", "content": [{"type": "text", "text": "And this?"}, {"type": "image"}]},
    ]
    assert images == [first, second, third]


def test_tool_messages_are_refused_naming_the_message() -> None:
    messages = [Message("user", [TextPart("hi")]), Message("tool", [TextPart("42")])]
    with pytest.raises(InvalidRequest) as info:
        to_conversation(messages, "local/m")
    assert info.value.param == "messages[1]"
    calls = [Message("assistant", tool_calls=[ToolCall("c1", "f", "{}")])]
    with pytest.raises(InvalidRequest, match="tool call"):
        to_conversation(calls, "local/m")


def test_text_with_the_image_placeholder_is_a_400() -> None:
    messages = [Message("user", [_image("x"), TextPart("what is <image> here")])]
    with pytest.raises(InvalidRequest) as info:
        to_conversation(messages, "local/m", "<image>")
    assert info.value.status == 400
    assert info.value.param == "messages[0].content[1]"


def test_decode_applies_exif_orientation_and_takes_the_first_gif_frame() -> None:
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    upright = decode_image(ImagePart(param="p", data=buf.getvalue()))
    assert upright.size == (20, 40) and upright.mode == "RGB"

    frames = [Image.new("P", (8, 8), i) for i in (1, 2)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    assert decode_image(ImagePart(param="p", data=gif.getvalue())).size == (8, 8)


def test_undecodable_bytes_name_the_part() -> None:
    with pytest.raises(ImageError) as info:
        decode_image(ImagePart(param="messages[0].content[1].image_url.url", data=b"not an image"))
    assert info.value.param == "messages[0].content[1].image_url.url"
    assert info.value.code == "invalid_image"
    truncated = make_image("PNG")[:60]
    with pytest.raises(ImageError):
        decode_image(ImagePart(param="p", data=truncated))
