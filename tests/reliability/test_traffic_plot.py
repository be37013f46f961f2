"""The share of traffic each fleet served during a guarded update, as the run's report draws it
(``retrain.traffic``): ``Invocations`` per ``EndpointConfigName`` from CloudWatch must count exactly the requests
each fleet answered, which a client tells apart by the score each model gives ("Auto-Rollback Configuration and
Monitoring": the metrics carry the new fleet's EndpointConfigName)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np
import pytest
import xgboost as xgb
from rel_helpers import tiny_model, unique

from retrain.deploy import to_csv_payload
from retrain.traffic import invocations, plot_traffic, totals, traffic_alt, update_window

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def test_the_update_window_is_from_update_endpoint_to_the_end() -> None:
    t = [datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in range(4)]
    events = [{"type": "ExecutionStarted", "timestamp": t[0]},
              {"type": "TaskStateEntered", "timestamp": t[1], "stateEnteredEventDetails": {"name": "Update Endpoint"}},
              {"type": "TaskStateEntered", "timestamp": t[2], "stateEnteredEventDetails": {"name": "Wait"}},
              {"type": "ExecutionSucceeded", "timestamp": t[3]}]
    assert update_window(events) == (t[1], t[3])
    assert update_window(events[:1]) is None


@pytest.mark.slow
def test_invocations_per_fleet_count_what_each_fleet_answered(aws, rel, fast, tmp_path) -> None:
    sm, rt, s3, cw = aws("sagemaker"), aws("sagemaker-runtime"), aws("s3"), aws("cloudwatch")
    configs, expected, row = {}, {}, None
    for label, seed in (("old", 3), ("new", 4)):
        archive, booster, sample = tiny_model(seed, rounds=4, features=6)
        row = sample[:1] if row is None else row
        key = f"traffic/{unique(label)}/model.tar.gz"
        s3.put_object(Bucket=rel["bucket"], Key=key, Body=archive)
        model = unique("model")
        sm.create_model(ModelName=model, ExecutionRoleArn=rel["roles"]["sagemaker"], PrimaryContainer={
            "Image": XGB_IMAGE, "ModelDataUrl": f"s3://{rel['bucket']}/{key}"})
        configs[label] = unique("config")
        sm.create_endpoint_config(EndpointConfigName=configs[label], ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.large",
             "InitialInstanceCount": 1}])
        expected[label] = booster
    scores = {label: round(float(b.predict(xgb.DMatrix(row))[0]), 4)
              for label, b in expected.items()}
    assert scores["old"] != scores["new"]
    endpoint = unique("endpoint")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=configs["old"])
    sm.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    answered = {"old": 0, "new": 0}
    stop = threading.Event()

    def invoke() -> None:
        while not stop.is_set():
            body = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv",
                                      Body=to_csv_payload(np.asarray(row)))["Body"].read()
            score = round(float(body.decode()), 4)
            answered["old" if score == scores["old"] else "new"] += 1
            time.sleep(0.01)

    began = datetime.now(UTC)
    client = threading.Thread(target=invoke, daemon=True)
    client.start()
    time.sleep(0.5)
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=configs["new"], DeploymentConfig={
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
            "Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}, "WaitIntervalInSeconds": 150},
            "TerminationWaitInSeconds": 100}})
    while (d := sm.describe_endpoint(EndpointName=endpoint))["EndpointStatus"] == "Updating":
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    client.join(10)
    assert d["EndpointConfigName"] == configs["new"]
    series = invocations(cw, endpoint, configs, began, datetime.now(UTC), period=1)
    assert totals(series) == answered and answered["old"] > 0 and answered["new"] > 0
    picture = tmp_path / "traffic.png"
    plot_traffic(series).savefig(picture)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"old {answered['old']}" in traffic_alt(series) and f"new {answered['new']}" in traffic_alt(series)
    sm.delete_endpoint(EndpointName=endpoint)
