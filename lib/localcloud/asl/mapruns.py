"""A Map Run: what a Distributed Map state started, its counters and limits, and who is told about it.

The engine keeps the live record; the service that runs the engine (the host) registers it and its child
executions so that DescribeMapRun, ListMapRuns, UpdateMapRun and ListExecutions(mapRunArn) can answer.
Layer: bottom of the engine (imports only :mod:`.history` for timestamps).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from localcloud.asl.history import now

#: the statuses a child execution ends in, and the counter each one moves (MapRunExecutionCounts, API reference)
COUNTERS = {"SUCCEEDED": "succeeded", "FAILED": "failed", "TIMED_OUT": "timedOut", "ABORTED": "aborted"}


@dataclass
class Counts:
    """MapRunItemCounts / MapRunExecutionCounts."""

    total: int = 0
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    timedOut: int = 0  # noqa: N815 - the API's member name
    aborted: int = 0
    resultsWritten: int = 0  # noqa: N815 - the API's member name

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class MapRun:
    """One Map Run of a Distributed Map state (``arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id>``)."""

    arn: str
    execution_arn: str
    state_machine_arn: str  #: the child workflows' state machine: ``<machine ARN>/<label>``
    label: str
    max_concurrency: int
    tolerated_failure_count: int | None  #: None: not given (DescribeMapRun reports 0)
    tolerated_failure_percentage: float | None
    start_date: datetime = field(default_factory=now)
    stop_date: datetime | None = None
    status: str = "RUNNING"
    items: Counts = field(default_factory=Counts)
    executions: Counts = field(default_factory=Counts)
    redrive_count: int = 0
    redrive_date: datetime | None = None
    #: index of the item (or batch) → the child execution that ran it last
    children: dict[int, Any] = field(default_factory=dict)
    lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def run_id(self) -> str:
        return self.arn.rsplit(":", 1)[-1]

    def update(self, max_concurrency: int | None, tolerated_count: int | None,
               tolerated_percentage: float | None) -> None:
        """UpdateMapRun: new limits apply to the children not started yet."""
        with self.lock:
            if max_concurrency is not None:
                self.max_concurrency = max_concurrency
            if tolerated_count is not None:
                self.tolerated_failure_count = tolerated_count
            if tolerated_percentage is not None:
                self.tolerated_failure_percentage = tolerated_percentage
            self.lock.notify_all()

    def exceeded(self) -> bool:
        """Whether failed and timed-out children are beyond the tolerated threshold: "The default percentage value
        is zero, which means that the workflow fails if any one of its child workflow executions fails or times
        out"; "If you specify both values, the workflow fails when it exceeds either value"; the percentage is
        "the total number of failed or timed out items divided by the total number of items" (Tolerated failure
        threshold for Distributed Map state, developer guide)."""
        bad = self.items.failed + self.items.timedOut
        count, percentage = self.tolerated_failure_count, self.tolerated_failure_percentage
        if count is None and percentage is None:
            return bad > 0
        if count is not None and bad > count:
            return True
        return percentage is not None and bad * 100.0 / (self.items.total or 1) > percentage


class MapRunHost(Protocol):
    """The service that runs the engine: told when a Map Run and each of its child executions start."""

    def map_run_started(self, run: MapRun) -> None:
        """Register the run (DescribeMapRun, ListMapRuns, UpdateMapRun answer for it from now on)."""
        ...

    def child_started(self, run: MapRun, child: Any) -> None:
        """Register a child execution (an ``asl.Execution``) before it runs."""
        ...

    def child_redriven(self, run: MapRun, child: Any) -> None:
        """A child that did not succeed runs again (the Map Run was redriven)."""
        ...
