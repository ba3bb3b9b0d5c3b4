"""The usage record of a request, built positionally: every field from its own source."""

from __future__ import annotations

from dataclasses import fields

import pytest

from visiongate.accounting import UsageRecord
from visiongate.api.endpoint import usage_record
from visiongate.core.messages import Usage
from visiongate.core.outcome import Outcome

# The record field -> the Outcome attribute it copies, where the names differ.
_RENAMED = {"created_at": "created"}
_FROM_USAGE = ("prompt_tokens", "completion_tokens", "image_tokens")


def _distinct_outcome() -> Outcome:
    """An outcome whose every field holds a value no other field holds."""
    outcome = Outcome(request_id="req-1")
    for number, field in enumerate(fields(Outcome), start=1):
        current = getattr(outcome, field.name)
        if field.name == "request_id":
            continue
        if isinstance(current, bool):
            setattr(outcome, field.name, True)
        elif isinstance(current, int | float):
            setattr(outcome, field.name, type(current)(1000 + number))
        elif current is None or isinstance(current, str):
            setattr(outcome, field.name, f"{field.name}-value")
    outcome.failures = None
    outcome.cooled = None
    outcome.first_token_at = outcome.started + 0.25
    return outcome


def test_every_field_comes_from_the_outcome_attribute_of_its_name() -> None:
    outcome = _distinct_outcome()
    outcome.usage = Usage(prompt_tokens=11, completion_tokens=22, image_tokens=33)
    record = usage_record(outcome, 1.5)
    for field in fields(UsageRecord):
        value = getattr(record, field.name)
        if field.name in _FROM_USAGE:
            assert value == getattr(outcome.usage, field.name), field.name
        elif field.name == "latency_ms":
            assert value == 1500.0
        elif field.name == "ttft_ms":
            assert value == pytest.approx(250.0)
        else:
            source = _RENAMED.get(field.name, field.name)
            assert value == getattr(outcome, source), field.name


def test_without_usage_the_tokens_are_zero_and_image_tokens_come_from_the_outcome() -> None:
    outcome = _distinct_outcome()
    outcome.usage = None
    record = usage_record(outcome, 0.1)
    assert (record.prompt_tokens, record.completion_tokens) == (0, 0)
    assert record.image_tokens == outcome.image_tokens
