"""Fixtures the localcloud service tests share: boto3 clients of the session's cloud, and per module a fresh
bucket and a role SageMaker may assume. A module that needs another kind of role (Lambda, Step Functions)
defines its own ``role``."""

from __future__ import annotations

from typing import Any

import pytest
from test_sagemaker_support import make_bucket, make_role


@pytest.fixture(scope="module")
def sm(aws: Any) -> Any:
    return aws("sagemaker")


@pytest.fixture(scope="module")
def rt(aws: Any) -> Any:
    return aws("sagemaker-runtime")


@pytest.fixture(scope="module")
def s3(aws: Any) -> Any:
    return aws("s3")


@pytest.fixture(scope="module")
def bucket(aws: Any) -> str:
    return make_bucket(aws)


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    """A role whose trust lets SageMaker assume it."""
    return make_role(aws)


@pytest.fixture(scope="module")
def cw(aws: Any) -> Any:
    return aws("cloudwatch")
