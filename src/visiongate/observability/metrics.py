"""Prometheus metrics, one registry per app (no module-level state).

Per process: with ``--workers N`` each worker exposes its own numbers (scrape each, or
sum in the dashboard); docs/operations.md says so.

Every request is observed, so the cost per observation matters (docs/performance.md):
the labelled children are looked up once per (model, provider, status, endpoint) and
kept, the series every request updates are lock-free (``series.py``: ~8 µs a request with
prometheus_client's own, ~2.7 µs now), and the in-flight gauge reads a plain counter
when scraped instead of taking a lock twice per request. Label values are bounded: a model
id the catalog does not know (a 404) is counted as ``-``, so clients cannot grow the
registry by sending made-up ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from visiongate.core.outcome import Outcome
from visiongate.observability.series import (
    Count,
    CounterSeries,
    HistogramSeries,
    SeriesCollector,
)

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_IMAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class _Children:
    """The labelled series one (model, provider, status, endpoint) combination updates."""

    __slots__ = ("completion", "prompt", "requests", "seconds", "upstream")

    def __init__(
        self, metrics: Metrics, model: str, provider: str, status: int, endpoint: str
    ) -> None:
        self.requests = metrics.requests.labels(model, provider, str(status), endpoint)
        self.seconds = metrics.request_seconds.labels(model, provider)
        self.upstream = metrics.upstream_seconds.labels(provider)
        self.prompt = metrics.tokens.labels(model, "prompt")
        self.completion = metrics.tokens.labels(model, "completion")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # The series every request updates (series.py: no lock per update).
        self.requests = CounterSeries(
            "visiongate_requests",
            "Requests by model, provider, HTTP status and endpoint (the surface)",
            ["model", "provider", "status", "endpoint"],
        )
        self.request_seconds = HistogramSeries(
            "visiongate_request_seconds",
            "Whole request time",
            ["model", "provider"],
            _LATENCY_BUCKETS,
        )
        self.upstream_seconds = HistogramSeries(
            "visiongate_upstream_seconds",
            "Time spent in the provider call",
            ["provider"],
            _LATENCY_BUCKETS,
        )
        self.tokens = CounterSeries(
            "visiongate_tokens", "Tokens by model and kind", ["model", "kind"]
        )
        self.attempts = CounterSeries(
            "visiongate_upstream_attempts",
            "Upstream calls by deployment (catalog model) and result (ok, or what the "
            "failure led to: retry, credentials, fallback, fatal)",
            ["deployment", "result"],
        )
        r.register(
            SeriesCollector(
                self.requests,
                self.request_seconds,
                self.upstream_seconds,
                self.tokens,
                self.attempts,
            )
        )
        self.image_seconds = Histogram(
            "visiongate_image_seconds",
            "Image work per request (fetch, inspect, fit)",
            buckets=_IMAGE_BUCKETS,
            registry=r,
        )
        self.images = Counter("visiongate_images", "Images received", registry=r)
        self.image_fetched_bytes = Counter(
            "visiongate_image_fetched_bytes", "Bytes of images fetched from URLs", registry=r
        )
        self.image_cache_hits = Counter(
            "visiongate_image_cache_hits", "Image URLs served from the cache", registry=r
        )
        self.documents = Counter("visiongate_documents", "Documents (PDFs) received", registry=r)
        self.document_pages = Counter(
            "visiongate_document_pages", "PDF pages sent natively or as images", registry=r
        )
        self.answer_cache = Counter(
            "visiongate_answer_cache",
            "Requests that used the answer cache, by result (hit, miss, bypass)",
            ["result"],
            registry=r,
        )
        self.answer_cache_errors = Counter(
            "visiongate_answer_cache_errors",
            "Requests whose answer-cache store failed (answered as misses)",
            registry=r,
        )
        self.answer_cache_saved_usd = Counter(
            "visiongate_answer_cache_saved_usd",
            "USD that cache hits would have cost at the catalog's prices",
            registry=r,
        )
        self.in_flight = Gauge("visiongate_requests_in_flight", "Requests being served", registry=r)
        self.cooldowns = Counter(
            "visiongate_cooldowns",
            "Cooldowns this process started, by deployment",
            ["deployment"],
            registry=r,
        )
        self._children: dict[tuple[str, str, int, str], _Children] = {}
        self._served: dict[str, Count] = {}

    def count_in_flight(self, read: object) -> None:
        """Report ``read()`` (a callable returning the number of requests being served) as
        the in-flight gauge when scraped, instead of locking on every request."""
        self.in_flight.set_function(read)  # type: ignore[arg-type]

    def track_deployments(self, states: Callable[[], Mapping[str, int]]) -> None:
        """Report ``states()`` (deployment -> 1 while cooling down, 0 when taking traffic)
        as the ``visiongate_deployment_state`` gauge, read when scraped."""
        self.registry.register(_DeploymentStates(states))

    def _observe_routing(self, outcome: Outcome) -> None:
        for failure in outcome.failures or ():
            self.attempts.labels(failure["deployment"], failure["action"]).inc()
        for name in outcome.cooled or ():
            self.cooldowns.labels(name).inc()
        if outcome.status < 400 and outcome.deployment is not None:
            child = self._served.get(outcome.deployment)
            if child is None:
                child = self._served[outcome.deployment] = self.attempts.labels(
                    outcome.deployment, "ok"
                )
            child.inc()

    def observe(self, outcome: Outcome, latency: float) -> None:
        provider = outcome.provider or "-"
        # The model label is only trusted once the model resolved (provider set).
        model = (outcome.model or "-") if outcome.provider else "-"
        key = (model, provider, outcome.status, outcome.endpoint)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = _Children(
                self, model, provider, outcome.status, outcome.endpoint
            )
        children.requests.inc()
        children.seconds.observe(latency)
        if outcome.attempts:
            self._observe_routing(outcome)
        if outcome.upstream_seconds:
            children.upstream.observe(outcome.upstream_seconds)
        if outcome.images:
            self.images.inc(outcome.images)
            self.image_seconds.observe(outcome.image_seconds)
            if outcome.fetched_bytes:
                self.image_fetched_bytes.inc(outcome.fetched_bytes)
            if outcome.cache_hits:
                self.image_cache_hits.inc(outcome.cache_hits)
        if outcome.documents:
            self.documents.inc(outcome.documents)
            self.document_pages.inc(outcome.document_pages)
        if outcome.cache is not None:
            self._observe_cache(outcome)
        usage = outcome.usage
        if usage is not None:
            children.prompt.inc(usage.prompt_tokens)
            children.completion.inc(usage.completion_tokens)

    def _observe_cache(self, outcome: Outcome) -> None:
        self.answer_cache.labels(outcome.cache).inc()
        if outcome.cache_error:
            self.answer_cache_errors.inc()
        if outcome.saved_usd:
            self.answer_cache_saved_usd.inc(outcome.saved_usd)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _DeploymentStates:
    """A collector that reads the cooldown state when scraped (no lock per request)."""

    def __init__(self, states: Callable[[], Mapping[str, int]]) -> None:
        self._states = states

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "visiongate_deployment_state",
            "1 while a deployment (catalog model) is cooling down, 0 when it takes traffic",
            labels=["deployment"],
        )
        for name, state in sorted(self._states().items()):
            family.add_metric([name], state)
        yield family
