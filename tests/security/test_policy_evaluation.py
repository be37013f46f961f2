"""The IAM policy evaluator localcloud's Step Functions uses to authorize integration calls."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from localcloud.core.policy import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, evaluate, matches, parse_document

JOB = "arn:aws:glue:us-east-1:123456789012:job/acme-etl"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: object, resource: object, **extra: object) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.mark.parametrize(("pattern", "value", "ignore_case", "expected"), [
    ("arn:aws:glue:*:*:job/acme-*", JOB, False, True),
    ("arn:aws:glue:*:*:job/acme-?tl", JOB, False, True),
    ("arn:aws:glue:*:*:job/ACME-*", JOB, False, False),
    ("glue:start*", "glue:StartJobRun", True, True),
    ("glue:Get*", "glue:StartJobRun", True, False),
    ("*", "anything at all", False, True),
    ("a.b", "axb", False, False),  # regex characters are literal
])
def test_wildcards(pattern: str, value: str, ignore_case: bool, expected: bool) -> None:
    assert matches(pattern, value, ignore_case=ignore_case) is expected


def test_allow_needs_action_and_resource() -> None:
    policy = doc(allow(["glue:StartJobRun", "glue:GetJobRun"], JOB))
    assert evaluate([policy], "glue:StartJobRun", JOB).outcome == ALLOW
    assert evaluate([policy], "GLUE:startjobrun", JOB).outcome == ALLOW  # actions ignore case
    assert evaluate([policy], "glue:DeleteJob", JOB).outcome == IMPLICIT_DENY
    assert evaluate([policy], "glue:StartJobRun", JOB.replace("acme", "other")).outcome == IMPLICIT_DENY
    assert evaluate([], "glue:StartJobRun", JOB).outcome == IMPLICIT_DENY


def test_explicit_deny_wins_over_any_allow() -> None:
    policies = [doc(allow("glue:*", "*")), doc({"Sid": "NoEtl", "Effect": "Deny", "Action": "glue:StartJobRun",
                                                "Resource": JOB})]
    decision = evaluate(policies, "glue:StartJobRun", JOB)
    assert decision.outcome == EXPLICIT_DENY and decision.statement == "NoEtl"
    assert evaluate(policies, "glue:GetJobRun", JOB).allowed


def test_not_action_and_not_resource() -> None:
    policy = doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
                 {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::acme/*"})
    assert evaluate([policy], "glue:StartJobRun", JOB).allowed
    assert not evaluate([policy], "iam:CreateRole", "arn:aws:iam::123456789012:role/x").allowed
    assert evaluate([policy], "s3:GetObject", "arn:aws:s3:::acme/data.csv").allowed
    assert evaluate([policy], "s3:GetObject", "arn:aws:s3:::other/data.csv").outcome == EXPLICIT_DENY


def test_conditions() -> None:
    role = "arn:aws:iam::123456789012:role/acme-sagemaker-role"
    policy = doc(allow("iam:PassRole", role, Condition={"StringEquals": {"iam:PassedToService":
                                                                         "sagemaker.amazonaws.com"}}))
    assert evaluate([policy], "iam:PassRole", role, {"iam:PassedToService": "sagemaker.amazonaws.com"}).allowed
    assert not evaluate([policy], "iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"}).allowed
    assert not evaluate([policy], "iam:PassRole", role, {}).allowed  # a missing key is false
    # keys compare without regard to case; IfExists passes when the key is absent
    assert evaluate([policy], "iam:PassRole", role, {"IAM:passedtoservice": "sagemaker.amazonaws.com"}).allowed
    lenient = doc(allow("s3:ListBucket", "arn:aws:s3:::acme",
                        Condition={"StringLikeIfExists": {"s3:prefix": ["acme/*", "acme"]}}))
    assert evaluate([lenient], "s3:ListBucket", "arn:aws:s3:::acme", {}).allowed
    assert evaluate([lenient], "s3:ListBucket", "arn:aws:s3:::acme", {"s3:prefix": "acme/data"}).allowed
    assert not evaluate([lenient], "s3:ListBucket", "arn:aws:s3:::acme", {"s3:prefix": "other/"}).allowed


def test_negated_set_and_null_operators() -> None:
    policy = doc(allow("states:StartExecution", "*", Condition={
        "StringNotEquals": {"aws:RequestedRegion": "eu-west-1"},
        "ForAllValues:StringLike": {"aws:TagKeys": ["acme-*"]},
        "Null": {"aws:PrincipalArn": "false"},
    }))
    base = {"aws:RequestedRegion": "us-east-1", "aws:PrincipalArn": "arn:aws:iam::1:role/r"}
    assert evaluate([policy], "states:StartExecution", "x", base).allowed
    assert evaluate([policy], "states:StartExecution", "x", {**base, "aws:TagKeys": ["acme-a", "acme-b"]}).allowed
    assert not evaluate([policy], "states:StartExecution", "x", {**base, "aws:TagKeys": ["acme-a", "b"]}).allowed
    assert not evaluate([policy], "states:StartExecution", "x", {**base, "aws:RequestedRegion": "eu-west-1"}).allowed
    assert not evaluate([policy], "states:StartExecution", "x", {"aws:RequestedRegion": "us-east-1"}).allowed


def test_unknown_operator_never_matches() -> None:
    policy = doc(allow("glue:*", "*", Condition={"NumericLessThan": {"glue:Workers": "3"}}))
    assert not evaluate([policy], "glue:StartJobRun", JOB, {"glue:Workers": "2"}).allowed


def test_documents_as_iam_returns_them() -> None:
    policy = doc(allow("glue:StartJobRun", JOB))
    assert parse_document(json.dumps(policy)) == policy
    assert parse_document(quote(json.dumps(policy))) == policy
    assert evaluate([json.dumps(policy)], "glue:StartJobRun", JOB).allowed
    single = {"Version": "2012-10-17", "Statement": allow("glue:StartJobRun", JOB)}  # one statement, no list
    assert evaluate([single], "glue:StartJobRun", JOB).allowed
