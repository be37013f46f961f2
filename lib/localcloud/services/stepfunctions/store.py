"""What every part of the Step Functions backend shares: the records, their lock, and finding one by ARN."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from localcloud.asl import TokenRegistry
from localcloud.asl.history import now
from localcloud.asl.mapruns import MapRun
from localcloud.core.events import EventHub
from localcloud.core.jobs import Workers
from localcloud.errors import AWSError
from localcloud.services.stepfunctions import statusevents
from localcloud.services.stepfunctions import validation as check
from localcloud.services.stepfunctions.models import (
    AliasRecord,
    ExecutionRecord,
    StateMachineRecord,
    VersionRecord,
)


def utcnow() -> datetime:
    """The current time at millisecond precision, as Step Functions reports it."""
    return now()


class Store:
    """The backend's records (every region; ARNs carry the region); hold :attr:`lock` to change them."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.machines: dict[str, StateMachineRecord] = {}
        self.versions: dict[str, VersionRecord] = {}
        self.aliases: dict[str, AliasRecord] = {}
        self.executions: dict[str, ExecutionRecord] = {}
        self._executions_of: dict[str, list[str]] = {}
        #: EXPRESS executions started asynchronously (not kept as records; stopped at shutdown)
        self.express_runs: list[Any] = []
        #: Map Run ARN → (the run, its parent execution's state machine ARN)
        self.map_runs: dict[str, tuple[MapRun, str]] = {}
        #: RedriveExecution client tokens per execution: (token, when, redriveDate)
        self.client_tokens: dict[str, list[tuple[str, float, datetime]]] = {}
        self.tokens = TokenRegistry()
        self.workers = Workers()
        #: multiplies every duration of a definition (Wait, retry intervals, timeouts); 1.0 is AWS's clock
        self.time_scale = 1.0
        self.integrations: Any = None
        #: the server's endpoint (services are called back over HTTP)
        self.endpoint_url = ""
        #: where execution status changes go (EventBridge's default bus: :mod:`.statusevents`); None: nowhere
        self.events: EventHub | None = None

    @property
    def lock(self) -> threading.RLock:
        """Held while records change; hold it to read several fields of a record consistently."""
        return self._lock

    def state_machine(self, arn: str) -> StateMachineRecord:
        """The state machine an unqualified ARN names (StateMachineDoesNotExist when there is none, a version's or
        alias's ARN included: recorded on AWS, test_sfn_api_versioning.snapshot.json test_update_state_machine
        ``invalid_arn_1``)."""
        check.state_machine_arn(arn, qualified=True)
        with self._lock:
            record = self.machines.get(arn)
        if record is None:
            raise AWSError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        return record

    def execution(self, arn: str) -> ExecutionRecord:
        check.execution_arn(arn)
        with self._lock:
            record = self.executions.get(arn)
        if record is None:
            raise AWSError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        return self.refresh(record)

    def add_execution(self, record: ExecutionRecord, listed_under: str) -> None:
        """Keep an execution (the caller holds the lock); ``listed_under``: the ARN ListExecutions finds it by."""
        self.executions[record.arn] = record
        self._executions_of.setdefault(listed_under, []).append(record.arn)

    def executions_of(self, arn: str) -> list[ExecutionRecord]:
        with self._lock:
            return [self.executions[a] for a in self._executions_of.get(arn, [])]

    def refresh(self, record: ExecutionRecord) -> ExecutionRecord:
        """The record, brought up to date with its engine (a Map Run's child ends on the run's own thread)."""
        if record.status == "RUNNING" and record.engine.result is not None:
            self.finish(record)
        return record

    def finish(self, record: ExecutionRecord) -> None:
        """Copy how the engine ended the execution into its record (and tell EventBridge, once)."""
        result = record.engine.result
        with self._lock:
            ended = record.status == "RUNNING"
            if result is None:
                record.status, record.error = "FAILED", "States.Runtime"
                record.cause, record.stop_date = "The execution ended without a result.", utcnow()
            else:
                record.status, record.output = result.status, result.output
                record.error, record.cause, record.stop_date = result.error, result.cause, result.stop_date
            ended = ended and record.status != "RUNNING"
        if ended:
            self.status_changed(record)

    def status_changed(self, record: ExecutionRecord) -> None:
        """Send the execution's "Step Functions Execution Status Change" event (:mod:`.statusevents`)."""
        if self.events is None or not statusevents.sends(record):
            return
        with self._lock:
            event = statusevents.status_event(record, utcnow())
        self.events.send(*event)
