"""Small helpers shared by the Step Functions tests (roles, machines, waiting)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

STATES_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def ensure_role(iam: Any, name: str, trust: dict[str, Any] | None = None) -> str:
    """The ARN of role ``name``, created with a Step Functions trust policy when absent."""
    try:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust or STATES_TRUST))["Role"]["Arn"]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "EntityAlreadyExists"
        return iam.get_role(RoleName=name)["Role"]["Arn"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_machine(sfn: Any, role_arn: str, definition: dict[str, Any] | str, name: str | None = None) -> str:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    return sfn.create_state_machine(name=name or unique("sm"), definition=text, roleArn=role_arn)["stateMachineArn"]


def wait_done(sfn: Any, execution_arn: str, limit: float = 120.0) -> dict[str, Any]:
    """DescribeExecution once the execution has ended (``limit`` only guards against a hang)."""
    deadline = time.monotonic() + limit
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        assert time.monotonic() < deadline, f"{execution_arn} still RUNNING after {limit} s"
        time.sleep(0.05)


def wait_for(predicate: Any, limit: float = 60.0, every: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy (``limit`` only guards against a hang)."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(every)


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def run(sfn: Any, role_arn: str, definition: dict[str, Any], input_value: Any = None) -> dict[str, Any]:
    """Create a machine, run it once to the end, return DescribeExecution (with ``history`` added)."""
    arn = create_machine(sfn, role_arn, definition)
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({} if input_value is None else input_value))
    described = wait_done(sfn, started["executionArn"])
    described["history"] = history(sfn, started["executionArn"])
    return described
