"""Metrics: cached label children, bounded labels, the in-flight gauge read on scrape."""

from __future__ import annotations

from visiongate.core.messages import Usage
from visiongate.core.outcome import Outcome
from visiongate.observability.metrics import Metrics


def _outcome(model: str, provider: str | None, status: int = 200) -> Outcome:
    outcome = Outcome(request_id="r")
    outcome.model, outcome.provider, outcome.status = model, provider, status
    outcome.usage = Usage(prompt_tokens=10, completion_tokens=3)
    return outcome


def test_requests_are_counted_per_model_provider_and_status() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.observe(_outcome("gpt-4o", "openai"), 0.01)
    metrics.observe(_outcome("gpt-4o", "openai", 502), 0.01)
    text = metrics.render().decode()
    assert (
        'visiongate_requests_total{endpoint="chat.completions",'
        'model="gpt-4o",provider="openai",status="200"} 3.0'
    ) in text
    assert (
        'visiongate_requests_total{endpoint="chat.completions",'
        'model="gpt-4o",provider="openai",status="502"} 1.0'
    ) in text
    assert 'visiongate_tokens_total{kind="prompt",model="gpt-4o"} 40.0' in text


def test_unresolved_model_ids_do_not_become_labels() -> None:
    metrics = Metrics()
    for i in range(50):  # a client inventing model ids
        metrics.observe(_outcome(f"made-up-{i}", None, 404), 0.001)
    text = metrics.render().decode()
    assert "made-up" not in text
    assert (
        'visiongate_requests_total{endpoint="chat.completions",'
        'model="-",provider="-",status="404"} 50.0'
    ) in text


def test_in_flight_is_read_when_scraped() -> None:
    metrics = Metrics()
    current = [0]
    metrics.count_in_flight(lambda: current[0])
    current[0] = 7
    assert "visiongate_requests_in_flight 7.0" in metrics.render().decode()


def test_documents_and_their_pages_are_counted() -> None:
    metrics = Metrics()
    outcome = _outcome("gpt-4o", "openai")
    outcome.documents, outcome.document_pages = 2, 7
    metrics.observe(outcome, 0.01)
    metrics.observe(_outcome("gpt-4o", "openai"), 0.01)
    text = metrics.render().decode()
    assert "visiongate_documents_total 2.0" in text
    assert "visiongate_document_pages_total 7.0" in text
