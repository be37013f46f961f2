"""The clients localcloud's services use to call each other (``localcloud.core.clients``): one parsed service model
however many role sessions call a service, and a bounded number of role-session clients kept, so that a server
running many jobs and executions (each with credentials of its own) does not grow with each run (issue 15's soak)."""

from __future__ import annotations

import gc
import tracemalloc

from localcloud.core import clients
from localcloud.core.sessions import RoleSession

ENDPOINT = "http://127.0.0.1:9"  # never called: making a client sends nothing


def _session(n: int, role: str = "arn:aws:iam::123456789012:role/soak") -> RoleSession:
    return RoleSession(role, f"run-{n}", f"ASIATESTCLIENTS{n:05d}", f"secret-{n}", f"token-{n}")


def test_a_role_sessions_client_signs_with_that_sessions_credentials() -> None:
    session = _session(1)
    made = clients.client(ENDPOINT, "s3", "us-east-1", session)
    credentials = made._get_credentials()
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        session.access_key, session.secret_key, session.token)
    assert clients.client(ENDPOINT, "s3", "us-east-1", session) is made  # kept while recently used
    server = clients.client(ENDPOINT, "s3", "us-east-1")
    assert server is not made and server._get_credentials().token is None


def test_clients_of_many_role_sessions_share_one_parsed_model() -> None:
    clients.client(ENDPOINT, "sagemaker", "us-east-1", _session(100))  # the model parsed once, before measuring
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        made = [clients.client(ENDPOINT, "sagemaker", "us-east-1", _session(n)) for n in range(101, 111)]
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # a session of its own per client parses SageMaker's model again each time: well over 10 MB per client
    assert grown < 10 * 2**20, f"10 role-session SageMaker clients took {grown / 2**20:.1f} MB"
    assert len(made) == 10


def test_role_session_clients_kept_are_bounded_least_recently_used_first() -> None:
    first = clients.client(ENDPOINT, "logs", "us-east-1", _session(200))
    for n in range(201, 201 + clients.ROLE_CLIENTS + 10):
        clients.client(ENDPOINT, "logs", "us-east-1", _session(n))
    assert clients.cached()["role_sessions"] == clients.ROLE_CLIENTS
    latest = clients.client(ENDPOINT, "logs", "us-east-1", _session(200 + clients.ROLE_CLIENTS + 9))
    assert clients.client(ENDPOINT, "logs", "us-east-1", _session(200 + clients.ROLE_CLIENTS + 9)) is latest
    again = clients.client(ENDPOINT, "logs", "us-east-1", _session(200))  # dropped long ago: made anew
    assert again is not first and again._get_credentials().access_key == first._get_credentials().access_key
    assert first.meta.service_model.service_name == "logs"  # the dropped client still works for its holder
