"""Own what you touch: every resource the project creates carries its tag, and it updates or deletes only those.

A role, job, function, state machine, endpoint, endpoint config or model that exists under one of the project's
names but without ``retrain:project=<project_name>`` was made by someone else (or by hand): the project refuses to
change it, with an error naming the resource and the parameter to change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import PROJECT_TAG, Params
from retrain.errors import CloudError

LOG = logging.getLogger(__name__)

#: which parameter names each kind of resource, for the error message
PARAMETER = {
    "iam role": "project_name (roles are <project_name>-<kind>-role) or sagemaker_role_arn",
    "glue job": "project_name (the job is <project_name>-etl)",
    "lambda function": "project_name (the function is <project_name>-model-gate)",
    "state machine": "project_name (the state machine is <project_name>-retrain)",
    "endpoint": "endpoint_name",
    "endpoint config": "project_name",
    "model": "project_name",
    "bucket": "project_name (the bucket is <project_name>-<account>-<region>)",
    "model package group": "project_name (the group is <project_name>-models)",
}


class OwnershipError(CloudError):
    """A resource with one of the project's names exists without the project's tag."""


def _kv(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def tags_of(cloud: Any, kind: str, name: str) -> dict[str, str]:
    """The tags of one resource (``kind`` as in :data:`PARAMETER`)."""
    readers: dict[str, Callable[[], dict[str, str]]] = {
        "iam role": lambda: _kv(cloud.client("iam").list_role_tags(RoleName=name).get("Tags")),
        "glue job": lambda: dict(cloud.client("glue").get_tags(ResourceArn=_glue_arn(cloud, name)).get("Tags") or {}),
        "lambda function": lambda: dict(cloud.client("lambda").list_tags(
            Resource=cloud.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        ).get("Tags") or {}),
        "state machine": lambda: {t["key"]: t["value"] for t in cloud.client("stepfunctions").list_tags_for_resource(
            resourceArn=name).get("tags", [])},  # Step Functions writes tags in lower case
        "bucket": lambda: _bucket_tags(cloud.client("s3"), name),
        # by its ARN (ListTags takes the ARN of any SageMaker resource)
        "model package group": lambda: _kv(cloud.client("sagemaker").list_tags(ResourceArn=name).get("Tags")),
    }
    if kind in ("endpoint", "endpoint config", "model"):
        return _sagemaker_tags(cloud.client("sagemaker"), kind, name)
    try:
        return readers[kind]()
    except ClientError as exc:
        raise CloudError(f"cannot read the tags of {kind} {name}: {exc}") from exc


def find_state_machine(client: Any, name: str) -> str | None:
    """The ARN of the state machine called ``name``, if any (a boto3 Step Functions client; here rather than in
    :mod:`retrain.workflow`, so the clean-up can look it up without importing the Step Functions SDK)."""
    for page in client.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return machine["stateMachineArn"]
    return None


def _glue_arn(cloud: Any, job: str) -> str:
    return f"arn:aws:glue:{cloud.region}:{cloud.account_id}:job/{job}"


def _bucket_tags(s3: Any, bucket: str) -> dict[str, str]:
    try:
        return _kv(s3.get_bucket_tagging(Bucket=bucket).get("TagSet"))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchTagSet":
            return {}
        raise


def _sagemaker_tags(sm: Any, kind: str, name: str) -> dict[str, str]:
    describe = {"endpoint": (sm.describe_endpoint, "EndpointName", "EndpointArn"),
                "endpoint config": (sm.describe_endpoint_config, "EndpointConfigName", "EndpointConfigArn"),
                "model": (sm.describe_model, "ModelName", "ModelArn")}[kind]
    try:
        arn = describe[0](**{describe[1]: name})[describe[2]]
        tags: dict[str, str] = {}
        for page in sm.get_paginator("list_tags").paginate(ResourceArn=arn):
            tags.update(_kv(page.get("Tags")))
        return tags
    except ClientError as exc:
        raise CloudError(f"cannot read the tags of {kind} {name}: {exc}") from exc


def owned(tags: dict[str, str], params: Params) -> bool:
    return tags.get(PROJECT_TAG) == params.project_name


def require_owned(cloud: Any, params: Params, kind: str, name: str, *, action: str = "update") -> None:
    """Raise :class:`OwnershipError` unless the existing resource carries the project's tag."""
    tags = tags_of(cloud, kind, name)
    if not owned(tags, params):
        found = f"{PROJECT_TAG}={tags[PROJECT_TAG]!r}" if PROJECT_TAG in tags else f"no {PROJECT_TAG} tag"
        raise OwnershipError(
            f"{kind} {name} already exists but is not this project's (it has {found}, expected "
            f"{PROJECT_TAG}={params.project_name!r}), so the project will not {action} it. Change "
            f"{PARAMETER.get(kind, 'project_name')} to use another name, or remove the {kind} yourself if it is a "
            f"leftover you want replaced.")
