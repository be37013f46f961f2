"""RedriveExecution through boto3: a failed execution continues where it failed, keeping what succeeded.

"When you redrive an execution, it continues the failed execution from the unsuccessful step and uses the same
input. Step Functions preserves the results and execution history of the successful steps, and doesn't rerun these
steps"; "For workflows that include an Inline Map or Parallel state, RedriveExecution API action reschedules and
redrives only the iterations and branches that failed or aborted"; a failed Map Run is redriven with its parent
(RedriveExecution, API reference). The failing step here reads an S3 object that exists only after the first run.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sfn_helpers import create_machine, ensure_role, history, wait_done

GET = "arn:aws:states:::aws-sdk:s3:getObject"


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions")


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-redrive-tests-role")


@pytest.fixture(scope="module")
def bucket(aws: Any) -> str:
    name = f"redrive-{uuid.uuid4().hex[:8]}"
    aws("s3").create_bucket(Bucket=name)
    return name


def _read(key: str, **extra: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": GET, "Parameters": {"Bucket.$": "$.bucket", "Key": key},
            "ResultSelector": {"size.$": "$.ContentLength"}, **extra}


def _after_redrive(events: list[dict[str, Any]]) -> list[str]:
    types = [e["type"] for e in events]
    return types[types.index("ExecutionRedriven"):]


def _failed_run(sfn: Any, role: str, definition: dict[str, Any], bucket: str) -> str:
    arn = create_machine(sfn, role, definition)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"bucket": bucket}))["executionArn"]
    described = wait_done(sfn, execution)
    assert described["status"] == "FAILED" and described["redriveStatus"] == "REDRIVABLE"
    assert "redriveStatusReason" not in described and described["redriveCount"] == 0
    return execution


def test_redrive_continues_from_the_failed_state(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    key = f"late-{uuid.uuid4().hex[:6]}"
    definition = {"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Result": "prepared", "ResultPath": "$.step", "Next": "Read"},
        "Read": _read(key, ResultPath="$.read", End=True)}}
    execution = _failed_run(sfn, role, definition, bucket)
    aws("s3").put_object(Bucket=bucket, Key=key, Body=b"12345")
    redriven = sfn.redrive_execution(executionArn=execution)
    done = wait_done(sfn, execution)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {
        "bucket": bucket, "step": "prepared", "read": {"size": 5}}
    assert done["redriveCount"] == 1 and done["redriveDate"] == redriven["redriveDate"]
    assert (done["redriveStatus"], done["redriveStatusReason"]) == (
        "NOT_REDRIVABLE", "Execution is SUCCEEDED and cannot be redriven")
    events = history(sfn, execution)
    after = _after_redrive(events)
    assert after[:2] == ["ExecutionRedriven", "TaskStateEntered"] and after[-1] == "ExecutionSucceeded"
    assert [e["type"] for e in events].count("PassStateEntered") == 1  # the Pass that succeeded is not rerun
    redrive_event = next(e for e in events if e["type"] == "ExecutionRedriven")
    assert redrive_event["executionRedrivenEventDetails"] == {"redriveCount": 1}
    listed = sfn.list_executions(stateMachineArn=done["stateMachineArn"], redriveFilter="REDRIVEN")["executions"]
    assert [e["executionArn"] for e in listed] == [execution] and listed[0]["redriveCount"] == 1


def test_only_the_failed_parallel_branch_runs_again(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    key = f"late-{uuid.uuid4().hex[:6]}"
    definition = {"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Ok", "States": {"Ok": {"Type": "Pass", "Result": "fine", "End": True}}},
        {"StartAt": "Read", "States": {"Read": _read(key, End=True)}}]}}}
    execution = _failed_run(sfn, role, definition, bucket)
    aws("s3").put_object(Bucket=bucket, Key=key, Body=b"abc")
    sfn.redrive_execution(executionArn=execution)
    done = wait_done(sfn, execution)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == ["fine", {"size": 3}]
    after = _after_redrive(history(sfn, execution))
    assert "PassStateEntered" not in after and after.count("TaskStateEntered") == 1


def test_only_unfinished_map_iterations_run_again(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    prefix = f"item-{uuid.uuid4().hex[:6]}"
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key=f"{prefix}-0", Body=b"0")
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "MaxConcurrency": 1, "ItemsPath": "$.keys", "End": True,
        "ItemSelector": {"bucket.$": "$.bucket", "key.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "Read", "States": {"Read": {
            "Type": "Task", "Resource": GET, "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"},
            "ResultSelector": {"size.$": "$.ContentLength"}, "End": True}}}}}}
    arn = create_machine(sfn, role, definition)
    keys = [f"{prefix}-{i}" for i in range(3)]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"bucket": bucket, "keys": keys}))
    assert wait_done(sfn, execution["executionArn"])["status"] == "FAILED"
    for i in (1, 2):
        s3.put_object(Bucket=bucket, Key=f"{prefix}-{i}", Body=b"x" * (i + 1))
    sfn.redrive_execution(executionArn=execution["executionArn"])
    done = wait_done(sfn, execution["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == [{"size": 1}, {"size": 2}, {"size": 3}]
    after = _after_redrive(history(sfn, execution["executionArn"]))
    assert after.count("TaskScheduled") == 2  # the iteration that succeeded is not run again


def test_an_aborted_execution_resumes_its_wait(sfn: Any, role: str, cloud: Any) -> None:
    backend = next(s for s in cloud.app.services if type(s).__name__ == "StepFunctionsAPI").backend
    arn = create_machine(sfn, role, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "End": True}}})
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    sfn.stop_execution(executionArn=execution, error="Stop", cause="by hand")
    assert wait_done(sfn, execution)["redriveStatus"] == "REDRIVABLE"
    backend.time_scale = 0.01
    try:
        sfn.redrive_execution(executionArn=execution)
        assert wait_done(sfn, execution)["status"] == "SUCCEEDED"
    finally:
        backend.time_scale = 1.0


def test_what_cannot_be_redriven(sfn: Any, role: str, bucket: str, cloud: Any) -> None:
    backend = next(s for s in cloud.app.services if type(s).__name__ == "StepFunctionsAPI").backend
    arn = create_machine(sfn, role, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    succeeded = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    wait_done(sfn, succeeded)
    with pytest.raises(ClientError) as err:
        sfn.redrive_execution(executionArn=succeeded)
    assert err.value.response["Error"] == {"Code": "ExecutionNotRedrivable",
                                           "Message": "Execution is SUCCEEDED and cannot be redriven"}
    with pytest.raises(ClientError) as err:
        sfn.redrive_execution(executionArn=succeeded.replace(":execution:", ":execution:") + "-nope")
    assert err.value.response["Error"]["Code"] == "ExecutionDoesNotExist"
    old = _failed_run(sfn, role, {"StartAt": "R", "States": {"R": _read("never", End=True)}}, bucket)
    backend.execution(old).stop_date -= timedelta(days=15)  # "the redrivable period of 14 days"
    assert sfn.describe_execution(executionArn=old)["redriveStatusReason"] == "Execution redrivable period exceeded"
    with pytest.raises(ClientError) as err:
        sfn.redrive_execution(executionArn=old)
    assert err.value.response["Error"]["Code"] == "ExecutionNotRedrivable"


def test_a_client_token_makes_the_redrive_idempotent(sfn: Any, role: str, bucket: str) -> None:
    execution = _failed_run(sfn, role, {"StartAt": "R", "States": {"R": _read("never", End=True)}}, bucket)
    first = sfn.redrive_execution(executionArn=execution, clientToken="token-1")
    again = sfn.redrive_execution(executionArn=execution, clientToken="token-1")
    assert first["redriveDate"] == again["redriveDate"]
    assert wait_done(sfn, execution)["redriveCount"] == 1


def test_a_distributed_map_run_is_redriven_with_its_parent(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    prefix = f"dm-{uuid.uuid4().hex[:6]}"
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key=f"{prefix}-0", Body=b"0")
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.keys", "End": True,
        "ItemSelector": {"bucket.$": "$.bucket", "key.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Read", "States": {"Read": {
                              "Type": "Task", "Resource": GET, "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"},
                              "ResultSelector": {"size.$": "$.ContentLength"}, "End": True}}}}}}
    arn = create_machine(sfn, role, definition)
    keys = [f"{prefix}-{i}" for i in range(2)]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"bucket": bucket, "keys": keys}))
    execution_arn = execution["executionArn"]
    failed = wait_done(sfn, execution_arn)
    assert failed["error"] == "States.ExceedToleratedFailureThreshold"
    run_arn = sfn.list_map_runs(executionArn=execution_arn)["mapRuns"][0]["mapRunArn"]
    children = sfn.list_executions(mapRunArn=run_arn)["executions"]
    failed_child = next(c for c in children if c["status"] == "FAILED")
    assert sfn.describe_execution(executionArn=failed_child["executionArn"])["redriveStatus"] == \
        "REDRIVABLE_BY_MAP_RUN"
    s3.put_object(Bucket=bucket, Key=f"{prefix}-1", Body=b"11")
    sfn.redrive_execution(executionArn=execution_arn)
    done = wait_done(sfn, execution_arn)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == [{"size": 1}, {"size": 2}]
    events = history(sfn, execution_arn)
    redriven = next(e for e in events if e["type"] == "MapRunRedriven")
    assert redriven["mapRunRedrivenEventDetails"] == {"mapRunArn": run_arn, "redriveCount": 1}
    run = sfn.describe_map_run(mapRunArn=run_arn)
    assert run["status"] == "SUCCEEDED" and run["redriveCount"] == 1 and run["itemCounts"]["succeeded"] == 2
    again = sfn.list_executions(mapRunArn=run_arn)["executions"]
    assert len(again) == 2  # the failed child was redriven, not replaced
    child = sfn.describe_execution(executionArn=failed_child["executionArn"])
    assert child["status"] == "SUCCEEDED" and child["redriveCount"] == 1


def test_a_redrive_runs_the_definition_the_execution_started_with(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    # "Redriven executions use the same state machine definition and execution ARN as the original execution
    # attempt" (RedriveExecution, API reference): an update of the machine meanwhile changes nothing for it
    key = f"late-{uuid.uuid4().hex[:6]}"
    definition = {"StartAt": "Read", "States": {"Read": _read(key, End=True)}}
    execution = _failed_run(sfn, role, definition, bucket)
    machine = sfn.describe_execution(executionArn=execution)["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(
        {"StartAt": "Other", "States": {"Other": {"Type": "Pass", "Result": "new", "End": True}}}))
    aws("s3").put_object(Bucket=bucket, Key=key, Body=b"1234")
    sfn.redrive_execution(executionArn=execution)
    done = wait_done(sfn, execution)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"size": 4}
    assert json.loads(sfn.describe_state_machine_for_execution(executionArn=execution)["definition"]) == definition
