"""``retrain redrive RUN``: continue a run's failed, aborted or timed-out execution from the state that failed.

RedriveExecution "continues the failed execution from the unsuccessful step and uses the same input. Step Functions
preserves the results and execution history of the successful steps, and doesn't rerun these steps"; it is for
STANDARD workflows only, "that didn't complete successfully in the last 14 days", with fewer than 24,999 history
events, and DescribeExecution's ``redriveStatus``/``redriveStatusReason`` say beforehand whether it would be
refused (botocore's ``stepfunctions`` 2016-11-23 model: RedriveExecution, DescribeExecutionOutput). The command:

1. finds the run's execution: the one its history record names, else the one ``retrain run`` names
   ``<project>-<RUN>``, else an execution named ``RUN``, else (a run a trigger started, which named itself from its
   start time: :func:`retrain.workflow.naming_steps`) the execution started in that second whose ``Run Id From
   Execution`` state gave it that id;
2. refuses (exit 2) with the reason and the fix when it is unknown or not redrivable;
3. redrives it and follows it with the live progress of notebook 04 (:func:`retrain.execute.wait`), printing only
   what happens after the ``ExecutionRedriven`` event;
4. updates the run's record (``retrain history``) and its report's ``summary.json`` when they exist.

Exit codes as ``retrain run``: 0 deployed, 3 not deployed (rejected), 4 the data failed its checks, 1 failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import Params
from retrain.errors import RunRefused
from retrain.execute import ExecutionReport, state_output, wait
from retrain.resources import Layout
from retrain.summary import EXIT_CODES

RUN_ID = re.compile(r"^(\d{8}-\d{6})-[0-9a-f]+$")
FROM_EXECUTION_STATE = "Run Id From Execution"
NAME_STATE = "Name the Run"

#: DescribeExecutionOutput ``redriveStatusReason`` (botocore's stepfunctions model lists these) -> what to do
FIXES = {
    "State machine is in DELETING status": "the state machine was deleted (a clean-up without triggers deletes "
    "it); start the run again: `retrain run --resume {run}` continues the notebook chain",
    "Execution is RUNNING and cannot be redriven": "it is still running: wait for it (`retrain schedule status`), "
    "or decide on its model with `retrain approve`/`retrain reject` if it waits for a person",
    "Execution is SUCCEEDED and cannot be redriven": "it succeeded: there is nothing to redrive",
    "Execution redrivable period exceeded": "it ended more than 14 days ago: start a new run (`retrain run`)",
    "Execution history event limit exceeded": "its history is too long to redrive: start a new run (`retrain run`)",
    "Execution has exceeded the max execution time": "it was open for a year: start a new run (`retrain run`)",
}


@dataclass
class Redriven:
    run_id: str
    report: ExecutionReport
    redrive_count: int
    kept: list[str]
    resumed_at: str | None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.report.verdict, 1)


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "StateMachineDoesNotExist",
                                                        "InvalidArn", "ResourceNotFound")


def _describe(sfn: Any, arn: str) -> dict[str, Any] | None:
    try:
        return dict(sfn.describe_execution(executionArn=arn))
    except ClientError as exc:
        if _missing(exc):
            return None
        raise


def execution_prefix(params: Params, account: str) -> str:
    """``arn:aws:states:<region>:<account>:execution:<state machine>:`` (an execution's ARN without its name)."""
    return f"arn:aws:states:{params.region}:{account}:execution:{params.state_machine_name}:"


def _named_by_itself(sfn: Any, params: Params, account: str, run_id: str) -> str | None:
    """The execution a trigger started that named itself ``run_id``: started in the second the id begins with,
    its ``Run Id From Execution`` state's output says so."""
    from retrain.execute import list_all_events
    from retrain.triggers import machine_arn

    match = RUN_ID.match(run_id)
    if not match:
        return None
    second = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    try:
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn(params, account))
        listed = [e for page in pages for e in page["executions"]]
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    for execution in listed:
        if execution["startDate"].astimezone(UTC).replace(microsecond=0) != second:
            continue
        out = state_output(list_all_events(sfn, execution["executionArn"]), FROM_EXECUTION_STATE) or {}
        if out.get("RunId") == run_id:
            return str(execution["executionArn"])
    return None


def find_execution(sfn: Any, s3: Any, params: Params, account: str, layout: Layout, run_id: str) -> dict[str, Any]:
    """DescribeExecution of the run's execution; :class:`RunRefused` when there is none."""
    from retrain.history import RECORD, read_json

    try:
        record = read_json(s3, layout.run_prefix(run_id) + RECORD)
    except ClientError as exc:  # no bucket (yet): no record
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise
        record = None
    prefix = execution_prefix(params, account)
    candidates = [(record or {}).get("execution"), f"{prefix}{params.project_name}-{run_id}", f"{prefix}{run_id}"]
    for arn in filter(None, candidates):
        found = _describe(sfn, str(arn))
        if found:
            return found
    arn = _named_by_itself(sfn, params, account, run_id)
    found = _describe(sfn, arn) if arn else None
    if found:
        return found
    raise RunRefused(f"no execution of run {run_id} on {params.target} (looked for its record under "
                     f"{layout.run_prefix(run_id)}, the executions {prefix}{params.project_name}-{run_id} and "
                     f"{prefix}{run_id}, and one a trigger started that second): `retrain history` lists the "
                     "recorded runs, `retrain schedule status` the latest executions; check --params/-p name the "
                     "same project and target.")


