"""Run the workflow: start an execution with a unique name, follow it live, and read the verdict from its events.

The execution history is the record of truth: which states ran, the judge's verdict (the floor, the candidate's and
the champion's scores), the model package registered, whether the endpoint was created or updated, and why a run
failed — a data check that stopped it before training, a rejection, a reviewer's decision or a timeout.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from retrain.errors import ExecutionFailed, WorkflowError
from retrain.outcomes import FAILED_STATE, FAILURE_PATH_STATES
from retrain.registry import APPROVAL_TIMED_OUT_ERROR, REVIEWER_REJECTED_ERROR
from retrain.workflow import REJECTED_ERROR

LOG = logging.getLogger(__name__)

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
JUDGE_STATE = "Judge Model"
REGISTER_STATE = "Register Model"
ETL_STATE = "Extract, Transform, Load"
#: what the ETL job's error message starts with when the data failed its checks (code/data_checks.py, etl_io.py)
DATA_ERRORS = ("DataCheckFailed:", "InputDataError:")
#: verdict -> what it means (the summary's status and the exit code follow it)
VERDICTS = {"deployed": "the model is serving", "rejected": "the gate rejected the model",
            "rejected_by_reviewer": "a reviewer rejected the model", "approval_timed_out": "nobody decided in time",
            "data_check_failed": "the new data failed its checks; nothing was trained", "failed": "the run failed"}
CREATE_STATE = "Create Endpoint"
UPDATE_STATE = "Update Endpoint"


def start(workflow: Any, inputs: dict[str, str], name: str) -> Any:
    """Start an execution of ``workflow`` called ``name`` (unique per run) with the per-run names as input."""
    return workflow.execute(name=name, inputs=inputs)


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def entered_state(event: dict[str, Any]) -> str | None:
    """The state name of a ``*StateEntered`` event, else None."""
    if event.get("type", "").endswith("StateEntered"):
        return event.get("stateEnteredEventDetails", {}).get("name")
    return None


def exited_state(event: dict[str, Any]) -> str | None:
    if event.get("type", "").endswith("StateExited"):
        return event.get("stateExitedEventDetails", {}).get("name")
    return None


def visited_states(events: list[dict[str, Any]]) -> list[str]:
    """State names in the order they were entered (a state entered twice appears twice)."""
    return [name for name in (entered_state(e) for e in events) if name]


def state_output(events: list[dict[str, Any]], state: str) -> Any:
    """The parsed output of the last exit from ``state``, or None."""
    for event in reversed(events):
        if exited_state(event) == state:
            raw = event["stateExitedEventDetails"].get("output")
            try:
                return json.loads(raw) if raw else None
            except json.JSONDecodeError:
                return None
    return None


def failure(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """``(error, cause)`` of a failed, timed-out or aborted execution."""
    for event in reversed(events):
        if event.get("type") in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            details = _details(event)
            return details.get("error"), details.get("cause")
    return None, None


#: where each service puts the human reason inside the JSON cause of a failed task
_REASON_KEYS = ("ErrorMessage", "FailureReason", "errorMessage", "Cause", "message")


def reason(cause: str | None) -> str | None:
    """The human part of a failure cause: a failed Glue run's ``ErrorMessage``, a training job's
    ``FailureReason`` or a Lambda's ``errorMessage`` instead of the whole JSON description."""
    if not cause:
        return cause
    try:
        data = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(data, dict):
        for key in _REASON_KEYS:
            if isinstance(data.get(key), str) and data[key]:
                name = data.get("JobName") or data.get("TrainingJobName") or data.get("errorType")
                return f"{name}: {data[key]}" if name else data[key]
    return cause


