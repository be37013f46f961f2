"""Evaluating a metric alarm: its last EvaluationPeriods datapoints against the threshold, missing data treated as
``TreatMissingData`` says, and the state with the reason CloudWatch writes.

The rules follow the CloudWatch User Guide, "Using Amazon CloudWatch alarms" (sections "Evaluating an alarm" and
"Configuring how CloudWatch alarms treat missing data"): an alarm goes to ALARM when at least DatapointsToAlarm (M)
of the last EvaluationPeriods (N) datapoints breach; ``missing`` (the default) with no datapoint at all is
INSUFFICIENT_DATA; ``ignore`` keeps the current state; ``breaching``/``notBreaching`` count a missing datapoint as
one that breaches / does not.

The reason texts are AWS's, as recorded:
- ``Threshold Crossed: 1 datapoint [21.5 (dd/MM/yy HH:mm:ss)] was greater than the threshold (21.0).`` — recorded
  on AWS: localstack snapshot tests/aws/services/cloudwatch/test_cloudwatch.snapshot.json, test_put_metric_alarm
  (with its StateReasonData); the day-first date and the ``was not ...`` form of an OK transition from an alarm
  notification quoted in github.com/HHS/simpler-grants-gov issue 1323.
- ``Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as
  [Breaching].`` — same snapshot, test_breaching_alarm_actions.
- ``Insufficient Data: 1 datapoint was unknown.`` / ``3 datapoints were unknown.`` — alarm notifications quoted in
  public repositories (SNS messages of 2013–2023).
- M out of N: ``Threshold Crossed: 1 out of the last 1 datapoints [6.04 (15/08/18 21:15:00)] was less than or equal
  to the threshold (70.0) (minimum 1 datapoint for OK -> ALARM transition).`` — an alarm notification quoted in
  github.com/aws/aws-sdk-java issue 1723. The OK form of M out of N and ``[NonBreaching]`` are written by analogy
  (not confirmed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localcloud.services.cloudwatch.store import Datapoint, value_of

OPERATORS = {
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}
TREATMENTS = ("breaching", "notBreaching", "ignore", "missing")


@dataclass(frozen=True)
class Rule:
    """What an alarm evaluates (its PutMetricAlarm parameters)."""

    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str = "missing"
    unit: str | None = None


@dataclass(frozen=True)
class Verdict:
    state: str
    reason: str
    reason_data: dict[str, Any]


def reason_date(seconds: float) -> str:
    """A datapoint's time as alarm reasons write it: ``(22/02/24 18:34:00)``, UTC, day first."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%d/%m/%y %H:%M:%S")


def data_date(seconds: float) -> str:
    """A time as StateReasonData writes it: ``2023-08-04T12:31:29.591+0000``."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def _reason_data(rule: Rule, buckets: Sequence[tuple[float, Datapoint | None]], now: float) -> dict[str, Any]:
    data: dict[str, Any] = {"version": "1.0", "queryDate": data_date(now)}
    if buckets:
        data["startDate"] = data_date(buckets[0][0])
    if rule.unit:
        data["unit"] = rule.unit
    data.update(statistic=rule.statistic, period=rule.period,
                recentDatapoints=[value_of(p, rule.statistic) for _, p in buckets if p is not None],
                threshold=float(rule.threshold),
                evaluatedDatapoints=[{"timestamp": data_date(when)} if p is None else
                                     {"timestamp": data_date(when), "sampleCount": p.count,
                                      "value": value_of(p, rule.statistic)} for when, p in reversed(buckets)])
    return data


def _crossed(rule: Rule, old: str, new: str, points: list[tuple[float, float]], present: int) -> str:
    words = OPERATORS[rule.comparison][0]
    negation = "" if new == "ALARM" else "not "
    listed = ", ".join(f"{value!r} ({reason_date(when)})" for when, value in points)
    if rule.evaluation_periods == 1 and present == 1:
        return f"Threshold Crossed: 1 datapoint [{listed}] was {negation}{words} the threshold ({rule.threshold!r})."
    needed = rule.datapoints_to_alarm if new == "ALARM" else 1
    return (f"Threshold Crossed: {len(points)} out of the last {rule.evaluation_periods} datapoints [{listed}] "
            f"{_plural(len(points), 'was', 'were')} {negation}{words} the threshold ({rule.threshold!r}) (minimum "
            f"{needed} {_plural(needed, 'datapoint', 'datapoints')} for {old} -> {new} transition).")


def evaluate(rule: Rule, buckets: Sequence[tuple[float, Datapoint | None]], state: str, now: float
             ) -> Verdict | None:
    """The state the alarm should be in given its last N periods (oldest first; None: no data in a period), or None
    to keep the current one (``ignore`` with no data)."""
    periods = len(buckets)
    compare = OPERATORS[rule.comparison][1]
    present = [(when, value_of(p, rule.statistic)) for when, p in buckets if p is not None]
    data = _reason_data(rule, buckets, now)
    missing = periods - len(present)
    if not present:
        if rule.treat_missing == "ignore":
            return None
        if rule.treat_missing in ("breaching", "notBreaching"):
            new = "ALARM" if rule.treat_missing == "breaching" else "OK"
            label = "Breaching" if new == "ALARM" else "NonBreaching"
            return Verdict(new, f"Threshold Crossed: no datapoints were received for {periods} periods and "
                                f"{missing} missing datapoints were treated as [{label}].", data)
        return Verdict("INSUFFICIENT_DATA", f"Insufficient Data: {missing} "
                                            f"{_plural(missing, 'datapoint was', 'datapoints were')} unknown.", data)
    breaching = [(w, v) for w, v in present if compare(v, rule.threshold)]
    count = len(breaching) + (missing if rule.treat_missing == "breaching" else 0)
    newest_first = list(reversed(breaching if count >= rule.datapoints_to_alarm else
                                 [(w, v) for w, v in present if not compare(v, rule.threshold)]))
    new = "ALARM" if count >= rule.datapoints_to_alarm else "OK"
    return Verdict(new, _crossed(rule, state, new, newest_first, len(present)), data)


def encode(data: dict[str, Any]) -> str:
    """StateReasonData and HistoryData are JSON text on the wire."""
    return json.dumps(data, separators=(",", ":"))
