"""Step Functions tasks on the moto-backed services: DynamoDB, SNS, SQS, EventBridge; and optimized integrations of
services localcloud does not run (accepted, failing at run time as an unreachable service).

Expectations from the Step Functions developer guide ("Call DynamoDB APIs ...", "Call Amazon SNS ...", "Call Amazon
SQS ...", "Call EventBridge ...") and from responses recorded on AWS (localstack snapshots under
``tests/aws/services/stepfunctions/v2/services/`` and ``.../error_handling/``, named at each test).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sfn_helpers import create_machine, ensure_role, history, run, unique, wait_done, wait_for

from localcloud.asl.integrations import ServiceIntegrations


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions")


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-services-tests-role")


def task(resource: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "Parameters": parameters,
                                             "End": True, **extra}}}


def output(described: dict[str, Any]) -> Any:
    assert described["status"] == "SUCCEEDED", described.get("error", "") + " " + described.get("cause", "")
    return json.loads(described["output"])


def failure(described: dict[str, Any]) -> tuple[str, str]:
    assert described["status"] == "FAILED", described.get("output")
    return described["error"], described["cause"]


def java_cause(service: str, code: str, status: int = 400) -> str:
    """The tail the Java SDK v1 puts on a service error's message."""
    return rf" \(Service: {service}; Status Code: {status}; Error Code: {code}; Request ID: [^;]*; Proxy: null\)$"


# ------------------------------------------------------------------------------------------------ routing


@pytest.mark.parametrize(("resource", "ok"), [
    ("arn:aws:states:::dynamodb:getItem", True),
    ("arn:aws:states:::dynamodb:putItem", True),
    ("arn:aws:states:::dynamodb:updateItem", True),
    ("arn:aws:states:::dynamodb:deleteItem", True),
    # recorded on AWS: test_dynamodb_task_service.snapshot.json test_invalid_integration (query is aws-sdk only)
    ("arn:aws:states:::dynamodb:query", False),
    ("arn:aws:states:::dynamodb:getItem.waitForTaskToken", False),
    ("arn:aws:states:::sns:publish", True),
    ("arn:aws:states:::sns:publish.waitForTaskToken", True),
    ("arn:aws:states:::sns:publish.sync", False),
    ("arn:aws:states:::sqs:sendMessage.waitForTaskToken", True),
    ("arn:aws:states:::sqs:receiveMessage", False),
    ("arn:aws:states:::events:putEvents", True),
    ("arn:aws:states:::events:putEvents.waitForTaskToken", True),
    ("arn:aws:states:::batch:submitJob.sync", True),
    ("arn:aws:states:::ecs:runTask.waitForTaskToken", True),
    ("arn:aws:states:::athena:getQueryResults.sync", False),
    ("arn:aws:states:::elasticmapreduce:createCluster.sync", True),
    ("arn:aws:states:::batch:noSuchAction", False),
])
def test_resources(resource: str, ok: bool) -> None:
    problem = ServiceIntegrations("http://127.0.0.1:9").check(resource)
    assert (problem is None) is ok, problem


# ------------------------------------------------------------------------------------------------ DynamoDB


@pytest.fixture(scope="module")
def table(aws: Any) -> str:
    name = unique("sfn-table")
    aws("dynamodb").create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                 BillingMode="PAY_PER_REQUEST")
    return name


