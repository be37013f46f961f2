"""Clean-up deletes only what carries the project's tag, pages through listings, and stops a running execution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from retrain.cleanup import NOT_OURS, clean_up, stop_execution
from retrain.config import load_params
from retrain.session import Cloud
from retrain.state import RunState

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _cloud(cloud: Any, overrides: list[str]) -> Cloud:
    params = load_params(ROOT / "params" / "local.yaml", overrides)
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    return Cloud(params, session, endpoint_url=cloud.endpoint_url)


def _sagemaker_role(aws: Any, name: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
    return aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def test_resources_without_the_projects_tag_are_left_alone(cloud: Any, aws: Any, tmp_path: Path) -> None:
    target = _cloud(cloud, ["project_name=cu-mine", "keep_endpoint=false"])
    sm = aws("sagemaker")
    role = _sagemaker_role(aws, "cu-mine-sm")
    ours = {"Key": "retrain:project", "Value": "cu-mine"}
    # many models of the project (more than one page of ListModels) and one same-named model made by hand
    for i in range(12):
        sm.create_model(ModelName=f"cu-mine-old-{i:02d}-model", ExecutionRoleArn=role,
                        PrimaryContainer={"Image": IMAGE}, Tags=[ours])
    sm.create_model(ModelName="cu-mine-hand-made-model", ExecutionRoleArn=role, PrimaryContainer={"Image": IMAGE})
    report = clean_up(target, target.params, RunState(tmp_path / "state.json"))
    deleted = {f"{r.kind} {r.name}" for r in report.deleted}
    assert {f"model cu-mine-old-{i:02d}-model" for i in range(12)} <= deleted
    assert "model cu-mine-hand-made-model" not in deleted
    left = {(r.kind, r.name): r.reason for r in report.remaining}
    assert left[("model", "cu-mine-hand-made-model")] == NOT_OURS
    assert report.unexpected == []
    assert sm.describe_model(ModelName="cu-mine-hand-made-model")["ModelName"] == "cu-mine-hand-made-model"


def test_an_execution_still_running_is_stopped_first(cloud: Any, aws: Any, tmp_path: Path) -> None:
    sfn, iam = aws("stepfunctions"), aws("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "states.amazonaws.com"}}]}
    role = iam.create_role(RoleName="cu-sfn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    machine = sfn.create_state_machine(name="cu-wait", roleArn=role, definition=json.dumps(
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}))["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    state = RunState(tmp_path / "state.json", {"execution_arn": arn})
    assert stop_execution(sfn, state, poll=0.05) == arn
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert stop_execution(sfn, state) is None  # nothing to stop any more


@pytest.mark.parametrize("kind", ["endpoint"])
def test_a_same_named_endpoint_is_refused_before_the_run(cloud: Any, aws: Any, kind: str) -> None:
    from retrain.ownership import OwnershipError, require_owned

    target = _cloud(cloud, ["project_name=cu-other", "endpoint_name=shared-endpoint"])
    sm = aws("sagemaker")
    role = _sagemaker_role(aws, "cu-other-sm")
    sm.create_model(ModelName="someone-model", ExecutionRoleArn=role, PrimaryContainer={"Image": IMAGE})
    sm.create_endpoint_config(EndpointConfigName="someone-config", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "someone-model", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="shared-endpoint", EndpointConfigName="someone-config")
    with pytest.raises(OwnershipError) as err:
        require_owned(target, target.params, kind, "shared-endpoint")
    assert str(err.value).startswith("endpoint shared-endpoint already exists but is not this project's (it has no "
                                     "retrain:project tag")
    assert "Change endpoint_name" in str(err.value)
