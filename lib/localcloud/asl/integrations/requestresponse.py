"""What the optimized request/response integrations of DynamoDB, SNS, SQS and EventBridge share.

They run on the AWS SDK for Java v1, as the other optimized integrations (see :mod:`.base`): a JSON ``null`` in the
Parameters is an absent member, and a required member that is absent is refused by the service itself with its
``ValidationException`` sentence (recorded on AWS: localstack snapshot
``tests/aws/services/stepfunctions/v2/error_handling/test_task_service_dynamodb.snapshot.json``,
``test_invalid_param``: *1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must
not be null*), which the task reports as the service's base exception. With ``.waitForTaskToken`` the call's result
is recorded as ``TaskSubmitted`` before the task waits for its token (recorded on AWS: snapshot
``.../error_handling/test_task_service_sqs.snapshot.json``, ``test_sqs_failure_in_wait_for_task_tok``).
"""

from __future__ import annotations

import uuid
from typing import Any

from botocore.model import OperationModel

from localcloud.asl.errors import TaskFailed
from localcloud.asl.integrations.base import (
    Call,
    ErrorNaming,
    call_api,
    operation_model,
    record_submitted,
    request_response,
)


def parameters(call: Call) -> dict[str, Any]:
    """The Parameters as the Java SDK sends them: an object, its ``null`` members left out."""
    if call.parameters is None:
        return {}
    if not isinstance(call.parameters, dict):
        raise call.runtime_error("The Parameters must be a JSON object")
    return {key: value for key, value in call.parameters.items() if value is not None}


def absent_required(operation: OperationModel, params: dict[str, Any]) -> list[str]:
    """The required members of the operation's input that ``params`` lacks (model order)."""
    shape = operation.input_shape
    if shape is None:
        return []
    wanted = {name.lower() for name in params}
    return [name for name in shape.required_members if name.lower() not in wanted]


def validation_error(errors: ErrorNaming, missing: list[str]) -> TaskFailed:
    """The service's answer to absent required members: its ValidationException sentence, as the base exception."""
    count = len(missing)
    detail = "; ".join(f"Value null at '{name[:1].lower() + name[1:]}' failed to satisfy constraint: Member must "
                       "not be null" for name in missing)
    message = f"{count} validation error{'s' if count > 1 else ''} detected: {detail}"
    return TaskFailed(f"{errors.prefix}.{errors.base}",
                      errors.cause(message, 400, "ValidationException", str(uuid.uuid4())))


def invoke(call: Call, service: str, action: str, errors: ErrorNaming,
           params: dict[str, Any] | None = None) -> tuple[dict[str, Any], OperationModel]:
    """Call ``action`` with the task's parameters (or ``params``); the raw response and the operation."""
    client = call.client(service)
    operation = operation_model(client, action)
    assert operation is not None, f"{service} has no {action}"
    params = parameters(call) if params is None else params
    missing = absent_required(operation, params)
    if missing:
        raise validation_error(errors, missing)
    return call_api(call, client, operation, params, errors), operation


def respond(call: Call, response: dict[str, Any], operation: OperationModel) -> dict[str, Any]:
    """The task result: the response with the SDK metadata; recorded as submitted when the task waits for its token."""
    out = request_response(response, operation)
    if call.pattern == "waitForTaskToken":
        record_submitted(call, out)
    return out
