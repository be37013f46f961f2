"""A metric alarm as CloudWatch keeps it, its history items, and their API shapes (DescribeAlarms'
``MetricAlarm``, DescribeAlarmHistory's ``AlarmHistoryItem``: botocore's cloudwatch service model).

A new alarm is INSUFFICIENT_DATA with the reason ``Unchecked: Initial alarm creation`` (recorded on AWS: localstack
snapshot tests/aws/services/cloudwatch/test_cloudwatch.snapshot.json, test_put_metric_alarm "describe-alarm"); a
state change writes a ``StateUpdate`` history item ``Alarm updated from OLD to NEW`` whose HistoryData holds the
old and new states (same snapshot, "describe-alarm-history").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localcloud.core.jobs import utcnow
from localcloud.services.cloudwatch.evaluation import Rule, encode

INITIAL_REASON = "Unchecked: Initial alarm creation"
#: PutMetricAlarm members DescribeAlarms echoes as sent (empty lists included, as recorded)
ECHO = ("AlarmDescription", "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period",
        "Unit", "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
        "EvaluateLowSampleCountPercentile")


@dataclass
class HistoryItem:
    alarm: str
    kind: str
    summary: str
    data: dict[str, Any]
    when: datetime = field(default_factory=utcnow)

    def to_api(self) -> dict[str, Any]:
        return {"AlarmName": self.alarm, "AlarmType": "MetricAlarm", "Timestamp": self.when,
                "HistoryItemType": self.kind, "HistorySummary": self.summary, "HistoryData": encode(self.data)}


@dataclass
class Alarm:
    """One metric alarm; ``request`` holds the PutMetricAlarm parameters as sent."""

    name: str
    arn: str
    region: str
    request: dict[str, Any]
    updated: datetime = field(default_factory=utcnow)
    state: str = "INSUFFICIENT_DATA"
    reason: str = INITIAL_REASON
    reason_data: str | None = None
    state_updated: datetime = field(default_factory=utcnow)
    transitioned: datetime = field(default_factory=utcnow)
    actions_enabled: bool = True

    @property
    def rule(self) -> Rule:
        r = self.request
        periods = int(r["EvaluationPeriods"])
        return Rule(statistic=str(r["Statistic"]), period=int(r["Period"]), evaluation_periods=periods,
                    datapoints_to_alarm=int(r.get("DatapointsToAlarm") or periods), threshold=float(r["Threshold"]),
                    comparison=str(r["ComparisonOperator"]), treat_missing=str(r.get("TreatMissingData") or
                                                                               "missing"), unit=r.get("Unit"))

    def move(self, state: str, reason: str, reason_data: str | None) -> HistoryItem | None:
        """Enter ``state`` (a history item when it is a change of state)."""
        now = utcnow()
        old = {"stateValue": self.state, "stateReason": self.reason}
        if self.reason_data:
            old["stateReasonData"] = _loads(self.reason_data)
        changed = state != self.state
        self.state, self.reason, self.reason_data, self.state_updated = state, reason, reason_data, now
        if not changed:
            return None
        self.transitioned = now
        new: dict[str, Any] = {"stateValue": state, "stateReason": reason}
        if reason_data:
            new["stateReasonData"] = _loads(reason_data)
        return HistoryItem(self.name, "StateUpdate", f"Alarm updated from {old['stateValue']} to {state}",
                           {"version": "1.0", "oldState": old, "newState": new}, now)

    def to_api(self) -> dict[str, Any]:
        r = self.request
        out: dict[str, Any] = {
            "AlarmName": self.name, "AlarmArn": self.arn, "AlarmConfigurationUpdatedTimestamp": self.updated,
            "ActionsEnabled": self.actions_enabled, "OKActions": list(r.get("OKActions") or []),
            "AlarmActions": list(r.get("AlarmActions") or []),
            "InsufficientDataActions": list(r.get("InsufficientDataActions") or []),
            "StateValue": self.state, "StateReason": self.reason, "StateUpdatedTimestamp": self.state_updated,
            "StateTransitionedTimestamp": self.transitioned,
        }
        if self.reason_data:
            out["StateReasonData"] = self.reason_data
        out.update({k: r[k] for k in ECHO if r.get(k) is not None})
        out.setdefault("Dimensions", [])
        return out


def _loads(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text
