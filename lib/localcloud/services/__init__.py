"""The services localcloud implements itself, CloudWatch metrics and alarms among them (S3, IAM, STS, CloudWatch
Logs, DynamoDB, SNS, SQS and EventBridge are moto's).

The server owns the backends: :func:`load_services` creates each backend of :data:`BACKENDS` once, from the
server's :class:`~localcloud.core.context.ServerContext`, and hands it to the APIs of :data:`SERVICES` that serve
it (SageMaker and SageMaker Runtime share one). At server stop, :func:`shutdown_backends` stops each backend once.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Protocol

from localcloud.core.context import ServerContext
from localcloud.core.protocol import Service

LOG = logging.getLogger(__name__)

#: backend name -> ``module:Class``; each class is made with the server's context
BACKENDS: dict[str, str] = {
    "sagemaker": "localcloud.services.sagemaker.backend:SageMakerBackend",
    "glue": "localcloud.services.glue.backend:GlueBackend",
    "lambda": "localcloud.services.awslambda.backend:LambdaBackend",
    "stepfunctions": "localcloud.services.stepfunctions.backend:StepFunctionsBackend",
    "eventbridge": "localcloud.services.eventbridge.backend:EventBridgeBackend",
    "cloudwatch": "localcloud.services.cloudwatch.backend:CloudWatchBackend",
}

#: backend name -> the module that keeps it across a restart (``localcloud.persist``): ``state(backend)`` and
#: ``restore(backend, saved)`` for the records it keeps, ``recover(backend)`` for what starts again once the server
#: answers (endpoints reload their models, schedules run)
DURABILITY: dict[str, str] = {
    "sagemaker": "localcloud.services.sagemaker.durability",
    "glue": "localcloud.services.glue.durability",
    "lambda": "localcloud.services.awslambda.durability",
    "stepfunctions": "localcloud.services.stepfunctions.durability",
    "eventbridge": "localcloud.services.eventbridge.durability",
    "cloudwatch": "localcloud.services.cloudwatch.durability",
}

#: the APIs in routing order, each ``(module:Class, backend name)``
SERVICES: tuple[tuple[str, str], ...] = (
    ("localcloud.services.sagemaker_runtime.api:SageMakerRuntimeAPI", "sagemaker"),
    ("localcloud.services.sagemaker.api:SageMakerAPI", "sagemaker"),
    ("localcloud.services.glue.api:GlueAPI", "glue"),
    ("localcloud.services.awslambda.api:LambdaAPI", "lambda"),
    ("localcloud.services.stepfunctions.api:StepFunctionsAPI", "stepfunctions"),
    ("localcloud.services.cloudwatch.api:CloudWatchAPI", "cloudwatch"),
)

#: services moto serves, by SigV4 signing name: storage, identity and logs for every job, the services the
#: Step Functions integrations call (DynamoDB, SNS, SQS, EventBridge) and EventBridge Scheduler; the
#: ``eventbridge`` backend delivers what their rules, schedules and subscriptions send
MOTO_SERVICES: tuple[str, ...] = ("s3", "iam", "sts", "logs", "dynamodb", "sns", "sqs", "events", "scheduler")


class Backend(Protocol):
    """What the server needs of a backend: to stop its background work (threads, child processes)."""

    def shutdown(self) -> None: ...


def _load(spec: str) -> Any:
    module_name, class_name = spec.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_services(ctx: ServerContext) -> tuple[dict[str, Backend], list[Service]]:
    """Create every backend once, then every API with the backend it serves."""
    backends: dict[str, Backend] = {name: _load(spec)(ctx) for name, spec in BACKENDS.items()}
    services: list[Service] = [_load(spec)(backends[backend]) for spec, backend in SERVICES]
    return backends, services


def backend_of(services: list[Service]) -> dict[int, str]:
    """``id(api)`` → the name of the backend it serves (the APIs :func:`load_services` made, in its order)."""
    return {id(svc): backend for svc, (_, backend) in zip(services, SERVICES, strict=True)}


def drain_backends(backends: dict[str, Backend]) -> None:
    """Let each backend that buffers writes to other services (``drain()``: SageMaker's data capture to S3) write
    them while the server still answers; called before the server stops listening."""
    for name, backend in backends.items():
        drain = getattr(backend, "drain", None)
        if drain is None:
            continue
        try:
            drain()
        except Exception:  # noqa: BLE001 - stopping matters more
            LOG.exception("draining the %s backend failed", name)


def shutdown_backends(backends: dict[str, Backend]) -> None:
    """Stop every backend (one that fails to stop is logged; the others still stop)."""
    for name, backend in backends.items():
        try:
            backend.shutdown()
        except Exception:  # noqa: BLE001 - shutting down the rest matters more
            LOG.exception("shutting down the %s backend failed", name)
