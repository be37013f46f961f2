"""boto3 clients pointed back at this localcloud, for services that call other services (as AWS services do)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from localcloud import settings

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str, str], Any] = {}


def client(endpoint_url: str, service: str, region: str = settings.DEFAULT_REGION) -> Any:
    """A cached, thread-safe boto3 client for ``service`` on the localcloud at ``endpoint_url``."""
    key = (endpoint_url, service, region)
    with _LOCK:
        found = _CACHE.get(key)
        if found is None:
            session = boto3.session.Session(
                aws_access_key_id=settings.TEST_ACCESS_KEY,
                aws_secret_access_key=settings.TEST_SECRET_KEY,
                region_name=region,
            )
            found = session.client(
                service,
                endpoint_url=endpoint_url,
                config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=32),
            )
            _CACHE[key] = found
        return found


def child_env(endpoint_url: str, region: str = settings.DEFAULT_REGION) -> dict[str, str]:
    """Environment for code localcloud runs (Lambda handlers, Glue scripts): AWS SDKs reach this localcloud."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": settings.TEST_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": settings.TEST_SECRET_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }
