"""Shadow testing through the project's own code (issue 16 part 3): the workflow's deploy branch as notebook 03
builds it with ``shadow: true`` (``Shadow Test?`` -> ``Create Shadow Endpoint Config`` -> the endpoint check, the
update and the readiness loop), run on the session's local cloud while a champion serves; then
``retrain.shadow.compare`` — what notebook 04 runs — sends rows, reads the data capture and compares the two
models' answers; then ``retrain rollback`` takes the shadow off again.

Expected values come from the models themselves (each booster scores the rows here) and from the SageMaker
Developer Guide: only the production variant answers the caller, the shadow gets a copy ("Shadow tests"), and data
capture logs both ("Create a shadow test")."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from rel_helpers import offline_project, tiny_model, unique

from retrain.deployment import VARIANT
from retrain.shadow import SHADOW_VARIANT, compare

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


class _Cloud:
    def __init__(self, aws: Any) -> None:
        self.client = aws


def _reachable(definition: dict[str, Any], start: str) -> dict[str, Any]:
    """The states reachable from ``start``, as a state machine of their own."""
    states: dict[str, Any] = {}
    todo = [start]
    while todo:
        name = todo.pop()
        if name in states:
            continue
        state = states[name] = definition["States"][name]
        todo += [n for n in (state.get("Next"), state.get("Default")) if n]
        todo += [r["Next"] for r in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
    return {"StartAt": start, "States": states, "TimeoutSeconds": 600}


@pytest.fixture
def flushing(cloud: Any) -> Any:
    """Data capture written every 0.2 s instead of every 60 s (AWS: "a couple of minutes")."""
    capture, stop = cloud.app.backends["sagemaker"].capture, threading.Event()

    def run() -> None:
        while not stop.wait(0.2):
            capture.flush()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


@pytest.mark.slow
def test_a_candidate_runs_as_a_shadow_is_compared_and_rolled_back(cloud, aws, rel, flushing) -> None:
    import json
    import time

    from retrain.history import write_record
    from retrain.rollback import rollback
    from retrain.workflow import execution_names

    params, layout, definition = offline_project(rel["s3"], {
        "shadow": True, "project_name": "shadowtest", "deployment": "all_at_once", "wait_interval_seconds": 0,
        "termination_wait_seconds": 0, "rollback_alarms": False, "sagemaker_role_arn": rel["roles"]["sagemaker"]})
    sm, s3, sfn = aws("sagemaker"), aws("s3"), aws("stepfunctions")
    tags = [{"Key": k, "Value": v} for k, v in params.tags.items()]
    boosters, rows = {}, None
    for key, seed in (("champion", 1), ("candidate", 2)):
        archive, boosters[key], sample = tiny_model(seed, rounds=6, features=6)
        rows = sample if rows is None else rows
        s3.put_object(Bucket=layout.bucket, Key=f"shadowtest/models/{key}/model.tar.gz", Body=archive)
    runs = {"champion": "20260101-000000-aaaaaaaa", "candidate": "20260101-000100-bbbbbbbb"}
    names = {key: execution_names(params, run, layout) for key, run in runs.items()}
    for key, found in names.items():
        sm.create_model(ModelName=found["ModelName"], ExecutionRoleArn=rel["roles"]["sagemaker"], Tags=tags,
                        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl":
                                          f"s3://{layout.bucket}/shadowtest/models/{key}/model.tar.gz"})
    champion = names["champion"]
    sm.create_endpoint_config(EndpointConfigName=champion["EndpointConfigName"], Tags=tags, ProductionVariants=[
        {"VariantName": VARIANT, "ModelName": champion["ModelName"], "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=params.endpoint_name, EndpointConfigName=champion["EndpointConfigName"],
                       Tags=tags)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=params.endpoint_name,
                                              WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})

    # the deploy branch, as built, from the shadow choice; Find Champion found the champion
    machine = sfn.create_state_machine(name=unique("shadow"), roleArn=rel["roles"]["states"],
                                       definition=json.dumps(_reachable(definition, "Shadow Test?")))
    candidate = names["candidate"]
    started = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps({
        **candidate, "Run": candidate, "Champion": {"Payload": {"exists": True, "ModelName": champion["ModelName"]}}}))
    while (done := sfn.describe_execution(executionArn=started["executionArn"]))["status"] == "RUNNING":
        time.sleep(0.2)
    assert done["status"] == "SUCCEEDED", done.get("cause")

    described = sm.describe_endpoint(EndpointName=params.endpoint_name)
    assert described["EndpointConfigName"] == candidate["EndpointConfigName"]
    assert [v["VariantName"] for v in described["ShadowProductionVariants"]] == [SHADOW_VARIANT]
    config = sm.describe_endpoint_config(EndpointConfigName=candidate["EndpointConfigName"])
    assert config["ProductionVariants"][0]["ModelName"] == champion["ModelName"]
    assert config["ShadowProductionVariants"][0]["ModelName"] == candidate["ModelName"]
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == candidate["DataPrefix"] + "capture"

    found = compare(_Cloud(aws), params.endpoint_name, rows, timeout=60, poll=0.2)
    expected = {key: booster.predict(xgb.DMatrix(rows)) for key, booster in boosters.items()}
    assert found.rows == len(rows) and found.requests == 1  # 20 rows in one request
    np.testing.assert_allclose(found.production, expected["champion"], atol=1e-5)  # production answered
    np.testing.assert_allclose(found.shadow, expected["candidate"], atol=1e-5)  # the shadow's copy, captured
    summary = found.to_summary()
    agree = float(((expected["champion"] > 0.5) == (expected["candidate"] > 0.5)).mean())
    assert summary["agreement"] == round(agree, 4)
    assert summary["score_diff"]["max_abs"] == pytest.approx(
        float(np.abs(expected["candidate"] - expected["champion"]).max()), abs=1e-5)
    for variant in (VARIANT, SHADOW_VARIANT):
        assert summary["latency_ms"][variant]["requests"] >= 1 and summary["latency_ms"][variant]["average"] > 0

    # `retrain rollback` takes the shadow off: the endpoint back on the champion's config alone
    for key, run in runs.items():
        write_record(s3, layout, run, {"status": "deployed", "endpoint_config": names[key]["EndpointConfigName"]})
    done_rollback = rollback(_Cloud(aws), params, layout, poll=0.2)
    assert (done_rollback["from_run"], done_rollback["to_run"]) == (runs["candidate"], runs["champion"])
    after = sm.describe_endpoint(EndpointName=params.endpoint_name)
    assert after["EndpointConfigName"] == champion["EndpointConfigName"] and "ShadowProductionVariants" not in after
    sm.delete_endpoint(EndpointName=params.endpoint_name)
