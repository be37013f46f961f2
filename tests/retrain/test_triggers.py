"""The triggers of retraining unattended (retrain.triggers) on a localcloud that enforces IAM, with a fast events
clock: the schedule starts the workflow on time (and not while paused), a new object at the data key starts it
exactly once, both act only through the triggers' role, and removing the triggers leaves nothing behind.

The state machine here is a stand-in of the project's name (a Pass): what is tested is who starts it and with what
input; the workflow's handling of that input is tests/retrain/test_unattended.py."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud import LocalCloud
from retrain import plancheck, triggers
from retrain.cleanup import Cleanup
from retrain.config import load_params
from retrain.plan import build
from retrain.remains import remaining_triggers
from retrain.resources import Layout, upload_if_changed
from retrain.session import Cloud
from retrain.state import RunState

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
#: one virtual minute lasts 0.6 real seconds (docs/triggers-and-notifications.md, "The clock")
TIME_SCALE = 0.01
STATES_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    before = os.environ.get("LOCALCLOUD_EVENTS_TIME_SCALE")
    os.environ["LOCALCLOUD_EVENTS_TIME_SCALE"] = str(TIME_SCALE)
    try:
        with LocalCloud(port=0, home=tmp_path_factory.mktemp("triggers"), enforce_iam=True) as running:
            params = load_params(ROOT / "params" / "local.yaml", {
                "project_name": f"trg-{uuid.uuid4().hex[:6]}", "schedule": "rate(1 minute)",
                "retrain_on_new_data": True})
            session = boto3.Session(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
            cloud = Cloud(params, session, endpoint_url=running.endpoint_url, started_local=False)
            iam, sfn, s3 = cloud.client("iam"), cloud.client("stepfunctions"), cloud.client("s3")
            role = iam.create_role(RoleName=f"{params.project_name}-sm", AssumeRolePolicyDocument=json.dumps(
                STATES_TRUST))["Role"]["Arn"]
            machine = sfn.create_state_machine(name=params.state_machine_name, roleArn=role, definition=json.dumps(
                {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
            bucket = f"{params.project_name}-{ACCOUNT}-us-east-1"
            s3.create_bucket(Bucket=bucket)
            yield {"cloud": cloud, "params": params, "machine": machine, "bucket": bucket,
                   "layout": Layout(bucket, params.project_name), "sfn": sfn, "s3": s3}
    finally:
        if before is None:
            os.environ.pop("LOCALCLOUD_EVENTS_TIME_SCALE", None)
        else:
            os.environ["LOCALCLOUD_EVENTS_TIME_SCALE"] = before


def _inputs(c: dict[str, Any]) -> list[Any]:
    sfn = c["sfn"]
    listed = sfn.list_executions(stateMachineArn=c["machine"])["executions"]
    return [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in listed]


def _wait(predicate: Any, limit: float = 30.0) -> Any:
    deadline = time.monotonic() + limit
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)
    return value


def test_triggers_start_the_workflow_on_time_and_once_per_new_object(strict: dict[str, Any]) -> None:
    c, params = strict, strict["params"]
    done = triggers.ensure(c["cloud"], params, ACCOUNT, c["bucket"], c["layout"].data_key)
    assert done["schedule"] and done["rule"]
    # the schedule: rate(1 minute) fires at once, then every (virtual) minute, with input {}
    _wait(lambda: sum(1 for i in _inputs(c) if i == {}) >= 2)

    # pause: no more scheduled executions (3 virtual minutes), then resume: they start again
    assert triggers.set_state(c["cloud"], params, enable=False)
    time.sleep(0.7)  # a firing already due may still land
    paused = sum(1 for i in _inputs(c) if i == {})
    time.sleep(1.8)
    assert sum(1 for i in _inputs(c) if i == {}) == paused
    assert triggers.status(c["cloud"], params)["schedule"]["state"] == "DISABLED"
    triggers.set_state(c["cloud"], params, enable=True)
    _wait(lambda: sum(1 for i in _inputs(c) if i == {}) > paused)
    triggers.set_state(c["cloud"], params, enable=False)  # quiet for the new-data part

    # new data: one execution per new object at the data key, with the S3 event as its input; other keys nothing
    c["s3"].put_object(Bucket=c["bucket"], Key=f"{params.project_name}/runs/x/other.csv", Body=b"x")
    for body in (b"first version", b"second version"):
        c["s3"].put_object(Bucket=c["bucket"], Key=c["layout"].data_key, Body=body)
    triggers.set_state(c["cloud"], params, enable=True)  # the rule is enabled again too
    c["s3"].put_object(Bucket=c["bucket"], Key=c["layout"].data_key, Body=b"third version")
    events = _wait(lambda: (found := [i for i in _inputs(c) if i.get("source") == "aws.s3"]) and found)
    time.sleep(1.0)
    events = [i for i in _inputs(c) if i.get("source") == "aws.s3"]
    assert len(events) == 1, "a disabled rule delivered, or one object started more than one execution"
    assert events[0]["detail-type"] == "Object Created"
    assert events[0]["detail"]["object"]["key"] == c["layout"].data_key

    state = triggers.status(c["cloud"], params)
    assert state["schedule"]["expression"] == "rate(1 minute)" and state["rule"]["state"] == "ENABLED"
    assert state["executions"]


def test_the_triggers_role_may_start_only_this_workflow(strict: dict[str, Any]) -> None:
    params, account = strict["params"], ACCOUNT
    policy = triggers.role_policy(params, account)
    assert policy["Statement"] == [{"Sid": "StartTheRetrainWorkflow", "Effect": "Allow",
                                    "Action": "states:StartExecution",
                                    "Resource": triggers.machine_arn(params, account)}]
    principals = triggers.trust_policy()["Statement"][0]["Principal"]["Service"]
    assert sorted(principals) == ["events.amazonaws.com", "scheduler.amazonaws.com"]


def test_clean_up_keeps_the_triggers_and_what_they_start_while_they_are_on(strict: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    c, params = strict, strict["params"]
    triggers.ensure(c["cloud"], params, ACCOUNT, c["bucket"], c["layout"].data_key)
    cleanup = Cleanup(c["cloud"], dataclasses.replace(params, keep_data=False, keep_roles=False),
                      RunState(tmp_path / "state.json", {"bucket": c["bucket"]}))
    assert cleanup.triggers() == [] and cleanup.services() == []  # the state machine stays
    reasons = {(r.kind, r.name): r.reason for r in remaining_triggers(c["cloud"], cleanup.params)}
    kept = "keep_triggers: true (the schedule rate(1 minute) and new data start the workflow)"
    assert reasons == {("schedule group", params.project_name): kept,
                       ("eventbridge rule", triggers.rule_name(params)): kept,
                       ("iam role", triggers.role_name(params)): kept}
    c["sfn"].describe_state_machine(stateMachineArn=c["machine"])


def test_removing_the_triggers_leaves_nothing(strict: dict[str, Any], tmp_path: Path) -> None:
    c, params = strict, strict["params"]
    triggers.ensure(c["cloud"], params, ACCOUNT, c["bucket"], c["layout"].data_key)
    off = dataclasses.replace(params, keep_triggers=False)  # clean-up with keep_triggers: false
    rows = Cleanup(c["cloud"], off, RunState(tmp_path / "state.json", {"bucket": c["bucket"]})).triggers()
    assert {(row["resource"], row["name"]) for row in rows if row["state"] == "deleted"} == {
        ("schedule group", params.project_name), ("eventbridge rule", triggers.rule_name(params)),
        ("iam role", triggers.role_name(params)), ("s3 eventbridge notifications", c["bucket"])}
    assert remaining_triggers(c["cloud"], off) == []
    with pytest.raises(ClientError):
        c["cloud"].client("scheduler").get_schedule_group(Name=triggers.group_name(params))
    with pytest.raises(ClientError):
        c["cloud"].client("events").describe_rule(Name=triggers.rule_name(params))
    assert triggers.status(c["cloud"], off)["schedule"] is None
    assert triggers.remove(c["cloud"], off, c["bucket"]) == []  # idempotent


def test_the_aws_plan_checks_the_triggers(monkeypatch: pytest.MonkeyPatch) -> None:
    params = load_params(ROOT / "params" / "aws.yaml", {"schedule": "rate(1 day)", "retrain_on_new_data": True})
    plan = build(params)
    sent = {(service, operation) for service, operation, _ in plan.requests}
    assert {("scheduler", "CreateScheduleGroup"), ("scheduler", "CreateSchedule"), ("events", "PutRule"),
            ("events", "PutTargets"), ("s3", "PutBucketNotificationConfiguration")} <= sent
    assert plancheck.check(plan) == []  # botocore's models and the triggers' role
    # a role that may start only some other state machine is caught
    other = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "states:StartExecution",
                                                     "Resource": "arn:aws:states:us-east-1:111122223333:"
                                                                 "stateMachine:other"}]}
    monkeypatch.setattr(triggers, "role_policy", lambda p, a: other)
    problems, _ = plancheck.check_triggers(plan)
    assert problems == ["the triggers role may not states:StartExecution on "
                        f"{triggers.machine_arn(params, plan.account)}"]


def test_notebook_02_writes_the_data_only_when_it_changed(strict: dict[str, Any]) -> None:
    # each object written at the data key starts a run: the same data uploaded again must not
    c = strict
    key = f"{c['params'].project_name}/data/same.csv"
    assert upload_if_changed(c["s3"], b"a,b\n1,2\n", c["bucket"], key)[1] is True
    assert upload_if_changed(c["s3"], b"a,b\n1,2\n", c["bucket"], key)[1] is False
    assert upload_if_changed(c["s3"], b"a,b\n1,3\n", c["bucket"], key)[1] is True
