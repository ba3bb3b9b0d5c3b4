"""Counters and histograms updated on every request, without prometheus_client's locks.

prometheus_client guards every sample with a lock and checks, on every call, that the
metric is a labelled child; for the series each request updates (requests, latency,
upstream time, tokens, upstream calls) that came to ~8 µs a request. Every observation
here happens on the event loop's thread, so a labelled child is a plain object whose
numbers are added to in place; the Prometheus families are built only when scraped, with
the same names, labels and bucket bounds the client library would expose.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

__all__ = ["Buckets", "Count", "CounterSeries", "HistogramSeries", "SeriesCollector"]


class Count:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class Buckets:
    """Counts per bucket (not cumulative: summed when scraped) and the sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value


class CounterSeries:
    """A labelled counter family: ``labels(*values).inc()``, as with prometheus_client."""

    def __init__(self, name: str, doc: str, labels: Sequence[str]) -> None:
        self.name = name
        self.doc = doc
        self.label_names = tuple(labels)
        self._children: dict[tuple[str, ...], Count] = {}

    def labels(self, *values: str) -> Count:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = Count()
        return child

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.label_names)
        for values, child in list(self._children.items()):
            family.add_metric(values, child.value, created=child.created)
        return family


class HistogramSeries:
    """A labelled histogram family with fixed bucket bounds."""

    def __init__(
        self, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self.name = name
        self.doc = doc
        self.label_names = tuple(labels)
        self.bounds = tuple(float(b) for b in buckets)
        self._les = [floatToGoString(b) for b in self.bounds] + ["+Inf"]
        self._children: dict[tuple[str, ...], Buckets] = {}

    def labels(self, *values: str) -> Buckets:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = Buckets(self.bounds)
        return child

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.label_names)
        for values, child in list(self._children.items()):
            running = 0
            buckets = []
            for le, count in zip(self._les, list(child.counts), strict=True):
                running += count
                buckets.append((le, float(running)))
            family.add_metric(values, buckets, child.total)
        return family


class SeriesCollector:
    """Registers the series with a prometheus_client registry (read when scraped)."""

    def __init__(self, *series: CounterSeries | HistogramSeries) -> None:
        self._series = series

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for series in self._series:
            yield series.family()
