"""``retrain redrive`` finds a run a trigger started (which named itself from its start time) and redrives it
from the state that failed; refusals name the reason and the fix. On an in-process localcloud with the workflow's
naming states followed by a state that fails until a flag object exists in S3.

AWS facts (botocore's ``stepfunctions`` 2016-11-23 model): RedriveExecution "continues the failed execution from
the unsuccessful step and uses the same input"; DescribeExecution's ``redriveStatusReason`` "Execution is RUNNING
and cannot be redriven" / "... SUCCEEDED ..." / "State machine is in DELETING status".
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from stepfunctions import steps
from stepfunctions.steps.states import Graph

from localcloud import LocalCloud
from retrain.config import load_params
from retrain.errors import RunRefused
from retrain.execute import list_all_events, state_output, visited_states
from retrain.history import record_of, write_record
from retrain.redrive import redrive
from retrain.resources import Layout
from retrain.session import Cloud
from retrain.workflow import naming_steps

ROOT = Path(__file__).resolve().parents[2]
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with LocalCloud(port=0, home=tmp_path_factory.mktemp("redrive")) as running:
        params = load_params(ROOT / "params" / "local.yaml", {"project_name": f"rdv-{uuid.uuid4().hex[:6]}"})
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        cloud = Cloud(params, session, endpoint_url=running.endpoint_url, started_local=False)
        bucket = f"{params.project_name}-{cloud.account_id}-us-east-1"
        cloud.client("s3").create_bucket(Bucket=bucket)
        layout = Layout(bucket, params.project_name)
        built = naming_steps(params, layout)
        flag = steps.Task("Read Flag", resource="arn:aws:states:::aws-sdk:s3:headObject",
                          parameters={"Bucket": bucket, "Key": "flag"}, result_path="$.Flag")
        built["name_run"].next(flag)
        definition = Graph(steps.Chain([built["start"]])).to_dict()
        role = cloud.client("iam").create_role(RoleName=f"{params.project_name}-sm",
                                               AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
        sfn = cloud.client("stepfunctions")
        machine = sfn.create_state_machine(name=params.state_machine_name, definition=json.dumps(definition),
                                           roleArn=role)["stateMachineArn"]
        yield {"cloud": cloud, "params": params, "layout": layout, "sfn": sfn, "machine": machine, "bucket": bucket}


def _ended(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return dict(described)


def test_an_unattended_run_is_found_by_its_run_id_and_redriven_from_the_failed_state(
        setup: dict[str, Any], tmp_path: Path) -> None:
    sfn = setup["sfn"]
    arn = sfn.start_execution(stateMachineArn=setup["machine"], input="{}")["executionArn"]  # as a schedule does
    assert _ended(sfn, arn)["status"] == "FAILED"
    run_id = state_output(list_all_events(sfn, arn), "Run Id From Execution")["RunId"]
    s3 = setup["cloud"].client("s3")
    write_record(s3, setup["layout"], run_id, {"status": "failed", "execution": arn, "data_sha256": "sha256:ab"})
    (tmp_path / "summary.json").write_text(json.dumps({"run_id": run_id, "status": "failed", "message": "x",
                                                       "notebooks": [], "params": {}}))
    s3.put_object(Bucket=setup["bucket"], Key="flag", Body=b"repaired")
    lines: list[str] = []
    done = redrive(setup["cloud"], setup["params"], setup["layout"], run_id, out_dir=tmp_path, echo=lines.append)
    assert done.report.arn == arn and done.report.status == "SUCCEEDED" and done.exit_code == 0
    assert done.redrive_count == 1 and done.resumed_at == "Read Flag"
    assert "Run Id From Execution" in done.kept and "Name the Run" in done.kept
    assert visited_states(done.report.events).count("Run Id From Execution") == 1  # not run again
    assert any(line.endswith("> Read Flag") for line in lines)
    assert not any(line.endswith("> Run Id Given?") for line in lines)  # only what the redrive did
    record = record_of(s3, setup["layout"], run_id)  # the run's record says how the redriven execution ended
    assert record["status"] == "deployed" and record["data_sha256"] == "sha256:ab"
    assert record["redrives"][0]["redrive_count"] == 1 and record["redrives"][0]["from_state"] == "Read Flag"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "deployed" and summary["redrives"][0]["kept"] == done.kept
    assert (tmp_path / "index.html").is_file()


def test_refusals_name_the_reason_and_the_fix(setup: dict[str, Any]) -> None:
    sfn, params, layout, cloud = setup["sfn"], setup["params"], setup["layout"], setup["cloud"]
    with pytest.raises(RunRefused, match="no execution of run 20200101-000000-beef") as unknown:
        redrive(cloud, params, layout, "20200101-000000-beef", echo=lambda _: None)
    assert unknown.value.exit_code == 2
    name = "20260101-000000-ab12"
    arn = sfn.start_execution(stateMachineArn=setup["machine"], name=f"{params.project_name}-{name}",
                              input=json.dumps({"RunId": name}))["executionArn"]  # as notebook 04 does
    assert _ended(sfn, arn)["status"] == "SUCCEEDED"  # the flag exists now
    with pytest.raises(RunRefused, match="Execution is SUCCEEDED and cannot be redriven.*nothing to redrive"):
        redrive(cloud, params, layout, name, echo=lambda _: None)
    setup["cloud"].client("s3").delete_object(Bucket=setup["bucket"], Key="flag")
    failed = "20260101-000001-cd34"
    arn = sfn.start_execution(stateMachineArn=setup["machine"], name=f"{params.project_name}-{failed}",
                              input=json.dumps({"RunId": failed}))["executionArn"]
    assert _ended(sfn, arn)["status"] == "FAILED"
    sfn.delete_state_machine(stateMachineArn=setup["machine"])  # what a clean-up without triggers does
    with pytest.raises(RunRefused, match="State machine is in DELETING status.*retrain run --resume"):
        redrive(cloud, params, layout, failed, echo=lambda _: None)
