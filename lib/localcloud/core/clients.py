"""boto3 clients pointed back at this localcloud, for services that call other services (as AWS services do)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from localcloud import settings
from localcloud.core.sessions import RoleSession

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str, str, str], Any] = {}


def client(endpoint_url: str, service: str, region: str = settings.DEFAULT_REGION,
           session: RoleSession | None = None) -> Any:
    """A cached, thread-safe boto3 client for ``service`` on the localcloud at ``endpoint_url``: with the
    server's own credentials, or a role's when ``session`` is given (its requests are that role's)."""
    key = (endpoint_url, service, region, session.access_key if session else "")
    with _LOCK:
        found = _CACHE.get(key)
        if found is None:
            credentials = {"aws_access_key_id": session.access_key, "aws_secret_access_key": session.secret_key,
                           "aws_session_token": session.token} if session else {
                "aws_access_key_id": settings.TEST_ACCESS_KEY, "aws_secret_access_key": settings.TEST_SECRET_KEY}
            found = boto3.session.Session(region_name=region, **credentials).client(
                service,
                endpoint_url=endpoint_url,
                config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=32),
            )
            _CACHE[key] = found
        return found


def child_env(endpoint_url: str, region: str = settings.DEFAULT_REGION,
              session: RoleSession | None = None) -> dict[str, str]:
    """Environment for code localcloud runs (Lambda handlers, Glue scripts): AWS SDKs reach this localcloud, with
    the credentials of the role the code runs with when ``session`` is given (as Lambda and Glue hand them out)."""
    env = {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": settings.TEST_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": settings.TEST_SECRET_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }
    if session is not None:
        env.update(session.env())
    return env
