"""``retrain plan``: the aws target's requests built and checked offline (no credentials, no network)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import retrain.plan as plan_module
from retrain.cli import main
from retrain.config import load_params
from retrain.plan import EXAMPLE_ACCOUNT, build
from retrain.plancheck import check, tasks

ROOT = Path(__file__).resolve().parents[2]
AWS = str(ROOT / "params" / "aws.yaml")


def test_the_aws_plan_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--params", AWS]) == 0
    out = capsys.readouterr().out
    assert "plan for target aws, region us-east-1, account 111122223333" in out
    assert "no problems" in out and "permissions and trusts" in out


def test_the_plan_holds_what_the_target_sends() -> None:
    plan = build(load_params(AWS), EXAMPLE_ACCOUNT)
    operations = {(service, name) for service, name, _ in plan.requests}
    assert {("iam", "CreateRole"), ("iam", "PutRolePolicy"), ("s3", "CreateBucket"), ("s3", "PutObject"),
            ("glue", "CreateJob"), ("lambda", "CreateFunction"), ("logs", "PutRetentionPolicy"),
            ("stepfunctions", "CreateStateMachine"), ("stepfunctions", "StartExecution")} <= operations
    assert plan.bucket == "retrain-churn-111122223333-us-east-1"
    found = {state: (service, name) for state, service, name, _, _ in tasks(plan)}
    assert found["Train Model"] == ("sagemaker", "CreateTrainingJob")
    assert found["Check Endpoint"] == ("sagemaker", "DescribeEndpoint")
    params = dict((state, p) for state, _, _, p, _ in tasks(plan))
    assert params["Train Model"]["TrainingJobName"] == plan.execution_input["TrainingJobName"]
    assert check(plan) == [] and plan.checked["permissions"] > 40


def test_the_plan_with_shadow_testing_creates_the_shadow_config_and_needs_capture_writes() -> None:
    plan = build(load_params(AWS, ["shadow=true"]), EXAMPLE_ACCOUNT)
    found = {state: (service, name, p) for state, service, name, p, _ in tasks(plan)}
    service, name, request = found["Create Shadow Endpoint Config"]
    assert (service, name) == ("sagemaker", "CreateEndpointConfig")
    assert [v["VariantName"] for v in request["ShadowProductionVariants"]] == ["Shadow"]
    assert check(plan) == []
    for document in plan.roles["sagemaker"]["policies"].values():  # the model role without its capture write
        document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != "WriteTheCapturedRequests"]
    problems = check(plan)
    assert len(problems) == 2 and all("s3:PutObject" in p and "/capture/" in p for p in problems), problems


def _with_policy_change(monkeypatch: pytest.MonkeyPatch, kind: str, change: Any) -> None:
    real = plan_module.role_policies

    def patched(role_kind: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        policies = copy.deepcopy(real(role_kind, *args, **kwargs))
        if role_kind == kind:
            for document in policies.values():
                change(document)
        return policies

    monkeypatch.setattr(plan_module, "role_policies", patched)


def test_a_policy_missing_a_permission_fails_the_plan(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    def drop_get_job_run(document: dict[str, Any]) -> None:
        for statement in document["Statement"]:
            if statement.get("Sid") == "RunTheEtlJob":
                statement["Action"] = [a for a in statement["Action"] if a != "glue:GetJobRun"]

    _with_policy_change(monkeypatch, "stepfunctions", drop_get_job_run)
    assert main(["plan", "--params", AWS]) == 1
    out = capsys.readouterr().out
    assert "1 problem(s):" in out
    assert ("the stepfunctions role may not glue:GetJobRun on "
            "arn:aws:glue:us-east-1:111122223333:job/retrain-churn-etl") in out


def test_a_data_role_too_tight_fails_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_output(document: dict[str, Any]) -> None:
        document["Statement"] = [s for s in document["Statement"]
                                 if s.get("Sid") != "WriteOnlyArtifactsAndEvaluations"]

    _with_policy_change(monkeypatch, "sagemaker", no_output)
    plan = build(load_params(AWS))
    problems = check(plan)
    assert problems and all("the sagemaker role may not s3:PutObject" in p for p in problems)


def test_a_malformed_request_fails_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    real = plan_module.glue_job_spec
    monkeypatch.setattr(plan_module, "glue_job_spec", lambda *a, **k: {**real(*a, **k), "Timeout": "an hour"})
    problems = check(build(load_params(AWS)))
    assert len(problems) == 1 and problems[0].startswith("glue CreateJob: Parameter validation failed")
    assert "Timeout" in problems[0]
