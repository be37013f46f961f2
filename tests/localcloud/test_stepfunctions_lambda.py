"""Step Functions calling real Lambda functions on localcloud: ``lambda:invoke``, a plain function ARN, callbacks.

Expected shapes from AWS: ``lambda:invoke`` returns ``ExecutedVersion``, ``Payload`` (the parsed result),
``SdkHttpMetadata`` (``AllHttpHeaders``, ``HttpHeaders``, ``HttpStatusCode``), ``SdkResponseMetadata``
(``RequestId``) and ``StatusCode``; a function error is named by its ``errorType`` with the error payload as cause;
Lambda service errors are ``Lambda.<Exception>`` ("Lambda errors are reported as Lambda.ErrorName", Step
Functions guide, "Handle Lambda service exceptions").
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from sfn_helpers import ensure_role, history, run, unique, wait_done

HANDLERS = '''
import json
import os

import boto3


class MetricNotFound(Exception):
    pass


def echo(event, context):
    return {"got": event, "function": context.function_name}


def boom(event, context):
    raise MetricNotFound("no metric called " + str(event.get("metric")))


def text(event, context):
    return "plain text"


def callback(event, context):
    sfn = boto3.client("stepfunctions")
    if event.get("fail"):
        sfn.send_task_failure(taskToken=event["token"], error="Callback.Failed", cause="asked to fail")
    else:
        sfn.send_task_success(taskToken=event["token"], output=json.dumps({"echo": event["value"]}))
    return {"sent": True}
'''

TRUST_LAMBDA = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions")


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-lambda-tests-role")


@pytest.fixture(scope="module")
def functions(aws: Any) -> dict[str, str]:
    """Function name → ARN for each handler of HANDLERS (one zip, several functions)."""
    lam = aws("lambda")
    lambda_role = ensure_role(aws("iam"), "sfn-lambda-tests-fn-role", TRUST_LAMBDA)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handlers.py", HANDLERS)
    arns = {}
    for handler in ("echo", "boom", "text", "callback"):
        name = unique(f"sfn-{handler}")
        arns[handler] = lam.create_function(FunctionName=name, Runtime="python3.12", Role=lambda_role,
                                            Handler=f"handlers.{handler}", Code={"ZipFile": buffer.getvalue()},
                                            Timeout=30)["FunctionArn"]
    return arns


def _invoke_state(function: str, payload: Any, **extra: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function, "Payload": payload}, **extra}


def test_lambda_invoke_output_shape(sfn: Any, role: str, functions: dict[str, str]) -> None:
    definition = {"StartAt": "Call", "States": {"Call": _invoke_state(
        functions["echo"], {"n.$": "$.n", "fixed": "x"}, End=True)}}
    described = run(sfn, role, definition, {"n": 3})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert list(output) == ["ExecutedVersion", "Payload", "SdkHttpMetadata", "SdkResponseMetadata", "StatusCode"]
    assert output["ExecutedVersion"] == "$LATEST" and output["StatusCode"] == 200
    assert output["Payload"] == {"got": {"n": 3, "fixed": "x"}, "function": functions["echo"].split(":")[-1]}
    assert output["SdkHttpMetadata"]["HttpStatusCode"] == 200
    assert set(output["SdkHttpMetadata"]) == {"AllHttpHeaders", "HttpHeaders", "HttpStatusCode"}
    assert output["SdkResponseMetadata"]["RequestId"]
    # the header set and spelling AWS answers with (recorded on AWS: localstack snapshot
    # tests/aws/services/stepfunctions/v2/services/test_lambda_task_service.snapshot.json, TaskSucceeded output)
    headers = output["SdkHttpMetadata"]["HttpHeaders"]
    assert list(headers) == ["Connection", "Content-Length", "Content-Type", "Date", "X-Amz-Executed-Version",
                             "x-amzn-Remapped-Content-Length", "x-amzn-RequestId", "X-Amzn-Trace-Id"]
    assert list(output["SdkHttpMetadata"]["AllHttpHeaders"]) == [
        "X-Amz-Executed-Version", "x-amzn-Remapped-Content-Length", "Connection", "x-amzn-RequestId",
        "Content-Length", "Date", "X-Amzn-Trace-Id", "Content-Type"]
    assert headers["Connection"] == "keep-alive" and headers["x-amzn-Remapped-Content-Length"] == "0"
    assert headers["Content-Type"] == "application/json" and headers["X-Amz-Executed-Version"] == "$LATEST"
    assert headers["x-amzn-RequestId"] == output["SdkResponseMetadata"]["RequestId"]
    assert headers["Content-Length"] == str(len(json.dumps(output["Payload"])))
    assert headers["X-Amzn-Trace-Id"].startswith("Root=1-")
    scheduled = [e for e in described["history"] if e["type"] == "TaskScheduled"][0]["taskScheduledEventDetails"]
    assert (scheduled["resourceType"], scheduled["resource"]) == ("lambda", "invoke")
    assert json.loads(scheduled["parameters"]) == {"FunctionName": functions["echo"],
                                                   "Payload": {"n": 3, "fixed": "x"}}


def test_plain_function_arn_returns_the_payload(sfn: Any, role: str, functions: dict[str, str]) -> None:
    definition = {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": functions["echo"],
                                                         "Next": "Text"},
                                                "Text": {"Type": "Task", "Resource": functions["text"],
                                                         "ResultPath": "$.text", "End": True}}}
    described = run(sfn, role, definition, {"k": "v"})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["got"] == {"k": "v"} and output["text"] == "plain text"
    types = [e["type"] for e in described["history"]]
    assert "LambdaFunctionScheduled" in types and "LambdaFunctionSucceeded" in types


def test_function_error_is_named_by_its_error_type(sfn: Any, role: str, functions: dict[str, str]) -> None:
    definition = {"StartAt": "Call", "States": {"Call": _invoke_state(
        functions["boom"], {"metric": "validation:auc"},
        Catch=[{"ErrorEquals": ["MetricNotFound"], "ResultPath": "$.error", "Next": "Caught"}], End=True),
        "Caught": {"Type": "Pass", "End": True}}}
    described = run(sfn, role, definition)
    assert described["status"] == "SUCCEEDED", described
    error = json.loads(described["output"])["error"]
    assert error["Error"] == "MetricNotFound"
    cause = json.loads(error["Cause"])
    assert cause["errorType"] == "MetricNotFound" and cause["errorMessage"] == "no metric called validation:auc"
    assert isinstance(cause.get("stackTrace"), list)

    uncaught = run(sfn, role, {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": functions["boom"], "End": True}}})
    assert (uncaught["status"], uncaught["error"]) == ("FAILED", "MetricNotFound")


def test_missing_function_is_a_lambda_service_error(sfn: Any, role: str) -> None:
    missing = "arn:aws:lambda:us-east-1:123456789012:function:" + unique("sfn-missing")
    described = run(sfn, role, {"StartAt": "Call", "States": {"Call": _invoke_state(missing, {}, End=True)}})
    assert (described["status"], described["error"]) == ("FAILED", "Lambda.ResourceNotFoundException")
    # recorded on AWS: localstack snapshot tests/aws/services/stepfunctions/v2/error_handling/
    # test_task_service_lambda.snapshot.json, test_no_such_function (the unqualified name gets :$LATEST)
    request_id = described["cause"].rsplit("Request ID: ", 1)[1].split(";")[0]
    assert described["cause"] == (f"Function not found: {missing}:$LATEST (Service: AWSLambda; Status Code: 404; "
                                  f"Error Code: ResourceNotFoundException; Request ID: {request_id}; Proxy: null)")


def test_invoke_wait_for_task_token(sfn: Any, role: str, functions: dict[str, str]) -> None:
    def machine(fail: bool) -> dict[str, Any]:
        return {"StartAt": "Call", "States": {"Call": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": functions["callback"],
                           "Payload": {"token.$": "$$.Task.Token", "value.$": "$.value", "fail": fail}},
            "TimeoutSeconds": 60, "End": True}}}

    described = run(sfn, role, machine(False), {"value": 5})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"echo": 5}
    failed = run(sfn, role, machine(True), {"value": 5})
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "Callback.Failed", "asked to fail")


def test_stopping_a_waiting_callback(sfn: Any, role: str) -> None:
    definition = {"StartAt": "Wait", "States": {"Wait": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:listStateMachines.waitForTaskToken",
        "End": True}}}
    arn = sfn.create_state_machine(name=unique("sfn-stop-cb"), definition=json.dumps(definition),
                                   roleArn=role)["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=arn)
    sfn.stop_execution(executionArn=started["executionArn"])
    assert wait_done(sfn, started["executionArn"])["status"] == "ABORTED"
    assert history(sfn, started["executionArn"])[-1]["type"] == "ExecutionAborted"
