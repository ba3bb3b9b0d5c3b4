"""Bad input always gets a clear 4xx in OpenAI's envelope, and the server stays up."""

from __future__ import annotations

from typing import Any

import openai
import pytest
import requests

from tests.support.clients import openai_client
from tests.support.gateway import GatewayProcess
from tests.support.images import data_url, make_image

pytestmark = pytest.mark.timeout(120)

PNG = data_url(make_image("PNG"), "image/png")


def _post(
    gw: GatewayProcess, body: Any, raw: bytes | None = None, key: str | None = "default"
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if key == "default":
        headers["Authorization"] = f"Bearer {gw.api_key}"
    elif key is not None:
        headers["Authorization"] = key
    return requests.post(
        f"{gw.base_url}/chat/completions",
        headers=headers,
        json=None if raw is not None else body,
        data=raw,
        timeout=60,
    )


def _error(
    resp: requests.Response, status: int, code: str, param: str | None = "<any>"
) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["code"] == code, err
    if param != "<any>":
        assert err["param"] == param, err
    assert err["message"]
    assert resp.headers["x-request-id"]
    return err


def _user(*parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(parts)}]


IMG = {"type": "image_url", "image_url": {"url": PNG}}


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"messages": _user(IMG)}, "invalid_request_error", "model"),
        ({"model": "local/ocr", "messages": []}, "invalid_request_error", "messages"),
        ({"model": "local/ocr", "messages": "hi"}, "invalid_request_error", "messages"),
        (
            {"model": "local/ocr", "messages": [{"role": "wizard", "content": "x"}]},
            "invalid_request_error",
            "messages[0].role",
        ),
        (
            {"model": "local/ocr", "messages": [{"role": "user", "content": 42}]},
            "invalid_request_error",
            "messages[0].content",
        ),
        (
            {"model": "local/ocr", "messages": _user({"type": "text", "text": 5})},
            "invalid_request_error",
            "messages[0].content[0].text",
        ),
        (
            {"model": "local/ocr", "messages": _user({"type": "input_audio", "input_audio": {}})},
            "unsupported_parameter",
            "messages[0].content[0].type",
        ),
        (
            {"model": "local/ocr", "messages": _user({"type": "image_url", "image_url": {}})},
            "invalid_image_url",
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "model": "local/ocr",
                "messages": _user(
                    {"type": "image_url", "image_url": {"url": PNG, "detail": "ultra"}}
                ),
            },
            "invalid_request_error",
            "messages[0].content[0].image_url.detail",
        ),
        (
            {"model": "local/ocr", "messages": [{"role": "system", "content": [IMG]}]},
            "invalid_request_error",
            "messages[0].content[0]",
        ),
        (
            {"model": "local/ocr", "messages": [{"role": "assistant", "content": [IMG]}]},
            "invalid_request_error",
            "messages[0].content[0]",
        ),
        (
            {"model": "local/ocr", "messages": _user(IMG), "temperature": 7},
            "invalid_request_error",
            "temperature",
        ),
        (
            {"model": "local/ocr", "messages": _user(IMG), "max_tokens": "ten"},
            "invalid_request_error",
            "max_tokens",
        ),
        (
            {"model": "local/ocr", "messages": _user(IMG), "stop": [1, 2]},
            "invalid_request_error",
            "stop",
        ),
        (
            {"model": "local/ocr", "messages": _user(IMG), "stream": "yes"},
            "invalid_request_error",
            "stream",
        ),
        (
            {"model": "local/ocr", "messages": _user(IMG), "logit_bias": {"1": 2}},
            "unsupported_parameter",
            "logit_bias",
        ),
        ({"model": "local/ocr", "messages": _user(IMG), "n": 2}, "unsupported_parameter", "n"),
        ({"model": "local/ocr", "messages": _user(*([IMG] * 17))}, "too_many_images", "<any>"),
        (
            {
                "model": "local/ocr",
                "messages": _user(
                    {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}
                ),
            },
            "invalid_image_url",
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "model": "local/ocr",
                "messages": _user(
                    {"type": "text", "text": "x"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}},
                ),
            },
            "invalid_image_url",
            "messages[0].content[1].image_url.url",
        ),
        (
            {
                "model": "local/ocr",
                "messages": _user(
                    {
                        "type": "image_url",
                        "image_url": {"url": data_url(b"just some text, not an image")},
                    }
                ),
            },
            "invalid_image",
            "messages[0].content[0].image_url.url",
        ),
    ],
)
def test_bad_requests_are_400(
    gateway: GatewayProcess, body: dict[str, Any], code: str, param: str
) -> None:
    _error(_post(gateway, body), 400, code, param)


def test_malformed_json(gateway: GatewayProcess) -> None:
    _error(
        _post(gateway, None, raw=b'{"model": "local/ocr", "messages": ['),
        400,
        "invalid_request_error",
        None,
    )
    _error(_post(gateway, None, raw=b"[1, 2]"), 400, "invalid_request_error", None)
    _error(_post(gateway, None, raw=b""), 400, "invalid_request_error", None)


def test_body_over_limit_is_413(gateway: GatewayProcess) -> None:
    big = (
        b'{"model": "local/ocr", "messages": [{"role": "user", "content": "'
        + b"a" * (30 * 1024 * 1024)
        + b'"}]}'
    )
    _error(_post(gateway, None, raw=big), 413, "request_too_large", None)


def test_auth_errors(gateway: GatewayProcess) -> None:
    body = {"model": "local/ocr", "messages": _user(IMG)}
    _error(_post(gateway, body, key=None), 401, "invalid_api_key")
    err = _error(_post(gateway, body, key="Bearer wrong-key-123"), 401, "invalid_api_key")
    assert "wrong-key-123" not in err["message"]
    with pytest.raises(openai.AuthenticationError):
        openai_client(
            base_url=gateway.base_url, api_key="nope", max_retries=0
        ).chat.completions.create(model="local/ocr", messages=_user(IMG))


def test_unknown_and_unconfigured_models_are_404(gateway: GatewayProcess) -> None:
    err = _error(
        _post(gateway, {"model": "no-such-model", "messages": _user(IMG)}),
        404,
        "model_not_found",
        "model",
    )
    assert "/v1/models" in err["message"]
    err = _error(
        _post(gateway, {"model": "gpt-4o", "messages": _user(IMG)}), 404, "model_not_found", "model"
    )
    assert "OPENAI_API_KEY" in err["message"]
    err = _error(
        _post(gateway, {"model": "claude-3-5-sonnet-latest", "messages": _user(IMG)}),
        404,
        "model_not_found",
    )
    assert "ANTHROPIC_API_KEY" in err["message"]
    with pytest.raises(openai.NotFoundError):
        gateway.client().chat.completions.create(model="gemini-1.5-pro", messages=_user(IMG))


def test_ocr_without_image_is_a_clear_400(gateway: GatewayProcess) -> None:
    err = _error(
        _post(gateway, {"model": "local/ocr", "messages": [{"role": "user", "content": "hi"}]}),
        400,
        "invalid_request_error",
    )
    assert "image" in err["message"]


def test_server_survives_bad_input(gateway: GatewayProcess) -> None:
    for raw in (b"\xff\xfe", b"null", b'{"model": null}', b"{" * 10000):
        assert _post(gateway, None, raw=raw).status_code == 400
    assert requests.get(f"{gateway.root}/healthz", timeout=5).status_code == 200
    assert "Traceback" not in gateway.log_text()
