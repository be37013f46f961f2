"""IAM: trust policies, least-privilege scoping of every role's policy, idempotent role creation (moto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from retrain.config import load_params
from retrain.iam import delete_role, ensure_project_roles, ensure_role
from retrain.policies import ROLE_KINDS, Scope, role_policies, trust_policy

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SM_ROLE = f"arn:aws:iam::{ACCOUNT}:role/retrain-churn-sagemaker-role"
# The only actions whose IAM resource can be nothing narrower than "*".
STAR_ONLY = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


@pytest.fixture()
def params() -> Any:
    return load_params(ROOT / "params" / "local.yaml")


@pytest.fixture()
def scope(params: Any) -> Scope:
    return Scope.of(params, ACCOUNT, f"retrain-churn-{ACCOUNT}-us-east-1")


def statements(kind: str, scope: Scope) -> list[dict[str, Any]]:
    (doc,) = role_policies(kind, scope, sagemaker_role_arn=SM_ROLE, image_uri=IMAGE).values()
    assert doc["Version"] == "2012-10-17"
    return doc["Statement"]


def as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("kind", ROLE_KINDS)
def test_star_resource_only_for_actions_that_require_it(kind: str, scope: Scope) -> None:
    for st in statements(kind, scope):
        assert st["Effect"] == "Allow"
        if "*" in as_list(st["Resource"]):
            assert set(as_list(st["Action"])) <= STAR_ONLY, st
        for action in as_list(st["Action"]):
            assert "*" not in action.split(":")[1] or action == "s3:*Object", f"wildcard action {action}"


@pytest.mark.parametrize("kind", ROLE_KINDS)
def test_every_resource_names_this_project(kind: str, scope: Scope) -> None:
    allowed = (scope.bucket, "retrain-churn", "/aws-glue/", "/aws/sagemaker/",
               "StepFunctionsGetEventsForSageMakerTrainingJobsRule", "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
               "repository/sagemaker-xgboost")
    for st in statements(kind, scope):
        for resource in as_list(st["Resource"]):
            if resource == "*":
                continue
            assert any(token in resource for token in allowed), resource
            assert ":*:*:" not in resource and not resource.endswith(":*:*"), resource  # no wildcard account/region
            assert f":{ACCOUNT}:" in resource or resource.startswith("arn:aws:s3:::") or ":683313688378:" in resource


def test_stepfunctions_policy_matches_the_workflow(scope: Scope) -> None:
    by_sid = {st["Sid"]: st for st in statements("stepfunctions", scope)}
    glue = by_sid["RunTheEtlJob"]
    assert set(glue["Action"]) == {"glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"}
    assert glue["Resource"] == f"arn:aws:glue:us-east-1:{ACCOUNT}:job/retrain-churn-etl"
    sm = by_sid["TrainEvaluateAndModel"]
    assert {"sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob", "sagemaker:CreateModel",
            "sagemaker:CreateEndpointConfig", "sagemaker:AddTags", "sagemaker:ListTags"} <= set(sm["Action"])
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
    assert set(sm["Resource"]) == {f"{arn}:training-job/retrain-churn-*", f"{arn}:processing-job/retrain-churn-*",
                                   f"{arn}:model/retrain-churn-*", f"{arn}:endpoint-config/retrain-churn-*"}
    registry = by_sid["RegisterModels"]
    assert set(registry["Resource"]) == {f"{arn}:model-package-group/retrain-churn-models",
                                         f"{arn}:model-package/retrain-churn-models/*"}
    assert "sagemaker:AddTags" not in registry["Action"]  # a version takes its group's tags
    endpoint = f"{arn}:endpoint/retrain-churn-endpoint"
    assert by_sid["CreateTheEndpoint"]["Resource"] == [endpoint, f"{arn}:endpoint-config/retrain-churn-*"]
    assert set(by_sid["CheckTheEndpoint"]["Action"]) == {"sagemaker:DescribeEndpoint", "sagemaker:ListTags"}
    update = by_sid["UpdateOnlyOurEndpoint"]
    assert update["Action"] == "sagemaker:UpdateEndpoint"
    assert update["Condition"] == {"StringEquals": {"aws:ResourceTag/retrain:project": "retrain-churn"}}
    assert by_sid["InvokeTheModelGate"]["Action"] == "lambda:InvokeFunction"
    assert "function:retrain-churn-model-gate" in by_sid["InvokeTheModelGate"]["Resource"][0]
    passrole = by_sid["PassOnlyTheSageMakerRole"]
    assert passrole["Resource"] == SM_ROLE
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    events = by_sid["SyncJobEvents"]
    assert [r.rsplit("/", 1)[1] for r in events["Resource"]] == [
        "StepFunctionsGetEventsForSageMakerTrainingJobsRule", "StepFunctionsGetEventsForSageMakerProcessingJobsRule"]


def _allowed(kind: str, scope: Scope, action: str, resource: str, **context: str) -> bool:
    from localcloud.core.policy import evaluate

    (doc,) = role_policies(kind, scope, sagemaker_role_arn=SM_ROLE, image_uri=IMAGE).values()
    return evaluate([doc], action, resource, context).allowed


def test_the_model_role_writes_data_capture_only_with_shadow_on_and_only_under_a_runs_capture(params: Any) -> None:
    import dataclasses

    off = Scope.of(params, ACCOUNT, f"retrain-churn-{ACCOUNT}-us-east-1")
    on = dataclasses.replace(off, capture=True)
    obj = f"arn:aws:s3:::{off.bucket}/retrain-churn/"
    captured = obj + "runs/r1/capture/retrain-churn-endpoint/Shadow/2026/01/01/00/00-00-000-x.jsonl"
    assert not _allowed("sagemaker", off, "s3:PutObject", captured)
    assert _allowed("sagemaker", on, "s3:PutObject", captured)
    for key in ("runs/r1/features.json", "capture/x.jsonl", "runs/r1/train/part-0.csv"):
        assert not _allowed("sagemaker", on, "s3:PutObject", obj + key), key


def test_data_roles_write_only_their_outputs(scope: Scope) -> None:
    obj = f"arn:aws:s3:::{scope.bucket}/retrain-churn/"
    run = "runs/20260101-000000-abcd/"
    # the ETL job reads the raw data, its script and modules, the champion's profile; writes only a run's outputs
    for key in ("data/customer-churn.csv", "code/glue_etl.py", "code/data_checks.py", "code/etl_features.py",
                "runs/old/profile.json", "runs/old/features.json"):
        assert _allowed("glue", scope, "s3:GetObject", obj + key)
    for key in ("train/part-0.csv", "validation/part-0.csv", "features.json", "profile.json", "data_report.json",
                "train/_temporary/0/x"):
        assert _allowed("glue", scope, "s3:PutObject", obj + run + key) and _allowed(
            "glue", scope, "s3:DeleteObject", obj + run + key)
    for key in ("code/glue_etl.py", "code/data_checks.py", "train/part-0.csv", "runs/x/evaluation/evaluation.json"):
        assert not _allowed("glue", scope, "s3:PutObject", obj + key)  # not its code, not outside a run's splits
    assert not _allowed("glue", scope, "s3:DeleteObject", obj + "data/customer-churn.csv")  # nor delete the data
    assert not _allowed("glue", scope, "s3:PutObject", obj + "output/x/model.tar.gz")
    # training reads a run's splits, writes only under the model output prefix; the evaluation reads the models,
    # the held-back rows and its code, writes only a run's evaluation; hosting reads the artifact back
    for key in (run + "train/part-0.csv", run + "validation/part-0.csv", run + "features.json",
                "output/job/output/model.tar.gz", "holdout/holdout.csv", "code/evaluation/evaluate.py"):
        assert _allowed("sagemaker", scope, "s3:GetObject", obj + key), key
    for key in ("output/job/output/model.tar.gz", run + "evaluation/evaluation.json"):
        assert _allowed("sagemaker", scope, "s3:PutObject", obj + key)
    for key in (run + "train/part-0.csv", "data/customer-churn.csv", "code/glue_etl.py", run + "features.json",
                "holdout/holdout.csv", "code/evaluation/evaluate.py"):
        assert not _allowed("sagemaker", scope, "s3:PutObject", obj + key), key
    assert not _allowed("sagemaker", scope, "s3:GetObject", obj + "data/customer-churn.csv")
    for prefix in ("retrain-churn/runs/r/train/", "retrain-churn/holdout/", "retrain-churn/code/evaluation/"):
        assert _allowed("sagemaker", scope, "s3:ListBucket", f"arn:aws:s3:::{scope.bucket}", **{"s3:prefix": prefix})
    assert not _allowed("sagemaker", scope, "s3:ListBucket", f"arn:aws:s3:::{scope.bucket}", **{
        "s3:prefix": "other-project/"})
    lam = {st["Sid"]: st for st in statements("lambda", scope)}
    assert lam["DescribeProjectTrainingJobs"]["Action"] == "sagemaker:DescribeTrainingJob"
    # the model gate finds the champion and reads evaluations, nothing else of the bucket
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
    assert _allowed("lambda", scope, "sagemaker:DescribeModelPackage", f"{arn}:model-package/retrain-churn-models/3")
    assert not _allowed("lambda", scope, "sagemaker:DescribeModelPackage", f"{arn}:model-package/other-models/3")
    assert _allowed("lambda", scope, "s3:GetObject", obj + run + "evaluation/evaluation.json")
    assert not _allowed("lambda", scope, "s3:GetObject", obj + "data/customer-churn.csv")


def test_trust_policies_name_the_service_and_the_account_where_the_service_documents_it() -> None:
    for kind, service in (("stepfunctions", "states.amazonaws.com"), ("sagemaker", "sagemaker.amazonaws.com")):
        (st,) = trust_policy(kind, ACCOUNT)["Statement"]
        assert st["Principal"] == {"Service": service} and st["Action"] == "sts:AssumeRole"
        assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    for kind, service in (("glue", "glue.amazonaws.com"), ("lambda", "lambda.amazonaws.com")):
        (st,) = trust_policy(kind, ACCOUNT)["Statement"]
        assert st["Principal"] == {"Service": service} and "Condition" not in st


@mock_aws
def test_ensure_role_is_idempotent_and_updates_drift(scope: Scope) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    policies = role_policies("lambda", scope)
    first = ensure_role(iam, "r-lambda", trust_policy("lambda", ACCOUNT), policies)
    assert first.created and first.arn.endswith(":role/r-lambda")
    second = ensure_role(iam, "r-lambda", trust_policy("lambda", ACCOUNT), policies)
    assert not second.created and not second.changed and second.arn == first.arn
    iam.put_role_policy(RoleName="r-lambda", PolicyName="status-access", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    iam.put_role_policy(RoleName="r-lambda", PolicyName="stray", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    third = ensure_role(iam, "r-lambda", trust_policy("lambda", ACCOUNT), policies)
    assert third.changed and not third.created
    assert iam.list_role_policies(RoleName="r-lambda")["PolicyNames"] == ["status-access"]
    doc = iam.get_role_policy(RoleName="r-lambda", PolicyName="status-access")["PolicyDocument"]
    assert doc == policies["status-access"]
    assert delete_role(iam, "r-lambda") is True
    assert delete_role(iam, "r-lambda") is False


@mock_aws
def test_ensure_project_roles_creates_four_and_respects_a_given_sagemaker_role(params: Any) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    roles = ensure_project_roles(iam, params, ACCOUNT, "bucket-x", image_uri=IMAGE)
    assert set(roles) == set(ROLE_KINDS) and all(r.created for r in roles.values())
    sfn_doc = iam.get_role_policy(RoleName="retrain-churn-stepfunctions-role",
                                  PolicyName="workflow-access")["PolicyDocument"]
    passrole = next(st for st in sfn_doc["Statement"] if st["Action"] == "iam:PassRole")
    assert passrole["Resource"] == roles["sagemaker"].arn
    given = f"arn:aws:iam::{ACCOUNT}:role/team-sagemaker"
    params.sagemaker_role_arn = given
    again = ensure_project_roles(iam, params, ACCOUNT, "bucket-x", image_uri=IMAGE)
    assert again["sagemaker"].arn == given and not again["sagemaker"].created
    sfn_doc = iam.get_role_policy(RoleName="retrain-churn-stepfunctions-role",
                                  PolicyName="workflow-access")["PolicyDocument"]
    assert next(st for st in sfn_doc["Statement"] if st["Action"] == "iam:PassRole")["Resource"] == given


@mock_aws
def test_a_same_named_role_without_the_projects_tag_is_refused(params: Any, scope: Scope) -> None:
    from retrain.ownership import OwnershipError

    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(RoleName="retrain-churn-lambda-role", AssumeRolePolicyDocument=json.dumps(trust_policy("lambda")))
    with pytest.raises(OwnershipError) as err:
        ensure_project_roles(iam, params, ACCOUNT, "bucket-x", image_uri=IMAGE)
    assert "iam role retrain-churn-lambda-role already exists but is not this project's" in str(err.value)
    assert iam.list_role_policies(RoleName="retrain-churn-lambda-role")["PolicyNames"] == []  # untouched
    created = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName="retrain-churn-glue-role")["Tags"]}
    assert created == {"retrain:project": "retrain-churn"}  # the roles made before it carry the tag
