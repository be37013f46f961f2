"""CloudWatch's metric store: datapoints as statistic sets, statistics over aligned periods.

Each datapoint is kept as AWS keeps a metric's data, a statistic set (SampleCount, Sum, Minimum, Maximum) with its
unit, so ``Value``, ``Values``/``Counts`` and ``StatisticValues`` of PutMetricData and the service's own
aggregated metrics are one kind of record. A metric is its namespace, name and exact set of dimensions ("each
unique combination of dimensions is a separate metric": CloudWatch User Guide, "Dimensions"); statistics over a
period combine the sets in it (Average = Sum / SampleCount). Percentiles need the raw values AWS keeps and are not
offered.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localcloud.core.metrics import MetricKey

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


@dataclass
class Datapoint:
    """A statistic set at one moment (epoch seconds)."""

    when: float
    count: float
    total: float
    low: float
    high: float
    unit: str

    def merge(self, other: Datapoint) -> None:
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)


def value_of(point: Datapoint, statistic: str) -> float:
    """One statistic of a (merged) statistic set."""
    return {"SampleCount": point.count, "Sum": point.total, "Minimum": point.low, "Maximum": point.high,
            "Average": point.total / point.count if point.count else 0.0}[statistic]


def key_of(namespace: str, name: str, dimensions: list[dict[str, Any]] | None) -> MetricKey:
    return namespace, name, tuple(sorted((str(d["Name"]), str(d["Value"])) for d in dimensions or []))


class MetricStore:
    """Datapoints of every metric of one server, by region."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: dict[str, dict[MetricKey, list[Datapoint]]] = defaultdict(lambda: defaultdict(list))
        #: the dimensions of each metric in the order first written (ListMetrics answers them so)
        self._order: dict[MetricKey, list[dict[str, str]]] = {}

    def add(self, region: str, key: MetricKey, point: Datapoint, dimensions: list[dict[str, Any]] | None = None
            ) -> None:
        with self._lock:
            self._points[region][key].append(point)
            self._order.setdefault(key, [{"Name": str(d["Name"]), "Value": str(d["Value"])}
                                         for d in dimensions or []] or
                                   [{"Name": n, "Value": v} for n, v in key[2]])

    def periods(self, region: str, key: MetricKey, start: float, end: float, period: float,
                unit: str | None = None) -> dict[float, Datapoint]:
        """The metric's datapoints in ``[start, end)`` merged per period (keys: each period's start, aligned to
        multiples of ``period`` as CloudWatch aligns them)."""
        with self._lock:
            points = list(self._points.get(region, {}).get(key, ()))
        out: dict[float, Datapoint] = {}
        for point in points:
            if not start <= point.when < end or (unit and point.unit != unit):
                continue
            bucket = math.floor(point.when / period) * period
            if bucket in out:
                out[bucket].merge(point)
            else:
                out[bucket] = Datapoint(bucket, point.count, point.total, point.low, point.high, point.unit)
        return out

    def window(self, region: str, key: MetricKey, start: float, end: float, unit: str | None = None
               ) -> Datapoint | None:
        """All datapoints of ``[start, end)`` merged into one (an alarm's period that need not be aligned)."""
        with self._lock:
            points = [p for p in self._points.get(region, {}).get(key, ())
                      if start <= p.when < end and (not unit or p.unit == unit)]
        if not points:
            return None
        merged = Datapoint(start, 0.0, 0.0, float("inf"), float("-inf"), points[0].unit)
        for point in points:
            merged.merge(point)
        return merged

    def metrics(self, region: str) -> list[tuple[MetricKey, list[dict[str, str]], float]]:
        """Every metric of ``region`` with its dimensions and its newest datapoint's time."""
        with self._lock:
            return [(key, self._order[key], max(p.when for p in points))
                    for key, points in self._points.get(region, {}).items() if points]


def timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
