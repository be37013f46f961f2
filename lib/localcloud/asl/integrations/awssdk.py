"""Generic AWS SDK integrations: ``arn:aws:states:::aws-sdk:<service>:<apiAction>`` for any service localcloud
serves.

The action is the API operation in camelCase (``listObjectsV2``); parameters are PascalCase even where the API is
camelCase (the guide's example: Step Functions' own ``startSyncExecution`` takes ``StateMachineArn``). The result
is the API response without its metadata. Errors are ``<Service>.<Error>`` in PascalCase with an ``Exception``
suffix always added (the guide's examples: ``AcmPca.ResourceNotFoundException``, ``S3.BucketAlreadyExistsException``);
an error the service model does not declare is ``<Service>.<Service>Exception``.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import botocore.session

from localcloud.asl.integrations.base import Call, ErrorNaming, call_api, operation_model, render_java_v2

LOG = logging.getLogger(__name__)

#: Step Functions' service names that are not botocore's
SERVICE_ALIASES = {"sfn": "stepfunctions", "states": "stepfunctions", "eventbridge": "events",
                   "cloudwatchlogs": "logs", "sagemakerruntime": "sagemaker-runtime"}
#: error-name service parts that do not follow from the service id
ERROR_PREFIXES = {"dynamodb": "DynamoDb", "sfn": "Sfn", "stepfunctions": "Sfn"}


@lru_cache(maxsize=1)
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@lru_cache(maxsize=1)
def _botocore_services() -> dict[str, str]:
    return {name.replace("-", "").lower(): name for name in _session().get_available_services()}


def botocore_service(service: str) -> str | None:
    """The botocore service name for an aws-sdk service name (``sfn`` → ``stepfunctions``), or None."""
    key = service.lower()
    if key in SERVICE_ALIASES:
        return SERVICE_ALIASES[key]
    return _botocore_services().get(key.replace("-", ""))


def error_prefix(service: str, service_id: str) -> str:
    """``S3``, ``SageMaker``, ``Lambda``, ``AcmPca``, ``Iam``: the service part of an aws-sdk error name."""
    if service.lower() in ERROR_PREFIXES:
        return ERROR_PREFIXES[service.lower()]
    words = service_id.split()
    return "".join(w.capitalize() if w.isupper() and len(w) > 2 else w for w in words)


def check(service: str, action: str) -> str | None:
    """Why ``aws-sdk:<service>:<action>`` cannot be used (None when it can)."""
    name = botocore_service(service)
    if name is None:
        return f"the service '{service}' is not known"
    model = _session().get_service_model(name)
    if not any(op.lower() == action.lower() for op in model.operation_names):
        return f"the service '{service}' has no API action '{action}'"
    if not action[:1].islower():
        return f"the API action must be written in camelCase ('{action[:1].lower() + action[1:]}')"
    return None


def run(call: Call) -> Any:
    """Call the API action and return its response (PascalCase members, ISO timestamps, no metadata)."""
    name = botocore_service(call.service)
    assert name is not None
    client = call.client(name)
    operation = operation_model(client, call.action)
    assert operation is not None
    prefix = error_prefix(call.service, client.meta.service_model.service_id)
    errors = ErrorNaming(prefix=prefix, base=f"{prefix}Exception")
    response = call_api(call, client, operation, call.parameters, errors)
    return render_java_v2(response, operation.output_shape)
