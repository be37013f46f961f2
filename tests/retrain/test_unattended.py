"""Retraining unattended: an execution a schedule or an S3 event starts has no notebook to name its run, so the
workflow's first states derive every per-run name (run id, jobs, model, endpoint config, data prefix) — from the
``RunId`` in the input when notebook 04 gives one, else from the execution itself. Run through localcloud's Step
Functions with the states notebook 03 builds."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from stepfunctions import steps
from stepfunctions.steps.states import Graph

from retrain.config import load_params
from retrain.resources import Layout
from retrain.workflow import execution_names, naming_steps

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "params" / "local.yaml"
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="module")
def naming(aws: Any) -> dict[str, Any]:
    """The workflow's naming states (as notebook 03 chains them) as a state machine of their own."""
    params = load_params(LOCAL)
    layout = Layout("retrain-churn-123456789012-us-east-1", params.project_name)
    built = naming_steps(params, layout)
    definition = Graph(steps.Chain([built["start"]])).to_dict()
    iam, sfn = aws("iam"), aws("stepfunctions")
    role = iam.create_role(RoleName="unattended-naming", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    arn = sfn.create_state_machine(name="unattended-naming", definition=json.dumps(definition),
                                   roleArn=role)["stateMachineArn"]
    return {"params": params, "layout": layout, "sfn": sfn, "arn": arn, "definition": definition}


def _run(naming: dict[str, Any], value: Any) -> dict[str, Any]:
    sfn = naming["sfn"]
    started = sfn.start_execution(stateMachineArn=naming["arn"], input=json.dumps(value))
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=started["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED", described
    return {**described, "output": json.loads(described["output"])}


def test_names_from_a_given_run_id_are_the_notebooks_names(naming: dict[str, Any]) -> None:
    out = _run(naming, {"RunId": "20260101-120000-1a2b"})["output"]
    assert out["Run"] == execution_names(naming["params"], "20260101-120000-1a2b", naming["layout"])
    assert "Trigger" not in out


@pytest.mark.parametrize("trigger", [
    {},  # a schedule's input
    # an S3 Object Created event as EventBridge delivers it (S3 user guide, "EventBridge event message structure")
    {"version": "0", "detail-type": "Object Created", "source": "aws.s3",
     "detail": {"bucket": {"name": "b"}, "object": {"key": "retrain-churn/incoming/new.csv"}}},
])
def test_an_unattended_execution_names_itself_from_its_start_time(naming: dict[str, Any], trigger: Any) -> None:
    described = _run(naming, trigger)
    out = described["output"]
    run_id = out["RunId"]
    # sortable like retrain.state.new_run_id: the execution's UTC start, then 8 random hex digits
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}", run_id), run_id
    assert run_id[:15] == described["startDate"].astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    assert out["Run"] == execution_names(naming["params"], run_id, naming["layout"])
    assert out["Trigger"] == trigger  # what started the run is kept for its record
    for key in ("TrainingJobName", "EvaluationJobName", "ModelName", "EndpointConfigName"):
        assert len(out["Run"][key]) <= 63  # SageMaker's limit, with the longest project name allowed
    assert len(f"{'p' * 30}-{run_id}-config") <= 63


def test_two_unattended_executions_never_share_names(naming: dict[str, Any]) -> None:
    a, b = (_run(naming, {})["output"]["Run"] for _ in range(2))
    assert a["RunId"] != b["RunId"] and a["DataPrefix"] != b["DataPrefix"]
