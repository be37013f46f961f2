"""The project's deploy branch (Create Endpoint Config -> Check Endpoint -> Create or Update Endpoint -> wait until
InService) run on the session's local cloud with models made here:

- an update whose model fails to load: the old model keeps serving and the workflow reports the failure;
- zero downtime: a thread keeps invoking the endpoint while the workflow updates it; no invocation fails and the
  answers switch to the new model.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
import pytest
from rel_helpers import execution_failure, finish, fragment, offline_project, run_machine, tiny_model, unique

from retrain.deploy import invoke
from retrain.workflow import DEPLOY_FAILED_ERROR, execution_names

# each end passes its Record state (retrain.outcomes) on the way
DEPLOY = ["Create Endpoint Config", "Check Endpoint", "Endpoint Missing?", "Wait to Check Again",
          "Note Endpoint Check Failed", "Record Endpoint Check Failed", "Endpoint Check Failed", "Create Endpoint",
          "Update Endpoint", "Wait for Endpoint", "Describe Endpoint", "Endpoint In Service?", "Record Deployed",
          "Model Deployed", "Failure Reason Given?", "No Failure Reason", "Note Endpoint Deploy Failed",
          "Record Endpoint Deploy Failed", "Endpoint Deploy Failed"]


@pytest.fixture(scope="module")
def deploy(rel: dict[str, Any]) -> dict[str, Any]:
    """The deploy fragment as a state machine, and two good models and a broken one in S3."""
    # all at once: these tests follow one switch from the old model to the new (a canary's mixed answers are
    # tests/reliability/test_canary_measured.py's)
    params, layout, definition = offline_project(rel["s3"], {"project_name": unique("relep"),
                                                             "deployment": "all_at_once"},
                                                 sagemaker_role=rel["roles"]["sagemaker"])
    machine = rel["stepfunctions"].create_state_machine(
        name=unique("rel-deploy"), definition=json.dumps(fragment(definition, DEPLOY[0], DEPLOY)),
        roleArn=rel["roles"]["states"])["stateMachineArn"]
    models: dict[str, Any] = {}
    for label, seed, rounds in (("a", 1, 3), ("b", 2, 40)):
        archive, booster, rows = tiny_model(seed, rounds)
        models[label] = {"uri": _put(rel, f"{label}/model.tar.gz", archive), "booster": booster, "rows": rows}
    models["broken"] = {"uri": _put(rel, "broken/model.tar.gz", b"this is not a tar.gz archive")}
    return {"params": params, "layout": layout, "machine": machine, "models": models, "definition": definition}


def _put(rel: dict[str, Any], key: str, data: bytes) -> str:
    key = f"{unique('models')}/{key}"
    rel["s3"].put_object(Bucket=rel["bucket"], Key=key, Body=data)
    return f"s3://{rel['bucket']}/{key}"


def _expected(model: dict[str, Any]) -> np.ndarray:
    import xgboost as xgb

    return model["booster"].predict(xgb.DMatrix(model["rows"]))


def _roll_out(rel: dict[str, Any], deploy: dict[str, Any], endpoint: str, model_uri: str) -> dict[str, Any]:
    """Register a model for ``model_uri`` and run the project's deploy branch for it; the execution."""
    names = execution_names(deploy["params"], unique("r"), deploy["layout"])
    names["EndpointName"] = endpoint
    rel["sagemaker"].create_model(
        ModelName=names["ModelName"], ExecutionRoleArn=rel["roles"]["sagemaker"],
        PrimaryContainer={"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                          "ModelDataUrl": model_uri})
    sfn = rel["stepfunctions"]
    started = sfn.start_execution(stateMachineArn=deploy["machine"], input=json.dumps({"Run": names}))
    out = finish(sfn, started["executionArn"], limit=180)
    out["names"] = names
    return out


def test_a_model_that_fails_to_load_leaves_the_old_one_serving(rel: dict[str, Any], deploy: dict[str, Any]) -> None:
    endpoint = unique("rel-ep")
    models, rt, sm = deploy["models"], rel["sagemaker-runtime"], rel["sagemaker"]
    first = _roll_out(rel, deploy, endpoint, models["a"]["uri"])
    assert first["status"] == "SUCCEEDED"
    np.testing.assert_allclose(invoke(rt, endpoint, models["a"]["rows"]), _expected(models["a"]), rtol=1e-5)

    failed = _roll_out(rel, deploy, endpoint, models["broken"]["uri"])
    described = sm.describe_endpoint(EndpointName=endpoint)
    # the old model keeps serving, on its old configuration ...
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == first["names"]["EndpointConfigName"]
    np.testing.assert_allclose(invoke(rt, endpoint, models["a"]["rows"]), _expected(models["a"]), rtol=1e-5)
    # ... and the workflow says the deployment failed, and why (not "Model Deployed")
    assert failed["status"] == "FAILED", (
        "the update was rolled back (endpoint InService on the OLD config, FailureReason set) but the workflow "
        "reported success")
    error, cause = execution_failure(failed)
    assert error == DEPLOY_FAILED_ERROR
    assert "Failed to extract model data archive" in cause and models["broken"]["uri"] in cause

    again = _roll_out(rel, deploy, endpoint, models["b"]["uri"])  # a good model after a bad one deploys
    assert again["status"] == "SUCCEEDED"
    np.testing.assert_allclose(invoke(rt, endpoint, models["b"]["rows"]), _expected(models["b"]), rtol=1e-5)


def test_updates_cause_no_failed_invocations_and_switch_models(rel: dict[str, Any], deploy: dict[str, Any]) -> None:
    endpoint = unique("rel-zd")
    models, rt = deploy["models"], rel["sagemaker-runtime"]
    assert _roll_out(rel, deploy, endpoint, models["a"]["uri"])["status"] == "SUCCEEDED"
    rows = models["a"]["rows"]
    old, new = _expected(models["a"]), _expected({**models["b"], "rows": rows})
    assert not np.allclose(old, new, rtol=1e-3), "the two models must answer differently"

    answers: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def keep_invoking() -> None:
        deadline = time.monotonic() + 300  # bounded, whatever happens
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                scores = invoke(rt, endpoint, rows)
            except Exception as exc:  # every kind of failure counts
                failures.append(repr(exc))
                continue
            answers.append("old" if np.allclose(scores, old, rtol=1e-5) else
                           "new" if np.allclose(scores, new, rtol=1e-5) else "other")

    thread = threading.Thread(target=keep_invoking, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        update = _roll_out(rel, deploy, endpoint, models["b"]["uri"])
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(30)
    assert update["status"] == "SUCCEEDED"
    assert failures == []
    assert "other" not in answers
    assert answers[0] == "old" and answers[-1] == "new"
    assert answers == sorted(answers, key=lambda a: a == "new"), "answers went back to the old model"


def test_a_failed_endpoint_without_a_reason_still_ends_in_endpoint_deploy_failed(rel: dict[str, Any]) -> None:
    # SageMaker's DescribeEndpoint gives FailureReason only sometimes; a CausePath to it would be States.Runtime
    params, _, definition = offline_project(rel["s3"], {"project_name": unique("relnr")},
                                            sagemaker_role=rel["roles"]["sagemaker"])
    keep = ["Endpoint In Service?", "Record Deployed", "Model Deployed", "Wait for Endpoint", "Describe Endpoint",
            "Failure Reason Given?", "No Failure Reason", "Note Endpoint Deploy Failed",
            "Record Endpoint Deploy Failed", "Endpoint Deploy Failed"]
    # the Record states read the function's name and the run's prefix (no such function here: caught, run goes on)
    state = {"Endpoint": {"EndpointStatus": "Failed", "EndpointConfigName": "x"},
             "Run": {"EndpointConfigName": "x", "LambdaFunctionName": "no-such-function",
                     "DataPrefix": "s3://no-such-bucket/p/runs/x/"}}
    out = run_machine(rel["stepfunctions"], rel["roles"]["states"], fragment(definition, keep[0], keep), state,
                      limit=60)
    error, cause = execution_failure(out)
    assert error == DEPLOY_FAILED_ERROR
    assert cause.startswith("the endpoint is not serving this run's configuration and SageMaker gave no FailureReason")
