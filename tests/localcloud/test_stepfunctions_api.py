"""The Step Functions API through boto3: state machines, executions, history, stop, errors as AWS names them.

Behaviour checked against the API reference (botocore's stepfunctions service model documentation):
CreateStateMachine is idempotent on name + definition ("If a following request has a different roleArn or tags,
Step Functions will ignore these differences"); StartExecution is idempotent for the same name and input while the
execution runs ("If the execution is closed or if the input is different, it returns a 400 ExecutionAlreadyExists
error"); GetExecutionHistory pages with maxResults/nextToken and ``reverseOrder``.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sfn_helpers import create_machine, ensure_role, history, run, unique, wait_done, wait_for

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"done": True}, "ResultPath": "$.r", "End": True}}}
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions")


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-api-tests-role")


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


# ------------------------------------------------------------------------------------------------ state machines


def test_create_describe_list_update_delete(sfn: Any, role: str) -> None:
    name = unique("crud")
    created = sfn.create_state_machine(name=name, definition=json.dumps(PASS), roleArn=role,
                                       tags=[{"key": "team", "value": "ml"}])
    arn = created["stateMachineArn"]
    assert arn == f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["name"] == name and described["status"] == "ACTIVE" and described["type"] == "STANDARD"
    assert json.loads(described["definition"]) == PASS and described["roleArn"] == role
    assert described["creationDate"] == created["creationDate"]
    assert any(m["stateMachineArn"] == arn for p in sfn.get_paginator("list_state_machines").paginate()
               for m in p["stateMachines"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "ml"}]

    updated = sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(WAIT))
    assert updated["updateDate"] >= created["creationDate"] and updated["revisionId"]
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == WAIT

    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(ClientError) as err:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert _code(err) == "StateMachineDoesNotExist" and arn in str(err.value)


def test_create_is_idempotent_for_the_same_definition(sfn: Any, role: str, aws: Any) -> None:
    name = unique("idem")
    first = sfn.create_state_machine(name=name, definition=json.dumps(PASS), roleArn=role)
    other_role = ensure_role(aws("iam"), "sfn-api-tests-other-role")
    again = sfn.create_state_machine(name=name, definition=json.dumps(PASS), roleArn=other_role)
    assert again["stateMachineArn"] == first["stateMachineArn"]
    assert again["creationDate"] == first["creationDate"]
    assert sfn.describe_state_machine(stateMachineArn=first["stateMachineArn"])["roleArn"] == role  # not updated
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine(name=name, definition=json.dumps(WAIT), roleArn=role)
    assert _code(err) == "StateMachineAlreadyExists"
    # the stepfunctions SDK reads the ARN from between the quotes of this message
    assert err.value.response["Error"]["Message"].split("'")[1] == first["stateMachineArn"]


def test_invalid_definition_lists_every_problem(sfn: Any, role: str) -> None:
    bad = {"StartAt": "Missing", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:describeEndpoint", "End": True},
        "B": {"Type": "Pass", "Next": "Nowhere"}}}
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine(name=unique("bad"), definition=json.dumps(bad), roleArn=role)
    assert _code(err) == "InvalidDefinition"
    message = err.value.response["Error"]["Message"]
    assert "Missing" in message and "Nowhere" in message
    assert "arn:aws:states:::sagemaker:describeEndpoint is not recognized" in message
    answer = sfn.validate_state_machine_definition(definition=json.dumps(bad))
    assert answer["result"] == "FAIL" and len(answer["diagnostics"]) >= 3
    assert {"severity", "code", "message"} <= set(answer["diagnostics"][0])
    assert any(d.get("location") == "/States/A/Resource" for d in answer["diagnostics"])
    ok = sfn.validate_state_machine_definition(definition=json.dumps(PASS))
    assert (ok["result"], ok["diagnostics"], ok["truncated"]) == ("OK", [], False)
    truncated = sfn.validate_state_machine_definition(definition=json.dumps(bad), maxResults=1)
    assert truncated["truncated"] is True and len(truncated["diagnostics"]) == 1
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine(name=unique("bad"), definition="{not json", roleArn=role)
    assert _code(err) == "InvalidDefinition"


@pytest.mark.parametrize("name", ["has space", "a/b", "x:y", "star*", "q?", "", "n" * 81, "brace{"])
def test_invalid_names(sfn: Any, role: str, name: str) -> None:
    raw = sfn if name and len(name) <= 80 else _unvalidated(sfn)
    with pytest.raises(ClientError) as err:
        raw.create_state_machine(name=name, definition=json.dumps(PASS), roleArn=role)
    assert _code(err) in ("InvalidName", "ValidationException")
    if name and len(name) <= 80:
        assert _code(err) == "InvalidName"


def test_role_must_exist_and_trust_step_functions(sfn: Any, aws: Any) -> None:
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine(name=unique("role"), definition=json.dumps(PASS), roleArn="not-an-arn")
    assert _code(err) == "InvalidArn" and "Invalid Role Arn" in str(err.value)
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine(name=unique("role"), definition=json.dumps(PASS),
                                 roleArn="arn:aws:iam::123456789012:role/sfn-no-such-role")
    assert _code(err) == "AccessDeniedException" and "states.amazonaws.com" in str(err.value)
    lambda_only = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    wrong = ensure_role(aws("iam"), "sfn-api-tests-lambda-role", lambda_only)
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine(name=unique("role"), definition=json.dumps(PASS), roleArn=wrong)
    assert _code(err) == "AccessDeniedException"


def test_version_description_needs_publish(sfn: Any, role: str) -> None:
    # recorded on AWS: localstack test_sfn_api_versioning.snapshot.json test_create_with_version_description_no_publish
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine(name=unique("x"), definition=json.dumps(PASS), roleArn=role,
                                 versionDescription="v1")
    assert _code(err) == "ValidationException"
    assert err.value.response["Error"]["Message"] == "Version description can only be set when publish is true"


def test_update_needs_something_and_checks_it(sfn: Any, role: str) -> None:
    arn = create_machine(sfn, role, PASS)
    with pytest.raises(ClientError) as err:
        sfn.update_state_machine(stateMachineArn=arn)
    assert _code(err) == "MissingRequiredParameter"
    with pytest.raises(ClientError) as err:
        sfn.update_state_machine(stateMachineArn=arn, definition='{"StartAt": "X", "States": {}}')
    assert _code(err) == "InvalidDefinition"
    with pytest.raises(ClientError) as err:
        sfn.update_state_machine(stateMachineArn=arn + "-nope", definition=json.dumps(PASS))
    assert _code(err) == "StateMachineDoesNotExist"


def test_list_state_machines_pages(sfn: Any, role: str) -> None:
    for _ in range(3):
        create_machine(sfn, role, PASS)
    first = sfn.list_state_machines(maxResults=2)
    assert len(first["stateMachines"]) == 2 and first["nextToken"]
    second = sfn.list_state_machines(maxResults=2, nextToken=first["nextToken"])
    assert {m["name"] for m in first["stateMachines"]}.isdisjoint(m["name"] for m in second["stateMachines"])
    with pytest.raises(ClientError) as err:
        sfn.list_state_machines(nextToken="bogus-token")
    assert _code(err) == "InvalidToken"


# ------------------------------------------------------------------------------------------------ executions


def test_execution_succeeds_with_arn_output_and_dates(sfn: Any, role: str) -> None:
    arn = create_machine(sfn, role, PASS, name=unique("exec"))
    started = sfn.start_execution(stateMachineArn=arn, name="run-1", input='{"a": 1}')
    machine_name = arn.rsplit(":", 1)[1]
    assert started["executionArn"] == f"arn:aws:states:us-east-1:123456789012:execution:{machine_name}:run-1"
    described = wait_done(sfn, started["executionArn"])
    assert described["status"] == "SUCCEEDED" and described["name"] == "run-1"
    assert json.loads(described["output"]) == {"a": 1, "r": {"done": True}}
    assert described["input"] == '{"a": 1}' and described["inputDetails"] == {"included": True}
    assert described["outputDetails"] == {"included": True}
    assert described["startDate"] <= described["stopDate"]
    assert described["stateMachineArn"] == arn
    default = sfn.start_execution(stateMachineArn=arn)
    assert len(default["executionArn"].rsplit(":", 1)[1]) == 36  # a UUID when no name is given
    assert json.loads(wait_done(sfn, default["executionArn"])["input"]) == {}


def test_execution_names_and_input(sfn: Any, role: str) -> None:
    arn = create_machine(sfn, role, WAIT)
    first = sfn.start_execution(stateMachineArn=arn, name="same", input='{"k": 1}')
    again = sfn.start_execution(stateMachineArn=arn, name="same", input='{"k": 1}')
    assert again["executionArn"] == first["executionArn"] and again["startDate"] == first["startDate"]
    with pytest.raises(ClientError) as err:
        sfn.start_execution(stateMachineArn=arn, name="same", input='{"k": 2}')
    assert _code(err) == "ExecutionAlreadyExists"
    sfn.stop_execution(executionArn=first["executionArn"])
    with pytest.raises(ClientError) as err:
        sfn.start_execution(stateMachineArn=arn, name="same", input='{"k": 1}')
    assert _code(err) == "ExecutionAlreadyExists"  # closed executions keep their names
    with pytest.raises(ClientError) as err:
        sfn.start_execution(stateMachineArn=arn, input="{oops")
    assert _code(err) == "InvalidExecutionInput"
    with pytest.raises(ClientError) as err:
        sfn.start_execution(stateMachineArn=arn, name="bad name")
    assert _code(err) == "InvalidName"
    with pytest.raises(ClientError) as err:
        sfn.start_execution(stateMachineArn=arn + "-missing")
    assert _code(err) == "StateMachineDoesNotExist"
    with pytest.raises(ClientError) as err:
        sfn.start_execution(stateMachineArn="arn:aws:states:us-east-1:123456789012:activity:x")
    assert _code(err) == "InvalidArn"


def test_stop_execution_aborts_with_error_and_cause(sfn: Any, role: str) -> None:
    arn = create_machine(sfn, role, WAIT)
    started = sfn.start_execution(stateMachineArn=arn)
    stopped = sfn.stop_execution(executionArn=started["executionArn"], error="Manual", cause="operator said so")
    described = sfn.describe_execution(executionArn=started["executionArn"])
    assert described["status"] == "ABORTED" and described["stopDate"] == stopped["stopDate"]
    assert described["error"] == "Manual" and described["cause"] == "operator said so"
    events = history(sfn, started["executionArn"])
    assert events[-1]["type"] == "ExecutionAborted"
    assert events[-1]["executionAbortedEventDetails"] == {"error": "Manual", "cause": "operator said so"}
    assert sfn.stop_execution(executionArn=started["executionArn"])["stopDate"] == stopped["stopDate"]


def test_missing_and_malformed_execution_arns(sfn: Any) -> None:
    with pytest.raises(ClientError) as err:
        sfn.describe_execution(executionArn="arn:aws:states:us-east-1:123456789012:execution:nope:nope")
    assert _code(err) == "ExecutionDoesNotExist"
    with pytest.raises(ClientError) as err:
        sfn.describe_execution(executionArn="arn:aws:states:us-east-1:123456789012:stateMachine:nope")
    assert _code(err) == "InvalidArn"
    with pytest.raises(ClientError) as err:
        sfn.get_execution_history(executionArn="not an arn")
    assert _code(err) == "InvalidArn"


def test_list_executions_filters_and_pages(sfn: Any, role: str) -> None:
    arn = create_machine(sfn, role, {"StartAt": "C", "States": {"C": {
        "Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Yes"}], "Default": "No"},
        "Yes": {"Type": "Succeed"}, "No": {"Type": "Fail", "Error": "Nope"}}})
    arns = []
    for i in range(5):
        started = sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=json.dumps({"ok": i % 2 == 0}))
        wait_done(sfn, started["executionArn"])
        arns.append(started["executionArn"])
    listed = [e for p in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=arn, PaginationConfig={"PageSize": 2}) for e in p["executions"]]
    assert [e["executionArn"] for e in listed] == arns[::-1]  # most recent first
    failed = sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED")["executions"]
    assert sorted(e["name"] for e in failed) == ["e1", "e3"]
    assert all(e["status"] == "FAILED" and e["stopDate"] for e in failed)
    raw = _unvalidated(sfn)
    with pytest.raises(ClientError) as err:
        raw.list_executions()
    assert _code(err) == "ValidationException"
    with pytest.raises(ClientError) as err:
        raw.list_executions(stateMachineArn=arn, statusFilter="DONE")
    assert _code(err) == "ValidationException"


def test_many_concurrent_executions(sfn: Any, role: str) -> None:
    arn = create_machine(sfn, role, {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 1, "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"n.$": "$.n", "name.$": "$$.Execution.Name"}, "End": True}}})

    def one(i: int) -> dict[str, Any]:
        started = sfn.start_execution(stateMachineArn=arn, name=f"c{i}", input=json.dumps({"n": i}))
        return wait_done(sfn, started["executionArn"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(24)))
    assert [json.loads(r["output"]) for r in results] == [{"n": i, "name": f"c{i}"} for i in range(24)]
    running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    assert running == []


def test_delete_state_machine_stops_its_executions(sfn: Any, role: str) -> None:
    arn = create_machine(sfn, role, WAIT)
    started = sfn.start_execution(stateMachineArn=arn)
    sfn.delete_state_machine(stateMachineArn=arn)
    described = wait_done(sfn, started["executionArn"])
    assert described["status"] == "ABORTED"
    with pytest.raises(ClientError) as err:
        sfn.list_executions(stateMachineArn=arn)
    assert _code(err) == "StateMachineDoesNotExist"


# ------------------------------------------------------------------------------------------------ history


def test_history_shapes_order_and_paging(sfn: Any, role: str) -> None:
    definition = {"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Result": [1, 2], "ResultPath": "$.items", "Next": "Loop"},
        "Loop": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"StartAt": "Inner", "States": {
            "Inner": {"Type": "Pass", "End": True}}}, "ResultPath": "$.mapped", "Next": "Done"},
        "Done": {"Type": "Succeed"}}}
    arn = create_machine(sfn, role, definition)
    started = sfn.start_execution(stateMachineArn=arn, input='{"x": "secret"}')
    wait_done(sfn, started["executionArn"])
    events = history(sfn, started["executionArn"])
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert types[1:3] == ["PassStateEntered", "PassStateExited"]
    assert "MapStateStarted" in types and types.count("MapIterationSucceeded") == 2
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["previousEventId"] < e["id"] for e in events)
    assert events[0]["executionStartedEventDetails"]["roleArn"] == role
    assert json.loads(events[0]["executionStartedEventDetails"]["input"]) == {"x": "secret"}

    page = sfn.get_execution_history(executionArn=started["executionArn"], maxResults=3)
    assert [e["id"] for e in page["events"]] == [1, 2, 3] and page["nextToken"]
    rest = sfn.get_execution_history(executionArn=started["executionArn"], maxResults=3,
                                     nextToken=page["nextToken"])
    assert [e["id"] for e in rest["events"]] == [4, 5, 6]
    backwards = sfn.get_execution_history(executionArn=started["executionArn"], reverseOrder=True, maxResults=2)
    assert [e["id"] for e in backwards["events"]] == [len(events), len(events) - 1]
    with pytest.raises(ClientError) as err:  # a token belongs to its own query
        sfn.get_execution_history(executionArn=started["executionArn"], reverseOrder=True,
                                  nextToken=page["nextToken"])
    assert _code(err) == "InvalidToken"
    bare = sfn.get_execution_history(executionArn=started["executionArn"], includeExecutionData=False)["events"]
    assert "input" not in bare[0]["executionStartedEventDetails"]
    assert all("output" not in e.get("stateExitedEventDetails", {}) for e in bare)


def test_describe_state_machine_for_execution_keeps_the_revision_it_ran(sfn: Any, role: str) -> None:
    arn = create_machine(sfn, role, WAIT)
    started = sfn.start_execution(stateMachineArn=arn)
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(PASS))
    for_execution = sfn.describe_state_machine_for_execution(executionArn=started["executionArn"])
    assert json.loads(for_execution["definition"]) == WAIT
    assert for_execution["stateMachineArn"] == arn and for_execution["roleArn"] == role
    sfn.stop_execution(executionArn=started["executionArn"])
    newer = sfn.start_execution(stateMachineArn=arn)
    assert wait_done(sfn, newer["executionArn"])["status"] == "SUCCEEDED"  # the new revision: a Pass
    assert json.loads(sfn.describe_state_machine_for_execution(executionArn=newer["executionArn"])
                      ["definition"]) == PASS


# ------------------------------------------------------------------------------------------------ task tokens


def _callback_machine(sfn: Any, role: str, bucket: str, heartbeat: int | None = None) -> str:
    """A task that hands its token out through S3 (aws-sdk:s3:putObject.waitForTaskToken) and waits."""
    task: dict[str, Any] = {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject.waitForTaskToken",
        "Parameters": {"Bucket": bucket, "Key.$": "$$.Execution.Name",
                       "Body": {"token.$": "$$.Task.Token", "input.$": "$"}},
        "ResultPath": "$.callback", "End": True}
    if heartbeat:
        task["HeartbeatSeconds"] = heartbeat
    return create_machine(sfn, role, {"StartAt": "Wait for callback", "States": {"Wait for callback": task}})


def _token(s3: Any, bucket: str, key: str) -> str:
    def read() -> str | None:
        try:
            return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["token"]
        except ClientError:
            return None

    return wait_for(read)


def test_wait_for_task_token_success_failure_heartbeat(sfn: Any, role: str, aws: Any) -> None:
    s3 = aws("s3")
    bucket = unique("sfn-callbacks")
    s3.create_bucket(Bucket=bucket)
    arn = _callback_machine(sfn, role, bucket, heartbeat=2)

    ok = sfn.start_execution(stateMachineArn=arn, name="ok", input='{"job": 7}')
    token = _token(s3, bucket, "ok")
    for _ in range(3):  # heartbeats keep the 2-second clock from running out
        time.sleep(0.8)
        sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output='{"answer": 42}')
    described = wait_done(sfn, ok["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"job": 7, "callback": {"answer": 42}}
    with pytest.raises(ClientError) as err:
        sfn.send_task_success(taskToken=token, output="{}")
    assert _code(err) == "TaskTimedOut"  # the task is closed

    bad = sfn.start_execution(stateMachineArn=arn, name="bad")
    token = _token(s3, bucket, "bad")
    with pytest.raises(ClientError) as err:
        sfn.send_task_success(taskToken=token, output="not json")
    assert _code(err) == "InvalidOutput"
    sfn.send_task_failure(taskToken=token, error="Worker.Crashed", cause="disk full")
    described = wait_done(sfn, bad["executionArn"])
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "Worker.Crashed",
                                                                            "disk full")
    types = [e["type"] for e in history(sfn, bad["executionArn"])]
    assert types[:5] == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted"] \
        or types[:4] == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted"]
    assert "TaskFailed" in types

    silent = sfn.start_execution(stateMachineArn=arn, name="silent")
    _token(s3, bucket, "silent")
    described = wait_done(sfn, silent["executionArn"])
    assert (described["status"], described["error"]) == ("FAILED", "States.HeartbeatTimeout")


def test_task_token_errors(sfn: Any) -> None:
    with pytest.raises(ClientError) as err:
        sfn.send_task_success(taskToken="garbage", output="{}")
    assert _code(err) == "InvalidToken"
    with pytest.raises(ClientError) as err:
        sfn.send_task_heartbeat(taskToken="AQ" + "x" * 120)
    assert _code(err) in ("TaskDoesNotExist", "InvalidToken")
    with pytest.raises(ClientError) as err:
        sfn.send_task_failure(taskToken="AQ" + "A" * 128)
    assert _code(err) in ("TaskDoesNotExist", "InvalidToken")


# ------------------------------------------------------------------------------------------------ tags


def test_tags(sfn: Any, role: str) -> None:
    arn = create_machine(sfn, role, PASS)
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    sfn.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "b", "value": "2"}]
    with pytest.raises(ClientError) as err:
        sfn.list_tags_for_resource(resourceArn=arn + "-gone")
    assert _code(err) == "ResourceNotFound"


# ------------------------------------------------------------------------------------------------ raw requests


def _unvalidated(sfn: Any) -> Any:
    import boto3

    return boto3.client("stepfunctions", endpoint_url=sfn.meta.endpoint_url, region_name="us-east-1",
                        config=Config(parameter_validation=False))


def _raw(endpoint: str, target: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(endpoint, data=body, method="POST", headers={
        "X-Amz-Target": f"AWSStepFunctions.{target}", "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/states/aws4_request, "
                         "SignedHeaders=host, Signature=abc"})
    try:
        with urllib.request.urlopen(request) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def test_raw_malformed_requests_get_aws_errors(sfn: Any, role: str) -> None:
    endpoint = sfn.meta.endpoint_url
    status, body, headers = _raw(endpoint, "CreateStateMachine", b"{not json")
    assert status == 400 and body["__type"] == "SerializationException"
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    status, body, _ = _raw(endpoint, "CreateStateMachine", json.dumps({"definition": "{}"}).encode())
    assert status == 400 and body["__type"] == "ValidationException" and "name" in body["message"]
    status, body, _ = _raw(endpoint, "CreateStateMachine",
                           json.dumps({"name": 5, "definition": "{}", "roleArn": role}).encode())
    assert status == 400 and body["__type"] == "ValidationException"
    status, body, _ = _raw(endpoint, "StartExecution", json.dumps({"stateMachineArn": []}).encode())
    assert status == 400 and body["__type"] == "ValidationException"
    status, body, _ = _raw(endpoint, "CreateActivity", b"{}")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    raw = _unvalidated(sfn)
    with pytest.raises(ClientError) as err:
        raw.get_execution_history(executionArn="arn:aws:states:us-east-1:123456789012:execution:a:b",
                                  maxResults=5000)
    assert _code(err) == "ValidationException"
    status, body, _ = _raw(endpoint, "ListStateMachines", b"")
    assert status == 200 and "stateMachines" in body


def test_run_helper_reports_history(sfn: Any, role: str) -> None:
    described = run(sfn, role, {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "C"}}})
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "E", "C")
    assert described["history"][-1]["executionFailedEventDetails"] == {"error": "E", "cause": "C"}
