"""Task integrations: resource routing, parameter binding, result rendering and AWS's error names.

Sources for the expectations (Step Functions developer guide): AWS SDK integrations take PascalCase parameters
and name errors ``<Service>.<Error>Exception`` with the suffix always added ("S3.BucketAlreadyExistsException");
the optimized Glue integration inserts ``JobName`` into its response; a States.Runtime error "isn't retriable, and
will always cause the execution to fail. A retry or catch on States.ALL won't catch States.Runtime errors."
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from sfn_helpers import ensure_role, run, unique

from localcloud.asl import TaskFailed
from localcloud.asl.integrations import ServiceIntegrations, parse_resource
from localcloud.asl.integrations.awssdk import error_prefix
from localcloud.asl.integrations.base import (
    Call,
    ErrorNaming,
    bind_parameters,
    render_java_v1,
    render_java_v2,
)


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions")


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-integration-tests-role")


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9")


# ------------------------------------------------------------------------------------------------ routing


@pytest.mark.parametrize(("resource", "ok"), [
    ("arn:aws:states:::lambda:invoke", True),
    ("arn:aws:states:::lambda:invoke.waitForTaskToken", True),
    ("arn:aws:states:::lambda:invoke.sync", False),
    ("arn:aws:lambda:us-east-1:123456789012:function:my-fn", True),
    ("arn:aws:lambda:us-east-1:123456789012:function:my-fn:prod", True),
    ("arn:aws:states:::glue:startJobRun.sync", True),
    ("arn:aws:states:::glue:startJobRun.waitForTaskToken", False),
    ("arn:aws:states:::sagemaker:createTrainingJob.sync", True),
    ("arn:aws:states:::sagemaker:createModel", True),
    ("arn:aws:states:::sagemaker:createModel.sync", False),
    ("arn:aws:states:::sagemaker:createEndpointConfig", True),
    ("arn:aws:states:::sagemaker:createEndpoint", True),
    ("arn:aws:states:::sagemaker:updateEndpoint", True),
    ("arn:aws:states:::sagemaker:createTransformJob.sync", True),
    ("arn:aws:states:::sagemaker:describeEndpoint", False),  # not an optimized action: use aws-sdk
    ("arn:aws:states:::aws-sdk:sagemaker:describeEndpoint", True),
    ("arn:aws:states:::aws-sdk:s3:listObjectsV2", True),
    ("arn:aws:states:::aws-sdk:sfn:startExecution", True),
    ("arn:aws:states:::aws-sdk:s3:ListObjectsV2", False),
    ("arn:aws:states:::aws-sdk:s3:noSuchAction", False),
    ("arn:aws:states:::aws-sdk:nosuchservice:doIt", False),
    ("arn:aws:states:::aws-sdk:s3:getObject.sync", False),
    ("arn:aws:states:us-east-1:123456789012:activity:worker", False),
    ("not-an-arn", False),
])
def test_resources_served(resource: str, ok: bool) -> None:
    problem = ServiceIntegrations("http://127.0.0.1:9").check(resource)
    assert (problem is None) is ok, problem
    if not ok:
        assert resource in problem and "not recognized" in problem


def test_parse_resource() -> None:
    parsed = parse_resource("arn:aws:states:::sagemaker:createTrainingJob.sync")
    assert (parsed.service, parsed.action, parsed.pattern) == ("sagemaker", "createTrainingJob", "sync")
    parsed = parse_resource("arn:aws:states:::aws-sdk:s3:putObject.waitForTaskToken")
    assert (parsed.service, parsed.action, parsed.pattern) == ("s3", "putObject", "waitForTaskToken")
    parsed = parse_resource("arn:aws:lambda:eu-west-1:123456789012:function:fn:live")
    assert dict(parsed.extra) == {"function": "arn:aws:lambda:eu-west-1:123456789012:function:fn",
                                  "qualifier": "live"}


# ------------------------------------------------------------------------------------------------ binding


class _Task:
    state_name = "Call"


def test_parameters_bind_case_insensitively_and_json_encode_strings() -> None:
    client = _client("stepfunctions")
    operation = client.meta.service_model.operation_model("StartExecution")
    call = Call("r", "sfn", "startExecution", "", {}, _Task(), "http://x")
    bound = bind_parameters(call, {"StateMachineArn": "arn", "Input": {"a": [1]}, "Name": "n"},
                            operation.input_shape)
    assert bound == {"stateMachineArn": "arn", "input": '{"a":[1]}', "name": "n"}


def test_unknown_parameter_is_a_runtime_error() -> None:
    client = _client("sagemaker")
    operation = client.meta.service_model.operation_model("CreateModel")
    params = {"ModelName": "m", "S3Operations": {}}
    call = Call("arn:aws:states:::sagemaker:createModel", "sagemaker", "createModel", "", params, _Task(), "x")
    with pytest.raises(TaskFailed) as err:
        bind_parameters(call, params, operation.input_shape)
    assert err.value.error == "States.Runtime"
    assert 'The field "S3Operations" is not supported by Step Functions' in err.value.cause
    assert "'Call'" in err.value.cause


def test_blob_and_integer_members() -> None:
    client = _client("s3")
    operation = client.meta.service_model.operation_model("PutObject")
    call = Call("r", "s3", "putObject", "", {}, _Task(), "x")
    bound = bind_parameters(call, {"Bucket": "b", "Key": "k", "Body": {"x": 1}, "ContentLength": 7.0},
                            operation.input_shape)
    assert bound["Body"] == b'{"x":1}' and bound["ContentLength"] == 7 and isinstance(bound["ContentLength"], int)


# ------------------------------------------------------------------------------------------------ rendering


def test_optimized_results_are_sorted_with_epoch_millis() -> None:
    client = _client("glue")
    shape = client.meta.service_model.operation_model("GetJobRun").output_shape.members["JobRun"]
    run_ = {"JobRunState": "SUCCEEDED", "Id": "jr_1", "StartedOn": datetime(2024, 1, 2, 3, 4, 5, 678000, UTC),
            "Arguments": {"--z": "1", "--a": "2"}, "ResponseMetadata": {}}
    rendered = render_java_v1(run_, shape)
    assert list(rendered) == ["Arguments", "Id", "JobRunState", "StartedOn"]
    assert rendered["StartedOn"] == 1704164645678
    assert list(rendered["Arguments"]) == ["--z", "--a"]  # maps keep their order


def test_sdk_results_are_pascal_case_with_iso_timestamps() -> None:
    client = _client("stepfunctions")
    shape = client.meta.service_model.operation_model("DescribeStateMachine").output_shape
    rendered = render_java_v2({"stateMachineArn": "a", "creationDate": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                               "loggingConfiguration": {"level": "OFF"}, "ResponseMetadata": {}}, shape)
    assert rendered == {"StateMachineArn": "a", "CreationDate": "2024-01-02T03:04:05Z",
                        "LoggingConfiguration": {"Level": "OFF"}}


# ------------------------------------------------------------------------------------------------ error names


def test_error_names_follow_the_sdk_rules() -> None:
    sagemaker = ErrorNaming(prefix="SageMaker", base="AmazonSageMakerException", sdk_service="AmazonSageMaker")
    client = _client("sagemaker")
    assert sagemaker.name_for(client, "ValidationException") == "SageMaker.AmazonSageMakerException"
    assert sagemaker.name_for(client, "ResourceNotFound") == "SageMaker.ResourceNotFoundException"
    assert sagemaker.name_for(client, "ResourceLimitExceeded") == "SageMaker.ResourceLimitExceededException"
    cause = sagemaker.cause("Could not find model", 400, "ValidationException", "rid-1")
    assert cause == ("Could not find model (Service: AmazonSageMaker; Status Code: 400; Error Code: "
                     "ValidationException; Request ID: rid-1; Proxy: null)")
    s3 = ErrorNaming(prefix="S3", base="S3Exception")
    assert s3.name_for(_client("s3"), "NoSuchKey") == "S3.NoSuchKeyException"
    assert s3.name_for(_client("s3"), "SomethingUndeclared") == "S3.S3Exception"
    assert error_prefix("acmpca", "ACM PCA") == "AcmPca"
    assert error_prefix("iam", "IAM") == "Iam"
    assert error_prefix("s3", "S3") == "S3"
    assert error_prefix("sagemaker", "SageMaker") == "SageMaker"
    assert error_prefix("dynamodb", "DynamoDB") == "DynamoDb"
    assert error_prefix("sfn", "SFN") == "Sfn"


# ------------------------------------------------------------------------------------------------ aws-sdk, end to end


def test_aws_sdk_s3_round_trip(sfn: Any, role: str, aws: Any) -> None:
    bucket = unique("sfn-sdk")
    aws("s3").create_bucket(Bucket=bucket)
    definition = {"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
                "Parameters": {"Bucket": bucket, "Key": "data.json", "Body.$": "$.doc"},
                "ResultPath": "$.put", "Next": "List"},
        "List": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listObjectsV2",
                 "Parameters": {"Bucket": bucket}, "ResultPath": "$.listed", "Next": "Get"},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": bucket, "Key": "data.json"},
                "ResultSelector": {"body.$": "States.StringToJson($.Body)"}, "ResultPath": "$.got", "End": True}}}
    described = run(sfn, role, definition, {"doc": {"hello": "world"}})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert "ETag" in output["put"] and "ResponseMetadata" not in output["put"]
    listed = output["listed"]
    assert listed["KeyCount"] == 1 and listed["Contents"][0]["Key"] == "data.json"
    assert listed["Contents"][0]["LastModified"].endswith("Z")  # ISO-8601 text
    assert output["got"] == {"body": {"hello": "world"}}
    assert aws("s3").get_object(Bucket=bucket, Key="data.json")["Body"].read() == b'{"hello":"world"}'


def test_aws_sdk_errors_are_named_and_catchable(sfn: Any, role: str, aws: Any) -> None:
    bucket = unique("sfn-sdk-err")
    aws("s3").create_bucket(Bucket=bucket)
    definition = {"StartAt": "Get", "States": {
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": bucket, "Key": "missing"},
                "Catch": [{"ErrorEquals": ["S3.NoSuchKeyException"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": True},
        "Caught": {"Type": "Pass", "End": True}}}
    described = run(sfn, role, definition)
    assert described["status"] == "SUCCEEDED"
    error = json.loads(described["output"])["error"]
    assert error["Error"] == "S3.NoSuchKeyException"
    assert "(Service: S3, Status Code: 404, Request ID: " in error["Cause"]
    failed = [e for e in described["history"] if e["type"] == "TaskFailed"][0]["taskFailedEventDetails"]
    assert failed["resourceType"] == "aws-sdk:s3" and failed["resource"] == "getObject"

    iam_missing = run(sfn, role, {"StartAt": "Role", "States": {"Role": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iam:getRole",
        "Parameters": {"RoleName": unique("no-such-role")}, "End": True}}})
    assert (iam_missing["status"], iam_missing["error"]) == ("FAILED", "Iam.NoSuchEntityException")


def test_unsupported_field_is_uncatchable_runtime_error(sfn: Any, role: str) -> None:
    definition = {"StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets",
                 "Parameters": {"NotAField": 1},
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Succeed"}}}
    described = run(sfn, role, definition)
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
    assert 'The field "NotAField" is not supported by Step Functions' in described["cause"]


def test_aws_sdk_step_functions_on_itself(sfn: Any, role: str) -> None:
    """aws-sdk:sfn with PascalCase parameters on a camelCase API (the guide's own example)."""
    target = run(sfn, role, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    definition = {"StartAt": "Describe", "States": {"Describe": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:describeStateMachine",
        "Parameters": {"StateMachineArn": target["stateMachineArn"]}, "End": True}}}
    described = run(sfn, role, definition)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["StateMachineArn"] == target["stateMachineArn"] and output["Status"] == "ACTIVE"
    assert output["CreationDate"].endswith("Z") and output["LoggingConfiguration"]["Level"] == "OFF"


# ------------------------------------------------------------------------------------------------ nested workflows


def test_start_execution_of_another_workflow(sfn: Any, role: str) -> None:
    child = sfn.create_state_machine(name=unique("child"), roleArn=role, definition=json.dumps({
        "StartAt": "Check", "States": {
            "Check": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Done"}],
                      "Default": "Broken"},
            "Done": {"Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"}, "End": True},
            "Broken": {"Type": "Fail", "Error": "Child.Broken", "Cause": "not ok"}}}))["stateMachineArn"]

    def parent(pattern: str) -> dict[str, Any]:
        return {"StartAt": "Child", "States": {"Child": {
            "Type": "Task", "Resource": f"arn:aws:states:::states:startExecution{pattern}",
            "Parameters": {"StateMachineArn": child, "Input": {"n.$": "$.n", "ok.$": "$.ok"}}, "End": True}}}

    parsed = run(sfn, role, parent(".sync:2"), {"n": 4, "ok": True})
    assert parsed["status"] == "SUCCEEDED", parsed
    output = json.loads(parsed["output"])
    assert output["Status"] == "SUCCEEDED" and output["Output"] == {"doubled": 8}
    assert output["Input"] == {"n": 4, "ok": True} and isinstance(output["StartDate"], int)

    text = json.loads(run(sfn, role, parent(".sync"), {"n": 1, "ok": True})["output"])
    assert text["Output"] == '{"doubled":2}'

    started = json.loads(run(sfn, role, parent(""), {"n": 1, "ok": True})["output"])
    assert list(started) == ["ExecutionArn", "SdkHttpMetadata", "SdkResponseMetadata", "StartDate"]
    assert started["ExecutionArn"].startswith(child.replace(":stateMachine:", ":execution:"))

    failed = run(sfn, role, parent(".sync:2"), {"n": 1, "ok": False})
    assert (failed["status"], failed["error"]) == ("FAILED", "States.TaskFailed")
    cause = json.loads(failed["cause"])
    assert (cause["Status"], cause["Error"], cause["Cause"]) == ("FAILED", "Child.Broken", "not ok")
