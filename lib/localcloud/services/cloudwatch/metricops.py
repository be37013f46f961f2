"""CloudWatch's metric operations: PutMetricData, GetMetricStatistics, GetMetricData, ListMetrics (shapes and
limits from botocore's cloudwatch model and the CloudWatch API Reference)."""

from __future__ import annotations

import math
import time
from typing import Any

from localcloud.core.metrics import MetricHub
from localcloud.services.cloudwatch.checks import (
    combination_error,
    dimensions_of,
    need,
    seconds,
    value_error,
)
from localcloud.services.cloudwatch.store import (
    STATISTICS,
    Datapoint,
    MetricStore,
    key_of,
    timestamp,
    value_of,
)

#: datapoints one GetMetricStatistics may return (recorded on AWS: localstack snapshot
#: tests/aws/services/cloudwatch/test_cloudwatch.snapshot.json, test_invalid_amount_of_datapoints)
MAX_DATAPOINTS = 1440


class MetricOperations:
    """The metric half of CloudWatch over one :class:`MetricStore`, fed also by the server's :class:`MetricHub`."""

    def __init__(self, store: MetricStore, hub: MetricHub) -> None:
        self.store, self.hub = store, hub

    def drain(self) -> None:
        """Move services' own metrics (``AWS/...``) from the hub into the store."""
        for region, key, second, stats in self.hub.drain():
            self.store.add(region, key, Datapoint(float(second), stats.count, stats.total, stats.low, stats.high,
                                                  stats.unit))

    def put_metric_data(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        namespace = str(need(params, "Namespace"))
        if namespace.startswith("AWS/"):
            # CloudWatch API Reference, PutMetricData: namespaces beginning with "AWS/" are reserved for AWS
            # services (the exact message is not confirmed)
            raise value_error(f"The value {namespace} for parameter Namespace is invalid.")
        data = need(params, "MetricData")
        now = time.time()
        for i, datum in enumerate(data, start=1):
            for point in self._points(datum, i, now):
                dims = dimensions_of(datum.get("Dimensions"), f"MetricData.member.{i}.Dimensions")
                self.store.add(region, key_of(namespace, str(need(datum, "MetricName")), dims), point, dims)
        return {}

    @staticmethod
    def _points(datum: dict[str, Any], i: int, now: float) -> list[Datapoint]:
        """One datum's datapoints; the mutually exclusive members as recorded on AWS (localstack snapshot
        test_cloudwatch.snapshot.json, test_put_metric_data_validation)."""
        member = f"MetricData.member.{i}"
        when = seconds(datum["Timestamp"], f"{member}.Timestamp") if datum.get("Timestamp") is not None else now
        unit = str(datum.get("Unit") or "None")
        value, stats, values = datum.get("Value"), datum.get("StatisticValues"), datum.get("Values")
        for other, name in ((stats, "StatisticValues"), (values, "Values")):
            if value is not None and other is not None:
                raise combination_error(f"The parameters {member}.Value and {member}.{name} are mutually exclusive "
                                        "and you have specified both.")
        if stats is not None:
            return [Datapoint(when, float(stats["SampleCount"]), float(stats["Sum"]), float(stats["Minimum"]),
                              float(stats["Maximum"]), unit)]
        if values is not None:
            counts = datum.get("Counts") or [1.0] * len(values)
            if len(counts) != len(values):
                raise value_error(f"The parameters {member}.Values and {member}.Counts must be of the same size.")
            return [Datapoint(when, float(c), float(v) * float(c), float(v), float(v), unit)
                    for v, c in zip(values, counts, strict=True)]
        if value is None:
            raise value_error(f"The parameter {member}.Value, {member}.Values or {member}.StatisticValues is "
                              "required.")
        return [Datapoint(when, 1.0, float(value), float(value), float(value), unit)]

    def get_metric_statistics(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        self.drain()
        name = str(need(params, "MetricName"))
        start, end = seconds(need(params, "StartTime"), "StartTime"), seconds(need(params, "EndTime"), "EndTime")
        period = int(need(params, "Period"))
        statistics = list(params.get("Statistics") or [])
        if params.get("ExtendedStatistics"):
            raise value_error("localcloud keeps statistic sets, not raw values: percentiles (ExtendedStatistics) "
                              "are not available; ask for SampleCount, Average, Sum, Minimum or Maximum.")
        if not statistics:
            raise value_error("The parameter Statistics or ExtendedStatistics is required.")
        for statistic in statistics:
            if statistic not in STATISTICS:
                raise value_error(f"The parameter Statistics contains an invalid value: {statistic}.")
        if start >= end:
            raise value_error("The parameter StartTime must be less than the parameter EndTime.")
        wanted = math.ceil((end - start) / period)
        if wanted > MAX_DATAPOINTS:
            raise combination_error(f"You have requested up to {wanted} datapoints, which exceeds the limit of "
                                    f"{MAX_DATAPOINTS}. You may reduce the datapoints requested by increasing "
                                    "Period, or decreasing the time range.")
        key = key_of(str(need(params, "Namespace")), name, dimensions_of(params.get("Dimensions"), "Dimensions"))
        buckets = self.store.periods(region, key, start, end, period, params.get("Unit"))
        points = []
        for when in sorted(buckets):
            point = buckets[when]
            points.append({"Timestamp": timestamp(when), **{s: value_of(point, s) for s in statistics},
                           "Unit": point.unit})
        return {"Label": name, "Datapoints": points}

    def get_metric_data(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        self.drain()
        start, end = seconds(need(params, "StartTime"), "StartTime"), seconds(need(params, "EndTime"), "EndTime")
        if start >= end:
            raise value_error("The parameter StartTime must be less than the parameter EndTime.")
        descending = (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
        results = []
        for query in need(params, "MetricDataQueries"):
            stat = query.get("MetricStat")
            if not stat:
                raise value_error("localcloud answers MetricStat queries; metric math and Metrics Insights "
                                  "expressions (Expression) are not supported.")
            metric = stat.get("Metric") or {}
            key = key_of(str(metric.get("Namespace", "")), str(metric.get("MetricName", "")),
                         dimensions_of(metric.get("Dimensions"), "Dimensions"))
            buckets = self.store.periods(region, key, start, end, int(stat["Period"]), stat.get("Unit"))
            order = sorted(buckets, reverse=descending)
            if query.get("ReturnData", True):
                results.append({"Id": query["Id"], "Label": query.get("Label") or str(metric.get("MetricName")),
                                "Timestamps": [timestamp(w) for w in order],
                                "Values": [value_of(buckets[w], str(stat["Stat"])) for w in order],
                                "StatusCode": "Complete"})
        return {"MetricDataResults": results, "Messages": []}

    def list_metrics(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        self.drain()
        namespace, name = params.get("Namespace"), params.get("MetricName")
        filters = params.get("Dimensions") or []
        recent = time.time() - 3 * 3600 if params.get("RecentlyActive") == "PT3H" else None
        out = []
        for key, dims, newest in self.store.metrics(region):
            have = dict(key[2])
            if (namespace and key[0] != namespace) or (name and key[1] != name) or (recent and newest < recent):
                continue
            if any(f["Name"] not in have or (f.get("Value") is not None and have[f["Name"]] != f["Value"])
                   for f in filters):
                continue
            out.append({"Namespace": key[0], "MetricName": key[1], "Dimensions": dims})
        return {"Metrics": out}
