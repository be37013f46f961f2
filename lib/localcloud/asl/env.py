"""The execution environment: context object, stop/timeout flags, interruptible waits, task tokens."""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from localcloud.asl.errors import InvalidOutput, InvalidToken, StatesErrorName, TaskDoesNotExist, TaskTimedOut
from localcloud.asl.history import History
from localcloud.asl.mapruns import MapRunHost
from localcloud.asl.variables import Scope

LOG = logging.getLogger(__name__)


def iso(t: datetime) -> str:
    """A timestamp as the context object shows it: ``2024-01-02T03:04:05.678Z``."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class Integrations(Protocol):
    """What the engine calls for a Task state: the registry of service integrations, keyed by resource ARN."""

    def invoke(self, resource: str, parameters: Any, task: TaskContext) -> Any:
        """Run (or, for ``.waitForTaskToken``, start) the task; return its JSON result or raise TaskFailed."""
        ...


@dataclass
class PendingToken:
    """One task waiting for SendTaskSuccess/SendTaskFailure."""

    token: str
    notify: Callable[[], None]
    outcome: tuple[str, Any, Any] | None = None  # ("success", value, None) | ("failure", error, cause)
    heartbeat: float = field(default_factory=time.monotonic)


class TokenRegistry:
    """The task tokens of one Step Functions backend (thread-safe)."""

    TOKEN_RE = re.compile(r"^AQ[A-Za-z0-9_-]{40,}$")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, PendingToken] = {}
        self._closed: set[str] = set()

    def issue(self, notify: Callable[[], None]) -> PendingToken:
        """Create and register a new token; ``notify`` is called whenever it receives a message."""
        token = "AQ" + secrets.token_urlsafe(96)
        pending = PendingToken(token, notify)
        with self._lock:
            self._open[token] = pending
        return pending

    def close(self, token: str) -> None:
        """Forget an open token: later messages for it get TaskTimedOut."""
        with self._lock:
            self._open.pop(token, None)
            self._closed.add(token)

    def _take(self, token: str, *, keep: bool = False) -> PendingToken:
        if not isinstance(token, str) or not self.TOKEN_RE.match(token):
            raise InvalidToken("Invalid token")
        with self._lock:
            if token in self._closed:
                raise TaskTimedOut("Task Timed Out: 'Provided task does not exist anymore'")
            pending = self._open.get(token)
            if pending is None:
                raise TaskDoesNotExist("Task does not exist")
            if not keep:
                del self._open[token]
                self._closed.add(token)
            return pending

    def send_success(self, token: str, output: str) -> None:
        """Complete the token's task with ``output`` (a JSON string)."""
        try:
            value = json.loads(output)
        except (TypeError, ValueError):
            self._take(token, keep=True)
            raise InvalidOutput("Invalid Output: the output must be a valid JSON text") from None
        pending = self._take(token)
        pending.outcome = ("success", value, None)
        pending.notify()

    def send_failure(self, token: str, error: str = "", cause: str = "") -> None:
        """Fail the token's task with ``error`` and ``cause``."""
        pending = self._take(token)
        pending.outcome = ("failure", error or "", cause or "")
        pending.notify()

    def send_heartbeat(self, token: str) -> None:
        """Report that the token's task is still alive (resets its HeartbeatSeconds clock)."""
        pending = self._take(token, keep=True)
        pending.heartbeat = time.monotonic()
        pending.notify()


