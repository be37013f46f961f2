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
from retrain.resources import Layout
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
    assert definition["StartAt"] == "Run Id Given?"  # the per-run names first (tests/retrain/test_unattended.py)
    chain = ["Name the Run", "Find Champion", "Extract, Transform, Load", "Train Model", "Champion Serving?"]
    for a, b in zip(chain, chain[1:], strict=False):
        assert states[a]["Next"] == b
    for evaluate in ("Evaluate Both", "Evaluate Candidate"):
        assert states[evaluate]["Next"] == "Judge Model"
    after = ["Judge Model", "Register Model", "Deploy?"]
    for a, b in zip(after, after[1:], strict=False):
        assert states[a]["Next"] == b
    assert states["Create Model"]["Next"] == "Create Endpoint Config"
    assert states["Extract, Transform, Load"]["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    assert states["Train Model"]["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert states["Evaluate Both"]["Resource"] == "arn:aws:states:::sagemaker:createProcessingJob.sync"
    assert states["Judge Model"]["Resource"] == states["Find Champion"]["Resource"] == "arn:aws:states:::lambda:invoke"
    assert states["Register Model"]["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:createModelPackage"
    assert states["Create Model"]["Resource"] == "arn:aws:states:::sagemaker:createModel"
    assert "DebugHookConfig" not in states["Train Model"]["Parameters"]
    hps = states["Train Model"]["Parameters"]["HyperParameters"]
    assert hps["eval_metric"] == "error" and hps["num_round"] == "100"  # strings, as SageMaker wants
    args = states["Extract, Transform, Load"]["Parameters"]["Arguments"]
    assert args["--S3_DEST.$"] == "$['Run']['DataPrefix']" and args["--TRAIN_KEY"] == "train/"
    assert args["--BASELINE.$"] == "$['Champion']['Payload']['Baseline']"  # drift against the champion's data
    assert args["--INPUT_FORMAT"] == "raw" and args["--TRAIN_FRACTION"] == "0.7" and args["--SEED"] == "42"
    assert "--SCHEMA" not in args  # the churn schema is the job's default
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri.$"]
                for c in states["Train Model"]["Parameters"]["InputDataConfig"]}
    assert channels == {"train": "$['Run']['TrainUri']", "validation": "$['Run']['ValidationUri']"}


def test_both_models_are_scored_on_the_same_held_back_rows(definition: dict[str, Any]) -> None:
    s = definition["States"]
    serving = s["Champion Serving?"]
    assert serving["Choices"] == [{"Variable": "$['Champion']['Payload']['exists']", "BooleanEquals": True,
                                   "Next": "Evaluate Both"}] and serving["Default"] == "Evaluate Candidate"
    both = {i["InputName"]: i["S3Input"] for i in s["Evaluate Both"]["Parameters"]["ProcessingInputs"]}
    alone = {i["InputName"]: i["S3Input"] for i in s["Evaluate Candidate"]["Parameters"]["ProcessingInputs"]}
    assert set(both) == {"code", "holdout", "candidate-model", "candidate-data", "champion-model", "champion-data"}
    assert set(alone) == set(both) - {"champion-model", "champion-data"}
    assert both["holdout"]["S3Uri"] == f"s3://{BUCKET}/retrain-churn/holdout/holdout.csv"
    assert both["candidate-model"]["S3Uri.$"] == "$['Training']['ModelArtifacts']['S3ModelArtifacts']"
    assert both["champion-model"]["S3Uri.$"] == "$['Champion']['Payload']['ModelDataUrl']"
    app = s["Evaluate Both"]["Parameters"]["AppSpecification"]
    assert app["ImageUri"].endswith("/sagemaker-xgboost:1.7-1")
    assert app["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/code/evaluate.py"]
    (output,) = s["Evaluate Both"]["Parameters"]["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri.$"] == "$['Run']['EvaluationUri']"


def test_the_judge_holds_the_floor_and_the_champion_challenger_gate(definition: dict[str, Any]) -> None:
    s = definition["States"]
    payload = s["Judge Model"]["Parameters"]["Payload"]
    assert payload["Action"] == "JudgeModel" and payload["Approval"] == "auto"
    assert payload["Floor"] == {"metric": "validation:error", "max": pytest.approx(0.1)}
    assert payload["Gate"] == {"metric": "auc", "min_absolute_improvement": 0.0}
    deploy = s["Deploy?"]
    assert deploy["Choices"] == [{"Variable": "$['Judgement']['Payload']['decision']", "StringEquals": "deploy",
                                  "Next": "Create Model"}]
    # a rejection is recorded on its way to the Fail state (retrain.outcomes; recording cannot change the end)
    assert deploy["Default"] == "Record Rejection" and s["Record Rejection"]["Next"] == "Model Rejected"
    assert s["Record Rejection"]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.RecordError",
                                               "Next": "Model Rejected"}]
    assert s["Model Rejected"] == {"Type": "Fail", "Error": "ModelRejected", "CausePath": "$.Judgement.Payload.reason"}
    register = s["Register Model"]["Parameters"]
    assert register["ModelApprovalStatus.$"] == "$.Judgement.Payload.approval_status"
    assert register["InferenceSpecification"]["Containers"][0]["ModelDataUrl.$"] == \
        "$.Training.ModelArtifacts.S3ModelArtifacts"
    assert s["Create Model"]["Parameters"]["Containers"] == [{"ModelPackageName.$": "$.Registered.ModelPackageArn"}]


