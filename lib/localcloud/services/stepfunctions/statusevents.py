"""The "Step Functions Execution Status Change" events a STANDARD execution sends to EventBridge's default bus:
one when it starts (``RUNNING``) and one when it ends (``SUCCEEDED``, ``FAILED``, ``TIMED_OUT`` or ``ABORTED``).

"You can use AWS Step Functions Standard Workflows with EventBridge, while Express Workflows do not emit events"
and "the detail section in the event data provides the same information as the DescribeExecution API" (Step
Functions developer guide, "EventBridge (CloudWatch Events) for Step Functions execution status changes", with an
example of each status: ``startDate``/``stopDate`` in epoch milliseconds, ``input``/``output`` JSON text). The
detail's fields, their order and their nulls are those of events recorded on AWS on 2024-02-07 (localstack's
tests/aws/services/stepfunctions/v2/base/test_base.snapshot.json, ``test_event_bridge_events_base``): executionArn,
stateMachineArn, name, status, startDate, stopDate, input, output, stateMachineVersionArn, stateMachineAliasArn,
redriveCount, redriveDate, redriveStatus, redriveStatusReason, inputDetails, outputDetails, error, cause. "If the
combined escaped input and escaped output sent to EventBridge exceeds 248KB, then the input will be excluded.
Similarly, if the escaped output exceeds 248KB, then the output will be excluded" (same guide, "EventBridge
payloads"), which ``inputDetails``/``outputDetails`` ``included: false`` say.

Not confirmed, so kept to the plain reading: an execution redriven sends ``RUNNING`` again; a Distributed Map's
child executions send nothing; ``redriveDate`` in epoch milliseconds like the other dates.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from localcloud.services.stepfunctions.models import ExecutionRecord

DETAIL_TYPE = "Step Functions Execution Status Change"
#: "exceeds 248KB" (the guide's "EventBridge payloads"), taken as 248 KiB of escaped JSON text
PAYLOAD_LIMIT = 248 * 1024


def sends(record: ExecutionRecord) -> bool:
    """Whether the execution sends status events: a STANDARD one that no Map Run started."""
    return record.type == "STANDARD" and record.map_run_arn is None


def _millis(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _escaped(text: str | None) -> int:
    return 0 if text is None else len(json.dumps(text))


#: the detail's fields in the order recorded on AWS (absent from DescribeExecution's answer: null)
FIELDS = ("executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate", "input", "output",
          "stateMachineVersionArn", "stateMachineAliasArn", "redriveCount", "redriveDate", "redriveStatus",
          "redriveStatusReason", "inputDetails", "outputDetails", "error", "cause")


def status_event(record: ExecutionRecord, now: datetime) -> tuple[dict[str, Any], str, str]:
    """``(event, account, region)`` for the execution's status now (read under the backend's lock): its
    DescribeExecution answer in the recorded order, dates in epoch milliseconds, the 248KB rule applied."""
    described = record.describe(now)
    detail = {key: described.get(key) for key in FIELDS}
    output = detail["output"]
    keep_output = output is None or _escaped(output) <= PAYLOAD_LIMIT
    keep_input = _escaped(record.input) + (_escaped(output) if keep_output else 0) <= PAYLOAD_LIMIT
    detail.update({key: _millis(detail[key]) for key in ("startDate", "stopDate", "redriveDate")})
    if not keep_input:
        detail["input"], detail["inputDetails"] = None, {"included": False}
    if not keep_output:
        detail["output"], detail["outputDetails"] = None, {"included": False}
    _, _, _, region, account, *_ = record.arn.split(":")
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": DETAIL_TYPE, "source": "aws.states",
             "account": account, "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
             "resources": [record.arn], "detail": detail}
    return event, account, region
