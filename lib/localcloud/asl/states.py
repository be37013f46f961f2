"""The state types: each runs its input to an output and names the next state (None: the path ends)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localcloud.asl.env import Frame, TaskContext
from localcloud.asl.errors import ExecutionInterrupted, StatesError, StatesErrorName
from localcloud.asl.history import now
from localcloud.asl.paths import (
    EvaluationError,
    PathNotFound,
    apply_input_path,
    apply_result_path,
    bracketed,
    is_intrinsic,
    render_template,
    select,
    to_json,
)
from localcloud.asl.retry import Catcher, Retrier, RetryPolicy, find_catcher

LOG = logging.getLogger(__name__)

#: the payload size quota of Step Functions (256 KiB of UTF-8)
MAX_PAYLOAD_BYTES = 262144


@dataclass
class Program:
    """A ``StartAt`` + ``States`` block: the state machine itself, a Parallel branch or a Map's item processor."""

    start_at: str
    states: dict[str, State]


#: "Maximum execution history size: 25,000 events" (Step Functions service quotas)
MAX_HISTORY_EVENTS = 25000


def run_program(program: Program, frame: Frame, data: Any) -> Any:
    """Run states from ``StartAt`` until one ends the path; returns the last output."""
    name: str | None = program.start_at
    while name is not None:
        if frame.cancelled:
            raise ExecutionInterrupted()
        if len(frame.env.history.events) >= MAX_HISTORY_EVENTS:
            raise StatesError(StatesErrorName.RUNTIME,
                              f"The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS}).")
        data, name = program.states[name].execute(frame, data)
    return data


def _io(value: Any) -> dict[str, Any]:
    return {"truncated": False}


class State:
    """Fields and flow shared by every state type."""

    type = ""

    def __init__(self, name: str, raw: dict[str, Any]) -> None:
        self.name = name
        self.raw = raw
        self.next: str | None = raw.get("Next")
        self.input_path: str | None = raw.get("InputPath", "$")
        self.output_path: str | None = raw.get("OutputPath", "$")

    # -- the visit of a state -----------------------------------------------------------------------------
    def execute(self, frame: Frame, state_input: Any) -> tuple[Any, str | None]:
        entered = frame.record(f"{self.type}StateEntered", {
            "name": self.name, "input": to_json(state_input), "inputDetails": _io(state_input)})
        visit = Visit(self, frame, state_input, entered, now())
        try:
            output, next_state = self.run(visit)
        except EvaluationError as exc:
            raise visit.located(exc) from None
        frame.record(f"{self.type}StateExited", {
            "name": self.name, "output": to_json(output), "outputDetails": _io(output)})
        return output, next_state

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        raise NotImplementedError

    def finish(self, visit: Visit, output: Any) -> tuple[Any, str | None]:
        """Apply OutputPath and pick the transition."""
        return apply_input_path(self.output_path, output, visit.context()), self.next


