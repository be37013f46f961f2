"""IAM roles for the workflow, created (or brought up to date) idempotently with the documents of
:mod:`retrain.policies`. Every role carries the project's tag, and an existing role without it is refused
(:mod:`retrain.ownership`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import PROJECT_TAG, Params
from retrain.errors import CloudError
from retrain.ownership import OwnershipError
from retrain.policies import Scope, role_policies, trust_policy

LOG = logging.getLogger(__name__)

@dataclass
class RoleResult:
    name: str
    arn: str
    created: bool
    changed: bool


def ensure_role(iam: Any, name: str, trust: dict[str, Any], policies: dict[str, dict[str, Any]], *,
                description: str = "", propagation_seconds: int = 0, tags: dict[str, str] | None = None
                ) -> RoleResult:
    """Create the role or bring it up to date (trust + inline policies); idempotent.

    With ``tags``, a new role gets them and an existing role must carry them: one without is someone else's and
    is not touched (:class:`~retrain.ownership.OwnershipError`). When something changed and
    ``propagation_seconds`` > 0, wait for the role to exist and then that long, since AWS services see new or
    changed roles only after IAM has propagated them.
    """
    trust_doc = json.dumps(trust, sort_keys=True)
    created = changed = False
    try:
        role = iam.get_role(RoleName=name)["Role"]
        if tags:
            _require_tags(iam, name, tags)
        current = role.get("AssumeRolePolicyDocument")
        if _normalise(current) != trust:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust_doc)
            changed = True
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("NoSuchEntity", "NoSuchEntityException"):
            raise CloudError(f"cannot read IAM role {name}: {exc}") from exc
        try:
            role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_doc,
                                   Description=description[:1000] or f"{name} (retrain)",
                                   Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])["Role"]
        except ClientError as create_exc:
            raise CloudError(f"cannot create IAM role {name}: {create_exc}. The caller needs iam:CreateRole and "
                             f"iam:PutRolePolicy on roles named {name}.") from create_exc
        created = changed = True
    existing = set(iam.list_role_policies(RoleName=name).get("PolicyNames", []))
    for policy_name, document in policies.items():
        if policy_name in existing:
            current = iam.get_role_policy(RoleName=name, PolicyName=policy_name).get("PolicyDocument")
            if _normalise(current) == document:
                continue
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
        changed = True
    for stale in existing - set(policies):
        iam.delete_role_policy(RoleName=name, PolicyName=stale)
        changed = True
    if changed and propagation_seconds > 0:
        iam.get_waiter("role_exists").wait(RoleName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 30})
        LOG.info("waiting %ss for IAM to propagate role %s", propagation_seconds, name)
        time.sleep(propagation_seconds)
    return RoleResult(name=name, arn=role["Arn"], created=created, changed=changed)


def _require_tags(iam: Any, name: str, tags: dict[str, str]) -> None:
    found = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name).get("Tags", [])}
    if any(found.get(k) != v for k, v in tags.items()):
        have = f"{PROJECT_TAG}={found[PROJECT_TAG]!r}" if PROJECT_TAG in found else f"no {PROJECT_TAG} tag"
        raise OwnershipError(f"iam role {name} already exists but is not this project's (it has {have}), so the "
                             f"project will not change it. Change project_name (roles are <project_name>-<kind>-role), "
                             f"or delete the role yourself if it is a leftover.")


def _normalise(document: Any) -> Any:
    """IAM returns policy documents URL-encoded JSON strings or parsed dicts depending on the client."""
    if isinstance(document, str):
        from urllib.parse import unquote

        try:
            return json.loads(unquote(document))
        except json.JSONDecodeError:
            return document
    return document


def delete_role(iam: Any, name: str) -> bool:
    """Delete the role and its inline policies; False when it did not exist."""
    try:
        for policy in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for attached in iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        iam.delete_role(RoleName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchEntity", "NoSuchEntityException"):
            return False
        raise CloudError(f"cannot delete IAM role {name}: {exc}") from exc
    return True


def ensure_project_roles(iam: Any, params: Params, account: str, bucket: str, *, image_uri: str | None = None
                         ) -> dict[str, RoleResult]:
    """Create or update the four roles of the project (the SageMaker one only without ``sagemaker_role_arn``)."""
    scope = Scope.of(params, account, bucket)
    wait = params.iam_propagation_seconds
    results: dict[str, RoleResult] = {}
    order = ["glue", "lambda", "sagemaker", "stepfunctions"]
    for kind in order:
        if kind == "sagemaker" and params.sagemaker_role_arn:
            arn = params.sagemaker_role_arn
            results[kind] = RoleResult(name=arn.rsplit("/", 1)[-1], arn=arn, created=False, changed=False)
            continue
        sm_arn = results["sagemaker"].arn if "sagemaker" in results else ""
        results[kind] = ensure_role(
            iam, params.role_name(kind), trust_policy(kind, account),
            role_policies(kind, scope, sagemaker_role_arn=sm_arn, image_uri=image_uri),
            description=f"{kind} role of the {params.project_name} retraining workflow",
            propagation_seconds=0, tags=params.tags,
        )
    if wait > 0 and any(r.changed for r in results.values()):
        for result in results.values():
            if result.changed:
                iam.get_waiter("role_exists").wait(RoleName=result.name, WaiterConfig={"Delay": 2, "MaxAttempts": 30})
        LOG.info("waiting %ss for IAM to propagate the new or changed roles", wait)
        time.sleep(wait)
    return results
