"""Authorize a role's request: its identity policies (inline and attached, read from IAM) against what the request
needs (:mod:`localcloud.core.permissions`), with AWS's evaluation rules (:mod:`localcloud.core.policy`).

On AWS every call a service makes with a role is authorized this way; here it is opt-in (``--enforce-iam``), and a
denial reads as AWS writes it: ``User: arn:aws:sts::<account>:assumed-role/<role>/<session> is not authorized to
perform: <action> on resource: <arn> because no identity-based policy allows the <action> action``.
SageMaker resources carry their tags into the request context (``aws:ResourceTag/<key>``), as the Service
Authorization Reference lists them for endpoints, endpoint configs, models and training jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from localcloud.core import clients
from localcloud.core.permissions import TAGGED_ACTIONS, Need
from localcloud.core.policy import EXPLICIT_DENY, evaluate, parse_document

LOG = logging.getLogger(__name__)

CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class Denial:
    action: str
    resource: str
    message: str


def read_role(iam: Any, name: str) -> list[dict[str, Any]] | None:
    """The inline and attached policy documents of a role (None when the role does not exist)."""
    try:
        documents = [parse_document(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])
                     for p in iam.list_role_policies(RoleName=name)["PolicyNames"]]
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=attached["PolicyArn"],
                                             VersionId=policy["DefaultVersionId"])["PolicyVersion"]
            documents.append(parse_document(version["Document"]))
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchEntity", "NoSuchEntityException"):
            return None
        raise
    return documents


class Authorizer:
    """Decides requests made with a role, reading the role's policies from the server's IAM (kept a second)."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self._cache: dict[str, tuple[float, list[dict[str, Any]] | None]] = {}
        self._lock = threading.Lock()

    def documents(self, role_arn: str) -> list[dict[str, Any]] | None:
        with self._lock:
            found = self._cache.get(role_arn)
        if found and time.monotonic() - found[0] < CACHE_SECONDS:
            return found[1]
        documents = read_role(clients.client(self.endpoint_url, "iam"), role_arn.rsplit("/", 1)[-1])
        with self._lock:
            self._cache[role_arn] = (time.monotonic(), documents)
        return documents

    def _resource_tags(self, need: Need, region: str) -> dict[str, str]:
        if need.action not in TAGGED_ACTIONS:
            return {}
        try:
            tags = clients.client(self.endpoint_url, "sagemaker", region).list_tags(ResourceArn=need.resource)
        except ClientError:
            return {}
        return {f"aws:ResourceTag/{t['Key']}": t["Value"] for t in tags.get("Tags", [])}

    def denial(self, role_arn: str, principal: str, needs: Iterable[Need], region: str) -> Denial | None:
        """The first need the role's policies do not allow (None when all are allowed)."""
        documents = self.documents(role_arn)
        account = role_arn.split(":")[4]
        for need in needs:
            context = {"aws:PrincipalArn": role_arn, "aws:PrincipalAccount": account, "aws:RequestedRegion": region,
                       **self._resource_tags(need, region), **need.context}
            decision = evaluate(documents or [], need.action, need.resource, context)
            if decision.allowed:
                continue
            why = ("with an explicit deny in an identity-based policy" if decision.outcome == EXPLICIT_DENY
                   else f"because no identity-based policy allows the {need.action} action")
            if documents is None:
                why = f"because the role {role_arn} does not exist"
            LOG.info("denied %s on %s for %s", need.action, need.resource, role_arn)
            return Denial(need.action, need.resource,
                          f"User: {principal} is not authorized to perform: {need.action} on resource: "
                          f"{need.resource} {why}")
        return None
