"""Glue state and operations: job definitions and job runs per region (no HTTP here).

Runs execute on background threads through :class:`~localcloud.services.glue.runner.Runner`, which reaches this
module only through its :class:`~localcloud.services.glue.runner.RunCallbacks` (``transition`` and ``retry``); this
module owns every state transition, under one lock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import uuid
from typing import Any

from localcloud.core.arns import arn
from localcloud.core.context import ServerContext
from localcloud.core.jobs import Workers, utcnow
from localcloud.errors import AWSError

from . import validation as v
from .models import ACTIVE_STATES, TERMINAL_STATES, WORKER_DPU, Job, JobRun, default_timeout
from .runner import Runner

LOG = logging.getLogger(__name__)

#: job fields copied as given (beyond those normalised below)
PASSTHROUGH = (
    "Description", "LogUri", "Connections", "SecurityConfiguration", "NotificationProperty",
    "CodeGenConfigurationNodes", "SourceControlDetails", "MaintenanceWindow", "JobRunQueuingEnabled",
    "ProfileName", "NonOverridableArguments",
)  # fmt: skip
#: run settings StartJobRun may override
RUN_OVERRIDES = ("Timeout", "WorkerType", "NumberOfWorkers", "MaxCapacity", "AllocatedCapacity",
                 "SecurityConfiguration", "NotificationProperty", "ExecutionClass")


def not_found(name: str) -> AWSError:
    return AWSError("EntityNotFoundException", f"Job with name: {name} not found.")


def _capacity(fields: dict[str, Any], command: str) -> tuple[float, int]:
    """(MaxCapacity, AllocatedCapacity) as Glue reports them for these settings."""
    if fields.get("WorkerType") is not None:
        dpu = WORKER_DPU[fields["WorkerType"]] * int(fields["NumberOfWorkers"])
        return float(dpu), int(dpu)
    if fields.get("MaxCapacity") is not None:
        return float(fields["MaxCapacity"]), int(fields["MaxCapacity"])
    if fields.get("AllocatedCapacity") is not None:
        return float(fields["AllocatedCapacity"]), int(fields["AllocatedCapacity"])
    return (0.0625, 0) if command == "pythonshell" else (10.0, 10)


def normalise_definition(params: dict[str, Any]) -> dict[str, Any]:
    """A job definition from CreateJob/JobUpdate fields, with Glue's defaults filled in."""
    role = params.get("Role")
    if not isinstance(role, str) or not role.strip():
        raise v.invalid("Role should not be null or empty.")
    command = v.check_command(params.get("Command"))
    version = v.check_glue_version(params.get("GlueVersion"))
    timeout = v.check_timeout(params.get("Timeout"))
    v.check_capacity(params)
    execution = dict(params.get("ExecutionProperty") or {})
    concurrent = execution.setdefault("MaxConcurrentRuns", 1)
    if isinstance(concurrent, bool) or not isinstance(concurrent, int) or concurrent < 1:
        raise v.invalid(f"MaxConcurrentRuns must be a positive whole number, got {concurrent!r}.")
    retries = params.get("MaxRetries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise v.invalid(f"MaxRetries must be zero or a positive whole number, got {retries!r}.")
    max_capacity, allocated = _capacity(params, command["Name"])
    definition: dict[str, Any] = {
        "JobMode": params.get("JobMode") or "SCRIPT",
        "Role": role,
        "ExecutionProperty": execution,
        "Command": command,
        "DefaultArguments": v.check_arguments(params.get("DefaultArguments"), "DefaultArguments"),
        "MaxRetries": retries,
        "AllocatedCapacity": allocated,
        "Timeout": timeout or default_timeout(version),
        "MaxCapacity": max_capacity,
        "ExecutionClass": params.get("ExecutionClass") or "STANDARD",
    }
    if version:
        definition["GlueVersion"] = version
    if params.get("WorkerType") is not None:
        definition["WorkerType"] = params["WorkerType"]
        definition["NumberOfWorkers"] = params["NumberOfWorkers"]
    for key in PASSTHROUGH:
        if params.get(key) is not None:
            definition[key] = params[key]
    if "NonOverridableArguments" in definition:
        definition["NonOverridableArguments"] = v.check_arguments(
            definition["NonOverridableArguments"], "NonOverridableArguments")
    return definition


def _page(items: list[Any], token: str | None, max_results: int | None, default: int = 100) -> tuple[list[Any], str | None]:
    start = 0
    if token:
        try:
            start = int(json.loads(base64.b64decode(token))["offset"])
        except (ValueError, KeyError, TypeError):
            raise v.invalid("Invalid NextToken: pass the token of the previous page unchanged.") from None
    size = max_results or default
    end = start + size
    next_token = base64.b64encode(json.dumps({"offset": end}).encode()).decode() if end < len(items) else None
    return items[start:end], next_token


class GlueBackend:
    """All Glue jobs and runs of one localcloud, per region."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self._lock = threading.RLock()
        self._jobs: dict[tuple[str, str], Job] = {}
        self._runs: dict[tuple[str, str], list[JobRun]] = {}  # (region, job) -> runs, oldest first
        self.threads = Workers()
        self.runner = Runner(ctx, self)
        #: when to start the Spark worker ahead of the first run: "create" (a glueetl job is created or
        #: updated), "start" (at service start) or "off" (at the first run)
        self.prewarm_mode = os.environ.get("LOCALCLOUD_GLUE_PREWARM", "create")
        if self.prewarm_mode == "start":
            self.runner.prewarm()

    # ------------------------------------------------------------------------------------------- jobs
    def create_job(self, region: str, params: dict[str, Any]) -> str:
        name = v.check_name(params.get("Name"))
        definition = normalise_definition(params)
        tags = params.get("Tags") or {}
        with self._lock:
            if (region, name) in self._jobs:
                raise AWSError("AlreadyExistsException", f"Job with name: {name} already exists.")
            now = utcnow()
            self._jobs[(region, name)] = Job(name, definition, now, now, dict(tags), arn("glue", region, f"job/{name}"))
        self._maybe_prewarm(definition)
        return name

    def job_by_arn(self, resource_arn: str) -> Job:
        """The job an ARN names (``arn:aws:glue:<region>:<account>:job/<name>``); Glue tags jobs by ARN."""
        with self._lock:
            for job in self._jobs.values():
                if job.arn == resource_arn:
                    return job
        raise AWSError("EntityNotFoundException", f"Resource {resource_arn} not found.")

    def tags(self, resource_arn: str) -> dict[str, str]:
        return dict(self.job_by_arn(resource_arn).tags)

    def tag_resource(self, resource_arn: str, tags: dict[str, str]) -> None:
        with self._lock:
            self.job_by_arn(resource_arn).tags.update(tags)

    def untag_resource(self, resource_arn: str, keys: list[str]) -> None:
        with self._lock:
            tags = self.job_by_arn(resource_arn).tags
            for key in keys:
                tags.pop(key, None)

    def get_job(self, region: str, name: str) -> Job:
        with self._lock:
            job = self._jobs.get((region, name))
            if job is None:
                raise not_found(name)
            return job

    def update_job(self, region: str, name: str, update: dict[str, Any]) -> str:
        if not isinstance(update, dict):
            raise v.invalid("JobUpdate should not be null.")
        definition = normalise_definition(update)
        with self._lock:
            job = self.get_job(region, name)
            job.definition = definition  # JobUpdate replaces the definition: what is left out is reset
            job.last_modified_on = utcnow()
        self._maybe_prewarm(definition)
        return name

    def delete_job(self, region: str, name: str) -> str:
        """Delete a job and its run history; deleting a job that does not exist is not an error (as on AWS)."""
        with self._lock:
            self._jobs.pop((region, name), None)
            self._runs.pop((region, name), None)
        return name

    def jobs(self, region: str, tags: dict[str, str] | None = None) -> list[Job]:
        with self._lock:
            found = [j for (r, _), j in self._jobs.items() if r == region]
        if tags:
            found = [j for j in found if all(j.tags.get(k) == val for k, val in tags.items())]
        return sorted(found, key=lambda j: j.name)

    def page(self, items: list[Any], token: str | None, max_results: int | None) -> tuple[list[Any], str | None]:
        return _page(items, token, max_results)

    def _maybe_prewarm(self, definition: dict[str, Any]) -> None:
        if self.prewarm_mode == "create" and definition["Command"]["Name"] == "glueetl":
            self.runner.prewarm()

    # ------------------------------------------------------------------------------------------- runs
    def start_job_run(self, region: str, params: dict[str, Any]) -> str:
        name = v.check_name(params.get("JobName"), "JobName")
        arguments = v.check_arguments(params.get("Arguments"), "Arguments")
        overrides = {k: params[k] for k in RUN_OVERRIDES if params.get(k) is not None}
        v.check_timeout(overrides.get("Timeout"))
        with self._lock:
            job = self.get_job(region, name)
            runs = self._runs.setdefault((region, name), [])
            previous = params.get("JobRunId")
            if previous:  # a retry of an earlier run: its arguments unless new ones are given
                earlier = next((r for r in runs if r.id == previous), None)
                if earlier is None:
                    raise AWSError("EntityNotFoundException", f"Job run {previous} not found for job {name}.")
                if params.get("Arguments") is None:
                    arguments = dict(earlier.arguments)
            # StartJobRun's JobRunQueuingEnabled wins over the job's (Glue API model, JobRunQueuingEnabled)
            queuing = params.get("JobRunQueuingEnabled")
            queuing = bool(job.definition.get("JobRunQueuingEnabled") if queuing is None else queuing)
            full = sum(1 for r in runs if r.active) >= job.max_concurrent_runs
            if full and not queuing:
                raise AWSError("ConcurrentRunsExceededException", f"Concurrent runs exceeded for {name}")
            settings = self._run_settings(job, overrides)
            run = self._new_run(region, job, arguments, settings, attempt=0, previous=previous)
            run.queuing = queuing
            if full:
                run.state = "WAITING"
                run.state_detail = (f"Job run is waiting: the job's maximum number of concurrent runs "
                                    f"(MaxConcurrentRuns {job.max_concurrent_runs}) is reached.")
            runs.append(run)
        self.threads.start(f"glue-run-{run.id[:12]}", lambda: self._queued(run, job))
        return run.id

    def _queued(self, run: JobRun, job: Job) -> None:
        """A WAITING run starts when it is the oldest waiting run and a slot is free ("AWS Glue job run
        statuses": with job run queuing, runs over MaxConcurrentRuns wait instead of failing)."""
        while run.state == "WAITING":
            with self._lock:
                runs = self._runs.get((run.region, run.job_name), [])
                running = sum(1 for r in runs if r.active and r.state != "WAITING")
                first = next((r for r in runs if r.state == "WAITING"), None)
                if first is run and running < job.max_concurrent_runs:
                    run.state, run.state_detail = "STARTING", None
                    run.last_modified_on = utcnow()
                    break
            if self.threads.stopping.is_set():
                run.cancel.set()
            if run.cancel.wait(0.05):
                break
        if run.state == "STARTING" and not run.cancel.is_set():
            self.runner.execute(run, job)
        else:
            self.transition(run, "STOPPED")  # stopped while it waited: it never ran

    def _run_settings(self, job: Job, overrides: dict[str, Any]) -> dict[str, Any]:
        keys = ("Timeout", "WorkerType", "NumberOfWorkers", "MaxCapacity", "AllocatedCapacity", "GlueVersion",
                "SecurityConfiguration", "NotificationProperty", "ExecutionClass")
        settings = {k: job.definition.get(k) for k in keys}
        if "WorkerType" in overrides or "NumberOfWorkers" in overrides or "MaxCapacity" in overrides:
            merged = {k: overrides.get(k, settings.get(k)) for k in ("WorkerType", "NumberOfWorkers")}
            if "MaxCapacity" in overrides:
                merged = {"MaxCapacity": overrides["MaxCapacity"]}
            v.check_capacity(merged)
            settings.update(WorkerType=merged.get("WorkerType"), NumberOfWorkers=merged.get("NumberOfWorkers"))
            settings["MaxCapacity"], settings["AllocatedCapacity"] = _capacity(merged, job.command.get("Name", ""))
        for key in ("Timeout", "SecurityConfiguration", "NotificationProperty", "ExecutionClass"):
            if key in overrides:
                settings[key] = overrides[key]
        return settings

    def _new_run(self, region: str, job: Job, arguments: dict[str, str], settings: dict[str, Any], *,
                 attempt: int, previous: str | None, run_id: str | None = None) -> JobRun:
        script_arguments = {**job.definition.get("DefaultArguments", {}), **arguments,
                            **job.definition.get("NonOverridableArguments", {})}
        now = utcnow()
        return JobRun(
            id=run_id or "jr_" + hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
            job_name=job.name, region=region, attempt=attempt, arguments=arguments,
            script_arguments=script_arguments, settings=settings, started_on=now, last_modified_on=now,
            previous_run_id=previous,
        )

    def retry(self, run: JobRun, job: Job) -> JobRun | None:
        """Glue's automatic retry of a failed run (``MaxRetries``): a new attempt with id ``<id>_attempt_<n>``."""
        if run.attempt >= int(job.definition.get("MaxRetries", 0)):
            return None
        with self._lock:
            runs = self._runs.get((run.region, run.job_name))
            if runs is None:  # the job was deleted meanwhile
                return None
            base = run.id.split("_attempt_")[0]
            again = self._new_run(run.region, job, run.arguments, run.settings, attempt=run.attempt + 1,
                                  previous=run.id, run_id=f"{base}_attempt_{run.attempt + 1}")
            runs.append(again)
        return again

    def get_job_run(self, region: str, name: str, run_id: str) -> JobRun:
        with self._lock:
            self.get_job(region, name)
            for run in self._runs.get((region, name), []):
                if run.id == run_id:
                    return run
        raise AWSError("EntityNotFoundException", f"Job run {run_id} not found for job {name}.")

    def job_runs(self, region: str, name: str) -> list[JobRun]:
        with self._lock:
            self.get_job(region, name)
            return list(reversed(self._runs.get((region, name), [])))  # newest first, as Glue lists them

    def batch_stop(self, region: str, name: str, run_ids: list[str]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
        stopped: list[dict[str, str]] = []
        errors: list[dict[str, Any]] = []
        with self._lock:
            runs = {r.id: r for r in self._runs.get((region, name), [])} if (region, name) in self._jobs else {}
            for run_id in run_ids:
                run = runs.get(run_id)
                if run is None:
                    errors.append({"JobName": name, "JobRunId": run_id, "ErrorDetail": {
                        "ErrorCode": "EntityNotFoundException",
                        "ErrorMessage": f"Job run {run_id} not found for job {name}."}})
                elif run.state in TERMINAL_STATES:
                    errors.append({"JobName": name, "JobRunId": run_id, "ErrorDetail": {
                        "ErrorCode": "InvalidInputException",
                        "ErrorMessage": f"Job run {run_id} is already {run.state} and cannot be stopped."}})
                else:
                    if run.state != "STOPPING":
                        self.transition(run, "STOPPING")
                    run.cancel.set()
                    stopped.append({"JobName": name, "JobRunId": run_id})
        return stopped, errors

    # ------------------------------------------------------------------------------------------- transitions
    def transition(self, run: JobRun, state: str, **fields: Any) -> bool:
        """Move a run to ``state`` unless it already ended; return whether it moved."""
        with self._lock:
            if run.state in TERMINAL_STATES:
                return False
            if run.state == "STOPPING" and state not in ("STOPPED", "TIMEOUT", "FAILED", "SUCCEEDED"):
                return False
            run.state = state
            run.last_modified_on = utcnow()
            for key, value in fields.items():
                setattr(run, key, value)
            if state in TERMINAL_STATES:
                run.completed_on = run.last_modified_on
            LOG.info("Glue run %s of %s: %s", run.id[:16], run.job_name, state)
            return True

    def active_runs(self) -> int:
        with self._lock:
            return sum(1 for runs in self._runs.values() for r in runs if r.state in ACTIVE_STATES)

    def shutdown(self) -> None:
        with self._lock:
            for runs in self._runs.values():
                for run in runs:
                    if run.active:
                        run.cancel.set()
        self.runner.shutdown()
        self.threads.shutdown(timeout=15)
