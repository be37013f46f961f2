"""The workflow definition, built offline with the SDK: statelint-valid, gate by name, names per execution,
run-time create/update of the endpoint, retries only for transient errors; create-or-update on moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from retrain.config import load_params
from retrain.notebooks import workflow_definition
from retrain.state import new_run_id
from retrain.workflow import (
    EXECUTION_INPUT_SCHEMA,
    create_or_update,
    execution_names,
    lint,
    workflow_tags,
)

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
BUCKET = f"retrain-churn-{ACCOUNT}-us-east-1"  # the name notebook 01 gives the bucket in that account
SFN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/retrain-churn-stepfunctions-role"
LOCAL = ROOT / "params" / "local.yaml"


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    """The definition notebook 03 builds for the local parameters (run by papermill, with no cloud)."""
    return workflow_definition(LOCAL, account=ACCOUNT)


def test_definition_is_statelint_valid(definition: dict[str, Any]) -> None:
    assert lint(definition) == []
    assert lint(json.dumps(definition)) == []


def test_statelint_catches_a_broken_definition(definition: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(definition))
    broken["States"]["Train Model"]["Next"] = "Nowhere"
    assert lint(broken)


def test_main_line_and_resources(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert definition["StartAt"] == "Extract, Transform, Load"
    chain = ["Extract, Transform, Load", "Train Model", "Save Model", "Query Training Status", "Accuracy Gate"]
    for a, b in zip(chain, chain[1:], strict=False):
        assert states[a]["Next"] == b
    assert states["Extract, Transform, Load"]["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    assert states["Train Model"]["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert states["Save Model"]["Resource"] == "arn:aws:states:::sagemaker:createModel"
    assert states["Query Training Status"]["Resource"] == "arn:aws:states:::lambda:invoke"
    assert "DebugHookConfig" not in states["Train Model"]["Parameters"]
    hps = states["Train Model"]["Parameters"]["HyperParameters"]
    assert hps["eval_metric"] == "error" and hps["num_round"] == "100"  # strings, as SageMaker wants
    args = states["Extract, Transform, Load"]["Parameters"]["Arguments"]
    assert args["--S3_DEST"] == f"s3://{BUCKET}/retrain-churn/" and args["--TRAIN_KEY"] == "train/"
    assert args["--INPUT_FORMAT"] == "raw" and args["--TRAIN_FRACTION"] == "0.7" and args["--SEED"] == "42"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in states["Train Model"]["Parameters"]["InputDataConfig"]}
    assert channels == {"train": f"s3://{BUCKET}/retrain-churn/train/",
                        "validation": f"s3://{BUCKET}/retrain-churn/validation/"}


def test_gate_reads_validation_error_by_name(definition: dict[str, Any]) -> None:
    gate = definition["States"]["Accuracy Gate"]
    (rule,) = gate["Choices"]
    assert rule["Variable"] == "$['Payload']['metrics']['validationError']"
    assert rule["NumericLessThanEquals"] == pytest.approx(0.1)
    assert rule["Next"] == "Create Endpoint Config"
    assert gate["Default"] == "Model Rejected"
    payload = definition["States"]["Query Training Status"]["Parameters"]["Payload"]
    assert payload["RequiredMetrics"] == ["validation:error"]
    assert "trainingMetrics" not in json.dumps(gate)


def test_threshold_moves_the_gate() -> None:
    rule = workflow_definition(LOCAL, {"accuracy_threshold": 0.97}, account=ACCOUNT)["States"]["Accuracy Gate"]
    rule = rule["Choices"][0]
    assert rule["NumericLessThanEquals"] == pytest.approx(0.03)


def test_rejection_carries_the_measured_value(definition: dict[str, Any]) -> None:
    fail = definition["States"]["Model Rejected"]
    assert fail["Type"] == "Fail" and fail["Error"] == "ModelRejected"
    assert "Cause" not in fail
    assert fail["CausePath"].startswith("States.Format(")
    assert "$.Payload.metrics.validationError" in fail["CausePath"]
    assert "0.1" in fail["CausePath"] and "0.9" in fail["CausePath"]


def test_names_per_execution_come_from_the_input(definition: dict[str, Any]) -> None:
    s = definition["States"]
    assert s["Train Model"]["Parameters"]["TrainingJobName.$"] == "$$.Execution.Input['TrainingJobName']"
    assert s["Save Model"]["Parameters"]["ModelName.$"] == "$$.Execution.Input['ModelName']"
    cfg = s["Create Endpoint Config"]["Parameters"]
    assert cfg["EndpointConfigName.$"] == "$$.Execution.Input['EndpointConfigName']"
    assert cfg["ProductionVariants"][0]["ModelName.$"] == "$$.Execution.Input['ModelName']"
    for state in ("Create Endpoint", "Update Endpoint"):
        assert s[state]["Parameters"]["EndpointConfigName.$"] == "$$.Execution.Input['EndpointConfigName']"
    params = load_params(LOCAL)
    a, b = execution_names(params, new_run_id()), execution_names(params, new_run_id())
    assert set(a) == set(EXECUTION_INPUT_SCHEMA)
    for key in ("TrainingJobName", "ModelName", "EndpointConfigName"):
        assert a[key] != b[key] and a[key].startswith("retrain-churn-") and len(a[key]) <= 63
    assert a["EndpointName"] == b["EndpointName"] == "retrain-churn-endpoint"  # the project prefix, by default


def test_endpoint_is_created_or_updated_at_run_time(definition: dict[str, Any]) -> None:
    s = definition["States"]
    check = s["Check Endpoint"]
    assert check["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"
    assert check["Next"] == "Update Endpoint"
    # an AWS SDK integration names an error SageMaker's model does not declare <Service>.<Service>Exception; a
    # missing endpoint is told from a denied call or throttling by its cause, anything else fails the run
    assert check["Catch"] == [
        {"ErrorEquals": ["SageMaker.SageMakerException"], "ResultPath": "$.EndpointLookupError",
         "Next": "Endpoint Missing?"},
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.EndpointLookupError", "Next": "Endpoint Check Failed"}]
    assert "Retry" not in check
    missing, throttled = s["Endpoint Missing?"]["Choices"]
    assert missing == {"Variable": "$.EndpointLookupError.Cause", "StringMatches": "*Could not find endpoint*",
                       "Next": "Create Endpoint"}
    assert throttled["StringMatches"] == "*Rate exceeded*" and throttled["Next"] == "Wait to Check Again"
    assert s["Wait to Check Again"]["Next"] == "Check Endpoint"
    assert s["Endpoint Missing?"]["Default"] == "Endpoint Check Failed"
    assert s["Endpoint Check Failed"] == {"Type": "Fail", "Error": "EndpointCheckFailed",
                                          "CausePath": "$.EndpointLookupError.Cause"}
    assert s["Create Endpoint"]["Resource"] == "arn:aws:states:::sagemaker:createEndpoint"
    assert s["Update Endpoint"]["Resource"] == "arn:aws:states:::sagemaker:updateEndpoint"
    assert s["Create Endpoint"]["Next"] == s["Update Endpoint"]["Next"] == "Wait for Endpoint"
    assert s["Wait for Endpoint"]["Next"] == "Describe Endpoint"
    ready = s["Endpoint In Service?"]
    deployed, rolled_back, failed = ready["Choices"]
    # deployed only when InService on THIS run's config; InService on another one means the update rolled back
    assert deployed["Next"] == "Model Deployed"
    assert deployed["And"] == [
        {"Variable": "$['Endpoint']['EndpointStatus']", "StringEquals": "InService"},
        {"Variable": "$['Endpoint']['EndpointConfigName']", "StringEqualsPath": "$.EndpointConfig.EndpointConfigName"},
    ]
    assert rolled_back == {"Variable": "$['Endpoint']['EndpointStatus']", "StringEquals": "InService",
                           "Next": "Failure Reason Given?"}
    assert failed == {"Variable": "$['Endpoint']['EndpointStatus']", "StringEquals": "Failed",
                      "Next": "Failure Reason Given?"}
    # the Fail state's CausePath needs a FailureReason: without one, a Pass supplies it (else States.Runtime)
    reason = s["Failure Reason Given?"]
    assert reason["Choices"] == [{"Variable": "$.Endpoint.FailureReason", "IsPresent": True,
                                  "Next": "Endpoint Deploy Failed"}]
    assert reason["Default"] == "No Failure Reason"
    assert s["No Failure Reason"]["ResultPath"] == "$.Endpoint.FailureReason"
    assert s["No Failure Reason"]["Next"] == "Endpoint Deploy Failed"
    selector = s["Create Endpoint Config"]["ResultSelector"]
    assert selector["EndpointConfigName.$"] == "$$.Execution.Input['EndpointConfigName']"
    assert ready["Default"] == "Wait for Endpoint"
    assert s["Endpoint Deploy Failed"]["Error"] == "EndpointDeployFailed"
    assert s["Endpoint Deploy Failed"]["CausePath"] == "$.Endpoint.FailureReason"


#: the error names each integration family really produces (see TRANSIENT_ERRORS in retrain/workflow.py for the
#: sources): optimized integrations use the AWS SDK for Java v1's names, AWS SDK integrations v2's
REAL_NAMES = {
    "glue": {"Glue.ConcurrentRunsExceededException", "Glue.InternalServiceException",
             "Glue.OperationTimeoutException", "Glue.AWSGlueException"},
    "sagemaker": {"SageMaker.AmazonSageMakerException", "SageMaker.ResourceLimitExceededException"},
    "lambda": {"Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException",
               "Lambda.SdkClientException", "Lambda.TooManyRequestsException"},
    "aws-sdk:sagemaker": {"SageMaker.SageMakerException"},
}


def test_retries_cover_transient_errors_only(definition: dict[str, Any]) -> None:
    tasks = {n: s for n, s in definition["States"].items() if s["Type"] == "Task"}
    assert len(tasks) == 9
    for name, state in tasks.items():
        family = "aws-sdk:sagemaker" if ":aws-sdk:sagemaker:" in state["Resource"] else \
            state["Resource"].split(":::")[1].split(":")[0]
        for retry in state.get("Retry", []):
            assert not {"States.ALL", "States.TaskFailed", "States.Timeout"} & set(retry["ErrorEquals"]), name
            assert set(retry["ErrorEquals"]) <= REAL_NAMES[family], (name, retry["ErrorEquals"])
            assert retry["BackoffRate"] >= 2 and retry["MaxAttempts"] >= 3
    assert "Glue.AWSGlueException" in tasks["Extract, Transform, Load"]["Retry"][0]["ErrorEquals"]
    assert "Lambda.TooManyRequestsException" in tasks["Query Training Status"]["Retry"][0]["ErrorEquals"]
    assert "Retry" in tasks["Describe Endpoint"] and "Retry" not in tasks["Check Endpoint"]


def test_training_never_outlives_the_execution_and_everything_is_tagged(definition: dict[str, Any]) -> None:
    s = definition["States"]
    assert s["Train Model"]["Parameters"]["StoppingCondition"]["MaxRuntimeInSeconds"] <= definition["TimeoutSeconds"]
    tag = [{"Key": "retrain:project", "Value": "retrain-churn"}]
    for state in ("Train Model", "Save Model", "Create Endpoint Config", "Create Endpoint"):
        assert s[state]["Parameters"]["Tags"] == tag, state
    assert "Tags" not in s["Update Endpoint"]["Parameters"]  # UpdateEndpoint takes no tags


def test_execution_timeout_from_params(definition: dict[str, Any]) -> None:
    assert definition["TimeoutSeconds"] == 900


def small_workflow(name: str, client: Any, pass_name: str, tags: list[dict[str, str]]) -> Any:
    from stepfunctions import steps
    from stepfunctions.workflow import Workflow

    return Workflow(name=name, definition=steps.Chain([steps.Pass(pass_name)]), role=SFN_ROLE, tags=tags,
                    client=client)


@mock_aws
def test_create_then_update_the_state_machine() -> None:
    params = load_params(LOCAL)
    client = boto3.client("stepfunctions", region_name="us-east-1")
    tags = workflow_tags(params)
    arn, action = create_or_update(small_workflow(params.state_machine_name, client, "First", tags))
    assert action == "created" and arn.endswith(":stateMachine:retrain-churn-retrain")
    arn2, action2 = create_or_update(small_workflow(params.state_machine_name, client, "Second", tags))
    assert (arn2, action2) == (arn, "updated")
    stored = json.loads(client.describe_state_machine(stateMachineArn=arn)["definition"])
    assert stored["StartAt"] == "Second"
    assert len(client.list_state_machines()["stateMachines"]) == 1


@mock_aws
def test_a_state_machine_without_the_project_tag_is_not_updated() -> None:
    from retrain.ownership import OwnershipError

    params = load_params(LOCAL)
    client = boto3.client("stepfunctions", region_name="us-east-1")
    create_or_update(small_workflow(params.state_machine_name, client, "Theirs", []))
    with pytest.raises(OwnershipError, match="not this project's"):
        create_or_update(small_workflow(params.state_machine_name, client, "Ours", workflow_tags(params)))
    stored = client.describe_state_machine(stateMachineArn=client.list_state_machines()["stateMachines"][0]
                                           ["stateMachineArn"])
    assert json.loads(stored["definition"])["StartAt"] == "Theirs"
