"""Clean-up (notebook 05): delete what the run created, keep what the parameters say, list what remains.

``keep_endpoint`` keeps the endpoint with the configuration and model it serves (the next run updates it);
``keep_data`` keeps the bucket's ``<project>/`` objects; ``keep_roles`` keeps the IAM roles. The Glue job, the
Lambda function and the state machine are always removed (notebooks 02 and 03 recreate them). SageMaker keeps
training jobs forever by design; they are listed but cannot be deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import Params, RunState
from retrain.iam import ROLE_KINDS, delete_role
from retrain.resources import bucket_name
from retrain.workflow import find_state_machine

LOG = logging.getLogger(__name__)

_MISSING = {"ResourceNotFound", "ResourceNotFoundException", "ValidationException", "EntityNotFoundException",
            "NoSuchEntity", "NoSuchBucket", "StateMachineDoesNotExist", "404", "NotFound"}
_UNSUPPORTED = {"UnknownOperationException", "InvalidAction", "NotImplemented", "501", "UnrecognizedClientException"}


@dataclass
class Resource:
    kind: str
    name: str
    reason: str = ""  # why it may remain ("" means it should be gone)


@dataclass
class CleanupReport:
    deleted: list[Resource] = field(default_factory=list)
    remaining: list[Resource] = field(default_factory=list)

    @property
    def unexpected(self) -> list[Resource]:
        """Resources still there although nothing asked to keep them."""
        return [r for r in self.remaining if not r.reason]

    def rows(self) -> list[dict[str, str]]:
        out = [{"resource": r.kind, "name": r.name, "state": "deleted", "why": ""} for r in self.deleted]
        out += [{"resource": r.kind, "name": r.name, "state": "remains", "why": r.reason or "UNEXPECTED"}
                for r in self.remaining]
        return out


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _gone(call: Any, *args: Any, **kwargs: Any) -> bool:
    """Run a delete call; True when it deleted something, False when the resource was already missing."""
    try:
        call(*args, **kwargs)
        return True
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return False
        raise


def _exists(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
        return True
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return False
        raise


def _names(call: Any, key: str, name_key: str, **kwargs: Any) -> list[str] | None:
    """Names from a SageMaker List* call, or None when the target does not offer it."""
    try:
        return [item[name_key] for item in call(**kwargs).get(key, [])]
    except ClientError as exc:
        if _code(exc) in _UNSUPPORTED or "not implemented" in str(exc).lower():
            return None
        raise


def _serving(sm: Any, endpoint: str) -> tuple[str | None, set[str]]:
    """``(config, models)`` the endpoint serves now, or ``(None, set())`` without an endpoint."""
    try:
        config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return None, set()
        raise
    try:
        variants = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return config, set()
        raise
    return config, {v["ModelName"] for v in variants}


def _candidates(state: RunState) -> tuple[set[str], set[str]]:
    """Model and endpoint-config names this project's runs created (from the run state)."""
    models: set[str] = set(state.get("models_created", []))
    configs: set[str] = set(state.get("endpoint_configs_created", []))
    names = state.get("execution_input") or {}
    if names.get("ModelName"):
        models.add(names["ModelName"])
    if names.get("EndpointConfigName"):
        configs.add(names["EndpointConfigName"])
    previous = state.get("previous_endpoint") or {}
    if previous.get("EndpointConfigName"):
        configs.add(previous["EndpointConfigName"])
    models.update(previous.get("models", []))
    return models, configs