def jsonable(value: Any) -> Any:
    """Events with datetimes turned into ISO strings (for the run state and reports)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


@dataclass
class ExecutionReport:
    """What an execution did, read from its description and history."""

    arn: str
    name: str
    status: str
    duration_s: float
    events: list[dict[str, Any]] = field(default_factory=list)
    output: Any = None
    error: str | None = None
    cause: str | None = None

    @property
    def visited(self) -> list[str]:
        return visited_states(self.events)

    @property
    def failed_state(self) -> str | None:
        """The state the execution was in when it ended (the last one entered); for a failure the workflow caught
        to record and tell (``Run Failed``), the state that failed."""
        visited = self.visited
        if visited and visited[-1] == FAILED_STATE:
            visited = [name for name in visited if name not in FAILURE_PATH_STATES]
        return visited[-1] if visited else None

    @property
    def rejected(self) -> bool:
        """True when the gate, a reviewer or the approval timeout stopped the model (the endpoint untouched)."""
        return self.verdict in ("rejected", "rejected_by_reviewer", "approval_timed_out")

    @property
    def deployed(self) -> bool:
        return self.status == "SUCCEEDED"

    @property
    def judgement(self) -> dict[str, Any] | None:
        """The model gate's result: decision, reason, floor, gate (both scores), evaluation, training metrics."""
        out = state_output(self.events, JUDGE_STATE)
        try:
            return dict(out["Judgement"]["Payload"])
        except (TypeError, KeyError):
            return None

    @property
    def model_package(self) -> str | None:
        out = state_output(self.events, REGISTER_STATE)
        try:
            return str(out["Registered"]["ModelPackageArn"])
        except (TypeError, KeyError):
            return None

    @property
    def validation_error(self) -> float | None:
        """The floor's training metric as the model gate read it (``validation:error`` for the churn model)."""
        judged = self.judgement or {}
        value = (judged.get("floor") or {}).get("value")
        return None if value is None else float(value)

    @property
    def training_job(self) -> str | None:
        return (self.judgement or {}).get("TrainingJobName")

    @property
    def endpoint_action(self) -> str:
        """``created``, ``updated`` or ``none``: which endpoint branch the workflow took."""
        visited = set(self.visited)
        if CREATE_STATE in visited:
            return "created"
        if UPDATE_STATE in visited:
            return "updated"
        return "none"

    @property
    def data_check_failed(self) -> bool:
        """True when the ETL job failed because the new data failed its checks (before any training)."""
        return (self.status == "FAILED" and self.failed_state == ETL_STATE
                and any(marker in (self.cause or "") for marker in DATA_ERRORS))

    @property
    def verdict(self) -> str:
        """One of :data:`VERDICTS`."""
        if self.deployed:
            return "deployed"
        if self.status == "FAILED":
            named = {REJECTED_ERROR: "rejected", REVIEWER_REJECTED_ERROR: "rejected_by_reviewer",
                     APPROVAL_TIMED_OUT_ERROR: "approval_timed_out"}
            if self.error in named:
                return named[self.error]
            if self.data_check_failed:
                return "data_check_failed"
        return "failed"

    def gate(self, sm: Any = None) -> dict[str, Any]:
        """The gate's decision as the summary records it: the floor, the champion/challenger comparison, the
        decision and its reason (None values when the run stopped before the judge). After a person's decision the
        reason is theirs: with the SageMaker client ``sm``, a rejection's reason is the package's
        ``ApprovalDescription`` (set by ``retrain reject --reason``, the SDK or Studio)."""
        judged = self.judgement or {}
        floor, gate = judged.get("floor") or {}, judged.get("gate") or {}
        reason = judged.get("reason")
        if self.verdict == "approval_timed_out":
            reason = self.cause
        elif self.verdict == "rejected_by_reviewer":
            reason = "a reviewer rejected the model"
            if sm is not None and self.model_package:
                said = sm.describe_model_package(ModelPackageName=self.model_package).get("ApprovalDescription")
                reason += f": {said}" if said else " (no reason given)"
        return {"decision": judged.get("decision"), "reason": reason,
                "floor": floor or None, "metric": gate.get("metric"), "candidate": gate.get("candidate"),
                "champion": gate.get("champion"), "absolute": gate.get("absolute"), "relative": gate.get("relative"),
                "rows": gate.get("rows"), "passed": judged.get("decision") == "deploy" if judged else None,
                "approval_status": judged.get("approval_status"), "model_package": self.model_package}

    def to_state(self) -> dict[str, Any]:
        """A JSON-safe record for the run state file."""
        return {"arn": self.arn, "name": self.name, "status": self.status, "duration_s": round(self.duration_s, 3),
                "error": self.error, "cause": self.cause, "visited": self.visited,
                "endpoint_action": self.endpoint_action, "validation_error": self.validation_error,
                "training_job": self.training_job, "model_package": self.model_package, "verdict": self.verdict}

    def raise_if_failed(self) -> None:
        """Raise :class:`ExecutionFailed` unless the run reached a verdict (deployed, rejected, data checks)."""
        if self.verdict == "failed":
            raise ExecutionFailed(f"execution {self.name} ended {self.status} in state {self.failed_state!r}: "
                                  f"{self.error}: {reason(self.cause)}")


