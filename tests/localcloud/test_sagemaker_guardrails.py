"""SageMaker deployment guardrails, endpoint metrics and shadow variants, against real model servers: a client
invokes throughout each update and every answer is checked against the model that should have given it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from test_sagemaker_support import XGB_IMAGE, put, tarball, to_csv, unique, wait_endpoint

import xgb17

ROW = np.array([[0.5, -1.0, 0.25, 1.5, -0.5, 0.0]])


@pytest.fixture(scope="module")
def models(s3: Any, bucket: str) -> dict[str, Any]:
    """Two xgboost 1.7.4 models that score ROW differently."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 6)).round(3)
    out: dict[str, Any] = {}
    for key, sign in (("blue", 1.0), ("green", -1.0)):
        y = (sign * (X[:, 0] - X[:, 3]) > 0).astype(float)
        raw = xgb17.train_model(X, y, {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3}, 10)
        out[key] = {"artifact": put(s3, bucket, f"guardrails/{key}/model.tar.gz", tarball({"xgboost-model": raw})),
                    "score": round(float(xgb17.predict(raw, ROW)[0]), 4)}
    assert out["blue"]["score"] != out["green"]["score"]
    return out


def _config(sm: Any, role: str, artifact: str, env: dict[str, str] | None = None, shadow: str | None = None) -> str:
    def model(data: str, environment: dict[str, str] | None) -> str:
        name = unique("model")
        sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={
            "Image": XGB_IMAGE, "ModelDataUrl": data, **({"Environment": environment} if environment else {})})
        return name

    name = unique("config")
    variant = {"InstanceType": "ml.m5.large", "InitialInstanceCount": 2}
    extra = {"ShadowProductionVariants": [{"VariantName": "Shadow", "ModelName": model(shadow, None), **variant}]} \
        if shadow else {}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": model(artifact, env), **variant}], **extra)
    return name


