"""Fixtures of the reliability suite: clients of the session's local cloud, a bucket, and the project's roles."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rel_helpers import unique


def pytest_configure(config: pytest.Config) -> None:
    # stepfunctions 2.3 imports the deprecated pkg_resources; the project pins setuptools<81 for it.
    config.addinivalue_line("filterwarnings", "ignore:pkg_resources is deprecated:UserWarning")


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": f"{service}.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="session")
def rel(aws: Any) -> dict[str, Any]:
    """Clients, one bucket and one role per service (Step Functions, Glue, Lambda, SageMaker)."""
    clients = {name: aws(name) for name in ("s3", "iam", "sagemaker", "sagemaker-runtime", "glue", "lambda",
                                            "stepfunctions")}
    bucket = unique("reliability")
    clients["s3"].create_bucket(Bucket=bucket)
    roles = {}
    for service in ("states", "glue", "lambda", "sagemaker"):
        name = unique(f"rel-{service}")
        roles[service] = clients["iam"].create_role(RoleName=name,
                                                    AssumeRolePolicyDocument=_trust(service))["Role"]["Arn"]
    return {**clients, "bucket": bucket, "roles": roles}
