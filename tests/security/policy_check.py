"""Least-privilege rules for the IAM policies the project writes, as one checker used on the policies built in
code and on those found in IAM after notebook 01 ran."""

from __future__ import annotations

import re
from typing import Any

#: Actions that accept no resource but ``*`` (AWS Service Authorization Reference: no resource types), with why
#: they are needed and the condition that narrows them where AWS offers one.
STAR_ONLY: dict[str, tuple[str, str | None]] = {
    "ecr:GetAuthorizationToken": ("SageMaker pulls the built-in XGBoost image; the ECR login token is account-wide "
                                  "and has no resource-level permission", None),
    "cloudwatch:PutMetricData": ("training jobs and the Glue job publish metrics; metrics have no ARN, the "
                                 "namespace condition is the only scope", "cloudwatch:namespace"),
}
#: Log groups the services name themselves (not renamable): a project prefix is impossible there.
SERVICE_LOG_GROUPS = ("/aws-glue/", "/aws/sagemaker/", "/aws/lambda/")
ARN = re.compile(r"^arn:aws[a-z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>\d{12})?:(?P<rest>.+)$")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def problems(document: dict[str, Any], *, names: list[str]) -> list[str]:
    """Every way ``document`` grants more than this project's resources. ``names`` are the project's own
    names (project prefix, bucket, job, function, endpoint, role ARNs, image repository) a resource must hold."""
    found: list[str] = []
    if document.get("Version") != "2012-10-17":
        found.append(f"policy version {document.get('Version')!r} is not 2012-10-17")
    for index, statement in enumerate(_list(document.get("Statement", []))):
        where = f"statement {statement.get('Sid', index)}"
        if statement.get("Effect") != "Allow":
            continue
        for key in ("NotAction", "NotResource", "NotPrincipal"):
            if key in statement:
                found.append(f"{where}: Allow with {key} grants everything else")
        actions = [str(a) for a in _list(statement.get("Action", []))]
        resources = [str(r) for r in _list(statement.get("Resource", []))]
        if not actions or not resources:
            found.append(f"{where}: no Action or no Resource")
        for action in actions:
            if "*" in action:
                found.append(f"{where}: wildcard action {action}")
        if "*" in resources:
            loose = [a for a in actions if a not in STAR_ONLY]
            if loose:
                found.append(f"{where}: Resource '*' for {loose}, which accept named resources")
            for action in actions:
                condition_key = STAR_ONLY.get(action, ("", None))[1]
                if condition_key and condition_key not in str(statement.get("Condition", {})):
                    found.append(f"{where}: {action} on '*' without the {condition_key} condition")
        for resource in resources:
            if resource == "*":
                continue
            found.extend(f"{where}: {p}" for p in _resource_problems(resource, names))
        if "iam:PassRole" in actions:
            passed = statement.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")
            if not passed:
                found.append(f"{where}: iam:PassRole without an iam:PassedToService condition")
    return found


def _resource_problems(resource: str, names: list[str]) -> list[str]:
    match = ARN.match(resource)
    if not match:
        return [f"{resource!r} is not an ARN"]
    rest = match.group("rest")
    if "*" in match.group("service") + match.group("region"):
        return [f"{resource}: wildcard service or region"]
    if match.group("service") != "s3" and not match.group("account") and match.group("service") != "iam":
        return [f"{resource}: no account"]
    if match.group("service") == "logs":
        group = rest.removeprefix("log-group:").split(":log-stream:")[0]
        if group.startswith(SERVICE_LOG_GROUPS) or any(n in group for n in names):
            return []
        return [f"{resource}: a log group that is neither the project's nor a service's own"]
    if not any(n.lower() in rest.lower() for n in names):
        return [f"{resource}: names none of the project's resources ({', '.join(names)})"]
    if "*" in rest:
        head = rest.split("*", 1)[0]
        if not any(n.lower() in head.lower() for n in names):
            return [f"{resource}: the wildcard comes before any project name"]
    return []


#: services documenting aws:SourceAccount for role trust policies (Step Functions guide "Creating an IAM role for your
#: state machine"; SageMaker guide "Cross-Service Confused Deputy Prevention"); Glue and Lambda document none
SOURCE_ACCOUNT_SERVICES = ("states.amazonaws.com", "sagemaker.amazonaws.com")


def trust_problems(document: dict[str, Any], service: str, account: str) -> list[str]:
    """A trust policy must let exactly ``service`` assume the role; for the services that document it, for calls
    made for ``account`` only, and for the others with no condition the service would not meet."""
    found = []
    statements = _list(document.get("Statement", []))
    for statement in statements:
        principal = statement.get("Principal", {})
        if principal == "*" or "AWS" in principal:
            found.append(f"trust policy lets {principal} assume the role")
        if _list(principal.get("Service", [])) != [service]:
            found.append(f"trust policy principal {principal} is not only {service}")
        if statement.get("Action") != "sts:AssumeRole":
            found.append(f"trust policy action {statement.get('Action')}")
        condition = statement.get("Condition", {}).get("StringEquals", {}).get("aws:SourceAccount")
        if service in SOURCE_ACCOUNT_SERVICES and condition != account:
            found.append("trust policy lacks the aws:SourceAccount condition (confused deputy)")
        if service not in SOURCE_ACCOUNT_SERVICES and statement.get("Condition"):
            found.append(f"trust policy has a condition {service} does not document: it may not assume the role")
    return found if statements else ["trust policy has no statement"]
