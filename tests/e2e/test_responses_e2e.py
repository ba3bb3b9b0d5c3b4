"""``POST /v1/responses`` end to end: the official ``openai`` SDK's Responses client against
a real gateway, one model of every provider family behind wire-checking fakes, and
``local/ocr`` reading rendered words.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import requests
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from tests.support.background import BackgroundApp
from tests.support.clients import openai_client
from tests.support.gateway import GatewayProcess
from tests.support.images import data_url, make_image, noise_png
from tests.support.upstreams import CATALOG, FAMILY_MODELS, Upstreams, all_upstreams
from tests.support.wire import count_images, sse_events

pytestmark = pytest.mark.timeout(120)

PNG = make_image("PNG", (64, 48), (30, 160, 90))
PNG_URL = data_url(PNG, "image/png")
EVENTS = TypeAdapter(ResponseStreamEvent)
LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Look a city up",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    with all_upstreams() as ups:
        yield ups


@pytest.fixture(scope="module")
def gw(upstreams: Upstreams) -> Iterator[GatewayProcess]:
    with upstreams.gateway(VISIONGATE_UPSTREAM_RETRIES="0") as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def _fresh(upstreams: Upstreams) -> None:
    upstreams.reset()


def images_received(upstreams: Upstreams, model_id: str) -> int:
    """How many images the provider's fake received in the last request, in its format."""
    return count_images(upstreams.fake_for(model_id).requests[-1].body)


def user_input(text: str, *urls: str) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "input_text", "text": text}]
    content += [{"type": "input_image", "image_url": url} for url in urls]
    return [{"role": "user", "content": content}]


def urls_for(model_id: str, image_host: BackgroundApp) -> list[str]:
    """Two images (one URL, one data URL); one where the model takes only one."""
    if CATALOG.models[model_id].image.max_images >= 2:
        return [f"{image_host.url}/img/red.jpg", PNG_URL]
    return [PNG_URL]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("family", sorted(FAMILY_MODELS))
def test_images_reach_every_family(
    gw: GatewayProcess, upstreams: Upstreams, image_host: BackgroundApp, family: str, stream: bool
) -> None:
    model_id = FAMILY_MODELS[family]
    urls = urls_for(model_id, image_host)
    client = gw.client()
    kwargs: dict[str, Any] = {
        "model": model_id,
        "instructions": "You describe images.",
        "input": user_input("What is in these?", *urls),
        "max_output_tokens": 60,
    }
    if stream:
        with client.responses.stream(**kwargs) as events:
            seen = list(events)
            response = events.get_final_response()
        assert [e.sequence_number for e in seen] == list(range(len(seen)))
        assert seen[0].type == "response.created" and seen[1].type == "response.in_progress"
        assert seen[-1].type == "response.completed"
        deltas = "".join(e.delta for e in seen if e.type == "response.output_text.delta")
        assert deltas == response.output_text
    else:
        response = client.responses.create(**kwargs)
    assert response.model == model_id and response.object == "response"
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text
    assert response.usage is not None and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert images_received(upstreams, model_id) == len(urls)
    sent = json.dumps(upstreams.fake_for(model_id).requests[-1].body)
    assert "You describe images." in sent  # instructions reached the model


@pytest.mark.parametrize("family", ["openai", "anthropic", "google"])
def test_a_tool_round_trip_with_an_image_in_the_output(
    gw: GatewayProcess, upstreams: Upstreams, family: str
) -> None:
    model_id = FAMILY_MODELS[family]
    client = gw.client()
    first_input = user_input("Which city? [[tool:lookup]] [[tool=lookup]]")
    first = client.responses.create(
        model=model_id, input=first_input, tools=[LOOKUP], max_output_tokens=100
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "lookup"
    arguments = json.loads(calls[0].arguments)
    assert isinstance(arguments, dict)
    output = [
        {"type": "input_text", "text": "Found a photo of Paris."},
        {"type": "input_image", "image_url": PNG_URL},
    ]
    second = client.responses.create(
        model=model_id,
        input=[
            *first_input,
            {
                "type": "function_call",
                "call_id": calls[0].call_id,
                "name": "lookup",
                "arguments": calls[0].arguments,
            },
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": output},
        ],
        tools=[LOOKUP],
        max_output_tokens=100,
    )
    assert second.status == "completed" and second.output_text
    body = upstreams.fake_for(model_id).requests[-1].body
    if family == "anthropic":
        result = body["messages"][-1]["content"][0]
        assert result["type"] == "tool_result" and result["tool_use_id"] == calls[0].call_id
        assert [b["type"] for b in result["content"]] == ["text", "image"]
    elif family == "google":
        parts = body["contents"][-1]["parts"]
        assert "functionResponse" in parts[0] and "inlineData" in parts[1]
    else:
        roles = [m["role"] for m in body["messages"]]
        assert roles[-3:] == ["assistant", "tool", "user"]
        assert body["messages"][-2]["content"] == "Found a photo of Paris."
        images = [p for p in body["messages"][-1]["content"] if p["type"] == "image_url"]
        assert [p["image_url"]["url"] for p in images] == [PNG_URL]


def test_local_ocr_reads_the_words(gw: GatewayProcess, image_host: BackgroundApp) -> None:
    response = gw.client().responses.create(
        model="local/ocr",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": f"{image_host.url}/img/sign.png"},
                    # the object form some clients send
                    {"type": "input_image", "image_url": {"url": f"{image_host.url}/img/menu.png"}},
                ],
            }
        ],
    )
    assert "OPEN DAILY" in response.output_text and "CROISSANT" in response.output_text


