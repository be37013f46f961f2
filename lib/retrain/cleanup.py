"""Clean-up (notebook 05): delete what the run created, keep what the parameters say, list what remains.

``keep_endpoint`` keeps the endpoint with the configuration and model it serves (the next run updates it);
``keep_data`` keeps the bucket's ``<project>/`` objects; ``keep_roles`` keeps the IAM roles. The Glue job, the
Lambda function and the state machine are always removed (notebooks 02 and 03 recreate them). SageMaker keeps
training jobs forever by design; they are listed but cannot be deleted; log groups expire after
``log_retention_days``.

It also runs on the way out of a failed or interrupted ``retrain run``: an execution of this run that is still
going is stopped first (so it cannot create an endpoint after the clean-up), then the same deletions follow.
Only resources carrying the project's tag are deleted; one with a project name but without the tag is reported
as someone else's and left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import Params
from retrain.iam import ROLE_KINDS, delete_role
from retrain.ownership import owned, tags_of
from retrain.resources import bucket_name, project_log_groups
from retrain.state import RunState
from retrain.workflow import find_state_machine

LOG = logging.getLogger(__name__)

_MISSING = {"ResourceNotFound", "ResourceNotFoundException", "ValidationException", "EntityNotFoundException",
            "NoSuchEntity", "NoSuchBucket", "StateMachineDoesNotExist", "404", "NotFound"}
NOT_OURS = "not this project's (no retrain:project tag): left alone"


@dataclass
class Resource:
    kind: str
    name: str
    reason: str = ""  # why it may remain ("" means it should be gone)


@dataclass
class CleanupReport:
    deleted: list[Resource] = field(default_factory=list)
    remaining: list[Resource] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # executions stopped on the way out

    @property
    def unexpected(self) -> list[Resource]:
        """Resources still there although nothing asked to keep them."""
        return [r for r in self.remaining if not r.reason]

    def rows(self) -> list[dict[str, str]]:
        out = [{"resource": "execution", "name": arn, "state": "stopped", "why": ""} for arn in self.stopped]
        out += [{"resource": r.kind, "name": r.name, "state": "deleted", "why": ""} for r in self.deleted]
        out += [{"resource": r.kind, "name": r.name, "state": "remains", "why": r.reason or "UNEXPECTED"}
                for r in self.remaining]
        return out

    def to_state(self) -> dict[str, Any]:
        return {"stopped": list(self.stopped),
                "deleted": [f"{r.kind} {r.name}" for r in self.deleted],
                "remaining": [f"{r.kind} {r.name}" for r in self.remaining],
                "why": {f"{r.kind} {r.name}": r.reason for r in self.remaining},
                "unexpected": [f"{r.kind} {r.name}" for r in self.unexpected]}


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


def _pages(client: Any, operation: str, key: str, name_key: str, **kwargs: Any) -> Iterator[str]:
    """Every name a paginated SageMaker List* call returns."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        for item in page.get(key, []):
            yield item[name_key]


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


def _candidates(sm: Any, params: Params, state: RunState) -> tuple[set[str], set[str]]:
    """Model and endpoint-config names of this project: those the run state names and those listed."""
    models: set[str] = set(state.get("models_created", []))
    configs: set[str] = set(state.get("endpoint_configs_created", []))
    names = state.get("execution_input") or {}
    models.update(n for n in [names.get("ModelName")] if n)
    configs.update(n for n in [names.get("EndpointConfigName")] if n)
    previous = state.get("previous_endpoint") or {}
    configs.update(n for n in [previous.get("EndpointConfigName")] if n)
    models.update(previous.get("models", []))
    prefix = f"{params.project_name}-"
    models.update(n for n in _pages(sm, "list_models", "Models", "ModelName", NameContains=params.project_name)
                  if n.startswith(prefix))
    configs.update(n for n in _pages(sm, "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName",
                                     NameContains=params.project_name) if n.startswith(prefix))
    return models, configs


def stop_execution(sfn: Any, state: RunState, *, timeout: float = 600, poll: float = 1.0) -> str | None:
    """Stop this run's execution if it is still running and wait until it has ended; its ARN when stopped."""
    arn = state.get("execution_arn")
    if not arn:
        return None
    try:
        if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
            return None
        sfn.stop_execution(executionArn=arn, error="RunInterrupted",
                           cause="retrain run ended before its execution did; stopped by the clean-up")
    except ClientError as exc:
        if _code(exc) in ("ExecutionDoesNotExist", "StateMachineDoesNotExist"):
            return None
        raise
    deadline = time.monotonic() + timeout
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(poll)
    return str(arn)


