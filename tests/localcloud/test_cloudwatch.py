"""CloudWatch: metrics through boto3, alarm evaluation (units on the evaluator, and alarms moving on the server's
clock), history and errors as recorded on AWS."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_sagemaker_support import unique

from localcloud.services.cloudwatch.evaluation import Rule, evaluate
from localcloud.services.cloudwatch.store import Datapoint

DIMS = [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "AllTraffic"}]


@pytest.fixture
def fast(cloud: Any) -> Any:
    """The server's monitoring clock at 1/100: a 60-second alarm period lasts 0.6 s."""
    backend = cloud.app.backends["cloudwatch"]
    backend.time_scale = 0.01
    yield backend
    backend.time_scale = 1.0


def _point(value: float, count: float = 1.0, when: float = 0.0) -> Datapoint:
    return Datapoint(when, count, value * count, value, value, "None")


def _rule(**kw: Any) -> Rule:
    base = {"statistic": "Sum", "period": 60, "evaluation_periods": 1, "datapoints_to_alarm": 1, "threshold": 0.0,
            "comparison": "GreaterThanThreshold"}
    return Rule(**{**base, **kw})


# ------------------------------------------------------------------------------------------------ the evaluator
def test_one_breaching_datapoint_is_alarm_with_the_recorded_reason() -> None:
    # recorded on AWS: localstack snapshot tests/aws/services/cloudwatch/test_cloudwatch.snapshot.json,
    # test_put_metric_alarm: "Threshold Crossed: 1 datapoint [21.5 (..)] was greater than the threshold (21.0)."
    rule = _rule(statistic="Average", period=10, threshold=21.0, unit="Seconds")
    when = datetime(2024, 3, 1, 11, 36, tzinfo=UTC).timestamp()
    verdict = evaluate(rule, [(when, _point(21.5, 2.0, when))], "INSUFFICIENT_DATA", when + 10)
    assert verdict is not None and verdict.state == "ALARM"
    assert verdict.reason == "Threshold Crossed: 1 datapoint [21.5 (01/03/24 11:36:00)] was greater than the " \
                             "threshold (21.0)."
    data = verdict.reason_data
    assert list(data) == ["version", "queryDate", "startDate", "unit", "statistic", "period", "recentDatapoints",
                          "threshold", "evaluatedDatapoints"]
    assert data["recentDatapoints"] == [21.5] and data["evaluatedDatapoints"][0]["sampleCount"] == 2.0


def test_a_datapoint_under_the_threshold_is_ok() -> None:
    verdict = evaluate(_rule(comparison="GreaterThanOrEqualToThreshold", threshold=0.2),
                       [(0.0, _point(0.0015765))], "INSUFFICIENT_DATA", 60.0)
    assert verdict is not None and verdict.state == "OK"
    assert verdict.reason == "Threshold Crossed: 1 datapoint [0.0015765 (01/01/70 00:00:00)] was not greater than " \
                             "or equal to the threshold (0.2)."


@pytest.mark.parametrize(("treat", "state", "reason"), [
    ("missing", "INSUFFICIENT_DATA", "Insufficient Data: 2 datapoints were unknown."),
    # recorded on AWS: test_cloudwatch.snapshot.json, test_breaching_alarm_actions
    ("breaching", "ALARM", "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints "
                           "were treated as [Breaching]."),
    ("notBreaching", "OK", "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints "
                           "were treated as [NonBreaching]."),
    ("ignore", None, None),
])
def test_missing_data_is_treated_as_asked(treat: str, state: str | None, reason: str | None) -> None:
    rule = _rule(evaluation_periods=2, datapoints_to_alarm=2, treat_missing=treat)
    verdict = evaluate(rule, [(0.0, None), (60.0, None)], "OK", 120.0)
    if state is None:
        assert verdict is None  # ignore: the state stays
    else:
        assert verdict is not None and (verdict.state, verdict.reason) == (state, reason)
        assert verdict.reason_data["evaluatedDatapoints"] == [{"timestamp": "1970-01-01T00:01:00.000+0000"},
                                                              {"timestamp": "1970-01-01T00:00:00.000+0000"}]


def test_m_out_of_n_needs_m_breaching_datapoints() -> None:
    rule = _rule(evaluation_periods=3, datapoints_to_alarm=2, threshold=1.0)
    two = evaluate(rule, [(0.0, _point(5.0)), (60.0, _point(0.0)), (120.0, _point(6.0))], "OK", 180.0)
    assert two is not None and two.state == "ALARM"
    assert two.reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [6.0 (01/01/70 00:02:00), "
                                 "5.0 (01/01/70 00:00:00)] were greater than the threshold (1.0) (minimum 2 "
                                 "datapoints for OK -> ALARM transition).")
    one = evaluate(rule, [(0.0, _point(0.0)), (60.0, None), (120.0, _point(6.0))], "ALARM", 180.0)
    assert one is not None and one.state == "OK"


def test_missing_datapoints_count_as_breaching_towards_m() -> None:
    rule = _rule(evaluation_periods=3, datapoints_to_alarm=2, treat_missing="breaching")
    verdict = evaluate(rule, [(0.0, _point(0.0)), (60.0, None), (120.0, _point(3.0))], "OK", 180.0)
    assert verdict is not None and verdict.state == "ALARM"


