"""boto3 clients pointed back at this localcloud, for services that call other services (as AWS services do).

Every client is made from ONE boto3 session, under a lock: a session's loader parses each service's model once
(botocore ``Loader.load_service_model`` is cached per loader), while a session per client parses it again for
each one (SageMaker's, S3's and Step Functions' models together take ~36 MB once parsed). Sessions are not thread
safe, clients are, once made (boto3 guide "Session": "Session objects are not thread safe"; boto3 guide
"Low-level clients", Multithreading or multiprocessing with clients), hence the lock around making them.

Clients with the server's own credentials are kept for the life of the server (one per service and region). A
role session's clients are kept for the most recently used :data:`ROLE_CLIENTS` sessions only: each run of a job,
function or execution gets credentials of its own (``RoleSessions.issue``), so keeping them all would grow the
server by a client per run for ever; a client dropped from the cache still works for whoever holds it, and the next
call for that session makes a new one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import boto3
from botocore.config import Config

from localcloud import settings
from localcloud.core.sessions import RoleSession

#: how many role-session clients are kept (least recently used dropped first): enough for the executions, jobs and
#: functions that run at the same time, each calling a few services (a scheduled retrain makes ~5 new ones: its
#: execution's per service, the schedule's delivery); 0.2-1.5 MB each (SageMaker's the largest)
ROLE_CLIENTS = 32

_LOCK = threading.Lock()
_SESSION: list[boto3.session.Session] = []
_CACHE: dict[tuple[str, str, str], Any] = {}
_ROLE_CACHE: OrderedDict[tuple[str, str, str, str], Any] = OrderedDict()
_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=32)


def _make(endpoint_url: str, service: str, region: str, session: RoleSession | None) -> Any:
    """A new client from the shared boto3 session (call with :data:`_LOCK` held)."""
    if not _SESSION:
        _SESSION.append(boto3.session.Session())
    credentials = {"aws_access_key_id": session.access_key, "aws_secret_access_key": session.secret_key,
                   "aws_session_token": session.token} if session else {
        "aws_access_key_id": settings.TEST_ACCESS_KEY, "aws_secret_access_key": settings.TEST_SECRET_KEY}
    return _SESSION[0].client(service, region_name=region, endpoint_url=endpoint_url, config=_CONFIG,
                              **credentials)


def client(endpoint_url: str, service: str, region: str = settings.DEFAULT_REGION,
           session: RoleSession | None = None) -> Any:
    """A cached, thread-safe boto3 client for ``service`` on the localcloud at ``endpoint_url``: with the
    server's own credentials, or a role's when ``session`` is given (its requests are that role's)."""
    with _LOCK:
        if session is None:
            found = _CACHE.get((endpoint_url, service, region))
            if found is None:
                found = _CACHE[(endpoint_url, service, region)] = _make(endpoint_url, service, region, None)
            return found
        key = (endpoint_url, service, region, session.access_key)
        found = _ROLE_CACHE.get(key)
        if found is None:
            found = _ROLE_CACHE[key] = _make(endpoint_url, service, region, session)
            while len(_ROLE_CACHE) > ROLE_CLIENTS:
                _ROLE_CACHE.popitem(last=False)
        else:
            _ROLE_CACHE.move_to_end(key)
        return found


def cached() -> dict[str, int]:
    """How many clients are kept: with the server's credentials, with role sessions' (for health and tests)."""
    with _LOCK:
        return {"server": len(_CACHE), "role_sessions": len(_ROLE_CACHE)}


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
