"""EventBridge: ``arn:aws:states:::events:putEvents`` (request/response and ``.waitForTaskToken``).

As the Step Functions developer guide says ("Call EventBridge with Step Functions"): the execution ARN and the
state machine ARN are appended to the ``Resources`` of each entry, and a response with a non-zero
``FailedEntryCount`` fails the task with ``EventBridge.FailedEntry``. What AWS records (localstack snapshot
``tests/aws/services/stepfunctions/v2/services/test_events_task_service.snapshot.json``): the result is the
response alone, ``{Entries, FailedEntryCount}``, without SDK metadata; the failure's cause is that response as JSON;
the ARNs come after an entry's own ``Resources``, state machine first. A JSON ``Detail`` is sent as its JSON text.
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.asl.errors import TaskFailed
from localcloud.asl.integrations.base import Call, ErrorNaming, record_submitted, render_java_v1
from localcloud.asl.integrations.requestresponse import invoke, parameters

ERRORS = ErrorNaming(prefix="EventBridge", base="AmazonEventBridgeException", sdk_service="AmazonEventBridge")
FAILED_ENTRY = "EventBridge.FailedEntry"


def _with_arns(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    arns = [arn for arn in (getattr(call.task, "state_machine_arn", None), getattr(call.task, "execution_arn", None))
            if arn]
    entries = params.get("Entries")
    if not isinstance(entries, list):
        return params
    extended = [{**entry, "Resources": [*(entry.get("Resources") or []), *arns]} if isinstance(entry, dict) else entry
                for entry in entries]
    return {**params, "Entries": extended}


def put_events(call: Call) -> Any:
    response, operation = invoke(call, "events", "PutEvents", ERRORS, _with_arns(call, parameters(call)))
    out = render_java_v1(response, operation.output_shape)
    if out.get("FailedEntryCount"):
        raise TaskFailed(FAILED_ENTRY, json.dumps(out, separators=(",", ":")))
    if call.pattern == "waitForTaskToken":
        record_submitted(call, out)
    return out