# ------------------------------------------------------------------------------------------------ metrics
def test_put_metric_data_and_statistics_per_period(cw: Any) -> None:
    namespace = unique("ns")
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Latency", "Dimensions": DIMS, "Value": 10.0, "Unit": "Microseconds", "Timestamp": base},
        {"MetricName": "Latency", "Dimensions": DIMS, "Value": 30.0, "Unit": "Microseconds",
         "Timestamp": base + timedelta(seconds=20)},
        {"MetricName": "Latency", "Dimensions": DIMS, "Unit": "Microseconds", "Timestamp": base + timedelta(minutes=1),
         "StatisticValues": {"SampleCount": 4, "Sum": 400, "Minimum": 50, "Maximum": 200}},
        {"MetricName": "Latency", "Dimensions": DIMS[:1], "Value": 999.0, "Timestamp": base},  # another metric
    ])
    points = cw.get_metric_statistics(Namespace=namespace, MetricName="Latency", Dimensions=DIMS, Period=60,
                                      StartTime=base - timedelta(minutes=1), EndTime=base + timedelta(minutes=2),
                                      Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"])["Datapoints"]
    got = [(p["Timestamp"].astimezone(UTC), p["SampleCount"], p["Sum"], p["Average"], p["Minimum"], p["Maximum"],
            p["Unit"]) for p in points]
    assert got == [(base, 2.0, 40.0, 20.0, 10.0, 30.0, "Microseconds"),
                   (base + timedelta(minutes=1), 4.0, 400.0, 100.0, 50.0, 200.0, "Microseconds")]
    listed = cw.list_metrics(Namespace=namespace, Dimensions=[{"Name": "VariantName"}])["Metrics"]
    assert listed == [{"Namespace": namespace, "MetricName": "Latency", "Dimensions": DIMS}]
    data = cw.get_metric_data(StartTime=base - timedelta(minutes=1), EndTime=base + timedelta(minutes=2),
                              MetricDataQueries=[{"Id": "m1", "MetricStat": {"Metric": {
                                  "Namespace": namespace, "MetricName": "Latency", "Dimensions": DIMS},
                                  "Period": 60, "Stat": "Maximum"}}])["MetricDataResults"][0]
    assert data["Values"] == [200.0, 30.0] and data["StatusCode"] == "Complete"  # newest first by default


def test_metric_errors_are_as_recorded(cw: Any) -> None:
    now = datetime.now(UTC)
    cases = [  # recorded on AWS: test_cloudwatch.snapshot.json, the [json] cases
        (lambda: cw.get_metric_statistics(Namespace="n", MetricName="m", StartTime=now, EndTime=now - timedelta(1),
                                           Period=60, Statistics=["Sum"]),
         "InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime."),
        (lambda: cw.get_metric_statistics(Namespace="n", MetricName="m", StartTime=now - timedelta(1), EndTime=now,
                                           Period=1, Statistics=["Sum"]),
         "InvalidParameterCombination", "You have requested up to 86400 datapoints, which exceeds the limit of "
                                        "1440. You may reduce the datapoints requested by increasing Period, or "
                                        "decreasing the time range."),
        (lambda: cw.put_metric_data(Namespace="n", MetricData=[{"MetricName": "m", "Value": 1, "StatisticValues": {
            "SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}]),
         "InvalidParameterCombination", "The parameters MetricData.member.1.Value and "
                                        "MetricData.member.1.StatisticValues are mutually exclusive and you have "
                                        "specified both."),
    ]
    for call, code, message in cases:
        with pytest.raises(ClientError) as err:
            call()
        assert (err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]) == (code, message)
        assert err.value.response["Error"]["QueryErrorCode"] == f"{code}Exception"


# ------------------------------------------------------------------------------------------------ alarms
def _alarm(cw: Any, name: str, namespace: str, **kw: Any) -> None:
    cw.put_metric_alarm(AlarmName=name, Namespace=namespace, MetricName="Errors", Dimensions=DIMS, Period=60,
                        EvaluationPeriods=1, Threshold=0.0, ComparisonOperator="GreaterThanThreshold",
                        Statistic="Sum", **kw)


def _state(cw: Any, name: str, want: str, timeout: float = 10.0) -> dict[str, Any]:
    end = time.time() + timeout
    while True:
        alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        if alarm["StateValue"] == want or time.time() > end:
            return alarm
        time.sleep(0.05)


def test_an_alarm_starts_unchecked_then_moves_on_its_metric(cw: Any, fast: Any) -> None:
    name, namespace = unique("alarm"), unique("ns")
    _alarm(cw, name, namespace, TreatMissingData="notBreaching")
    created = cw.describe_alarms(AlarmNames=[name])
    assert created["CompositeAlarms"] == []
    first = created["MetricAlarms"][0]
    # recorded on AWS: test_cloudwatch.snapshot.json, test_put_metric_alarm "describe-alarm"
    assert (first["StateValue"], first["StateReason"]) == ("INSUFFICIENT_DATA", "Unchecked: Initial alarm creation")
    assert first["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    assert _state(cw, name, "OK")["StateReason"].endswith("missing datapoints were treated as [NonBreaching].")
    cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "Errors", "Dimensions": DIMS, "Value": 1.0}])
    alarm = _state(cw, name, "ALARM")
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 datapoint [1.0 (")
    assert json.loads(alarm["StateReasonData"])["recentDatapoints"] == [1.0]
    assert _state(cw, name, "OK")["StateValue"] == "OK"  # a period later the errors are gone
    history = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history] == ["Alarm updated from ALARM to OK",
                                                      "Alarm updated from OK to ALARM",
                                                      "Alarm updated from INSUFFICIENT_DATA to OK"]
    oldest = json.loads(history[-1]["HistoryData"])
    assert oldest["oldState"] == {"stateValue": "INSUFFICIENT_DATA", "stateReason": "Unchecked: Initial alarm creation"}
    assert history[0]["AlarmType"] == "MetricAlarm"
    cw.delete_alarms(AlarmNames=[name])


def test_set_alarm_state_lasts_until_the_next_evaluation(cw: Any, fast: Any) -> None:
    name, namespace = unique("alarm"), unique("ns")
    _alarm(cw, name, namespace, TreatMissingData="notBreaching")
    _state(cw, name, "OK")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing alarm")
    assert _state(cw, name, "OK")["StateValue"] == "OK"
    summaries = [h["HistorySummary"] for h in cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]]
    assert summaries[:2] == ["Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM"]
    cw.delete_alarms(AlarmNames=[name])


def test_alarm_errors_are_as_recorded(cw: Any) -> None:
    # recorded on AWS: test_cloudwatch.snapshot.json, test_set_alarm_invalid_input [json]
    with pytest.raises(ClientError) as err:
        cw.set_alarm_state(AlarmName=unique("nope"), StateValue="OK", StateReason="x")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    name = unique("alarm")
    _alarm(cw, name, unique("ns"))
    with pytest.raises(ClientError) as err:
        cw.set_alarm_state(AlarmName=name, StateValue="INVALID", StateReason="x")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy constraint: Member must "
        "satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]")
    cw.delete_alarms(AlarmNames=[name])
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []


def test_a_period_is_judged_once_its_last_whole_second_is_over(cw: Any, cloud: Any) -> None:
    """The sliding window ends at the last whole second, as AWS's ends at the last whole minute (StateReasonData
    recorded on AWS: queryDate 13:29:29.292 with period 300 evaluates the datapoint of 13:24:00.000). A datapoint
    stamped at a whole second, as the server's own endpoint metrics are, sums that whole second: judging it while
    the second runs saw a part of its requests, or none (a 1-second period with a tick in phase with the seconds
    never saw one at all)."""
    backend = cloud.app.backends["cloudwatch"]
    name, namespace = unique("alarm"), unique("ns")
    # "ignore": the server's own evaluator, on the real clock, finds no data here and leaves the state alone
    cw.put_metric_alarm(AlarmName=name, Namespace=namespace, MetricName="Errors", Dimensions=DIMS, Period=10,
                        EvaluationPeriods=1, Threshold=0.0, ComparisonOperator="GreaterThanThreshold",
                        Statistic="Sum", TreatMissingData="ignore")
    second = float(int(time.time()) - 3600)
    cw.put_metric_data(Namespace=namespace, MetricData=[{
        "MetricName": "Errors", "Dimensions": DIMS, "Value": 1.0, "StorageResolution": 1,
        "Timestamp": datetime.fromtimestamp(second, UTC)}])

    def state() -> dict[str, Any]:
        return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]

    backend.evaluate_all(now=second + 0.5)  # the second is not over: nothing to judge yet
    assert state()["StateValue"] == "INSUFFICIENT_DATA"
    backend.evaluate_all(now=second + 1.3)
    alarm = state()
    assert alarm["StateValue"] == "ALARM"
    data = json.loads(alarm["StateReasonData"])
    stamp = datetime.fromtimestamp(second + 1 - 10, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert (data["startDate"], data["evaluatedDatapoints"][0]["timestamp"]) == (stamp, stamp)
    cw.delete_alarms(AlarmNames=[name])


def test_a_scaled_period_shorter_than_a_second_still_holds_one_whole_datapoint(cw: Any, cloud: Any, fast: Any
                                                                               ) -> None:
    """At 1/100 a 60-second period lasts 0.6 s, shorter than the server's one-second datapoints: the period is
    one second then, so that a datapoint is judged whole, never in part or between two windows."""
    name, namespace = unique("alarm"), unique("ns")
    _alarm(cw, name, namespace, TreatMissingData="ignore")
    second = float(int(time.time()) - 3600)
    cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "Errors", "Dimensions": DIMS, "Value": 1.0,
                                                         "Timestamp": datetime.fromtimestamp(second, UTC)}])
    fast.evaluate_all(now=second + 1.05)  # a 0.6-second window ending here would hold no whole second
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "ALARM"
    cw.delete_alarms(AlarmNames=[name])
