"""The building blocks of the clean-up: what a report holds, calls that tolerate a resource already gone, listings
that page, and what the endpoint serves."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import Params
from retrain.resources import bucket_name
from retrain.state import RunState

LOG = logging.getLogger(__name__)

MISSING = {"ResourceNotFound", "ResourceNotFoundException", "ValidationException", "EntityNotFoundException",
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
    errors: dict[str, str] = field(default_factory=dict)  # "<kind> <name>" -> why its delete call failed

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
                "unexpected": [f"{r.kind} {r.name}" for r in self.unexpected], "errors": dict(self.errors)}

    def failed(self, kind: str, name: str, exc: Exception) -> None:
        """A delete call failed (not "already gone"): the resource remains, unexpected, with the error."""
        self.remaining.append(Resource(kind, name))
        self.errors[f"{kind} {name}"] = str(exc)


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def gone(call: Any, *args: Any, **kwargs: Any) -> bool:
    """Run a delete call; True when it deleted something, False when the resource was already missing."""
    try:
        call(*args, **kwargs)
        return True
    except ClientError as exc:
        if code(exc) in MISSING:
            return False
        raise


def exists(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
        return True
    except ClientError as exc:
        if code(exc) in MISSING:
            return False
        raise


def pages(client: Any, operation: str, key: str, name_key: str, **kwargs: Any) -> Iterator[str]:
    """Every name a paginated SageMaker List* call returns."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        for item in page.get(key, []):
            yield item[name_key]


def serving(sm: Any, endpoint: str) -> tuple[str | None, set[str]]:
    """``(config, models)`` the endpoint serves now, or ``(None, set())`` without an endpoint."""
    try:
        config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    except ClientError as exc:
        if code(exc) in MISSING:
            return None, set()
        raise
    try:
        described = sm.describe_endpoint_config(EndpointConfigName=config)
    except ClientError as exc:
        if code(exc) in MISSING:
            return config, set()
        raise
    # a shadow variant's model serves too (retrain.shadow): it gets a copy of every request
    variants = [*described["ProductionVariants"], *described.get("ShadowProductionVariants", [])]
    return config, {v["ModelName"] for v in variants}


def candidates(sm: Any, params: Params, state: RunState) -> tuple[set[str], set[str]]:
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
    models.update(n for n in pages(sm, "list_models", "Models", "ModelName", NameContains=params.project_name)
                  if n.startswith(prefix))
    configs.update(n for n in pages(sm, "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName",
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
        if code(exc) in ("ExecutionDoesNotExist", "StateMachineDoesNotExist"):
            return None
        raise
    deadline = time.monotonic() + timeout
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(poll)
    return str(arn)


def project_bucket(cloud: Any, params: Params, state: RunState) -> str:
    """The project's bucket: from the run state, else from its naming rule (a clean-up with a lost state)."""
    return state.get("bucket") or bucket_name(params.project_name, cloud.account_id, params.region)


def wait_deleted(sm: Any, endpoint: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not exists(sm.describe_endpoint, EndpointName=endpoint):
            return
        time.sleep(2)


def empty_prefix(s3: Any, bucket: str, prefix: str) -> tuple[int, dict[str, str]]:
    """Delete the objects under ``prefix``: ``(how many were deleted, {key: why not} for those that were not)``.
    DeleteObjects can answer 200 and still not delete every object: each one it could not delete is under
    ``Errors``, "a failed delete action that describes the object ... and the error it encountered", with Key, Code
    and Message (botocore's s3 model, DeleteObjects); in ``Quiet`` mode the answer lists only those (S3 API
    Reference, DeleteObjects)."""
    deleted, failed = 0, {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                errors = {e.get("Key", ""): f"{e.get('Code', '')}: {e.get('Message', '')}"
                          for e in answer.get("Errors", [])}
                failed.update(errors)
                deleted += len(keys) - len(errors)
    except ClientError as exc:
        if code(exc) in MISSING:
            return deleted, failed
        raise
    return deleted, failed


def bucket_empty(s3: Any, bucket: str) -> bool:
    try:
        return not s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("Contents")
    except ClientError as exc:
        if code(exc) in MISSING:
            return False
        raise
