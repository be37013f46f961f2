"""CloudWatch state and operations: metrics (:mod:`.metricops`) and metric alarms, which really evaluate.

An evaluator thread looks at every alarm on a short tick: the alarm's last EvaluationPeriods periods of its metric
go through :func:`.evaluation.evaluate`, and a change of state is written with its reason, reason data and history
item. The periods are a sliding window (PutMetricAlarm's default ``EvaluationWindow``, "Alarm evaluation window" in
the CloudWatch User Guide) that ends at the last whole second: a datapoint is judged once the time it sums is over.
On AWS the window ends at the last whole minute, its metrics' resolution — the StateReasonData recorded on AWS
shows it (queryDate ``...13:29:29.292``, period 300: the evaluated datapoint is ``13:24:00.000``; queryDate
``...09:39:13.827``, period 86400: startDate ``...09:39:00.000`` the day before). localcloud's datapoints are whole
seconds (:mod:`localcloud.core.metrics`), so a period lasts ``Period`` seconds times the server's monitoring time
scale, and at least one second.
Alarm actions (SNS, Auto Scaling...) are kept and shown, not executed. SetAlarmState changes the state until the
next evaluation changes it back, as the PutMetricAlarm/SetAlarmState pages of the CloudWatch API Reference say.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from localcloud import settings
from localcloud.core.arns import arn
from localcloud.core.context import ServerContext
from localcloud.core.jobs import Workers, utcnow
from localcloud.services.cloudwatch.checks import enum_error, need, not_found, seconds, value_error
from localcloud.services.cloudwatch.evaluation import OPERATORS, TREATMENTS, encode, evaluate
from localcloud.services.cloudwatch.metricops import MetricOperations
from localcloud.services.cloudwatch.models import Alarm, HistoryItem
from localcloud.services.cloudwatch.store import STATISTICS, MetricStore, key_of

STATES = ("INSUFFICIENT_DATA", "ALARM", "OK")
MAX_HISTORY = 1000
#: the resolution of the metrics a service records itself (one statistic set per second: core/metrics.py)
RESOLUTION_S = 1.0


class CloudWatchBackend:
    """Metrics and metric alarms of one localcloud server."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.lock = threading.RLock()
        self.metrics = MetricOperations(MetricStore(), ctx.metrics)
        self.alarms: dict[tuple[str, str], Alarm] = {}
        self.history: list[HistoryItem] = []
        self.tags: dict[str, dict[str, str]] = {}
        #: ``LOCALCLOUD_MONITORING_TIME_SCALE``: an alarm's period lasts ``Period * time_scale`` seconds
        self.time_scale = settings.monitoring_time_scale()
        self.workers = Workers()
        self.workers.start("cloudwatch-alarms", self._evaluator)

    def shutdown(self) -> None:
        self.workers.shutdown()

    def health(self) -> dict[str, Any]:
        with self.lock:
            return {"status": "running", "alarms": len(self.alarms),
                    "in_alarm": sum(1 for a in self.alarms.values() if a.state == "ALARM")}

    # ------------------------------------------------------------------------------------------------ evaluation
    def _evaluator(self) -> None:
        while not self.workers.stopping.wait(max(0.05, min(1.0, 10 * self.time_scale))):
            self.evaluate_all()

    def evaluate_all(self, now: float | None = None) -> None:
        """Evaluate every alarm once (the evaluator's tick; tests call it to step the clock)."""
        self.metrics.drain()
        now = time.time() if now is None else now
        with self.lock:
            alarms = list(self.alarms.values())
        for alarm in alarms:
            rule = alarm.rule
            # a scaled period shorter than a datapoint would cut one in two: a period is one datapoint at least
            length = max(RESOLUTION_S, rule.period * self.time_scale)
            end = math.floor(now / RESOLUTION_S) * RESOLUTION_S  # the last whole second: what is over
            key = key_of(str(alarm.request["Namespace"]), str(alarm.request["MetricName"]),
                         alarm.request.get("Dimensions"))
            buckets = []
            for i in range(rule.evaluation_periods, 0, -1):
                start = end - i * length
                buckets.append((start, self.metrics.store.window(alarm.region, key, start, start + length,
                                                                 rule.unit)))
            with self.lock:
                verdict = evaluate(rule, buckets, alarm.state, now)
                if verdict is not None and verdict.state != alarm.state and self._current(alarm):
                    self._record(alarm.move(verdict.state, verdict.reason, encode(verdict.reason_data)))

    def _current(self, alarm: Alarm) -> bool:
        return self.alarms.get((alarm.region, alarm.name)) is alarm

    def _record(self, item: HistoryItem | None) -> None:
        if item is not None:
            self.history.append(item)
            del self.history[:-MAX_HISTORY]

    # ------------------------------------------------------------------------------------------------ alarms
    def put_metric_alarm(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        name = str(need(params, "AlarmName"))
        if params.get("Metrics") or params.get("ThresholdMetricId"):
            raise value_error("localcloud evaluates alarms on one metric (Namespace, MetricName, Dimensions); "
                              "metric math and anomaly detection alarms (Metrics) are not supported.")
        for member in ("Namespace", "MetricName", "Period", "EvaluationPeriods", "Threshold", "ComparisonOperator"):
            need(params, member)
        if params.get("ExtendedStatistic"):
            raise value_error("localcloud keeps statistic sets, not raw values: percentile alarms "
                              "(ExtendedStatistic) are not supported; use Statistic.")
        if params.get("Statistic") not in STATISTICS:
            raise enum_error(params.get("Statistic"), "statistic", STATISTICS)
        if params["ComparisonOperator"] not in OPERATORS:
            raise value_error(f"localcloud evaluates the static threshold operators ({', '.join(OPERATORS)}); "
                              f"{params['ComparisonOperator']} needs an anomaly detection band.")
        treat = params.get("TreatMissingData")
        if treat is not None and treat not in TREATMENTS:
            raise value_error(f"The value {treat} for parameter TreatMissingData is invalid. Valid values are "
                              f"{', '.join(TREATMENTS)}.")
        points = params.get("DatapointsToAlarm")
        if points is not None and int(points) > int(params["EvaluationPeriods"]):
            raise value_error("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
        request = {k: v for k, v in params.items() if k not in ("AlarmName", "Tags")}
        request["Threshold"] = float(params["Threshold"])  # a double in the service model
        with self.lock:
            found = self.alarms.get((region, name))
            if found is None:
                alarm = Alarm(name=name, arn=arn("cloudwatch", region, f"alarm:{name}"), region=region,
                              request=request, actions_enabled=params.get("ActionsEnabled", True) is not False)
                self.alarms[(region, name)] = alarm
                self.tags[alarm.arn] = {t["Key"]: t["Value"] for t in params.get("Tags") or []}
            else:  # an update overwrites the configuration and leaves the state (PutMetricAlarm)
                found.request, found.updated = request, utcnow()
                found.actions_enabled = params.get("ActionsEnabled", True) is not False
                alarm = found
            # the summary of a configuration change is not confirmed against AWS
            verb = "created" if found is None else "updated"
            self._record(HistoryItem(name, "ConfigurationUpdate", f'Alarm "{name}" {verb}',
                                     {"version": "1.0", "type": "Create" if found is None else "Update"}))
        return {}

    def _matching(self, params: dict[str, Any], region: str) -> list[Alarm]:
        names = set(params.get("AlarmNames") or [])
        prefix, state = params.get("AlarmNamePrefix"), params.get("StateValue")
        action = params.get("ActionPrefix")
        out = []
        for (where, name), alarm in sorted(self.alarms.items()):
            if where != region or (names and name not in names) or (prefix and not name.startswith(prefix)):
                continue
            if (state and alarm.state != state) or (action and not any(
                    str(a).startswith(action) for key in ("OKActions", "AlarmActions", "InsufficientDataActions")
                    for a in alarm.request.get(key) or [])):
                continue
            out.append(alarm)
        return out

    def describe_alarms(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        if params.get("StateValue") is not None and params["StateValue"] not in STATES:
            raise enum_error(params["StateValue"], "stateValue", STATES)
        with self.lock:
            found = self._matching(params, region) if "MetricAlarm" in types else []
            rows, token = _page(found, params, 50)
            out: dict[str, Any] = {"MetricAlarms": [a.to_api() for a in rows], "CompositeAlarms": []}
        if token:
            out["NextToken"] = token
        return out

    def describe_alarms_for_metric(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        key = key_of(str(need(params, "Namespace")), str(need(params, "MetricName")), params.get("Dimensions"))
        with self.lock:
            found = [a for (where, _), a in sorted(self.alarms.items()) if where == region
                     and key_of(a.request["Namespace"], a.request["MetricName"], a.request.get("Dimensions")) == key
                     and all(params.get(f) in (None, a.request.get(f)) for f in ("Statistic", "Period", "Unit"))]
            return {"MetricAlarms": [a.to_api() for a in found]}

    def describe_alarm_history(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        name, kind = params.get("AlarmName"), params.get("HistoryItemType")
        start = seconds(params["StartDate"], "StartDate") if params.get("StartDate") else None
        end = seconds(params["EndDate"], "EndDate") if params.get("EndDate") else None
        with self.lock:
            regional = {a.name for (where, _), a in self.alarms.items() if where == region}
            items = [h for h in self.history if (h.alarm == name if name else h.alarm in regional)
                     and (not kind or h.kind == kind) and (start is None or h.when.timestamp() >= start)
                     and (end is None or h.when.timestamp() <= end)]
        if (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending":
            items.reverse()
        rows, token = _page(items, params, 100)
        out: dict[str, Any] = {"AlarmHistoryItems": [h.to_api() for h in rows]}
        if token:
            out["NextToken"] = token
        return out

    def delete_alarms(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        names = list(params.get("AlarmNames") or [])
        with self.lock:
            if any((region, n) not in self.alarms for n in names):
                raise not_found()  # nothing is deleted when a name is wrong (DeleteAlarms)
            for name in names:
                alarm = self.alarms.pop((region, name))
                self.tags.pop(alarm.arn, None)
        return {}

    def set_alarm_state(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        name = str(need(params, "AlarmName"))
        state = params.get("StateValue")
        if state not in STATES:
            raise enum_error(state, "stateValue", STATES)
        reason = str(need(params, "StateReason"))
        with self.lock:
            alarm = self.alarms.get((region, name))
            if alarm is None:
                raise not_found()
            self._record(alarm.move(state, reason, params.get("StateReasonData")))
        return {}

    def set_actions(self, params: dict[str, Any], region: str, enabled: bool) -> dict[str, Any]:
        with self.lock:
            for name in params.get("AlarmNames") or []:
                if (region, name) in self.alarms:
                    self.alarms[(region, name)].actions_enabled = enabled
        return {}

    # ------------------------------------------------------------------------------------------------ tags
    def _tagged(self, resource: str) -> dict[str, str]:
        found = self.tags.get(resource)
        if found is None:
            raise not_found(f"{resource} not found")
        return found

    def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            tags = self._tagged(str(need(params, "ResourceARN")))
            return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}

    def tag(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._tagged(str(need(params, "ResourceARN"))).update(
                {t["Key"]: t["Value"] for t in need(params, "Tags")})
        return {}

    def untag(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            tags = self._tagged(str(need(params, "ResourceARN")))
            for key in need(params, "TagKeys"):
                tags.pop(key, None)
        return {}


def _page(rows: list[Any], params: dict[str, Any], default: int) -> tuple[list[Any], str | None]:
    size = int(params.get("MaxRecords") or default)
    start = int(params.get("NextToken") or 0)
    end = start + size
    return rows[start:end], (str(end) if end < len(rows) else None)
