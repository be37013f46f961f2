"""A localcloud that enforces IAM, with a fast events clock, and the roles and machines the EventBridge, Scheduler
and S3-notification tests share."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from localcloud import LocalCloud

#: one virtual minute lasts 0.6 real seconds
TIME_SCALE = 0.01
ECHO = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}


@contextmanager
def events_cloud(home: Any) -> Iterator[dict[str, Any]]:
    """A strict localcloud and clients of it."""
    before = os.environ.get("LOCALCLOUD_EVENTS_TIME_SCALE")
    os.environ["LOCALCLOUD_EVENTS_TIME_SCALE"] = str(TIME_SCALE)
    try:
        with LocalCloud(port=0, home=home, enforce_iam=True) as cloud:
            session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="test",
                                            aws_secret_access_key="test")
            clients = {name: session.client(name, endpoint_url=cloud.endpoint_url)
                       for name in ("s3", "iam", "stepfunctions", "events", "scheduler", "sqs", "sns")}
            yield {"cloud": cloud, **clients}
    finally:
        if before is None:
            os.environ.pop("LOCALCLOUD_EVENTS_TIME_SCALE", None)
        else:
            os.environ["LOCALCLOUD_EVENTS_TIME_SCALE"] = before


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def role(iam: Any, service: str, actions: list[str]) -> str:
    """A role ``service`` may assume, allowed ``actions`` on everything (none when the list is empty)."""
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
    name = unique("trigger")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if actions:
        iam.put_role_policy(RoleName=name, PolicyName="target", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    return arn


def machine(c: dict[str, Any], definition: dict[str, Any] | None = None) -> str:
    states_role = role(c["iam"], "states.amazonaws.com", [])
    return c["stepfunctions"].create_state_machine(
        name=unique("triggered"), definition=json.dumps(definition or ECHO), roleArn=states_role)["stateMachineArn"]


def executions(sfn: Any, machine_arn: str) -> list[dict[str, Any]]:
    return sfn.list_executions(stateMachineArn=machine_arn)["executions"]


def wait_executions(sfn: Any, machine_arn: str, count: int, limit: float = 20.0) -> list[dict[str, Any]]:
    """The machine's executions once there are at least ``count``."""
    deadline = time.monotonic() + limit
    while True:
        found = executions(sfn, machine_arn)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive(sqs: Any, url: str, limit: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        if got.get("Messages"):
            return list(got["Messages"])
        time.sleep(0.05)
    return []