class Client:
    """Invokes the endpoint back to back on a thread; records (time, score or error) of every request."""

    def __init__(self, rt: Any, endpoint: str) -> None:
        self.rt, self.endpoint = rt, endpoint
        self.answers: list[tuple[float, float | str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                body = self.rt.invoke_endpoint(EndpointName=self.endpoint, Body=to_csv(ROW), ContentType="text/csv")
                self.answers.append((time.time(), round(float(body["Body"].read().decode()), 4)))
            except ClientError as exc:
                response = exc.response
                self.answers.append((time.time(), f"{response['Error']['Code']}:{response.get('OriginalStatusCode')}"))
            time.sleep(0.01)

    def __enter__(self) -> Client:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def _endpoint(sm: Any, config: str) -> str:
    name = unique("ep")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    assert wait_endpoint(sm, name)["EndpointStatus"] == "InService"
    return name


def _policy(kind: str, wait: int, termination: int, alarms: list[str], size: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    routing: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": wait}
    if kind == "CANARY":
        routing["CanarySize"] = size
    if kind == "LINEAR":
        routing["LinearStepSize"] = size
    out: dict[str, Any] = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing,
                                                     "TerminationWaitInSeconds": termination,
                                                     "MaximumExecutionTimeoutInSeconds": 3600}}
    if alarms:
        out["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return out


def _errors_alarm(cw: Any, endpoint: str) -> str:
    # the guide's example alarm ("Auto-Rollback Configuration and Monitoring"), on 5XX errors, one-minute periods
    name = unique("errors")
    cw.put_metric_alarm(AlarmName=name, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0.0,
                        ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
                        Dimensions=[{"Name": "EndpointName", "Value": endpoint},
                                    {"Name": "VariantName", "Value": "AllTraffic"}])
    return name


def _watch(sm: Any, name: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """DescribeEndpoint until the update is over; every answer seen."""
    seen, end = [], time.time() + timeout
    while time.time() < end:
        seen.append(sm.describe_endpoint(EndpointName=name))
        if seen[-1]["EndpointStatus"] != "Updating":
            break
        time.sleep(0.05)
    return seen


def _statuses(seen: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for d in seen:
        for v in (d.get("PendingDeploymentSummary") or {}).get("ProductionVariants", []):
            for s in v.get("VariantStatus", []):
                text = f"{s['Status']}: {s['StatusMessage']}"
                if not out or out[-1] != text:
                    out.append(text)
    return out


@pytest.mark.parametrize(("kind", "size", "stages"), [
    ("CANARY", {"Type": "CAPACITY_PERCENT", "Value": 30},
     ["Baking for 300 seconds (WaitIntervalInSeconds) with traffic enabled on canary capacity of 1 instance(s).",
      "Baking for 100 seconds (TerminationWaitInSeconds) with traffic enabled on full capacity of 2 instance(s)."]),
    ("LINEAR", {"Type": "INSTANCE_COUNT", "Value": 1},
     ["Baking for 300 seconds (WaitIntervalInSeconds) with traffic enabled on linear step capacity of 1 "
      "instance(s).",
      "Baking for 100 seconds (TerminationWaitInSeconds) with traffic enabled on full capacity of 2 instance(s)."]),
    ("ALL_AT_ONCE", None,
     ["Baking for 100 seconds (TerminationWaitInSeconds) with traffic enabled on full capacity of 2 instance(s)."]),
])
def test_traffic_shifts_in_steps_without_a_failed_request(sm, rt, cw, role, models, fast, kind, size,
                                                          stages) -> None:
    blue, green = models["blue"]["score"], models["green"]["score"]
    old = _config(sm, role, models["blue"]["artifact"])
    name = _endpoint(sm, old)
    alarm = _errors_alarm(cw, name)
    new = _config(sm, role, models["green"]["artifact"])
    deployment = _policy(kind, 300, 100, [alarm], size)
    with Client(rt, name) as client:
        time.sleep(0.3)
        sm.update_endpoint(EndpointName=name, EndpointConfigName=new, DeploymentConfig=deployment)
        seen = _watch(sm, name)
        time.sleep(0.3)
    assert {a for _, a in client.answers} <= {blue, green}, "a request failed or got a third answer"
    during = [d for d in seen if d["EndpointStatus"] == "Updating" and d.get("PendingDeploymentSummary")]
    assert during and all(d["EndpointConfigName"] == old and d["PendingDeploymentSummary"]["EndpointConfigName"] == new
                          for d in during)
    # the baking periods last; ActivatingTraffic is one table swap, too short to be seen by polling
    assert [s.split(": ", 1)[1] for s in _statuses(seen) if s.startswith("Baking")] == stages
    final = seen[-1]
    assert (final["EndpointStatus"], final["EndpointConfigName"], final.get("FailureReason")) == ("InService", new,
                                                                                                   None)
    assert final["LastDeploymentConfig"] == deployment
    if kind != "ALL_AT_ONCE":  # the first step's share of the requests went to the new fleet, no more
        start = min(d["LastModifiedTime"] for d in during).timestamp()
        first = [a for t, a in client.answers if start + 1.0 < t < start + 2.5]
        share = sum(1 for a in first if a == green) / max(len(first), 1)
        assert len(first) >= 20 and 0.05 < share < (0.6 if kind == "CANARY" else 0.8), (share, len(first))
    assert client.answers[-1][1] == green
    cw.delete_alarms(AlarmNames=[alarm])
    sm.delete_endpoint(EndpointName=name)


def test_an_alarm_rolls_a_broken_candidate_back_within_its_period(sm, rt, cw, role, models, fast) -> None:
    blue = models["blue"]["score"]
    old = _config(sm, role, models["blue"]["artifact"])
    name = _endpoint(sm, old)
    alarm = _errors_alarm(cw, name)
    # a candidate whose server errors: it answers what its encoders cannot write, a bare 500 (as the container)
    broken = _config(sm, role, models["green"]["artifact"],
                     env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/jsonlines"})
    with Client(rt, name) as client:
        time.sleep(0.3)
        sm.update_endpoint(EndpointName=name, EndpointConfigName=broken, DeploymentConfig=_policy(
            "CANARY", 600, 600, [alarm], {"Type": "CAPACITY_PERCENT", "Value": 20}))
        seen = _watch(sm, name)
        rolled_back = time.time()
        time.sleep(1.0)
    final = seen[-1]
    assert (final["EndpointStatus"], final["EndpointConfigName"]) == ("InService", old)
    assert final["FailureReason"] == ("Deployment was rolled back because CloudWatch alarm(s) in the auto-rollback "
                                      f"configuration went into ALARM state: {alarm}.")
    assert "PendingDeploymentSummary" not in final
    failures = [(t, a) for t, a in client.answers if a != blue]
    assert failures and {a for _, a in failures} == {"ModelError:500"}  # only the canary's answers failed
    first_failure = failures[0][0]
    # one alarm period (0.6 s scaled, one second at least: cloudwatch/backend.py), the second being over, the ticks
    assert rolled_back - first_failure < 1.0 + 1.0 + 0.6
    assert all(t <= rolled_back for t, _ in failures)
    assert [a for t, a in client.answers if t > rolled_back] and all(a == blue for t, a in client.answers
                                                                     if t > rolled_back)
    history = cw.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert "Alarm updated from OK to ALARM" in [h["HistorySummary"] for h in history]
    # the errors are the new fleet's, by its EndpointConfigName dimension
    errors = {config: _sum(cw, "Invocation5XXErrors", name, "AllTraffic", config) for config in (old, broken)}
    assert errors[old] == 0 and errors[broken] > 0
    cw.delete_alarms(AlarmNames=[alarm])
    sm.delete_endpoint(EndpointName=name)


def _sum(cw: Any, metric: str, endpoint: str, variant: str, config: str | None = None,
         statistic: str = "Sum") -> float:
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    if config:
        dims.append({"Name": "EndpointConfigName", "Value": config})
    now = datetime.now(UTC)
    points = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName=metric, Dimensions=dims, Period=60,
                                      StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1),
                                      Statistics=[statistic])["Datapoints"]
    return sum(p[statistic] for p in points) if statistic == "Sum" else max(p[statistic] for p in points)


def test_shadow_variant_gets_a_copy_of_each_request_and_its_own_metrics(sm, rt, cw, role, models) -> None:
    config = _config(sm, role, models["blue"]["artifact"], shadow=models["green"]["artifact"])
    assert sm.describe_endpoint_config(EndpointConfigName=config)["ShadowProductionVariants"][0]["VariantName"] == \
        "Shadow"
    name = _endpoint(sm, config)
    described = sm.describe_endpoint(EndpointName=name)
    assert [v["VariantName"] for v in described["ShadowProductionVariants"]] == ["Shadow"]
    for _ in range(12):
        response = rt.invoke_endpoint(EndpointName=name, Body=to_csv(ROW), ContentType="text/csv")
        assert response["InvokedProductionVariant"] == "AllTraffic"
        assert round(float(response["Body"].read().decode()), 4) == models["blue"]["score"]  # never the shadow's
    end = time.time() + 10
    while _sum(cw, "Invocations", name, "Shadow") < 12 and time.time() < end:
        time.sleep(0.1)
    assert _sum(cw, "Invocations", name, "Shadow") == 12 == _sum(cw, "Invocations", name, "AllTraffic")
    assert _sum(cw, "Invocation5XXErrors", name, "AllTraffic", config) == 0
    latency = cw.list_metrics(Namespace="AWS/SageMaker", MetricName="ModelLatency",
                              Dimensions=[{"Name": "EndpointName", "Value": name}])["Metrics"]
    assert len(latency) == 4  # two variants, with and without EndpointConfigName
    assert _sum(cw, "ModelLatency", name, "AllTraffic", statistic="Maximum") > 0
    sm.delete_endpoint(EndpointName=name)


def test_deployment_configs_are_checked(sm, role, models) -> None:
    name = _endpoint(sm, _config(sm, role, models["blue"]["artifact"]))
    new = _config(sm, role, models["green"]["artifact"])
    for bad, message in ((_policy("CANARY", 60, 60, [], None), "CanarySize must be specified"),
                         (_policy("LINEAR", 60, 60, [], {"Type": "CAPACITY_PERCENT", "Value": 60}),
                          "LinearStepSize must be between 10% and 50%")):
        routing = bad["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
        if routing.get("CanarySize", 0) is None:
            del routing["CanarySize"]  # CANARY without CanarySize
        with pytest.raises(ClientError) as err:
            sm.update_endpoint(EndpointName=name, EndpointConfigName=new, DeploymentConfig=bad)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert message in err.value.response["Error"]["Message"]
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    sm.delete_endpoint(EndpointName=name)