class Cleanup:
    """One clean-up, one step per resource kind, in the order notebook 05 runs them (a cell each).

    Each step deletes what is this project's and not kept, and returns the rows it added to :attr:`report`
    (what it stopped, deleted, or left alone and why), so the notebook shows what every step did.
    """

    def __init__(self, cloud: Any, params: Params, state: RunState) -> None:
        self.cloud, self.params, self.state = cloud, params, state
        self.report = CleanupReport()
        self.sagemaker_names: set[str] = set()  # models and configs seen, for the final listing

    def _rows_since(self, mark: tuple[int, int, int]) -> list[dict[str, str]]:
        report = self.report
        part = CleanupReport(report.deleted[mark[0]:], report.remaining[mark[1]:], report.stopped[mark[2]:])
        return part.rows()

    def _mark(self) -> tuple[int, int, int]:
        return len(self.report.deleted), len(self.report.remaining), len(self.report.stopped)

    def mine(self, kind: str, name: str, label: str | None = None) -> bool:
        """Whether the existing resource carries the project's tag (else it is recorded as left alone)."""
        if owned(tags_of(self.cloud, kind, name), self.params):
            return True
        LOG.warning("%s %s is not this project's: not deleted", kind, label or name)
        self.report.remaining.append(Resource(kind, label or name, NOT_OURS))
        return False

    def delete(self, kind: str, name: str, call: Any, label: str | None = None, **kwargs: Any) -> None:
        """Delete one resource if it is this project's (``name`` identifies it, ``label`` names it in reports)."""
        if self.mine(kind, name, label) and _gone(call, **kwargs):
            self.report.deleted.append(Resource(kind, label or name))

    def stop_execution(self) -> list[dict[str, str]]:
        """Step 1: stop this run's execution if it still runs (``StopExecution``), so it creates nothing later."""
        mark = self._mark()
        stopped = stop_execution(self.cloud.client("stepfunctions"), self.state)
        if stopped:
            self.report.stopped.append(stopped)
        return self._rows_since(mark)

    def endpoint(self) -> list[dict[str, str]]:
        """Step 2: delete the endpoint (``DeleteEndpoint``) unless ``keep_endpoint``; wait until it is gone."""
        mark, sm, endpoint = self._mark(), self.cloud.client("sagemaker"), self.params.endpoint_name
        if not self.params.keep_endpoint and _exists(sm.describe_endpoint, EndpointName=endpoint):
            self.delete("endpoint", endpoint, sm.delete_endpoint, EndpointName=endpoint)
            _wait_deleted(sm, endpoint)
        return self._rows_since(mark)

    def configs_and_models(self) -> list[dict[str, str]]:
        """Step 3: delete the endpoint configs and models of this project the endpoint does not serve
        (``DeleteEndpointConfig``, ``DeleteModel``): this run's and those earlier runs left."""
        mark, sm = self._mark(), self.cloud.client("sagemaker")
        serving_config, serving_models = _serving(sm, self.params.endpoint_name)
        models, configs = _candidates(sm, self.params, self.state)
        for config in sorted(configs - {serving_config}):
            if _exists(sm.describe_endpoint_config, EndpointConfigName=config):
                self.delete("endpoint config", config, sm.delete_endpoint_config, EndpointConfigName=config)
        for model in sorted(models - serving_models):
            if _exists(sm.describe_model, ModelName=model):
                self.delete("model", model, sm.delete_model, ModelName=model)
        self.sagemaker_names |= models | serving_models | configs | {serving_config or ""}
        return self._rows_since(mark)

    def services(self) -> list[dict[str, str]]:
        """Step 4: delete the state machine, the Lambda function and the Glue job (notebooks 02 and 03 make
        them again): ``DeleteStateMachine``, ``DeleteFunction``, ``DeleteJob``."""
        mark, params, sfn = self._mark(), self.params, self.cloud.client("stepfunctions")
        machine = find_state_machine(sfn, params.state_machine_name)
        if machine:
            self.delete("state machine", machine, sfn.delete_state_machine, label=params.state_machine_name,
                        stateMachineArn=machine)
        lam = self.cloud.client("lambda")
        if _exists(lam.get_function, FunctionName=params.lambda_function_name):
            self.delete("lambda function", params.lambda_function_name, lam.delete_function,
                        FunctionName=params.lambda_function_name)
        glue = self.cloud.client("glue")
        if _exists(glue.get_job, JobName=params.glue_job_name):
            self.delete("glue job", params.glue_job_name, glue.delete_job, JobName=params.glue_job_name)
        return self._rows_since(mark)

    def data(self) -> list[dict[str, str]]:
        """Step 5: unless ``keep_data``, delete the objects under ``<project>/`` (``DeleteObjects``) and then the
        bucket if it is empty and this project's (``DeleteBucket``)."""
        mark, params, s3 = self._mark(), self.params, self.cloud.client("s3")
        bucket = _bucket(self.cloud, params, self.state)
        if not params.keep_data and _exists(s3.head_bucket, Bucket=bucket):
            count = _empty_prefix(s3, bucket, f"{params.project_name}/")
            if count:
                self.report.deleted.append(Resource("s3 objects", f"s3://{bucket}/{params.project_name}/ ({count})"))
            if _bucket_empty(s3, bucket) and owned(tags_of(self.cloud, "bucket", bucket), params):
                if _gone(s3.delete_bucket, Bucket=bucket):
                    self.report.deleted.append(Resource("bucket", bucket))
        return self._rows_since(mark)

    def roles(self) -> list[dict[str, str]]:
        """Step 6: unless ``keep_roles``, delete the project's roles with their policies (``DeleteRolePolicy``,
        ``DeleteRole``); a SageMaker role given in ``sagemaker_role_arn`` is not ours and stays."""
        mark, params = self._mark(), self.params
        if not params.keep_roles:
            iam = self.cloud.client("iam")
            for kind in ROLE_KINDS:
                if kind == "sagemaker" and params.sagemaker_role_arn:
                    continue
                name = params.role_name(kind)
                if _exists(iam.get_role, RoleName=name) and self.mine("iam role", name) and delete_role(iam, name):
                    self.report.deleted.append(Resource("iam role", name))
        return self._rows_since(mark)

    def what_remains(self) -> list[dict[str, str]]:
        """Last: list everything of this project that still exists, each with the parameter or rule that keeps
        it ("UNEXPECTED" when nothing does)."""
        mark = self._mark()
        left_alone = {(r.kind, r.name) for r in self.report.remaining}
        self.report.remaining += [r for r in remaining(self.cloud, self.params, self.state, self.sagemaker_names)
                                  if (r.kind, r.name) not in left_alone]
        return self._rows_since(mark)

    #: the steps in order (what :func:`clean_up` runs)
    STEPS = ("stop_execution", "endpoint", "configs_and_models", "services", "data", "roles", "what_remains")


