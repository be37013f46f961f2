"""Lambda: ``arn:aws:states:::lambda:invoke`` (+ ``.waitForTaskToken``) and a plain function ARN as Resource.

``lambda:invoke`` returns ``{ExecutedVersion, Payload, SdkHttpMetadata, SdkResponseMetadata, StatusCode}`` with
the function's JSON result parsed into ``Payload``; a plain function ARN returns the function's result itself. A
function error fails the task with the ``errorType`` of the error payload as the error name and the payload as
the cause; a payload without ``errorType`` (timeouts, crashes) is ``Lambda.Unknown``, as the Step Functions guide
("Handle Lambda service exceptions") documents. Service errors are ``Lambda.<Exception>`` (e.g.
``Lambda.ResourceNotFoundException``), others ``Lambda.AWSLambdaException``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from localcloud.asl.errors import TaskFailed
from localcloud.asl.integrations.base import (
    Call,
    ErrorNaming,
    call_api,
    operation_model,
    request_response,
)

LOG = logging.getLogger(__name__)

ERRORS = ErrorNaming(prefix="Lambda", base="AWSLambdaException", sdk_service="AWSLambda")
#: the headers of Invoke's answer as a lambda:invoke result shows them: AWS's spelling, ``AllHttpHeaders`` in the
#: SDK's order, ``HttpHeaders`` sorted regardless of case (recorded on AWS: localstack snapshot
#: tests/aws/services/stepfunctions/v2/services/test_lambda_task_service.snapshot.json, TaskSucceeded output)
INVOKE_HEADERS = ("X-Amz-Executed-Version", "x-amzn-Remapped-Content-Length", "Connection", "x-amzn-RequestId",
                  "Content-Length", "Date", "X-Amzn-Trace-Id", "Content-Type", "X-Amz-Function-Error",
                  "X-Amz-Log-Result")
#: the parameters the optimized lambda:invoke integration takes (LogType works too, though undocumented)
INVOKE_FIELDS = {"FunctionName", "Payload", "InvocationType", "Qualifier", "ClientContext", "LogType"}


def _payload_bytes(value: Any) -> bytes:
    """The request payload: JSON text stays as it is, anything else is sent as JSON."""
    if isinstance(value, str):
        try:
            json.loads(value)
            return value.encode()
        except ValueError:
            pass
    return json.dumps(value if value is not None else {}, separators=(",", ":")).encode()


def _parse_payload(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if not text:
        return ""
    try:
        return json.loads(text)
    except ValueError:
        return text


def function_error(payload: Any) -> TaskFailed:
    """The task failure for a function that raised: its ``errorType``, the payload as cause."""
    cause = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    if isinstance(payload, dict) and payload.get("errorType"):
        return TaskFailed(str(payload["errorType"]), cause)
    return TaskFailed(
        "Lambda.Unknown",
        f"The cause could not be determined because Lambda did not return an error type. Returned payload: {cause}",
    )


def _invoke(call: Call, params: dict[str, Any]) -> tuple[dict[str, Any], Any, Any]:
    client = call.client("lambda")
    operation = operation_model(client, "Invoke")
    assert operation is not None
    unknown = [k for k in params if k not in INVOKE_FIELDS]
    if unknown:
        raise call.runtime_error(f'The field "{unknown[0]}" is not supported by Step Functions')
    if not params.get("FunctionName"):
        raise call.runtime_error('The field "FunctionName" is required')
    params = dict(params)
    params["Payload"] = _payload_bytes(params.get("Payload"))
    response = call_api(call, client, operation, params, ERRORS)
    payload = _parse_payload(response["Payload"].read())
    if response.get("FunctionError"):
        raise function_error(payload)
    return response, operation, payload


def http_metadata(response: dict[str, Any]) -> dict[str, Any]:
    """``SdkHttpMetadata`` and ``SdkResponseMetadata`` of an Invoke answer, from its real headers with AWS's names
    (the server's own ``Server`` header is not one of them; AWS keeps the connection alive and says so)."""
    meta = response.get("ResponseMetadata", {})
    got = {str(k).lower(): str(v) for k, v in meta.get("HTTPHeaders", {}).items()}
    got.setdefault("connection", "keep-alive")
    headers = {name: got[name.lower()] for name in INVOKE_HEADERS if name.lower() in got}
    return {
        "SdkHttpMetadata": {
            "AllHttpHeaders": {k: [v] for k, v in headers.items()},
            "HttpHeaders": dict(sorted(headers.items(), key=lambda item: item[0].lower())),
            "HttpStatusCode": meta.get("HTTPStatusCode", 200),
        },
        "SdkResponseMetadata": {"RequestId": meta.get("RequestId", "")},
    }


def invoke(call: Call) -> Any:
    """``lambda:invoke`` and ``lambda:invoke.waitForTaskToken``."""
    if not isinstance(call.parameters, dict):
        raise call.runtime_error("The Parameters must be a JSON object with a FunctionName")
    response, operation, payload = _invoke(call, call.parameters)
    response = dict(response)
    response["Payload"] = b""  # rendered below from the parsed value
    out = request_response(response, operation)
    out.pop("FunctionError", None)
    out.update(http_metadata(response))
    out["Payload"] = payload
    return dict(sorted(out.items()))


def invoke_function_arn(call: Call) -> Any:
    """A Task whose Resource is the function ARN itself: the state input (or Parameters) is the event and the
    function's result is the task result."""
    qualifier = call.extra.get("qualifier")
    params: dict[str, Any] = {"FunctionName": call.extra["function"], "Payload": call.parameters}
    if qualifier:
        params["Qualifier"] = qualifier
    _, _, payload = _invoke(call, params)
    return payload
