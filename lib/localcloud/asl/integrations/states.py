"""Step Functions itself: ``arn:aws:states:::states:startExecution`` (+ ``.sync``, ``.sync:2``,
``.waitForTaskToken``) — a workflow starting another one.

Request/response returns ``{ExecutionArn, StartDate, SdkHttpMetadata, SdkResponseMetadata}``. ``.sync`` waits for
the child and returns its DescribeExecution in PascalCase with ``Input``/``Output`` as JSON text; ``.sync:2``
returns them parsed. A child that does not succeed fails the task with ``States.TaskFailed`` and its description
as cause; stopping the parent stops the child. ``Input`` may be given as a JSON object (it is sent as text).
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.asl.integrations.base import (
    Call,
    ErrorNaming,
    call_api,
    job_failed,
    operation_model,
    poll,
    record_submitted,
    render_java_v1,
    request_response,
)

ERRORS = ErrorNaming(prefix="StepFunctions", base="AWSStepFunctionsException", sdk_service="AWSStepFunctions")


def _pascal(description: dict[str, Any]) -> dict[str, Any]:
    return {k[:1].upper() + k[1:]: v for k, v in description.items() if k != "ResponseMetadata"}


def start_execution(call: Call) -> Any:
    """``states:startExecution`` in every pattern AWS offers."""
    client = call.client("stepfunctions")
    start = operation_model(client, "StartExecution")
    describe_op = operation_model(client, "DescribeExecution")
    stop_op = operation_model(client, "StopExecution")
    assert start is not None and describe_op is not None and stop_op is not None
    params = call.parameters
    if isinstance(params, dict) and isinstance(params.get("Input"), (dict, list)):
        params = {**params, "Input": json.dumps(params["Input"], separators=(",", ":"))}
    response = call_api(call, client, start, params, ERRORS)
    started = request_response({**_pascal(response), "ResponseMetadata": response.get("ResponseMetadata", {})},
                               start)
    if call.pattern not in ("sync", "sync:2"):
        return started
    record_submitted(call, started)
    arn = response["executionArn"]

    def describe() -> dict[str, Any]:
        return call_api(call, client, describe_op, {"ExecutionArn": arn}, ERRORS)

    def stop() -> None:
        call_api(call, client, stop_op, {"ExecutionArn": arn}, ERRORS)

    final = poll(call, describe, lambda d: d.get("status") != "RUNNING", stop)
    if final is None:
        return None
    rendered = render_java_v1(_pascal(final))
    if call.pattern == "sync:2":
        for key in ("Input", "Output"):
            if isinstance(rendered.get(key), str):
                rendered[key] = json.loads(rendered[key])
    if final.get("status") != "SUCCEEDED":
        raise job_failed(rendered)
    return rendered
