"""EventBridge rules deliver: a matching event starts a Step Functions execution as the target's role, with the
input the target asks for; S3 "Object Created" events reach the default bus; a role that may not start the
execution starts nothing and the event goes to the target's dead-letter queue.

Sources: EventBridge user guide ("Amazon EventBridge event patterns", "Amazon EventBridge input transformation",
"How EventBridge retries delivering events", "Using dead-letter queues"); S3 user guide ("Using EventBridge",
"EventBridge event message structure"); recorded on AWS: localstack tests/aws/services/events/
test_events_targets.py (execution names start with the EventId), tests/aws/services/s3/
test_s3_notifications_eventbridge.snapshot.json (the S3 event's shape).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eventbridge_helpers import (
    events_cloud,
    executions,
    machine,
    queue,
    receive,
    role,
    unique,
    wait_executions,
)


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with events_cloud(tmp_path_factory.mktemp("eventbridge")) as clients:
        yield clients


def _rule(c: dict[str, Any], pattern: dict[str, Any], target: dict[str, Any]) -> str:
    name = unique("rule")
    c["events"].put_rule(Name=name, EventPattern=json.dumps(pattern))
    c["events"].put_targets(Rule=name, Targets=[{"Id": "t", **target}])
    return name


def test_a_matching_event_starts_an_execution_with_the_transformed_input(c: dict[str, Any]) -> None:
    arn = machine(c)
    events_role = role(c["iam"], "events.amazonaws.com", ["states:StartExecution"])
    source = unique("retrain.data")
    _rule(c, {"source": [source], "detail": {"rows": [{"numeric": [">", 100]}], "key": [{"prefix": "train/"}]}},
          {"Arn": arn, "RoleArn": events_role, "InputTransformer": {
              "InputPathsMap": {"key": "$.detail.key", "rows": "$.detail.rows"},
              "InputTemplate": '{"data": <key>, "rows": <rows>, "note": "got <rows> rows at <key>"}'}})
    put = c["events"].put_events(Entries=[
        {"Source": source, "DetailType": "Data Arrived", "Detail": json.dumps({"rows": 500, "key": "train/a.csv"})},
        {"Source": source, "DetailType": "Data Arrived", "Detail": json.dumps({"rows": 5, "key": "train/b.csv"})},
        {"Source": source, "DetailType": "Data Arrived", "Detail": json.dumps({"rows": 900, "key": "test/c.csv"})},
    ])
    found = wait_executions(c["stepfunctions"], arn, 1)
    time.sleep(0.3)  # a wrong second execution would have started by now
    found = executions(c["stepfunctions"], arn)
    assert len(found) == 1
    assert found[0]["name"].startswith(put["Entries"][0]["EventId"])
    described = c["stepfunctions"].describe_execution(executionArn=found[0]["executionArn"])
    assert json.loads(described["input"]) == {"data": "train/a.csv", "rows": 500, "note": "got 500 rows at train/a.csv"}


def test_without_input_settings_the_target_gets_the_whole_event(c: dict[str, Any]) -> None:
    arn = machine(c)
    source = unique("retrain.whole")
    _rule(c, {"source": [source]}, {"Arn": arn, "RoleArn": role(c["iam"], "events.amazonaws.com",
                                                                ["states:StartExecution"])})
    c["events"].put_events(Entries=[{"Source": source, "DetailType": "Ping", "Detail": json.dumps({"a": 1})}])
    started = wait_executions(c["stepfunctions"], arn, 1)[0]
    event = json.loads(c["stepfunctions"].describe_execution(executionArn=started["executionArn"])["input"])
    assert list(event) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources",
                           "detail"]
    assert event["detail"] == {"a": 1} and event["source"] == source
    assert event["time"].endswith("Z") and "T" in event["time"]


def test_a_disabled_rule_delivers_nothing(c: dict[str, Any]) -> None:
    url, queue_arn = queue(c["sqs"])
    source = unique("retrain.off")
    name = _rule(c, {"source": [source]}, {"Arn": queue_arn, "InputPath": "$.detail"})
    c["events"].disable_rule(Name=name)
    c["events"].put_events(Entries=[{"Source": source, "DetailType": "x", "Detail": "{}"}])
    assert receive(c["sqs"], url, limit=0.5) == []
    c["events"].enable_rule(Name=name)
    c["events"].put_events(Entries=[{"Source": source, "DetailType": "x", "Detail": json.dumps({"n": 2})}])
    assert [json.loads(m["Body"]) for m in receive(c["sqs"], url)] == [{"n": 2}]


def test_a_role_without_start_execution_starts_nothing_and_the_event_goes_to_the_dead_letter_queue(
        c: dict[str, Any]) -> None:
    arn = machine(c)
    weak = role(c["iam"], "events.amazonaws.com", ["states:DescribeExecution"])
    dlq_url, dlq_arn = queue(c["sqs"])
    source = unique("retrain.denied")
    name = _rule(c, {"source": [source]}, {"Arn": arn, "RoleArn": weak, "DeadLetterConfig": {"Arn": dlq_arn}})
    put = c["events"].put_events(Entries=[{"Source": source, "DetailType": "x", "Detail": "{}"}])
    messages = receive(c["sqs"], dlq_url)
    assert len(messages) == 1
    attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "AccessDeniedException"
    assert "states:StartExecution" in attributes["ERROR_MESSAGE"]
    assert attributes["TARGET_ARN"] == arn and attributes["RULE_ARN"].endswith(f":rule/{name}")
    assert json.loads(messages[0]["Body"])["id"] == put["Entries"][0]["EventId"]
    assert executions(c["stepfunctions"], arn) == []


def test_a_role_the_service_may_not_assume_starts_nothing(c: dict[str, Any]) -> None:
    arn = machine(c)
    wrong_trust = role(c["iam"], "lambda.amazonaws.com", ["states:StartExecution"])
    dlq_url, dlq_arn = queue(c["sqs"])
    source = unique("retrain.trust")
    _rule(c, {"source": [source]}, {"Arn": arn, "RoleArn": wrong_trust, "DeadLetterConfig": {"Arn": dlq_arn}})
    c["events"].put_events(Entries=[{"Source": source, "DetailType": "x", "Detail": "{}"}])
    messages = receive(c["sqs"], dlq_url)
    assert "events.amazonaws.com cannot assume" in messages[0]["MessageAttributes"]["ERROR_MESSAGE"]["StringValue"]
    assert executions(c["stepfunctions"], arn) == []


def _bucket_rule(c: dict[str, Any], prefix: str) -> tuple[str, str]:
    bucket = unique("landing")
    c["s3"].create_bucket(Bucket=bucket)
    c["s3"].put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "EventBridgeConfiguration": {}})
    arn = machine(c)
    _rule(c, {"source": ["aws.s3"], "detail-type": ["Object Created"],
              "detail": {"bucket": {"name": [bucket]}, "object": {"key": [{"prefix": prefix}]}}},
          {"Arn": arn, "RoleArn": role(c["iam"], "events.amazonaws.com", ["states:StartExecution"])})
    return bucket, arn


def test_each_new_object_starts_exactly_one_execution(c: dict[str, Any]) -> None:
    bucket, arn = _bucket_rule(c, "data/")
    c["s3"].put_object(Bucket=bucket, Key="data/one.csv", Body=b"a,b\n")
    c["s3"].copy_object(Bucket=bucket, Key="data/two.csv", CopySource={"Bucket": bucket, "Key": "data/one.csv"})
    upload = c["s3"].create_multipart_upload(Bucket=bucket, Key="data/three.csv")
    part = c["s3"].upload_part(Bucket=bucket, Key="data/three.csv", UploadId=upload["UploadId"], PartNumber=1,
                               Body=b"x" * 10)
    c["s3"].complete_multipart_upload(Bucket=bucket, Key="data/three.csv", UploadId=upload["UploadId"],
                                      MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    c["s3"].put_object(Bucket=bucket, Key="other/ignored.csv", Body=b"z")
    wait_executions(c["stepfunctions"], arn, 3)
    time.sleep(0.3)
    found = executions(c["stepfunctions"], arn)
    assert len(found) == 3
    events = [json.loads(c["stepfunctions"].describe_execution(executionArn=e["executionArn"])["input"])
              for e in found]
    by_key = {e["detail"]["object"]["key"]: e for e in events}
    assert set(by_key) == {"data/one.csv", "data/two.csv", "data/three.csv"}
    assert {k: e["detail"]["reason"] for k, e in by_key.items()} == {
        "data/one.csv": "PutObject", "data/two.csv": "CopyObject", "data/three.csv": "CompleteMultipartUpload"}
    one = by_key["data/one.csv"]
    assert one["source"] == "aws.s3" and one["detail-type"] == "Object Created"
    assert one["resources"] == [f"arn:aws:s3:::{bucket}"]
    assert set(one["detail"]) == {"version", "bucket", "object", "request-id", "requester", "source-ip-address",
                                  "reason"}
    assert set(one["detail"]["object"]) == {"key", "size", "etag", "sequencer"}  # no version-id: not versioned
    assert one["detail"]["object"]["size"] == 4


def test_a_bucket_without_eventbridge_notifications_sends_nothing(c: dict[str, Any]) -> None:
    bucket, arn = _bucket_rule(c, "data/")
    c["s3"].put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    c["s3"].put_object(Bucket=bucket, Key="data/quiet.csv", Body=b"a")
    time.sleep(0.5)
    assert executions(c["stepfunctions"], arn) == []
