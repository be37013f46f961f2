"""Execution history: events in the exact shape of Step Functions' GetExecutionHistory ``HistoryEvent``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

LOG = logging.getLogger(__name__)

#: history event type → the member of HistoryEvent that carries its details (None: no details)
DETAILS_KEY: dict[str, str | None] = {
    "ExecutionStarted": "executionStartedEventDetails",
    "ExecutionSucceeded": "executionSucceededEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionRedriven": "executionRedrivenEventDetails",
    "TaskScheduled": "taskScheduledEventDetails",
    "TaskStarted": "taskStartedEventDetails",
    "TaskStartFailed": "taskStartFailedEventDetails",
    "TaskSubmitted": "taskSubmittedEventDetails",
    "TaskSubmitFailed": "taskSubmitFailedEventDetails",
    "TaskSucceeded": "taskSucceededEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "LambdaFunctionScheduled": "lambdaFunctionScheduledEventDetails",
    "LambdaFunctionStarted": None,
    "LambdaFunctionSucceeded": "lambdaFunctionSucceededEventDetails",
    "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
    "LambdaFunctionTimedOut": "lambdaFunctionTimedOutEventDetails",
    "MapStateStarted": "mapStateStartedEventDetails",
    "MapIterationStarted": "mapIterationStartedEventDetails",
    "MapIterationSucceeded": "mapIterationSucceededEventDetails",
    "MapIterationFailed": "mapIterationFailedEventDetails",
    "MapIterationAborted": "mapIterationAbortedEventDetails",
    "MapStateSucceeded": None,
    "MapStateFailed": None,
    "MapStateAborted": None,
    "MapRunStarted": "mapRunStartedEventDetails",
    "MapRunFailed": "mapRunFailedEventDetails",
    "MapRunRedriven": "mapRunRedrivenEventDetails",
    "MapRunSucceeded": None,
    "MapRunAborted": None,
    "ParallelStateStarted": None,
    "ParallelStateSucceeded": None,
    "ParallelStateFailed": None,
    "ParallelStateAborted": None,
    "TaskStateAborted": None,
    "WaitStateAborted": None,
}


def details_key(event_type: str) -> str | None:
    """The details member for an event type (``<X>StateEntered`` → ``stateEnteredEventDetails``)."""
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return DETAILS_KEY.get(event_type)


def now() -> datetime:
    """The current time in UTC, at millisecond precision as Step Functions reports it."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


class History:
    """A thread-safe, append-only list of history events with 1-based ids."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._on_event = on_event

    @property
    def events(self) -> list[dict[str, Any]]:
        """The live list (read it through :meth:`snapshot` from other threads)."""
        return self._events

    def snapshot(self) -> list[dict[str, Any]]:
        """A copy of the events recorded so far."""
        with self._lock:
            return list(self._events)

    def add(self, event_type: str, details: dict[str, Any] | None = None, *, previous: int = 0,
            key: str | None = None) -> int:
        """Record one event and return its id; ``details`` go under ``key`` or the type's own details key."""
        with self._lock:
            event: dict[str, Any] = {
                "timestamp": now(),
                "type": event_type,
                "id": len(self._events) + 1,
                "previousEventId": previous,
            }
            member = key or details_key(event_type)
            if member is not None and details is not None:
                event[member] = {k: v for k, v in details.items() if v is not None}
            self._events.append(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a listener must never break the execution
                LOG.exception("history listener failed on %s", event_type)
        return event["id"]
