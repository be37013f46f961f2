"""Role sessions: the temporary credentials a service uses when it acts with a role, as AWS services assume roles.

A Lambda function's handler, a Glue job's script, a training job's data transfers and a Step Functions task each
run with credentials issued here for their role (``ASIA...`` access key, secret, session token). A request signed
with them is the role's request: with IAM enforcement on, the server checks it against the role's policies
(:mod:`localcloud.core.authorizer`), so a policy that is too tight fails here as it would on AWS.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class RoleSession:
    """Credentials of one assumed role."""

    role_arn: str
    session_name: str
    access_key: str
    secret_key: str
    token: str

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]

    @property
    def principal(self) -> str:
        """The ARN AWS names in an access-denied message: ``arn:aws:sts::<account>:assumed-role/<role>/<session>``."""
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role_arn.rsplit('/', 1)[-1]}/{self.session_name}"

    def env(self) -> dict[str, str]:
        """The environment variables an AWS SDK reads them from."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_SESSION_TOKEN": self.token}


class RoleSessions:
    """The sessions one server issued, found again by access key."""

    def __init__(self) -> None:
        self._by_key: dict[str, RoleSession] = {}
        self._by_role: dict[tuple[str, str], RoleSession] = {}
        self._lock = threading.Lock()

    def issue(self, role_arn: str, session_name: str) -> RoleSession:
        """Credentials of ``role_arn`` for ``session_name`` (the same ones while the server runs)."""
        with self._lock:
            found = self._by_role.get((role_arn, session_name))
            if found is None:
                digest = hashlib.sha256(f"{role_arn}/{session_name}/{secrets.token_hex(8)}".encode()).hexdigest()
                found = RoleSession(role_arn, session_name, "ASIA" + digest[:16].upper(), secrets.token_urlsafe(30),
                                    secrets.token_urlsafe(48))
                self._by_role[(role_arn, session_name)] = found
                self._by_key[found.access_key] = found
            return found

    def find(self, access_key: str | None) -> RoleSession | None:
        return self._by_key.get(access_key or "")