def test_dynamodb_put_update_get_delete(sfn: Any, role: str, table: str) -> None:
    # shapes recorded on AWS: test_dynamodb_task_service.snapshot.json test_base_integrations
    definition = {"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "ResultPath": "$.put",
                "Parameters": {"TableName": table, "Item": {"id": {"S": "id1"}, "data": {"S": "HelloWorld"}}},
                "Next": "Update"},
        "Update": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem", "ResultPath": "$.update",
                   "Parameters": {"TableName": table, "Key": {"id": {"S": "id1"}}, "UpdateExpression": "set S=:r",
                                  "ExpressionAttributeValues": {":r": {"S": "HelloWorldUpdated"}},
                                  "ReturnValues": "UPDATED_NEW"}, "Next": "Get"},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem", "ResultPath": "$.get",
                "Parameters": {"TableName": table, "Key": {"id": {"S": "id1"}}}, "Next": "Delete"},
        "Delete": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:deleteItem", "ResultPath": "$.delete",
                   "Parameters": {"TableName": table, "Key": {"id": {"S": "id1"}}}, "End": True}}}
    described = run(sfn, role, definition)
    out = output(described)
    assert sorted(out["put"]) == ["SdkHttpMetadata", "SdkResponseMetadata"]
    assert out["put"]["SdkHttpMetadata"]["HttpStatusCode"] == 200
    assert out["update"]["Attributes"] == {"S": {"S": "HelloWorldUpdated"}}
    assert out["get"]["Item"] == {"S": {"S": "HelloWorldUpdated"}, "data": {"S": "HelloWorld"}, "id": {"S": "id1"}}
    assert sorted(out["delete"]) == ["SdkHttpMetadata", "SdkResponseMetadata"]
    scheduled = [e["taskScheduledEventDetails"] for e in described["history"] if e["type"] == "TaskScheduled"]
    assert [(d["resourceType"], d["resource"]) for d in scheduled] == [
        ("dynamodb", "putItem"), ("dynamodb", "updateItem"), ("dynamodb", "getItem"), ("dynamodb", "deleteItem")]


def test_dynamodb_errors(sfn: Any, role: str, table: str) -> None:
    # recorded on AWS: error_handling/test_task_service_dynamodb.snapshot.json
    missing = run(sfn, role, task("arn:aws:states:::dynamodb:putItem",
                                  {"TableName": unique("no-such-table"), "Item": {"id": {"S": "1"}}}))
    error, cause = failure(missing)
    assert error == "DynamoDB.ResourceNotFoundException"
    assert re.fullmatch("Requested resource not found" + java_cause("AmazonDynamoDBv2", "ResourceNotFoundException"),
                        cause), cause
    null_item = run(sfn, role, task("arn:aws:states:::dynamodb:putItem", {"TableName": table, "Item.$": "$.item"}),
                    {"item": None})
    error, cause = failure(null_item)
    assert error == "DynamoDB.AmazonDynamoDBException"
    assert re.fullmatch("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must "
                        "not be null" + java_cause("AmazonDynamoDBv2", "ValidationException"), cause), cause


# ------------------------------------------------------------------------------------------------ SNS, SQS


def test_sns_publish(sfn: Any, role: str, aws: Any) -> None:
    # recorded on AWS: test_sns_task_service.snapshot.json test_publish_base, test_publish_base_error_topic_arn
    sns, sqs = aws("sns"), aws("sqs")
    topic = sns.create_topic(Name=unique("sfn-topic"))["TopicArn"]
    queue = sqs.create_queue(QueueName=unique("sfn-sub"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    out = output(run(sfn, role, task("arn:aws:states:::sns:publish",
                                     {"TopicArn": topic, "Message": {"Message": "HelloWorld!"}})))
    assert sorted(out) == ["MessageId", "SdkHttpMetadata", "SdkResponseMetadata"]
    body = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"][0]["Body"]
    assert json.loads(body) == {"Message": "HelloWorld!"}  # a JSON Message is sent as its JSON text
    error, _ = failure(run(sfn, role, task("arn:aws:states:::sns:publish",
                                           {"TopicArn": topic + "-gone", "Message": "x"})))
    assert error == "SNS.NotFoundException"


def test_sqs_send_message_and_errors(sfn: Any, role: str, aws: Any) -> None:
    # recorded on AWS: test_sqs_task_service.snapshot.json test_send_message; error_handling/test_task_service_sqs
    sqs = aws("sqs")
    queue = sqs.create_queue(QueueName=unique("sfn-queue"))["QueueUrl"]
    out = output(run(sfn, role, task("arn:aws:states:::sqs:sendMessage",
                                     {"QueueUrl": queue, "MessageBody": "test_message_body"})))
    assert sorted(out) == ["MD5OfMessageBody", "MessageId", "SdkHttpMetadata", "SdkResponseMetadata"]
    assert sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "test_message_body"
    error, cause = failure(run(sfn, role, task("arn:aws:states:::sqs:sendMessage",
                                               {"QueueUrl": queue, "MessageBody.$": "$.body"}), {"body": None}))
    assert error == "SQS.AmazonSQSException"
    assert re.fullmatch("The request must contain the parameter MessageBody." + java_cause("AmazonSQS",
                                                                                           "MissingParameter"), cause)
    error, _ = failure(run(sfn, role, task("arn:aws:states:::sqs:sendMessage",
                                           {"QueueUrl": queue + "-gone", "MessageBody": "x"})))
    assert error == "SQS.QueueDoesNotExistException"


def test_sqs_wait_for_task_token(sfn: Any, role: str, aws: Any) -> None:
    # the guide's callback example; TaskSubmitted recorded on AWS (test_sqs_failure_in_wait_for_task_tok)
    sqs = aws("sqs")
    queue = sqs.create_queue(QueueName=unique("sfn-token"))["QueueUrl"]
    definition = task("arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                      {"QueueUrl": queue, "MessageBody": {"Input.$": "$", "TaskToken.$": "$$.Task.Token"}})
    arn = create_machine(sfn, role, definition)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"order": 7}))["executionArn"]
    messages = wait_for(lambda: sqs.receive_message(QueueUrl=queue).get("Messages"))
    body = json.loads(messages[0]["Body"])
    assert body["Input"] == {"order": 7}
    sfn.send_task_success(taskToken=body["TaskToken"], output=json.dumps({"approved": True}))
    assert output(wait_done(sfn, execution)) == {"approved": True}
    types = [e["type"] for e in history(sfn, execution)]
    assert types.index("TaskSubmitted") < types.index("TaskSucceeded")


