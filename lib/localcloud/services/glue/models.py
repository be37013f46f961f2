"""Glue jobs and job runs as localcloud keeps them, and their AWS wire shapes (``Job``, ``JobRun``)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: run states that still hold resources (count toward ``MaxConcurrentRuns``)
ACTIVE_STATES = ("STARTING", "RUNNING", "STOPPING", "WAITING")
TERMINAL_STATES = ("STOPPED", "SUCCEEDED", "FAILED", "TIMEOUT", "ERROR", "EXPIRED")
COMMANDS = ("glueetl", "pythonshell", "gluestreaming", "glueray")
#: DPUs per worker of each worker type
WORKER_DPU: dict[str, float] = {
    "Standard": 1.0, "G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0, "G.12X": 12.0,
    "G.16X": 16.0, "Z.2X": 2.0, "R.1X": 1.0, "R.2X": 2.0, "R.4X": 4.0, "R.8X": 8.0,
}  # fmt: skip
MAX_TIMEOUT_MINUTES = 10080
LOG_GROUP = "/aws-glue/jobs"


def default_timeout(glue_version: str | None) -> int:
    """Glue's default job timeout: 2,880 minutes up to Glue 4.0, 480 from 5.0 on (and for the default 6.0)."""
    try:
        major = float(glue_version) if glue_version and glue_version != "auto" else 6.0
    except ValueError:
        major = 6.0
    return 2880 if major < 5.0 else 480


@dataclass
class Job:
    """A job definition (the fields of ``CreateJob``/``JobUpdate``) plus its timestamps and tags."""

    name: str
    definition: dict[str, Any]
    created_on: datetime
    last_modified_on: datetime
    tags: dict[str, str] = field(default_factory=dict)
    arn: str = ""

    @property
    def command(self) -> dict[str, Any]:
        return dict(self.definition.get("Command") or {})

    @property
    def max_concurrent_runs(self) -> int:
        return int((self.definition.get("ExecutionProperty") or {}).get("MaxConcurrentRuns", 1))

    def to_api(self) -> dict[str, Any]:
        """The ``Job`` structure of GetJob/GetJobs."""
        return {"Name": self.name, **self.definition, "CreatedOn": self.created_on,
                "LastModifiedOn": self.last_modified_on}


@dataclass
class JobRun:
    """One run of a job; ``cancel`` is set by BatchStopJobRun, the runner watches it."""

    id: str
    job_name: str
    region: str
    attempt: int
    arguments: dict[str, str]  # the run's own arguments, as StartJobRun gave them
    script_arguments: dict[str, str]  # what the script sees: defaults + run arguments + non-overridable
    settings: dict[str, Any]  # Timeout, WorkerType, NumberOfWorkers, MaxCapacity, ... in force for this run
    started_on: datetime
    last_modified_on: datetime
    state: str = "STARTING"
    previous_run_id: str | None = None
    completed_on: datetime | None = None
    running_since: float | None = None  # monotonic clock, for ExecutionTime
    execution_time: int = 0
    error_message: str | None = None
    log_path: str | None = None
    worker_pid: int | None = None
    queuing: bool = False  # JobRunQueuingEnabled in force for this run
    session: Any = None  # the job role's credentials the run acts with (localcloud.core.sessions.RoleSession)
    state_detail: str | None = None  # why a WAITING run waits
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def elapsed(self) -> int:
        """Seconds the run has consumed resources (so far, while it runs)."""
        if self.active and self.running_since is not None:
            return int(time.monotonic() - self.running_since)
        return self.execution_time

    def to_api(self) -> dict[str, Any]:
        """The ``JobRun`` structure of GetJobRun/GetJobRuns."""
        out: dict[str, Any] = {
            "Id": self.id,
            "Attempt": self.attempt,
            "JobName": self.job_name,
            "JobMode": "SCRIPT",
            "StartedOn": self.started_on,
            "LastModifiedOn": self.last_modified_on,
            "JobRunState": self.state,
            "Arguments": dict(self.arguments),
            "PredecessorRuns": [],
            "ExecutionTime": self.elapsed(),
            "LogGroupName": LOG_GROUP,
        }
        if self.previous_run_id:
            out["PreviousRunId"] = self.previous_run_id
        if self.completed_on is not None:
            out["CompletedOn"] = self.completed_on
        if self.error_message:
            out["ErrorMessage"] = self.error_message
        out["JobRunQueuingEnabled"] = self.queuing
        if self.state_detail:
            out["StateDetail"] = self.state_detail
        for key in ("AllocatedCapacity", "Timeout", "MaxCapacity", "WorkerType", "NumberOfWorkers",
                    "SecurityConfiguration", "NotificationProperty", "GlueVersion", "ExecutionClass"):
            if self.settings.get(key) is not None:
                out[key] = self.settings[key]
        return out
