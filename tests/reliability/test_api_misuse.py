"""API misuse against localcloud: unknown operations, malformed bodies, missing or mistyped required fields, an
unserved service, half-sent requests. Each gets an AWS-format error (status, ``x-amzn-ErrorType``, a JSON body
with ``__type`` and a message naming the problem) and the server keeps serving."""

from __future__ import annotations

import json
import socket
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from rel_helpers import ANSWER_WITHIN_S

AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0123456789abcdef")
JSON11, JSON10, REST = "application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json"

# name -> (signing name, X-Amz-Target or None, method, path, content type, body, status, error code, message part)
RAW_CASES: dict[str, tuple[str, str | None, str, str, str, bytes, int, str, str]] = {
    "SageMaker unknown operation": ("sagemaker", "SageMaker.LaunchRocket", "POST", "/", JSON11, b"{}", 400,
                                    "UnknownOperationException", "LaunchRocket"),
    "Glue unknown operation": ("glue", "AWSGlue.LaunchRocket", "POST", "/", JSON11, b"{}", 400,
                               "UnknownOperationException", "LaunchRocket"),
    "Step Functions unknown operation": ("states", "AWSStepFunctions.LaunchRocket", "POST", "/", JSON10, b"{}",
                                         400, "UnknownOperationException", "LaunchRocket"),
    "Lambda unknown route": ("lambda", None, "GET", "/2015-03-31/rockets", REST, b"", 404,
                             "UnknownOperationException", "/2015-03-31/rockets"),
    "Runtime unknown route": ("sagemaker", None, "POST", "/endpoints/x/launch", "text/csv", b"1", 404,
                              "UnknownOperationException", "launch"),
    "SageMaker malformed body": ("sagemaker", "SageMaker.CreateModel", "POST", "/", JSON11, b"{not json", 400,
                                 "SerializationException", "not valid JSON"),
    "Glue malformed body": ("glue", "AWSGlue.CreateJob", "POST", "/", JSON11, b'{"Name": "x",', 400,
                            "SerializationException", "not valid JSON"),
    "Step Functions malformed body": ("states", "AWSStepFunctions.StartExecution", "POST", "/", JSON10,
                                      b"\xff\xfe\x00garbage", 400, "SerializationException", "not valid JSON"),
    "Step Functions body not an object": ("states", "AWSStepFunctions.ListStateMachines", "POST", "/", JSON10,
                                          b"[1, 2]", 400, "SerializationException", "JSON object"),
    "Lambda malformed body": ("lambda", None, "POST", "/2015-03-31/functions", REST, b"{not json", 400,
                              "InvalidRequestContentException", "Could not parse request body"),
    "Lambda malformed invoke payload": ("lambda", None, "POST", "/2015-03-31/functions/nope/invocations", REST,
                                        b"{not json", 404, "ResourceNotFoundException", "nope"),
    "unserved service": ("ec2", "AmazonEC2.RunInstances", "POST", "/", JSON11, b"{}", 400,
                         "UnknownServiceException", "does not serve 'ec2'"),
}


def _still_serving(cloud: Any, aws: Any) -> None:
    health = requests.get(cloud.endpoint_url + "/_localcloud/health", timeout=ANSWER_WITHIN_S).json()
    assert health["status"] == "running"
    assert "stateMachines" in aws("stepfunctions").list_state_machines()
    assert "Jobs" in aws("glue").get_jobs()


@pytest.mark.parametrize("case", list(RAW_CASES))
def test_raw_misuse_gets_an_aws_error_and_the_server_keeps_serving(cloud: Any, aws: Any, case: str) -> None:
    service, target, method, path, content_type, body, status, code, part = RAW_CASES[case]
    headers = {"Authorization": AUTH.format(service=service), "Content-Type": content_type,
               "X-Amz-Date": "20260101T000000Z"}
    if target:
        headers["X-Amz-Target"] = target
    resp = requests.request(method, cloud.endpoint_url + path, headers=headers, data=body,
                            timeout=ANSWER_WITHIN_S)
    assert resp.status_code == status, resp.text
    assert resp.headers.get("x-amzn-ErrorType", "").split(":")[0] == code
    error = resp.json()
    assert error["__type"] == code and part in error["message"]
    _still_serving(cloud, aws)


def _unvalidated(cloud: Any, service: str) -> Any:
    """A client that sends what botocore would refuse to (as a hand-written or other-language client can)."""
    session = boto3.session.Session(region_name="us-east-1")
    return session.client(service, endpoint_url=cloud.endpoint_url,
                          config=Config(parameter_validation=False, retries={"max_attempts": 1}))


# name -> (service, operation, parameters, error code, words the message must hold)
MISSING_CASES: dict[str, tuple[str, str, dict[str, Any], str, list[str]]] = {
    "Step Functions without definition": ("stepfunctions", "create_state_machine", {"name": "x", "roleArn": "r"},
                                          "ValidationException", ["definition", "must not be null"]),
    "Glue job without role and command": ("glue", "create_job", {"Name": "rel-missing"}, "InvalidInputException",
                                          ["Role", "Command"]),
    "Lambda function without role": ("lambda", "create_function",
                                     {"FunctionName": "rel-missing", "Runtime": "python3.12", "Handler": "h.h",
                                      "Code": {"ZipFile": b"x"}}, "ValidationException", ["role", "null"]),
    "training job without role": ("sagemaker", "create_training_job", {"TrainingJobName": "rel-missing"},
                                  "ValidationException", ["roleArn", "null"]),
    "execution of no state machine": ("stepfunctions", "start_execution", {"input": "{}"},
                                      "ValidationException", ["stateMachineArn"]),
    "Glue run of no job": ("glue", "start_job_run", {}, "InvalidInputException", ["JobName"]),
    "wrongly typed name": ("stepfunctions", "describe_state_machine", {"stateMachineArn": 12},
                           "ValidationException", ["stateMachineArn"]),
}


@pytest.mark.parametrize("case", list(MISSING_CASES))
def test_missing_or_mistyped_required_fields(cloud: Any, aws: Any, case: str) -> None:
    service, operation, params, code, words = MISSING_CASES[case]
    with pytest.raises(ClientError) as caught:
        getattr(_unvalidated(cloud, service), operation)(**params)
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == code, error
    for word in words:
        assert word in error["Message"], error
    _still_serving(cloud, aws)


def test_half_sent_and_abandoned_requests_do_not_stop_the_server(cloud: Any, aws: Any) -> None:
    host, port = "127.0.0.1", cloud.port
    for chunk in (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"a\":", b"GARBAGE\r\n\r\n",
                  b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n"):
        with socket.create_connection((host, port), timeout=ANSWER_WITHIN_S) as sock:
            sock.sendall(chunk)  # and hang up without reading
    _still_serving(cloud, aws)


def test_oversized_json_request_is_refused_clearly(cloud: Any, aws: Any) -> None:
    """A definition far over the 1 MiB limit of Step Functions is a validation error, not a crash."""
    sfn = _unvalidated(cloud, "stepfunctions")
    huge = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "x" * (2 << 20), "End": True}}})
    with pytest.raises(ClientError) as caught:
        sfn.create_state_machine(name="rel-huge", definition=huge,
                                 roleArn="arn:aws:iam::123456789012:role/rel-none")
    assert caught.value.response["Error"]["Code"] in ("ValidationException", "InvalidDefinition")
    assert "definition" in caught.value.response["Error"]["Message"]
    _still_serving(cloud, aws)