def clean_up(cloud: Any, params: Params, state: RunState) -> CleanupReport:
    """Delete the run's resources as the ``keep_*`` parameters say; then list what remains."""
    report = CleanupReport()
    sm, sfn = cloud.client("sagemaker"), cloud.client("stepfunctions")
    endpoint = params.endpoint_name
    if not params.keep_endpoint and _gone(sm.delete_endpoint, EndpointName=endpoint):
        report.deleted.append(Resource("endpoint", endpoint))
        _wait_deleted(sm, endpoint)
    serving_config, serving_models = _serving(sm, endpoint)
    models, configs = _candidates(state)
    listed_models = _names(sm.list_models, "Models", "ModelName", NameContains=params.project_name, MaxResults=100)
    listed_configs = _names(sm.list_endpoint_configs, "EndpointConfigs", "EndpointConfigName",
                            NameContains=params.project_name, MaxResults=100)
    prefix = f"{params.project_name}-"
    models.update(n for n in (listed_models or []) if n.startswith(prefix))
    configs.update(n for n in (listed_configs or []) if n.startswith(prefix))
    for config in sorted(configs - {serving_config}):
        if _gone(sm.delete_endpoint_config, EndpointConfigName=config):
            report.deleted.append(Resource("endpoint config", config))
    for model in sorted(models - serving_models):
        if _gone(sm.delete_model, ModelName=model):
            report.deleted.append(Resource("model", model))

    machine = find_state_machine(sfn, params.state_machine_name)
    if machine and _gone(sfn.delete_state_machine, stateMachineArn=machine):
        report.deleted.append(Resource("state machine", params.state_machine_name))
    if _gone(cloud.client("lambda").delete_function, FunctionName=params.lambda_function_name):
        report.deleted.append(Resource("lambda function", params.lambda_function_name))
    if _gone(cloud.client("glue").delete_job, JobName=params.glue_job_name):
        report.deleted.append(Resource("glue job", params.glue_job_name))

    bucket = _bucket(cloud, params, state)
    if bucket and not params.keep_data:
        count = _empty_prefix(cloud.client("s3"), bucket, f"{params.project_name}/")
        if count:
            report.deleted.append(Resource("s3 objects", f"s3://{bucket}/{params.project_name}/ ({count})"))
        if _bucket_empty(cloud.client("s3"), bucket) and _gone(cloud.client("s3").delete_bucket, Bucket=bucket):
            report.deleted.append(Resource("bucket", bucket))
    if not params.keep_roles:
        iam = cloud.client("iam")
        for kind in ROLE_KINDS:
            if kind == "sagemaker" and params.sagemaker_role_arn:
                continue  # a role we were given is not ours to delete
            if delete_role(iam, params.role_name(kind)):
                report.deleted.append(Resource("iam role", params.role_name(kind)))
    report.remaining = remaining(cloud, params, state, models | serving_models, configs | {serving_config or ""})
    return report


def _bucket(cloud: Any, params: Params, state: RunState) -> str:
    """The project's bucket: from the run state, else from its naming rule (a clean-up with a lost state)."""
    return state.get("bucket") or bucket_name(params.project_name, cloud.account_id, params.region)


def _wait_deleted(sm: Any, endpoint: str, timeout: float = 600) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _exists(sm.describe_endpoint, EndpointName=endpoint):
            return
        time.sleep(2)


def _empty_prefix(s3: Any, bucket: str, prefix: str) -> int:
    deleted = 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return 0
        raise
    return deleted


def _bucket_empty(s3: Any, bucket: str) -> bool:
    try:
        return not s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("Contents")
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return False
        raise


def remaining(cloud: Any, params: Params, state: RunState, models: set[str] | None = None,
              configs: set[str] | None = None) -> list[Resource]:
    """Every resource of this project that still exists, each with the reason it may (or '' if it should not)."""
    sm = cloud.client("sagemaker")
    out: list[Resource] = []
    keep_ep = "keep_endpoint: true" if params.keep_endpoint else ""
    serving_config, serving_models = _serving(sm, params.endpoint_name)
    if serving_config is not None:
        out.append(Resource("endpoint", params.endpoint_name, keep_ep))
    for config in sorted(c for c in (configs or set()) if c):
        if _exists(sm.describe_endpoint_config, EndpointConfigName=config):
            out.append(Resource("endpoint config", config, keep_ep if config == serving_config else ""))
    for model in sorted(models or set()):
        if _exists(sm.describe_model, ModelName=model):
            out.append(Resource("model", model, keep_ep if model in serving_models else ""))
    jobs = _names(sm.list_training_jobs, "TrainingJobSummaries", "TrainingJobName",
                  NameContains=params.project_name, MaxResults=100) or []
    out += [Resource("training job", job, "SageMaker keeps training jobs (cannot be deleted)") for job in jobs]
    if find_state_machine(cloud.client("stepfunctions"), params.state_machine_name):
        out.append(Resource("state machine", params.state_machine_name))
    if _exists(cloud.client("lambda").get_function, FunctionName=params.lambda_function_name):
        out.append(Resource("lambda function", params.lambda_function_name))
    if _exists(cloud.client("glue").get_job, JobName=params.glue_job_name):
        out.append(Resource("glue job", params.glue_job_name))
    bucket = _bucket(cloud, params, state)
    if bucket:
        s3 = cloud.client("s3")
        try:
            listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{params.project_name}/")
            count = listing.get("KeyCount", len(listing.get("Contents", [])))
            if count:
                out.append(Resource("s3 objects", f"s3://{bucket}/{params.project_name}/ ({count})",
                                    "keep_data: true" if params.keep_data else ""))
            out.append(Resource("bucket", bucket, "keep_data: true" if params.keep_data else
                                ("holds objects of other projects" if not _bucket_empty(s3, bucket) else "")))
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
    iam = cloud.client("iam")
    for kind in ROLE_KINDS:
        name = params.role_name(kind)
        if _exists(iam.get_role, RoleName=name):
            out.append(Resource("iam role", name, "keep_roles: true" if params.keep_roles else ""))
    return out