def list_all_events(client: Any, arn: str) -> list[dict[str, Any]]:
    """The whole history of the execution ``arn``, oldest first."""
    events: list[dict[str, Any]] = []
    for page in client.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def events_after(client: Any, arn: str, last_id: int) -> list[dict[str, Any]]:
    """The events of execution ``arn`` newer than event ``last_id``, oldest first.

    The history is read newest first (``reverseOrder``) and only back to the last event already seen, so a poll
    costs what happened since the last one rather than the whole history again. Event ids count up from 1 in the
    order the events happened (botocore's model of ``HistoryEvent.id``: "The id of the event. Events are
    numbered sequentially, starting at one.")."""
    newer: list[dict[str, Any]] = []
    for page in client.get_paginator("get_execution_history").paginate(executionArn=arn, reverseOrder=True):
        for event in page["events"]:
            if event["id"] <= last_id:
                return newer[::-1]
            newer.append(event)
    return newer[::-1]


def _read_on(client: Any, arn: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``events`` (the history read so far) with what happened since: the new events only. Should the new ones
    not follow on from the last one seen (ids are sequential), the whole history is read again instead."""
    if not events:
        events.extend(list_all_events(client, arn))
        return events
    fresh = events_after(client, arn, events[-1]["id"])
    if fresh and fresh[0]["id"] != events[-1]["id"] + 1:
        events[:] = list_all_events(client, arn)
    else:
        events.extend(fresh)
    return events


def wait(client: Any, arn: str, *, poll_seconds: float = 1.0, timeout_seconds: float = 3600,
         progress: bool = True, out: TextIO | Any = None, skip: int = 0) -> ExecutionReport:
    """Follow the execution until it ends, printing one status line per state entered (live progress) after its
    first ``skip`` events (a redriven execution: what happened before the redrive)."""
    stream = out or sys.stdout
    started = time.monotonic()
    seen = skip
    events: list[dict[str, Any]] = []
    while True:
        desc = client.describe_execution(executionArn=arn)
        _read_on(client, arn, events)
        if progress:
            for event in events[seen:]:
                line = _progress_line(event, desc)
                if line:
                    print(line, file=stream, flush=True)
        seen = len(events)
        if desc["status"] in TERMINAL:
            break
        if time.monotonic() - started > timeout_seconds:
            raise WorkflowError(f"execution {desc.get('name', arn)} still {desc['status']} after {timeout_seconds}s; "
                                f"look at it with list_events() or stop it.")
        time.sleep(poll_seconds)
    stop = desc.get("stopDate") or datetime.now(desc["startDate"].tzinfo)
    duration = (stop - desc["startDate"]).total_seconds()
    error, cause = failure(events)
    output = json.loads(desc["output"]) if desc.get("output") else None
    report = ExecutionReport(arn=arn, name=desc["name"], status=desc["status"], duration_s=duration, events=events,
                             output=output, error=error or desc.get("error"), cause=cause or desc.get("cause"))
    if progress:
        print(f"[{duration:7.1f}s] execution {report.status}: {report.verdict}"
              + (f" ({report.error})" if report.error else ""), file=stream, flush=True)
    return report


def _progress_line(event: dict[str, Any], desc: dict[str, Any]) -> str | None:
    at = (event["timestamp"] - desc["startDate"]).total_seconds() if "timestamp" in event else 0.0
    name = entered_state(event)
    if name:
        return f"[{at:7.1f}s] > {name}"
    kind = event.get("type", "")
    if kind in ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut"):
        details = _details(event)
        return f"[{at:7.1f}s] ! {kind}: {details.get('error')}: {str(details.get('cause', ''))[:200]}"
    return None


def wait_for_state(client: Any, arn: str, state: str, *, poll_seconds: float = 1.0, timeout_seconds: float = 3600,
                   out: TextIO | None = None) -> list[dict[str, Any]]:
    """Follow the execution (printing each state entered) until ``state`` has exited or the execution ended;
    the events so far. Used to show the judge's verdict before a person decides on a model."""
    stream = out or sys.stdout
    started, seen = time.monotonic(), 0
    events: list[dict[str, Any]] = []
    while True:
        desc = client.describe_execution(executionArn=arn)
        _read_on(client, arn, events)
        for event in events[seen:]:
            line = _progress_line(event, desc)
            if line:
                print(line, file=stream, flush=True)
        seen = len(events)
        if desc["status"] in TERMINAL or any(exited_state(e) == state for e in events):
            return events
        if time.monotonic() - started > timeout_seconds:
            raise WorkflowError(f"execution {desc.get('name', arn)} did not reach {state!r} within {timeout_seconds}s")
        time.sleep(poll_seconds)
