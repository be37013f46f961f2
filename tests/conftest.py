"""Shared fixtures: one localcloud per test session (moto's S3/IAM/STS state is per process)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

# Tests never reach real AWS: dummy credentials, a fixed region, no config files.
os.environ.update(
    AWS_ACCESS_KEY_ID="test",
    AWS_SECRET_ACCESS_KEY="test",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    SAGEMAKER_SUPPRESS_V2_WARNING="1",
    # the suite's clouds keep their state in memory (fast, and each test's cloud starts empty); the persistence
    # tests ask for it (tests/localcloud/test_persistence.py)
    LOCALCLOUD_PERSIST="0",
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A localcloud on a free port, in this process, for the whole session."""
    from localcloud import LocalCloud

    with LocalCloud(port=0, home=tmp_path_factory.mktemp("localcloud")) as running:
        yield running


@pytest.fixture
def fast(cloud: Any) -> Iterator[None]:
    """The session cloud's monitoring clock at 1/100, for the test: CloudWatch's alarm periods and SageMaker's
    baking periods (deployment guardrails) pass 100 times faster."""
    cw, deployments = cloud.app.backends["cloudwatch"], cloud.app.backends["sagemaker"].deployments
    cw.time_scale = deployments.time_scale = 0.01
    yield
    cw.time_scale = deployments.time_scale = 1.0

@pytest.fixture(scope="session")
def aws(cloud: Any) -> Callable[..., Any]:
    """``aws("s3")`` → a boto3 client talking to the session's localcloud."""
    session = boto3.session.Session(region_name="us-east-1")

    def make(service: str, **kwargs: Any) -> Any:
        return session.client(service, endpoint_url=cloud.endpoint_url, **kwargs)

    return make