def test_gate_parameters_move_the_judge() -> None:
    judged = workflow_definition(LOCAL, {"accuracy_threshold": 0.97, "gate_metric": "logloss",
                                         "min_relative_improvement": 0.01}, account=ACCOUNT)
    payload = judged["States"]["Judge Model"]["Parameters"]["Payload"]
    assert payload["Floor"]["max"] == pytest.approx(0.03)
    assert payload["Gate"] == {"metric": "logloss", "min_absolute_improvement": 0.0, "min_relative_improvement": 0.01}


def test_manual_approval_waits_polls_and_times_out() -> None:
    states = workflow_definition(LOCAL, {"approval": "manual", "approval_timeout_seconds": 30,
                                         "approval_poll_seconds": 4}, account=ACCOUNT)["States"]
    assert lint({"StartAt": "Run Id Given?", "States": states}) == []
    assert states["Deploy?"]["Choices"][0]["Next"] == "Start Waiting"
    assert states["Judge Model"]["Parameters"]["Payload"]["Approval"] == "manual"
    assert states["Wait for Approval"] == {"Type": "Wait", "Seconds": 4, "Next": "Check Approval"}
    assert states["Check Approval"]["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:describeModelPackage"
    approved, rejected = states["Approved?"]["Choices"]
    assert (approved["StringEquals"], approved["Next"]) == ("Approved", "Create Model")
    assert (rejected["StringEquals"], rejected["Next"]) == ("Rejected", "Note Rejected by Reviewer")
    assert states["Count the Wait"]["Parameters"] == {"polls.$": "States.MathAdd($.ApprovalWait.polls, 1)"}
    (out_of_time,) = states["Out of Time?"]["Choices"]
    assert out_of_time["NumericGreaterThanEquals"] == 8  # ceil(30 / 4) polls
    assert states["Reject After Timeout"]["Parameters"]["ModelApprovalStatus"] == "Rejected"
    assert states["Approval Timed Out"]["Error"] == "ApprovalTimedOut"
    assert states["Rejected by Reviewer"]["Error"] == "ModelRejectedByReviewer"
    assert states["Record Approval Timed Out"]["Parameters"]["Payload"]["Status"] == "approval_timed_out"
    assert states["Record Rejected by Reviewer"]["Parameters"]["Payload"]["Status"] == "rejected_by_reviewer"


def test_names_per_execution_come_from_the_run_names(definition: dict[str, Any]) -> None:
    s = definition["States"]
    assert s["Train Model"]["Parameters"]["TrainingJobName.$"] == "$['Run']['TrainingJobName']"
    assert s["Create Model"]["Parameters"]["ModelName.$"] == "$['Run']['ModelName']"
    assert s["Evaluate Both"]["Parameters"]["ProcessingJobName.$"] == "$['Run']['EvaluationJobName']"
    cfg = s["Create Endpoint Config"]["Parameters"]
    assert cfg["EndpointConfigName.$"] == "$['Run']['EndpointConfigName']"
    assert cfg["ProductionVariants"][0]["ModelName.$"] == "$['Run']['ModelName']"
    for state in ("Create Endpoint", "Update Endpoint"):
        assert s[state]["Parameters"]["EndpointConfigName.$"] == "$['Run']['EndpointConfigName']"
    params = load_params(LOCAL)
    layout = Layout(BUCKET, params.project_name)
    a, b = execution_names(params, new_run_id(), layout), execution_names(params, new_run_id(), layout)
    assert set(a) == set(EXECUTION_INPUT_SCHEMA)
    for key in ("TrainingJobName", "ModelName", "EndpointConfigName", "EvaluationJobName", "DataPrefix"):
        assert a[key] != b[key] and len(a[key].rsplit("/", 2)[-2 if key == "DataPrefix" else -1]) <= 63
    assert a["DataPrefix"] == f"s3://{BUCKET}/retrain-churn/runs/{a['RunId']}/"
    assert a["TrainUri"] == a["DataPrefix"] + "train/" and a["EvaluationUri"] == a["DataPrefix"] + "evaluation/"
    assert a["EndpointName"] == b["EndpointName"] == "retrain-churn-endpoint"  # the project prefix, by default
    assert a["ModelPackageGroupName"] == "retrain-churn-models"


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
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.EndpointLookupError", "Next": "Note Endpoint Check Failed"}]
    assert "Retry" not in check
    missing, throttled = s["Endpoint Missing?"]["Choices"]
    assert missing == {"Variable": "$.EndpointLookupError.Cause", "StringMatches": "*Could not find endpoint*",
                       "Next": "Create Endpoint"}
    assert throttled["StringMatches"] == "*Rate exceeded*" and throttled["Next"] == "Wait to Check Again"
    assert s["Wait to Check Again"]["Next"] == "Check Endpoint"
    assert s["Endpoint Missing?"]["Default"] == "Note Endpoint Check Failed"  # recorded on the way (outcomes)
    assert s["Endpoint Check Failed"] == {"Type": "Fail", "Error": "EndpointCheckFailed",
                                          "CausePath": "$.EndpointLookupError.Cause"}
    assert s["Create Endpoint"]["Resource"] == "arn:aws:states:::sagemaker:createEndpoint"
    # the optimized updateEndpoint takes only the two names; the guarded update needs the AWS SDK integration
    assert s["Update Endpoint"]["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:updateEndpoint"
    assert s["Update Endpoint"]["Parameters"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert s["Create Endpoint"]["Next"] == s["Update Endpoint"]["Next"] == "Wait for Endpoint"
    assert s["Wait for Endpoint"]["Next"] == "Describe Endpoint"
    ready = s["Endpoint In Service?"]
    deployed, rolled_back, failed = ready["Choices"]
    # deployed only when InService on THIS run's config; InService on another one means the update rolled back
    assert deployed["Next"] == "Record Deployed" and s["Record Deployed"]["Next"] == "Model Deployed"
    assert deployed["And"] == [
        {"Variable": "$['Endpoint']['EndpointStatus']", "StringEquals": "InService"},
        {"Variable": "$['Endpoint']['EndpointConfigName']", "StringEqualsPath": "$.Run.EndpointConfigName"},
    ]
    assert rolled_back == {"Variable": "$['Endpoint']['EndpointStatus']", "StringEquals": "InService",
                           "Next": "Failure Reason Given?"}
    assert failed == {"Variable": "$['Endpoint']['EndpointStatus']", "StringEquals": "Failed",
                      "Next": "Failure Reason Given?"}
    # the Fail state's CausePath needs a FailureReason: without one, a Pass supplies it (else States.Runtime)
    reason = s["Failure Reason Given?"]
    assert reason["Choices"] == [{"Variable": "$.Endpoint.FailureReason", "IsPresent": True,
                                  "Next": "Note Endpoint Deploy Failed"}]
    assert reason["Default"] == "No Failure Reason"
    assert s["No Failure Reason"]["ResultPath"] == "$.Endpoint.FailureReason"
    assert s["No Failure Reason"]["Next"] == "Note Endpoint Deploy Failed"
    assert s["Create Endpoint Config"]["ResultSelector"] == {"EndpointConfigArn.$": "$.EndpointConfigArn"}
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
    # UpdateEndpoint declares ResourceLimitExceeded (botocore's sagemaker model)
    "aws-sdk:sagemaker": {"SageMaker.SageMakerException", "SageMaker.ResourceLimitExceededException"},
}


def test_retries_cover_transient_errors_only(definition: dict[str, Any]) -> None:
    tasks = {n: s for n, s in definition["States"].items() if s["Type"] == "Task"}
    assert len(tasks) == 17  # and a Record state before each Fail state (no notifications by default)
    for name, state in tasks.items():
        family = "aws-sdk:sagemaker" if ":aws-sdk:sagemaker:" in state["Resource"] else \
            state["Resource"].split(":::")[1].split(":")[0]
        for retry in state.get("Retry", []):
            assert not {"States.ALL", "States.TaskFailed", "States.Timeout"} & set(retry["ErrorEquals"]), name
            assert set(retry["ErrorEquals"]) <= REAL_NAMES[family], (name, retry["ErrorEquals"])
            assert retry["BackoffRate"] >= 2 and retry["MaxAttempts"] >= 3
    assert "Glue.AWSGlueException" in tasks["Extract, Transform, Load"]["Retry"][0]["ErrorEquals"]
    for name in ("Find Champion", "Judge Model"):
        assert "Lambda.TooManyRequestsException" in tasks[name]["Retry"][0]["ErrorEquals"]
    assert "Retry" not in tasks["Register Model"]  # a retried CreateModelPackage could register the model twice
    assert "Retry" in tasks["Describe Endpoint"] and "Retry" not in tasks["Check Endpoint"]


def test_training_never_outlives_the_execution_and_everything_is_tagged(definition: dict[str, Any]) -> None:
    s = definition["States"]
    assert s["Train Model"]["Parameters"]["StoppingCondition"]["MaxRuntimeInSeconds"] <= definition["TimeoutSeconds"]
    tag = [{"Key": "retrain:project", "Value": "retrain-churn"}]
    assert "Tags" not in s["Register Model"]["Parameters"]  # a version has its group's tags
    for state in ("Train Model", "Evaluate Both", "Create Model", "Create Endpoint Config", "Create Endpoint"):
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
