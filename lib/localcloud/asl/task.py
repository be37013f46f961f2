"""The Task state: hand the state's arguments to the integration for its resource and wait for the result.

The engine knows no AWS service: the resource is only a string for the :class:`~localcloud.asl.env.Integrations`
registry.  Layer: above :mod:`.states`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from localcloud.asl.env import Frame, PendingToken, TaskContext
from localcloud.asl.errors import EvaluationError, ExecutionInterrupted, StatesError, StatesErrorName
from localcloud.asl.query import ABSENT, QueryLanguage
from localcloud.asl.states import RetryingState, Visit, io_details
from localcloud.asl.values import to_json

LOG = logging.getLogger(__name__)

#: the payload size quota of Step Functions (256 KiB of UTF-8)
MAX_PAYLOAD_BYTES = 262144


def split_resource(resource: str) -> tuple[str, str]:
    """``arn:aws:states:::sagemaker:createTrainingJob.sync`` → ``("sagemaker", "createTrainingJob.sync")``."""
    if resource.startswith("arn:aws:states:::"):
        rest = resource[len("arn:aws:states:::"):]
        if rest.startswith("aws-sdk:"):
            service, _, action = rest[len("aws-sdk:"):].partition(":")
            return f"aws-sdk:{service}", action
        service, _, action = rest.partition(":")
        return service, action
    parts = resource.split(":")
    if len(parts) > 5 and parts[2] == "states" and parts[5] == "activity":
        return "activity", resource
    return (parts[2] if len(parts) > 2 else "unknown"), resource


def _positive(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise EvaluationError(StatesErrorName.RUNTIME, f"The {what} must be a positive integer, got {to_json(value)}")
    return float(value)


class _Call:
    """One call of the integration on a worker thread; ``outcome`` is set when it returns or raises."""

    def __init__(self, frame: Frame, resource: str, parameters: Any, task: TaskContext, name: str) -> None:
        self.outcome: tuple[str, Any] | None = None  # ("result", value) | ("error", StatesError)
        self._args = (frame, resource, parameters, task)
        self._thread = threading.Thread(target=self._run, name=f"task-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        frame, resource, parameters, task = self._args
        env = frame.env
        try:
            self.outcome = ("result", env.integrations.invoke(resource, parameters, task))
        except StatesError as exc:
            self.outcome = ("error", exc)
        except Exception as exc:  # an integration bug must fail the task, not hang the execution
            LOG.exception("integration for %s raised", resource)
            self.outcome = ("error", StatesError(StatesErrorName.TASK_FAILED, f"{type(exc).__name__}: {exc}"))
        finally:
            env.notify()


class TaskState(RetryingState):
    type = "Task"

    def __init__(self, name: str, raw: dict[str, Any], language: QueryLanguage) -> None:
        super().__init__(name, raw, language)
        self.resource: str = raw["Resource"]
        self.resource_type, self.resource_name = split_resource(self.resource)
        self.lambda_arn = self.resource.startswith("arn:aws:lambda:")
        self.wait_for_token = self.resource.endswith(".waitForTaskToken")

    def _seconds(self, visit: Visit, field: str) -> float | None:
        """TimeoutSeconds or HeartbeatSeconds, from the definition or its expression."""
        value = self.lang.expression(visit, field)
        if value is ABSENT:
            return self.raw.get(field)
        return _positive(value, f"{self.lang.expression_field(field)} value")

    def _event(self, frame: Frame, outcome: str, **details: Any) -> None:
        """Record a task event, in the Lambda flavour for a plain function ARN."""
        if self.lambda_arn:
            frame.record(f"LambdaFunction{outcome}", details or None)
        else:
            frame.record(f"Task{outcome}", {"resourceType": self.resource_type, "resource": self.resource_name,
                                            **details})

    def _fail(self, frame: Frame, outcome: str, error: str, cause: str) -> StatesError:
        self._event(frame, outcome, error=error or None, cause=cause or None)
        return StatesError(error, cause)

    def _scheduled(self, frame: Frame, parameters: Any, timeout: float | None, heartbeat: float | None) -> None:
        """Record the Scheduled and Started events."""
        if self.lambda_arn:
            frame.record("LambdaFunctionScheduled", {
                "resource": self.resource, "input": to_json(parameters), "inputDetails": io_details(parameters),
                "timeoutInSeconds": int(timeout) if timeout else None})
            frame.record("LambdaFunctionStarted")
            return
        frame.record("TaskScheduled", {
            "resourceType": self.resource_type, "resource": self.resource_name, "region": frame.env.region,
            "parameters": to_json(parameters), "timeoutInSeconds": int(timeout) if timeout else None,
            "heartbeatInSeconds": int(heartbeat) if heartbeat else None})
        frame.record("TaskStarted", {"resourceType": self.resource_type, "resource": self.resource_name})

    def attempt(self, visit: Visit) -> Any:
        frame, env = visit.frame, visit.frame.env
        timeout = self._seconds(visit, "TimeoutSeconds")
        heartbeat = self._seconds(visit, "HeartbeatSeconds")
        pending = env.tokens.issue(env.notify) if self.wait_for_token else None
        try:
            extra = {"Task": {"Token": pending.token}} if pending else None
            parameters = self.lang.state_input(visit, arguments=True, extra=extra)
            self._scheduled(frame, parameters, timeout, heartbeat)
            result = self._invoke(visit, parameters, timeout, heartbeat, pending)
        finally:
            if pending is not None:
                env.tokens.close(pending.token)
        size = len(to_json(result).encode())
        if size > MAX_PAYLOAD_BYTES:
            what = self.resource if self.lambda_arn else self.resource_type
            raise self._fail(frame, "Failed", StatesErrorName.DATA_LIMIT_EXCEEDED,
                             f"The state/task '{what}' returned a result with a size exceeding "
                             f"the maximum number of bytes service limit.")
        self._event(frame, "Succeeded", output=to_json(result), outputDetails=io_details(result))
        return result

    def _invoke(self, visit: Visit, parameters: Any, timeout: float | None, heartbeat: float | None,
                pending: PendingToken | None) -> Any:
        """Start the integration and wait for its result, its token, a timeout or the end of the execution."""
        frame, env = visit.frame, visit.frame.env
        task = TaskContext(frame, state_name=self.name, resource=self.resource,
                           token=pending.token if pending else None, timeout_seconds=timeout,
                           heartbeat_seconds=heartbeat, resource_type=self.resource_type,
                           resource_name=self.resource_name)
        call = _Call(frame, self.resource, parameters, task, self.name)
        scale = env.time_scale
        timeout = timeout * scale if timeout is not None else None
        heartbeat = heartbeat * scale if heartbeat is not None else None

        def settled() -> bool:  # a callback task waits for its token even after the call returned
            if frame.cancelled or (pending is not None and pending.outcome is not None):
                return True
            return call.outcome is not None and (pending is None or call.outcome[0] == "error")

        started = time.monotonic()
        call.start()
        try:
            while True:
                done, value, limits = self._poll(frame, call, pending, started, timeout, heartbeat)
                if done:
                    return value
                env.wait(min(limits) if limits else None, settled)
        finally:
            task.close()

    def _poll(self, frame: Frame, call: _Call, pending: PendingToken | None, started: float,
              timeout: float | None, heartbeat: float | None) -> tuple[bool, Any, list[float]]:
        """(True, result) once the task is done; else (False, None, how long until the next deadline)."""
        clock = time.monotonic()
        if frame.cancelled:
            raise ExecutionInterrupted()
        if timeout is not None and clock - started >= timeout:
            raise self._fail(frame, "TimedOut", StatesErrorName.TIMEOUT, "")
        if call.outcome is not None and call.outcome[0] == "error":
            failure: StatesError = call.outcome[1]
            raise self._fail(frame, "Failed", failure.error, failure.cause)
        limits = [] if timeout is None else [started + timeout - clock]
        if pending is None:
            if call.outcome is not None:
                return True, call.outcome[1], limits
            return False, None, limits
        if pending.outcome is not None:
            kind, value, cause = pending.outcome
            if kind == "success":
                return True, value, limits
            raise self._fail(frame, "Failed", value, cause)
        if heartbeat is not None:
            if clock - pending.heartbeat >= heartbeat:
                raise self._fail(frame, "TimedOut", StatesErrorName.HEARTBEAT_TIMEOUT, "")
            limits.append(pending.heartbeat + heartbeat - clock)
        return False, None, limits
