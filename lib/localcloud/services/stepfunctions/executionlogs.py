"""Execution history written to CloudWatch Logs, as a state machine's ``loggingConfiguration`` asks.

Each history event becomes one log event whose message is ``{"id", "type", "details", "previous_event_id",
"event_timestamp", "execution_arn", "redrive_count"}`` (ids, counts and the timestamp as text); without
``includeExecutionData`` the details leave out the inputs and outputs; level ALL logs every event, ERROR the
failures and FailStateEntered, FATAL only the end of a failed, aborted or timed-out execution (recorded on AWS:
localstack snapshot ``tests/aws/services/stepfunctions/v2/logs/test_logs.snapshot.json``, ``test_base[...]`` and
``test_partial_log_levels[...]``; Log levels, developer guide). The stream name is this module's own choice.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.core import clients

LOG = logging.getLogger(__name__)

FATAL = frozenset({"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})
_ERROR_ENDINGS = ("Failed", "Aborted", "TimedOut")
_DATA = frozenset({"input", "inputDetails", "output", "outputDetails", "parameters"})


def logged(level: str, event_type: str) -> bool:
    """Whether an event of ``event_type`` is logged at ``level``."""
    if level == "ALL":
        return True
    if level == "FATAL":
        return event_type in FATAL
    return level == "ERROR" and (event_type.endswith(_ERROR_ENDINGS) or event_type == "FailStateEntered")


def record(event: dict[str, Any], execution_arn: str, include_data: bool, redrive_count: int = 0) -> dict[str, Any]:
    """The log message of one history event."""
    details: dict[str, Any] = {}
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            details = {k: v for k, v in value.items() if include_data or k not in _DATA}
    stamp = event["timestamp"]
    millis = int(stamp.timestamp() * 1000) if isinstance(stamp, datetime) else int(stamp)
    return {"id": str(event["id"]), "type": event["type"], "details": details,
            "previous_event_id": str(event.get("previousEventId", 0)), "event_timestamp": str(millis),
            "execution_arn": execution_arn, "redrive_count": str(redrive_count)}


def listener(config: dict[str, Any], endpoint_url: str, execution_arn: str,
             machine_name: str) -> Callable[[dict[str, Any]], None] | None:
    """The history listener that writes one execution's log events, or None when nothing is logged."""
    level = config.get("level", "OFF")
    destinations = config.get("destinations") or []
    if level == "OFF" or not destinations:
        return None
    arn = str((destinations[0].get("cloudWatchLogsLogGroup") or {}).get("logGroupArn", ""))
    parts = arn.split(":")
    if len(parts) < 7:
        return None
    region, group = parts[3], parts[6]
    stream = f"states/{machine_name}/{datetime.now(UTC):%Y-%m-%d-%H-%M}/{uuid.uuid4().hex[:8]}"
    include = bool(config.get("includeExecutionData"))
    lock = threading.Lock()
    started: list[bool] = []

    def write(event: dict[str, Any]) -> None:
        if not logged(level, event["type"]):
            return
        message = json.dumps(record(event, execution_arn, include), default=str)
        logs = clients.client(endpoint_url, "logs", region)
        try:
            with lock:
                if not started:
                    logs.create_log_stream(logGroupName=group, logStreamName=stream)
                    started.append(True)
                millis = int(json.loads(message)["event_timestamp"])
                logs.put_log_events(logGroupName=group, logStreamName=stream,
                                    logEvents=[{"timestamp": millis, "message": message}])
        except (ClientError, BotoCoreError) as exc:  # logging never fails an execution
            LOG.warning("could not log %s of %s: %s", event["type"], execution_arn, exc)

    return write