def clean_up(cloud: Any, params: Params, state: RunState) -> CleanupReport:
    """Every step of :class:`Cleanup` in order: stop this run's execution if it still runs; delete the run's
    resources as the ``keep_*`` parameters say; then list what remains and why."""
    cleanup = Cleanup(cloud, params, state)
    for step in Cleanup.STEPS:
        getattr(cleanup, step)()
    return cleanup.report


def _bucket(cloud: Any, params: Params, state: RunState) -> str:
    """The project's bucket: from the run state, else from its naming rule (a clean-up with a lost state)."""
    return state.get("bucket") or bucket_name(params.project_name, cloud.account_id, params.region)


def _wait_deleted(sm: Any, endpoint: str, timeout: float = 600) -> None:
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


def remaining(cloud: Any, params: Params, state: RunState, names: set[str] | None = None) -> list[Resource]:
    """Every resource of this project that still exists, each with the reason it may (or '' if it should not)."""
    sm = cloud.client("sagemaker")
    out: list[Resource] = []
    keep_ep = "keep_endpoint: true" if params.keep_endpoint else ""
    serving_config, serving_models = _serving(sm, params.endpoint_name)
    if serving_config is not None:
        out.append(Resource("endpoint", params.endpoint_name, keep_ep))
    for name in sorted(n for n in (names or set()) if n):
        if _exists(sm.describe_endpoint_config, EndpointConfigName=name):
            out.append(Resource("endpoint config", name, keep_ep if name == serving_config else ""))
        elif _exists(sm.describe_model, ModelName=name):
            out.append(Resource("model", name, keep_ep if name in serving_models else ""))
    out += [Resource("training job", job, "SageMaker keeps training jobs (cannot be deleted)")
            for job in _pages(sm, "list_training_jobs", "TrainingJobSummaries", "TrainingJobName",
                              NameContains=params.project_name)]
    logs = cloud.client("logs")
    for group in project_log_groups(params):
        found = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
        if any(g["logGroupName"] == group for g in found):
            out.append(Resource("log group", group, f"expires: retention {params.log_retention_days} days"))
    if find_state_machine(cloud.client("stepfunctions"), params.state_machine_name):
        out.append(Resource("state machine", params.state_machine_name))
    if _exists(cloud.client("lambda").get_function, FunctionName=params.lambda_function_name):
        out.append(Resource("lambda function", params.lambda_function_name))
    if _exists(cloud.client("glue").get_job, JobName=params.glue_job_name):
        out.append(Resource("glue job", params.glue_job_name))
    out += _remaining_data_and_roles(cloud, params, state)
    return out


def _remaining_data_and_roles(cloud: Any, params: Params, state: RunState) -> list[Resource]:
    out: list[Resource] = []
    bucket = _bucket(cloud, params, state)
    s3 = cloud.client("s3")
    keep_data = "keep_data: true" if params.keep_data else ""
    try:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{params.project_name}/")
        count = listing.get("KeyCount", len(listing.get("Contents", [])))
        if count:
            out.append(Resource("s3 objects", f"s3://{bucket}/{params.project_name}/ ({count})", keep_data))
        out.append(Resource("bucket", bucket, keep_data or
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