def require_redrivable(described: dict[str, Any], run_id: str) -> None:
    """:class:`RunRefused` with the reason and the fix unless DescribeExecution says REDRIVABLE."""
    status, reason = described.get("redriveStatus"), described.get("redriveStatusReason")
    if status == "REDRIVABLE" or (status is None and described["status"] in ("FAILED", "ABORTED", "TIMED_OUT")):
        return
    reason = reason or f"Execution is {described['status']} and cannot be redriven"
    fix = FIXES.get(reason.rstrip("."), "see the execution in the Step Functions console").format(run=run_id)
    raise RunRefused(f"run {run_id} cannot be redriven: {reason} ({described['executionArn']}); {fix}.")


def redrive(cloud: Any, params: Params, layout: Layout, run_id: str, *, out_dir: Path | None = None,
            echo: Callable[[str], None] = print) -> Redriven:
    """Redrive run ``run_id``'s execution, follow it to its end and update its record and summary."""
    sfn, s3 = cloud.client("stepfunctions"), cloud.client("s3")
    described = find_execution(sfn, s3, params, cloud.account_id, layout, run_id)
    arn = described["executionArn"]
    require_redrivable(described, run_id)
    before = _history_length(sfn, arn)
    try:
        sfn.redrive_execution(executionArn=arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionNotRedrivable":
            raise
        message = exc.response.get("Error", {}).get("Message", "")
        raise RunRefused(f"run {run_id} cannot be redriven: {message} ({arn}); "
                         f"{FIXES.get(message.rstrip('.'), 'start a new run (`retrain run`)').format(run=run_id)}.") from exc
    echo(f"retrain redrive {run_id}: {arn} (was {described['status']})")
    poll = 0.25 if params.target == "local" else 10
    report = wait(sfn, arn, poll_seconds=poll, timeout_seconds=params.execution_timeout_seconds + 60, skip=before,
                  out=_Echo(echo))
    kept, resumed_at = _kept_and_resumed(report.events, before)
    count = int(sfn.describe_execution(executionArn=arn).get("redriveCount", 0))
    echo(f"kept (not run again): {', '.join(kept) or 'none'}; redriven from {resumed_at or 'nothing'}")
    done = Redriven(run_id, report, count, kept, resumed_at)
    _update_record(cloud, params, layout, done)
    _update_summary(out_dir or Path(params.root) / "reports" / run_id, done, cloud)
    return done


class _Echo:
    """A text stream that hands whole lines to ``echo`` (what :func:`wait` prints to)."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line:
                self.echo(line)
        return len(text)

    def flush(self) -> None:
        return None


def _history_length(sfn: Any, arn: str) -> int:
    from retrain.execute import list_all_events

    return len(list_all_events(sfn, arn))


def _kept_and_resumed(events: list[dict[str, Any]], before: int) -> tuple[list[str], str | None]:
    """The states that succeeded before the redrive (kept) and the first state entered after it."""
    from retrain.execute import entered_state, exited_state

    kept = [name for name in (exited_state(e) for e in events[:before]) if name]
    after = [name for name in (entered_state(e) for e in events[before:]) if name]
    return list(dict.fromkeys(kept)), after[0] if after else None


def _redrive_entry(done: Redriven) -> dict[str, Any]:
    return {"redrive_count": done.redrive_count, "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "from_state": done.resumed_at, "status": done.report.status, "verdict": done.report.verdict}


def _update_record(cloud: Any, params: Params, layout: Layout, done: Redriven) -> None:
    """The run's record (``retrain history``), when it has one, says how the redriven execution ended."""
    from retrain.history import RECORD, read_json, write_record

    s3 = cloud.client("s3")
    record = read_json(s3, layout.run_prefix(done.run_id) + RECORD)
    if record is None:
        return
    report, names = done.report, (state_output(done.report.events, NAME_STATE) or {}).get("Run", {})
    record.pop("run_id", None)
    record.pop("recorded_at", None)
    record.update(status=report.verdict, execution=report.arn, gate=report.gate(cloud.client("sagemaker")),
                  training_metrics=(report.judgement or {}).get("metrics"),
                  endpoint_config=names.get("EndpointConfigName") if report.deployed else None,
                  redrives=[*record.get("redrives", []), _redrive_entry(done)])
    write_record(s3, layout, done.run_id, record)


def _update_summary(out: Path, done: Redriven, cloud: Any) -> None:
    """The report's ``summary.json`` (and ``index.html``), when the run has a report here."""
    from retrain.reports import write_index

    file = out / "summary.json"
    if not file.is_file():
        return
    summary = json.loads(file.read_text(encoding="utf-8"))
    report = done.report
    gate = report.gate(cloud.client("sagemaker"))
    outcome = f"{report.error}: {report.cause}" if report.verdict == "failed" else gate.get("reason") or report.verdict
    summary.update(status=report.verdict, message=f"redriven from {done.resumed_at}: {outcome}", gate=gate,
                   execution={"arn": report.arn, "status": report.status, "duration_s": round(report.duration_s, 3)},
                   redrives=[*summary.get("redrives", []), {**_redrive_entry(done), "kept": done.kept}])
    write_index(summary, out)
