"""A Distributed Map reads and writes S3 with the state machine's role, so IAM applies (an enforcing localcloud).

"IAM policies for ItemReader" / "IAM policies for ResultWriter" (developer guide): the role needs s3:GetObject
(s3:ListBucket for listObjectsV2) on the items and s3:PutObject on the results; without them the Map Run fails with
States.ItemReaderFailed / States.ResultWriterFailed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from sfn_helpers import STATES_TRUST, wait_done

from localcloud import LocalCloud

PROCESSOR = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
             "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with LocalCloud(port=0, home=tmp_path_factory.mktemp("strict-dmap"), enforce_iam=True) as cloud:
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="test",
                                        aws_secret_access_key="test")
        c = {name: session.client(name, endpoint_url=cloud.endpoint_url) for name in ("s3", "iam", "stepfunctions")}
        allowed, other = f"ok-{uuid.uuid4().hex[:8]}", f"no-{uuid.uuid4().hex[:8]}"
        for bucket in (allowed, other):
            c["s3"].create_bucket(Bucket=bucket)
            c["s3"].put_object(Bucket=bucket, Key="items.json", Body=b'[1, 2]')
        role = c["iam"].create_role(RoleName=f"dmap-{uuid.uuid4().hex[:6]}",
                                    AssumeRolePolicyDocument=json.dumps(STATES_TRUST))["Role"]
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{allowed}/*"},
            {"Effect": "Allow", "Action": ["states:StartExecution", "states:DescribeExecution",
                                           "states:StopExecution"], "Resource": "*"}]}
        c["iam"].put_role_policy(RoleName=role["RoleName"], PolicyName="items", PolicyDocument=json.dumps(policy))
        time.sleep(1.1)  # the role's policies are cached for a second
        yield {"c": c, "role": role["Arn"], "allowed": allowed, "other": other}


def _run(strict: dict[str, Any], state: dict[str, Any], bucket: str, items: list[Any] | None = None) -> dict[str, Any]:
    sfn = strict["c"]["stepfunctions"]
    definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": PROCESSOR, "End": True, **state}}}
    arn = sfn.create_state_machine(name=f"dmap-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition),
                                   roleArn=strict["role"])["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"Bucket": bucket, "Items": items or []}))
    return wait_done(sfn, started["executionArn"])


def test_the_item_reader_reads_with_the_role(strict: dict[str, Any]) -> None:
    reader = {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
              "Parameters": {"Bucket.$": "$.Bucket", "Key": "items.json"}}
    ok = _run(strict, {"ItemReader": reader}, strict["allowed"])
    assert ok["status"] == "SUCCEEDED" and json.loads(ok["output"]) == [1, 2]
    denied = _run(strict, {"ItemReader": reader}, strict["other"])
    assert denied["error"] == "States.ItemReaderFailed"
    assert "s3:GetObject" in denied["cause"] and "AccessDenied" in denied["cause"]


def test_the_result_writer_writes_with_the_role(strict: dict[str, Any]) -> None:
    writer = {"Resource": "arn:aws:states:::s3:putObject",
              "Parameters": {"Bucket.$": "$.Bucket", "Prefix": "results"}}
    denied = _run(strict, {"ItemsPath": "$.Items", "ResultWriter": writer}, strict["allowed"], [1, 2])
    assert denied["error"] == "States.ResultWriterFailed"
    assert "s3:PutObject" in denied["cause"] and "AccessDenied" in denied["cause"]
