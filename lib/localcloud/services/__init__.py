"""The services localcloud implements itself (S3, IAM and STS are moto's).

``SERVICES`` lists them in routing order as ``module:Class``; each class takes a
:class:`~localcloud.core.context.ServerContext` and is a :class:`~localcloud.core.protocol.Service`.
"""

from __future__ import annotations

import importlib

from localcloud.core.context import ServerContext
from localcloud.core.protocol import Service

SERVICES: tuple[str, ...] = (
    "localcloud.services.sagemaker_runtime.api:SageMakerRuntimeAPI",
    "localcloud.services.sagemaker.api:SageMakerAPI",
    "localcloud.services.glue.api:GlueAPI",
    "localcloud.services.awslambda.api:LambdaAPI",
    "localcloud.services.stepfunctions.api:StepFunctionsAPI",
)

#: services moto serves, by SigV4 signing name
MOTO_SERVICES: tuple[str, ...] = ("s3", "iam", "sts", "logs")


def load_services(ctx: ServerContext) -> list[Service]:
    """Instantiate every service of ``SERVICES`` for the server described by ``ctx``."""
    services: list[Service] = []
    for spec in SERVICES:
        module_name, class_name = spec.split(":")
        module = importlib.import_module(module_name)
        services.append(getattr(module, class_name)(ctx))
    return services