# ------------------------------------------------------------------------------------------------ EventBridge


def test_events_put_events(sfn: Any, role: str, aws: Any) -> None:
    # recorded on AWS: test_events_task_service.snapshot.json test_put_events_base, test_put_events_no_source
    events, sqs = aws("events"), aws("sqs")
    detail_type = unique("detail-type")
    queue = sqs.create_queue(QueueName=unique("sfn-events"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = unique("sfn-rule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"detail-type": [detail_type]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])
    entries = [{"Detail": {"Message": "HelloWorld1"}, "DetailType": detail_type, "Source": "some.source"},
               {"Detail": {"Message": "HelloWorld2"}, "DetailType": detail_type, "Source": "some.source",
                "Resources": ["arn:aws:s3:::mine"]}]
    arn = create_machine(sfn, role, task("arn:aws:states:::events:putEvents", {"Entries.$": "$.Entries"}))
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"Entries": entries}))["executionArn"]
    out = output(wait_done(sfn, execution))
    assert list(out) == ["Entries", "FailedEntryCount"] and out["FailedEntryCount"] == 0
    assert all(set(entry) == {"EventId"} for entry in out["Entries"])
    received = wait_for(lambda: sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"))
    delivered = sorted((json.loads(m["Body"]) for m in received), key=lambda e: e["detail"]["Message"])
    assert delivered[0]["resources"] == [arn, execution]
    assert delivered[-1]["resources"][-2:] == [arn, execution]
    assert delivered[-1]["resources"][0] == "arn:aws:s3:::mine"
    error, cause = failure(run(sfn, role, task("arn:aws:states:::events:putEvents", {"Entries": [
        {"Detail": {"Message": "ok"}, "DetailType": detail_type, "Source": "some.source"},
        {"Detail": {"Message": "HelloWorld"}, "DetailType": detail_type}]})))
    assert error == "EventBridge.FailedEntry"
    failed = json.loads(cause)
    assert failed["FailedEntryCount"] == 1 and failed["Entries"][1] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument."}


# ------------------------------------------------------------------------------------------------ not served


def test_an_integration_localcloud_cannot_run_is_accepted_and_fails_when_it_runs(sfn: Any, role: str) -> None:
    definition = {"StartAt": "Submit", "States": {
        "Submit": {"Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync",
                   "Parameters": {"JobName": "j", "JobQueue": "q", "JobDefinition": "d"},
                   "Catch": [{"ErrorEquals": ["Batch.SdkClientException"], "ResultPath": "$.error", "Next": "Caught"}],
                   "End": True},
        "Caught": {"Type": "Pass", "End": True}}}
    out = output(run(sfn, role, definition))
    assert out["error"]["Error"] == "Batch.SdkClientException"
    assert out["error"]["Cause"].startswith("Unable to execute HTTP request: localcloud does not run AWS Batch")
    error, cause = failure(run(sfn, role, task("arn:aws:states:::ecs:runTask.sync", {"Cluster": "c"})))
    assert error == "ECS.SdkClientException" and "localcloud does not run Amazon ECS" in cause
