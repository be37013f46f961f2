"""Metrics a service publishes about itself (SageMaker's ``AWS/SageMaker`` endpoint metrics), handed to CloudWatch
inside the server.

On AWS a service's own metrics reach CloudWatch through no public call (PutMetricData refuses namespaces that
begin with ``AWS/``: CloudWatch API Reference, PutMetricData, "Namespace"). Here a service records each
observation into the server's :class:`MetricHub` (a lock and a dict update: cheap on a request path); the hub sums
them per metric and second into statistic sets (SampleCount, Sum, Minimum, Maximum: the form PutMetricData's
``StatisticValues`` takes) and CloudWatch drains it whenever it reads or evaluates. Neither side imports the other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: a metric's identity: (namespace, metric name, dimensions as sorted (name, value) pairs)
MetricKey = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass
class StatisticSet:
    """Observations of one metric in one second."""

    unit: str
    count: float = 0.0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)


#: what a drain hands over: (region, key, epoch second, statistics)
Drained = tuple[str, MetricKey, int, StatisticSet]


class MetricHub:
    """The server's channel from services' own metrics to CloudWatch."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, MetricKey, int], StatisticSet] = {}
        self._clock = clock

    def record(self, region: str, namespace: str, name: str, dimensions: dict[str, str], value: float,
               unit: str = "None") -> None:
        """One observation (e.g. one invocation's ``ModelLatency`` in microseconds), timestamped now."""
        key: MetricKey = (namespace, name, tuple(sorted(dimensions.items())))
        second = int(self._clock())
        with self._lock:
            found = self._pending.get((region, key, second))
            if found is None:
                found = self._pending[(region, key, second)] = StatisticSet(unit)
            found.add(float(value))

    def drain(self) -> list[Drained]:
        """Everything recorded since the last drain."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return [(region, key, second, stats) for (region, key, second), stats in pending.items()]
