"""Can a service assume a role? The role must exist, its trust policy must let the service principal
``sts:AssumeRole`` under the conditions the service's request carries, and IAM must have propagated it.

Each service sends its own request context when it assumes a role: Step Functions and SageMaker document
``aws:SourceAccount`` / ``aws:SourceArn`` for confused-deputy protection in their role trust policies (Step
Functions guide "Creating an IAM role for your state machine"; SageMaker guide "Cross-Service Confused Deputy
Prevention"); Lambda and Glue document neither, so a trust policy that requires them is evaluated here as AWS
evaluates a condition on a key the request does not carry: false, and the role cannot be assumed. (Whether Glue
and Lambda send those keys could not be confirmed without an account: the documentation is silent.)

``LOCALCLOUD_IAM_PROPAGATION_SECONDS`` (default 0) makes a role unusable for that long after it was created, as IAM's eventual consistency does on AWS ("Changes that I make are not always immediately
visible", IAM user guide, troubleshooting), so a first run's retries can be rehearsed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from localcloud.core import clients
from localcloud.core.policy import conditions_hold, parse_document

LOG = logging.getLogger(__name__)

def propagation_seconds() -> float:
    try:
        return float(os.environ.get("LOCALCLOUD_IAM_PROPAGATION_SECONDS", "0") or 0)
    except ValueError:
        return 0.0


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def trusts(document: Any, principal: str | tuple[str, ...], context: Mapping[str, str]) -> bool:
    """Whether a trust policy lets the service ``principal`` (or one of several names of it) assume the role with
    request ``context``."""
    names = (principal,) if isinstance(principal, str) else principal
    try:
        parsed = parse_document(document) if document else {}
    except ValueError:
        return False
    allowed = False
    for statement in _as_list(parsed.get("Statement")):
        if not isinstance(statement, dict):
            continue
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        who = statement.get("Principal")
        services = _as_list(who.get("Service")) if isinstance(who, dict) else []
        if not (who == "*" or set(names) & set(services) or (isinstance(who, dict) and who.get("AWS") == "*")):
            continue
        if not conditions_hold(statement.get("Condition"), context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def refusal(endpoint_url: str, role_arn: str, principal: str | tuple[str, ...], region: str,
            context: Mapping[str, str] | None = None) -> str | None:
    """Why ``principal`` cannot assume the role now (None when it can)."""
    name = role_arn.rsplit("/", 1)[-1]
    try:
        role = clients.client(endpoint_url, "iam", region).get_role(RoleName=name)["Role"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchEntity", "NoSuchEntityException", "404"):
            return f"role {role_arn} does not exist"
        raise
    if role.get("Arn") != role_arn and role_arn.startswith("arn:"):
        return f"role {role_arn} does not exist"
    if not trusts(role.get("AssumeRolePolicyDocument"), principal, context or {}):
        return f"the trust policy of {role_arn} does not let {' or '.join((principal,) if isinstance(principal, str) else principal)} assume it"
    wait = propagation_seconds()
    if wait > 0:
        created = role.get("CreateDate")
        born = created.timestamp() if isinstance(created, datetime) else time.time()
        age = time.time() - born
        if age < wait:
            return f"role {role_arn} is not yet usable: IAM has not propagated it ({age:.1f}s of {wait:g}s)"
    return None


def source_context(account: str, source_arn: str) -> dict[str, str]:
    """The confused-deputy keys Step Functions and SageMaker send when they assume a role."""
    return {"aws:SourceAccount": account, "aws:SourceArn": source_arn}