class Environment:
    """Everything one execution shares across its paths: identity, history, flags and the wake-up condition."""

    def __init__(self, *, execution_arn: str, name: str, input_value: Any, start_time: datetime,
                 role_arn: str | None, state_machine_arn: str, state_machine_name: str,
                 integrations: Integrations, tokens: TokenRegistry, history: History,
                 timeout_seconds: float | None, time_scale: float = 1.0) -> None:
        self.execution_arn = execution_arn
        self.name = name
        self.input_value = input_value
        self.start_time = start_time
        self.role_arn = role_arn
        self.state_machine_arn = state_machine_arn
        self.state_machine_name = state_machine_name
        self.integrations = integrations
        self.tokens = tokens
        self.history = history
        parts = execution_arn.split(":")
        self.region = parts[3] if len(parts) > 3 and parts[3] else "us-east-1"
        self.cond = threading.Condition()
        #: multiplies every duration the definition gives (Wait, retry delays, timeouts, heartbeats)
        self.time_scale = time_scale
        self.deadline = time.monotonic() + timeout_seconds * time_scale if timeout_seconds else None
        self.timeout_seconds = timeout_seconds
        #: set once: ("ABORTED" | "TIMED_OUT", error, cause)
        self.interruption: tuple[str, str | None, str | None] | None = None
        #: $$.Execution.RedriveCount (RedriveExecution)
        self.redrive_count = 0
        #: the service told about Map Runs and their child executions (a Distributed Map state needs one)
        self.host: MapRunHost | None = None
        #: makes a child execution of a Map Run: set by the engine (``Execution``) for the states below it
        self.spawn: Callable[..., Any] | None = None
        #: what this execution keeps across a redrive (the journal of its paths, its Map Runs)
        self.memory: dict[str, Any] = {}

    def restart(self, timeout_seconds: float | None) -> None:
        """Clear the stop/timeout flags for a redrive: "When you redrive an execution, the state machine level
        timeout, if defined, is reset to 0" (Redriving executions, developer guide)."""
        with self.cond:
            self.interruption = None
            self.timeout_seconds = timeout_seconds
            self.deadline = time.monotonic() + timeout_seconds * self.time_scale if timeout_seconds else None

    # -- stop and timeout ------------------------------------------------------------------------------------
    def interrupt(self, status: str, error: str | None = None, cause: str | None = None) -> None:
        """Stop every path of the execution (StopExecution or the execution's own TimeoutSeconds)."""
        with self.cond:
            if self.interruption is None:
                self.interruption = (status, error, cause)
            self.cond.notify_all()

    @property
    def interrupted(self) -> bool:
        if self.interruption is None and self.deadline is not None and time.monotonic() >= self.deadline:
            self.interrupt("TIMED_OUT", StatesErrorName.TIMEOUT.value,
                           f"The execution timed out after {self.timeout_seconds:g} seconds.")
        return self.interruption is not None

    def notify(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def wait(self, seconds: float | None, done: Callable[[], bool]) -> bool:
        """Wait until ``done()`` or ``seconds`` pass (None: no limit); True if ``done()`` ended the wait.

        Wakes up at the execution deadline too, so callers re-check their cancellation.
        """
        end = None if seconds is None else time.monotonic() + max(0.0, seconds)
        with self.cond:
            while True:
                if done():
                    return True
                now = time.monotonic()
                limit = None if end is None else end - now
                if limit is not None and limit <= 0:
                    return False
                if self.deadline is not None:
                    to_deadline = max(self.deadline - now, 0.0) + 0.001
                    limit = to_deadline if limit is None else min(limit, to_deadline)
                self.cond.wait(limit if limit is not None else 1.0)

    # -- the context object ----------------------------------------------------------------------------------
    def context(self, state_name: str, entered: datetime, retry_count: int | None = 0,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The context object (``$$``) for a state, its members in the order AWS writes them (recorded on AWS:
        localstack snapshot v2/context_object/test_context_object.snapshot.json, test_input_path[$$]);
        ``retry_count`` None: a state without ``State.RetryCount``."""
        state: dict[str, Any] = {"Name": state_name, "EnteredTime": iso(entered)}
        if retry_count is not None:
            state["RetryCount"] = retry_count
        ctx: dict[str, Any] = {
            "Execution": {
                "Id": self.execution_arn,
                "Input": self.input_value,
                "StartTime": iso(self.start_time),
                "Name": self.name,
                "RoleArn": self.role_arn,
                "RedriveCount": self.redrive_count,
            },
            "StateMachine": {"Id": self.state_machine_arn, "Name": self.state_machine_name},
            "State": state,
        }
        if extra:
            ctx.update(extra)
        return ctx


class Frame:
    """One running path of an execution (the main flow, a Parallel branch or a Map iteration)."""

    def __init__(self, env: Environment, parent: Frame | None = None, previous: int = 0) -> None:
        self.env = env
        self.parent = parent
        self.last = previous
        self.aborted = False
        #: where this path sits in the execution (``""`` the main flow, ``/P/Branches[0]`` ...): what a redrive
        #: resumes by (:mod:`.redrive`)
        self.path: str | None = None
        #: the workflow variables this path sees: its own scope inside those of the enclosing paths
        self.scope = Scope(parent.scope if parent is not None else None)
        #: the type of the state this path is in, when a failing sibling would abort it there (Task, Wait, ...)
        self.active: str | None = None

    @property
    def cancelled(self) -> bool:
        """True once the execution was stopped/timed out or this path (or an enclosing one) was aborted."""
        return self.aborted or self.env.interrupted or (self.parent is not None and self.parent.cancelled)

    def abort(self) -> None:
        self.aborted = True
        self.env.notify()

    def record(self, event_type: str, details: dict[str, Any] | None = None, *, key: str | None = None) -> int:
        """Add an event to the history chained after this path's previous event."""
        self.last = self.env.history.add(event_type, details, previous=self.last, key=key)
        return self.last

    def sleep(self, seconds: float) -> bool:
        """Sleep for ``seconds`` of definition time (scaled); True if the path was cancelled meanwhile."""
        return self.env.wait(seconds * self.env.time_scale, lambda: self.cancelled)


class TaskContext:
    """What an integration sees for one Task attempt."""

    def __init__(self, frame: Frame, *, state_name: str, resource: str, token: str | None,
                 timeout_seconds: float | None, heartbeat_seconds: float | None,
                 resource_type: str, resource_name: str) -> None:
        self._frame = frame
        self._closed = False
        self.state_name = state_name
        self.resource = resource
        self.token = token
        self.timeout_seconds = timeout_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.execution_arn = frame.env.execution_arn
        self.role_arn = frame.env.role_arn
        self.region = frame.env.region
        self.state_machine_arn = frame.env.state_machine_arn
        self.execution_name = frame.env.name
        self.resource_type = resource_type
        self.resource_name = resource_name

    @property
    def cancelled(self) -> bool:
        """True once the task timed out or the execution was stopped/timed out: stop working and return."""
        return self._closed or self._frame.cancelled

    def close(self) -> None:
        """Mark the attempt finished (the engine calls this); later records are ignored."""
        self._closed = True
        self._frame.env.notify()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if the task was cancelled meanwhile (then return promptly)."""
        return self._frame.env.wait(seconds, lambda: self.cancelled)

    def record(self, event_type: str, details_key: str, details: dict[str, Any]) -> None:
        """Add a history event for this task (e.g. ``TaskSubmitted``) after the task's previous event."""
        if self._closed:
            LOG.debug("ignoring %s recorded after the task closed", event_type)
            return
        details = dict(details)
        if event_type.startswith("Task"):
            details.setdefault("resourceType", self.resource_type)
            details.setdefault("resource", self.resource_name)
        self._frame.record(event_type, details, key=details_key)