class Visit:
    """One visit of a state: its input, when it was entered, the retry count, the context object."""

    def __init__(self, state: State, frame: Frame, state_input: Any, entered_id: int, entered: datetime) -> None:
        self.state = state
        self.frame = frame
        self.input = state_input
        self.entered_id = entered_id
        self.entered = entered
        self.retry_count = 0

    def context(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.frame.env.context(self.state.name, self.entered, self.retry_count, extra)

    def located(self, exc: EvaluationError) -> StatesError:
        """A run-time evaluation error reported the way Step Functions words it."""
        return StatesError(exc.error, f"An error occurred while executing the state '{self.state.name}' "
                                      f"(entered at the event id #{self.entered_id}). {exc.cause}")

    def effective_input(self, parameters: Any = None, has_parameters: bool = False,
                        extra: dict[str, Any] | None = None) -> Any:
        """InputPath, then Parameters."""
        data = apply_input_path(self.state.input_path, self.input, self.context())
        if has_parameters:
            data = render_template(parameters, data, self.context(extra))
        return data

    def reference(self, path: str, what: str) -> Any:
        """The value a ``*Path`` field (SecondsPath, TimeoutSecondsPath, ...) selects from the state input."""
        try:
            return select(path, self.input, self.context())
        except PathNotFound:
            raise EvaluationError(StatesErrorName.RUNTIME,
                                  f"Invalid path '{path}' : No results for path: {bracketed(path)} "
                                  f"(referenced by {what})") from None


class PassState(State):
    type = "Pass"

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        data = visit.effective_input(self.raw.get("Parameters"), "Parameters" in self.raw)
        result = self.raw["Result"] if "Result" in self.raw else data
        output = apply_result_path(self.raw.get("ResultPath", "$"), visit.input, result)
        return self.finish(visit, output)


class SucceedState(State):
    type = "Succeed"

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        data = visit.effective_input()
        return apply_input_path(self.output_path, data, visit.context()), None


class FailState(State):
    type = "Fail"

    def _field(self, visit: Visit, name: str) -> str | None:
        if name in self.raw:
            return self.raw[name]
        path = self.raw.get(name + "Path")
        if path is None:
            return None
        if is_intrinsic(path):
            from localcloud.asl import intrinsics

            value = intrinsics.evaluate(path, visit.input, visit.context())
        else:
            value = visit.reference(path, f"the field '{name}Path'")
        if not isinstance(value, str):
            raise EvaluationError(StatesErrorName.RUNTIME,
                                  f"The value of the field '{name}Path' must resolve to a string, got {to_json(value)}")
        return value

    def execute(self, frame: Frame, state_input: Any) -> tuple[Any, str | None]:
        entered = frame.record("FailStateEntered", {
            "name": self.name, "input": to_json(state_input), "inputDetails": _io(state_input)})
        visit = Visit(self, frame, state_input, entered, now())
        try:
            error, cause = self._field(visit, "Error"), self._field(visit, "Cause")
        except EvaluationError as exc:
            raise visit.located(exc) from None
        raise StatesError(error or "", cause or "")


class WaitState(State):
    type = "Wait"

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        data = visit.effective_input()
        raw = self.raw
        if "Seconds" in raw:
            seconds = float(raw["Seconds"])
        elif "SecondsPath" in raw:
            value = visit.reference(raw["SecondsPath"], "SecondsPath")
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise EvaluationError(StatesErrorName.RUNTIME,
                                      f"The SecondsPath parameter does not reference a valid integer value: {to_json(value)}")
            seconds = float(value)
        else:
            stamp = raw["Timestamp"] if "Timestamp" in raw else visit.reference(raw["TimestampPath"], "TimestampPath")
            when = parse_timestamp(stamp)
            if when is None:
                raise EvaluationError(StatesErrorName.RUNTIME,
                                      f"The TimestampPath parameter does not reference a valid ISO-8601 "
                                      f"extended offset date-time format string: {to_json(stamp)}")
            seconds = (when - now()).total_seconds()
        if seconds > 0 and visit.frame.sleep(seconds):
            raise ExecutionInterrupted()
        return self.finish(visit, data)


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (upper-case ``T``, ``Z`` or an offset), or None if ``value`` is not one."""
    from localcloud.asl.choice import TIMESTAMP_RE

    if not isinstance(value, str) or not TIMESTAMP_RE.match(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class RetryingState(State):
    """Task, Parallel and Map: one attempt at a time under Retry, with Catch and ResultSelector/ResultPath."""

    def __init__(self, name: str, raw: dict[str, Any]) -> None:
        super().__init__(name, raw)
        self.retriers = [Retrier.from_json(r) for r in raw.get("Retry", [])]
        self.catchers = [Catcher.from_json(c) for c in raw.get("Catch", [])]
        self.result_path: str | None = raw.get("ResultPath", "$")

    def attempt(self, visit: Visit) -> Any:
        """Produce the raw result (Parameters applied inside); raise StatesError on failure."""
        raise NotImplementedError

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        policy = RetryPolicy(self.retriers)
        while True:
            try:
                try:
                    result = self.attempt(visit)
                    if "ResultSelector" in self.raw:
                        result = render_template(self.raw["ResultSelector"], result, visit.context())
                    output = apply_result_path(self.result_path, visit.input, result)
                    return self.finish(visit, output)
                except EvaluationError as exc:
                    raise visit.located(exc) from None
            except StatesError as failure:
                delay = policy.next_delay(failure.error)
                if delay is not None:
                    LOG.debug("%s: retry %d after %s in %.3fs", self.name, policy.total, failure.error, delay)
                    if visit.frame.sleep(delay):
                        raise ExecutionInterrupted() from None
                    visit.retry_count = policy.total
                    continue
                catcher = find_catcher(self.catchers, failure.error)
                if catcher is None:
                    raise
                try:
                    output = apply_result_path(catcher.result_path, visit.input, failure.as_output())
                except EvaluationError as exc:
                    raise visit.located(exc) from None
                return output, catcher.next


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


class TaskState(RetryingState):
    type = "Task"

    def __init__(self, name: str, raw: dict[str, Any]) -> None:
        super().__init__(name, raw)
        self.resource: str = raw["Resource"]
        self.resource_type, self.resource_name = split_resource(self.resource)
        self.lambda_arn = self.resource.startswith("arn:aws:lambda:")
        self.wait_for_token = self.resource.endswith(".waitForTaskToken")

    def _timeouts(self, visit: Visit) -> tuple[float | None, float | None]:
        raw = self.raw
        timeout = raw.get("TimeoutSeconds")
        if "TimeoutSecondsPath" in raw:
            timeout = _positive(visit.reference(raw["TimeoutSecondsPath"], "TimeoutSecondsPath"), "TimeoutSecondsPath value")
        heartbeat = raw.get("HeartbeatSeconds")
        if "HeartbeatSecondsPath" in raw:
            heartbeat = _positive(visit.reference(raw["HeartbeatSecondsPath"], "HeartbeatSecondsPath"),
                                  "HeartbeatSecondsPath value")
        return timeout, heartbeat

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

    def attempt(self, visit: Visit) -> Any:
        frame, env = visit.frame, visit.frame.env
        timeout, heartbeat = self._timeouts(visit)
        pending = env.tokens.issue(env.notify) if self.wait_for_token else None
        try:
            extra = {"Task": {"Token": pending.token}} if pending else None
            parameters = visit.effective_input(self.raw.get("Parameters"), "Parameters" in self.raw, extra)
            if self.lambda_arn:
                frame.record("LambdaFunctionScheduled", {
                    "resource": self.resource, "input": to_json(parameters), "inputDetails": _io(parameters),
                    "timeoutInSeconds": int(timeout) if timeout else None})
                frame.record("LambdaFunctionStarted")
            else:
                frame.record("TaskScheduled", {
                    "resourceType": self.resource_type, "resource": self.resource_name, "region": env.region,
                    "parameters": to_json(parameters), "timeoutInSeconds": int(timeout) if timeout else None,
                    "heartbeatInSeconds": int(heartbeat) if heartbeat else None})
                frame.record("TaskStarted", {"resourceType": self.resource_type, "resource": self.resource_name})
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
        self._event(frame, "Succeeded", output=to_json(result), outputDetails=_io(result))
        return result

    def _invoke(self, visit: Visit, parameters: Any, timeout: float | None, heartbeat: float | None,
                pending: Any) -> Any:
        frame, env = visit.frame, visit.frame.env
        task = TaskContext(frame, state_name=self.name, resource=self.resource,
                           token=pending.token if pending else None, timeout_seconds=timeout,
                           heartbeat_seconds=heartbeat, resource_type=self.resource_type,
                           resource_name=self.resource_name)
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["result"] = env.integrations.invoke(self.resource, parameters, task)
            except StatesError as exc:
                box["error"] = exc
            except Exception as exc:  # an integration bug must fail the task, not hang the execution
                LOG.exception("integration for %s raised", self.resource)
                box["error"] = StatesError(StatesErrorName.TASK_FAILED, f"{type(exc).__name__}: {exc}")
            finally:
                box["done"] = True
                env.notify()

        scale = env.time_scale
        timeout = timeout * scale if timeout is not None else None
        heartbeat = heartbeat * scale if heartbeat is not None else None
        worker = threading.Thread(target=call, name=f"task-{self.name}", daemon=True)
        started = time.monotonic()
        worker.start()
        try:
            while True:
                clock = time.monotonic()
                if frame.cancelled:
                    raise ExecutionInterrupted()
                if timeout is not None and clock - started >= timeout:
                    raise self._fail(frame, "TimedOut", StatesErrorName.TIMEOUT, "")
                if "error" in box:
                    failure: StatesError = box["error"]
                    raise self._fail(frame, "Failed", failure.error, failure.cause)
                limits = [] if timeout is None else [started + timeout - clock]
                if pending is None:
                    if box.get("done"):
                        return box.get("result")
                else:
                    if pending.outcome is not None:
                        kind, value, cause = pending.outcome
                        if kind == "success":
                            return value
                        raise self._fail(frame, "Failed", value, cause)
                    if heartbeat is not None:
                        if clock - pending.heartbeat >= heartbeat:
                            raise self._fail(frame, "TimedOut", StatesErrorName.HEARTBEAT_TIMEOUT, "")
                        limits.append(pending.heartbeat + heartbeat - clock)
                env.wait(min(limits) if limits else None,
                         lambda: frame.cancelled or "error" in box
                         or (pending is None and bool(box.get("done")))
                         or (pending is not None and pending.outcome is not None))
        finally:
            task.close()
