"""Every IAM policy the project writes (``retrain.iam``) scopes each Allow to this project's named resources or
prefixes; ``Resource: "*"`` appears only for actions that accept nothing else (``policy_check.STAR_ONLY`` says
which and why). The checker is also shown to catch the usual over-grants."""

from __future__ import annotations

from typing import Any

import pytest
from policy_check import STAR_ONLY, problems, trust_problems

from retrain.config import Params
from retrain.policies import ROLE_KINDS, SERVICE_PRINCIPALS, Scope, role_policies, trust_policy

ACCOUNT = "123456789012"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def project_names(params: Params, bucket: str, sagemaker_role: str) -> list[str]:
    """What a resource of this project is named by."""
    return [params.project_name, bucket, params.glue_job_name, params.lambda_function_name, params.endpoint_name,
            sagemaker_role, "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
            "StepFunctionsGetEventsForSageMakerProcessingJobsRule", "repository/sagemaker-xgboost"]


@pytest.fixture(params=[("retrain-churn", "customer-churn"), ("acme-risk", "risk-endpoint")], ids=lambda p: p[0])
def setup(request: pytest.FixtureRequest) -> dict[str, Any]:
    project, endpoint = request.param
    params = Params(project_name=project, endpoint_name=endpoint)
    bucket = f"{project}-{ACCOUNT}-us-east-1"
    sm_role = f"arn:aws:iam::{ACCOUNT}:role/{params.role_name('sagemaker')}"
    return {"params": params, "scope": Scope.of(params, ACCOUNT, bucket), "sm_role": sm_role,
            "names": project_names(params, bucket, sm_role)}


@pytest.mark.parametrize("kind", ROLE_KINDS)
def test_every_allow_is_scoped_to_the_project(setup: dict[str, Any], kind: str) -> None:
    policies = role_policies(kind, setup["scope"], sagemaker_role_arn=setup["sm_role"], image_uri=IMAGE)
    assert policies
    for name, document in policies.items():
        assert problems(document, names=setup["names"]) == [], f"{kind} policy {name}"


@pytest.mark.parametrize("kind", ROLE_KINDS)
def test_trust_policies_name_one_service_and_the_account(kind: str) -> None:
    assert trust_problems(trust_policy(kind, ACCOUNT), SERVICE_PRINCIPALS[kind], ACCOUNT) == []


def test_star_only_actions_are_the_only_star_resources(setup: dict[str, Any]) -> None:
    starred = {action for kind in ROLE_KINDS
               for document in role_policies(kind, setup["scope"], sagemaker_role_arn=setup["sm_role"],
                                             image_uri=IMAGE).values()
               for statement in document["Statement"] if statement["Resource"] == "*"
               for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}
    assert starred <= set(STAR_ONLY)
    assert all(why for why, _ in STAR_ONLY.values())


def test_one_project_cannot_touch_another(setup: dict[str, Any]) -> None:
    """The policies of one project name none of another project's resources."""
    other = Params(project_name="zeta-other", endpoint_name="zeta-endpoint")
    other_bucket = f"zeta-other-{ACCOUNT}-us-east-1"
    for kind in ROLE_KINDS:
        text = str(role_policies(kind, setup["scope"], sagemaker_role_arn=setup["sm_role"], image_uri=IMAGE))
        for name in (other.project_name, other_bucket, other.endpoint_name):
            assert name not in text


@pytest.mark.parametrize(("statement", "complaint"), [
    ({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::retrain-churn-b/retrain-churn/*"},
     "wildcard action"),
    ({"Effect": "Allow", "Action": "sagemaker:CreateModel", "Resource": "*"}, "accept named resources"),
    ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::someone-elses-bucket/*"},
     "names none of the project's resources"),
    ({"Effect": "Allow", "Action": "glue:StartJobRun", "Resource": "arn:aws:glue:us-east-1:123456789012:job/*"},
     "names none of the project's resources"),
    ({"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}, "cloudwatch:namespace"),
    ({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:role/retrain-churn-x"},
     "iam:PassedToService"),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "NotAction"),
    ({"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:*"},
     "neither the project's nor a service's own"),
])
def test_the_checker_catches_over_grants(statement: dict[str, Any], complaint: str) -> None:
    found = problems({"Version": "2012-10-17", "Statement": [statement]}, names=["retrain-churn"])
    assert any(complaint in p for p in found), found


def test_the_checker_catches_loose_trust() -> None:
    loose = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    assert trust_problems(loose, "glue.amazonaws.com", ACCOUNT)