def test_json_schema_text_format_reaches_openai_as_response_format(
    gw: GatewayProcess, upstreams: Upstreams
) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    gw.client().responses.create(
        model="gpt-4o",
        input="Answer in JSON",
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema}},
        temperature=0.5,
    )
    body = upstreams.openai["openai"].requests[-1].body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema},
    }
    assert body["temperature"] == 0.5


def test_an_answer_cut_by_max_output_tokens_is_incomplete(
    gw: GatewayProcess, upstreams: Upstreams
) -> None:
    response = gw.client().responses.create(
        model="claude-3-haiku-latest", input="Describe at length.", max_output_tokens=2
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert upstreams.anthropic.requests[-1].body["max_tokens"] == 2


def raw_events(gw: GatewayProcess, body: dict[str, Any]) -> list[dict[str, Any]]:
    with requests.post(
        f"{gw.base_url}/responses",
        json={**body, "stream": True},
        headers={"Authorization": f"Bearer {gw.api_key}"},
        stream=True,
        timeout=60,
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        return [json.loads(data) for name, data in sse_events(answer.iter_content(None))]


@pytest.mark.parametrize("family", ["openai", "anthropic"])
def test_stream_events_validate_against_the_sdk_types(gw: GatewayProcess, family: str) -> None:
    events = raw_events(
        gw,
        {
            "model": FAMILY_MODELS[family],
            "input": user_input("Tell me, then call. [[tool:lookup]] [[tool=lookup]]", PNG_URL),
            "tools": [LOOKUP],
        },
    )
    kinds = [EVENTS.validate_python(event).type for event in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-1] == "response.completed"
    final = events[-1]["response"]
    call = next(item for item in final["output"] if item["type"] == "function_call")
    assert json.loads(call["arguments"]) and call["status"] == "completed"
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert done[0]["arguments"] == call["arguments"]
    assert "[DONE]" not in json.dumps(events)


def test_an_error_after_the_stream_started_is_an_error_event_then_failed(
    gw: GatewayProcess,
) -> None:
    events = raw_events(gw, {"model": "gpt-4o", "input": "Go [[stream_error=3]]"})
    for event in events:
        EVENTS.validate_python(event)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["error"]["message"]


@pytest.mark.parametrize(
    ("extra", "param", "code"),
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id", "unsupported_parameter"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type", "unsupported_parameter"),
        ({"top_logprobs": 2}, "top_logprobs", "unsupported_parameter"),
        ({"temperature": 3}, "temperature", "invalid_request_error"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].file_id",
            "unsupported_parameter",
        ),
        (
            {
                "input": [
                    {
                        "role": "assistant",
                        "content": [{"type": "input_image", "image_url": PNG_URL}],
                    }
                ]
            },
            "input[0].content[0]",
            "unsupported_content",
        ),
        (
            {"input": [{"type": "reasoning", "summary": []}]},
            "input[0].type",
            "unsupported_parameter",
        ),
        (
            {
                "model": "meta-llama/Llama-Guard-3-11B-Vision-Turbo",
                "input": user_input("two", PNG_URL, PNG_URL),
            },
            "input[0].content[2].image_url",
            "too_many_images",
        ),
    ],
)
def test_bad_requests_are_400_naming_the_param(
    gw: GatewayProcess, upstreams: Upstreams, extra: dict[str, Any], param: str, code: str
) -> None:
    body = {"model": "gpt-4o", "input": "hello", **extra}
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().responses.create(**body)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == param and error["code"] == code
    assert not upstreams.openai["openai"].requests and not upstreams.openai["together"].requests


def test_auth_and_model_errors_raise_the_sdk_classes(gw: GatewayProcess) -> None:
    bad_key = openai_client(base_url=gw.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.responses.create(model="gpt-4o", input="hi")
    with pytest.raises(openai.NotFoundError) as caught:
        gw.client().responses.create(model="no-such-model", input="hi")
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(openai.InternalServerError) as failed:
        gw.client().responses.create(model="gpt-4o", input="fail [[status=500]]")
    assert failed.value.status_code == 502


def test_usage_records_and_metrics_name_the_surface(gw: GatewayProcess) -> None:
    gw.client().responses.create(model="gpt-4o", input="count me")
    lines = [json.loads(line) for line in gw.log_text().splitlines() if line.startswith("{")]
    logged = [
        line for line in lines if line.get("msg") == "request" and line.get("model") == "gpt-4o"
    ]
    assert logged and logged[-1]["endpoint"] == "responses"
    metrics = requests.get(f"{gw.root}/metrics", timeout=10).text
    assert 'endpoint="responses",model="gpt-4o"' in metrics


@pytest.mark.parametrize("family", ["openai", "anthropic"])
def test_a_large_data_url_reaches_the_provider_byte_for_byte(
    gw: GatewayProcess, upstreams: Upstreams, family: str
) -> None:
    """A body large enough for the gateway to cut the data URL out before parsing."""
    large = data_url(noise_png((200, 150), seed=5), "image/png")
    model_id = FAMILY_MODELS[family]
    gw.client().responses.create(model=model_id, input=user_input("What is it?", large))
    body = upstreams.fake_for(model_id).requests[-1].body
    if family == "anthropic":
        assert body["messages"][0]["content"][1]["source"]["data"] == large.split(",", 1)[1]
    else:
        assert body["messages"][0]["content"][1]["image_url"]["url"] == large
