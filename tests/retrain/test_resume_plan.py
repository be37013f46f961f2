"""Where ``retrain run --resume`` restarts a chain (retrain.resume): from the notebook that failed, or from an
earlier one whose products (as the run state records them) are gone; only the clean-up when only it failed. The
products are looked up on the session's localcloud."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from retrain.notebooks import NOTEBOOKS
from retrain.resume import attempt_id, restart_point
from retrain.state import RunState

TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def _summary(*statuses: str) -> dict[str, Any]:
    return {"run_id": "r", "notebooks": [{"name": nb, "status": s} for nb, s in zip(NOTEBOOKS, statuses, strict=True)]}


def _state(tmp_path: Path, aws: Any) -> RunState:
    role = aws("iam").create_role(RoleName="resume-plan-glue", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    aws("s3").create_bucket(Bucket="resume-plan-bucket")
    return RunState(tmp_path / "state.json", {
        "roles": {"glue": role["Arn"]}, "bucket": "resume-plan-bucket", "glue_job": "resume-plan-etl",
        "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:resume-plan"})


def test_the_chain_restarts_where_it_failed_or_where_products_are_gone(tmp_path: Path, aws: Any) -> None:
    cloud = SimpleNamespace(client=aws)
    state = _state(tmp_path, aws)
    start, why = restart_point(cloud, _summary("ok", "ok", "ok", "failed", "ok"), state)
    assert start == "02_create_resources"  # the Glue job the clean-up deleted
    assert "glue job resume-plan-etl" in why and "04_run_workflow failed" in why
    assert restart_point(cloud, _summary("ok", "failed", "skipped", "skipped", "ok"), state)[0] == "02_create_resources"
    assert restart_point(cloud, _summary("failed", "skipped", "skipped", "skipped", "ok"), state)[0] == "01_setup_roles"
    only_cleanup = restart_point(cloud, _summary("ok", "ok", "ok", "ok", "failed"), state)
    assert only_cleanup == ("05_clean_up", "05_clean_up failed")


def test_notebook_04_runs_as_a_new_attempt_when_an_execution_took_the_runs_names(tmp_path: Path) -> None:
    state = RunState(tmp_path / "state.json", {})
    assert attempt_id("20260101-000000-ab12", {}, state) == "20260101-000000-ab12"
    state.data["execution_arn"] = "arn:aws:states:us-east-1:1:execution:m:p-20260101-000000-ab12"
    assert attempt_id("20260101-000000-ab12", {}, state) == "20260101-000000-ab12-2"
    assert attempt_id("20260101-000000-ab12", {"resumes": [{}]}, state) == "20260101-000000-ab12-3"
