"""The states that run in place (Pass, Succeed, Fail, Wait, Choice) and what every state shares.

Each state runs its input to an output and names the next state (None: the path ends).  A state reads its input
and shapes its output only through its :class:`~localcloud.asl.query.QueryLanguage`; it knows no JSONPath.
Task is in :mod:`.task`, Parallel and Map in :mod:`.concurrent`.
Layer: above :mod:`.env`, :mod:`.history`, :mod:`.retry` and :mod:`.query`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localcloud.asl.env import Frame
from localcloud.asl.errors import (
    EvaluationError,
    ExecutionInterrupted,
    PathMissing,
    StatesError,
    StatesErrorName,
)
from localcloud.asl.history import now
from localcloud.asl.query import ABSENT, QueryLanguage
from localcloud.asl.retry import Catcher, Retrier, RetryPolicy, find_catcher
from localcloud.asl.values import as_number, parse_timestamp, to_json
from localcloud.asl.variables import Scope, VariableError, assigned_details

LOG = logging.getLogger(__name__)

#: "Maximum execution history size: 25,000 events" (Step Functions service quotas)
MAX_HISTORY_EVENTS = 25000
#: the payload size quota of Step Functions (256 KiB of UTF-8): a state's output above it fails the state
MAX_PAYLOAD_BYTES = 262144
#: a Wait of 2^31 seconds or more fails (recorded on AWS: localstack snapshot v2/base/test_wait.snapshot.json,
#: test_timestamp_too_far_in_future_boundary: 24855 days ahead waits, 24856 days fails)
MAX_WAIT_SECONDS = 2**31 - 1
#: the states a path can be aborted in (``<Type>StateAborted``) when a sibling branch or iteration fails
ABORTABLE = frozenset({"Task", "Wait", "Map", "Parallel"})


@dataclass
class Program:
    """A ``StartAt`` + ``States`` block: the state machine itself, a Parallel branch or a Map's item processor."""

    start_at: str
    states: dict[str, State]


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


def io_details(value: Any) -> dict[str, Any]:
    """The ``inputDetails``/``outputDetails`` of a history event (payloads are never truncated here)."""
    return {"truncated": False}


def data_limit_cause(what: str) -> str:
    """The cause of States.DataLimitExceeded: ``what`` is the state's name, or for a task its resource
    (recorded on AWS: localstack snapshot v2/error_handling/test_states_errors.snapshot.json)."""
    return f"The state/task '{what}' returned a result with a size exceeding the maximum number of bytes service limit."


class State:
    """Fields and flow shared by every state type."""

    type = ""

    def __init__(self, name: str, raw: dict[str, Any], language: QueryLanguage) -> None:
        self.name = name
        self.raw = raw
        self.lang = language
        self.next: str | None = raw.get("Next")

    def execute(self, frame: Frame, state_input: Any) -> tuple[Any, str | None]:
        """One visit: record the entry, run, record the exit; returns (output, next state)."""
        entered = frame.record(f"{self.type}StateEntered", {
            "name": self.name, "input": to_json(state_input), "inputDetails": io_details(state_input)})
        visit = Visit(self, frame, state_input, entered, now())
        frame.active = self.type if self.type in ABORTABLE else None
        try:
            output, next_state = self.run(visit)
            assigned = visit.store()
        except EvaluationError as exc:
            raise visit.located(exc) from None
        text = to_json(output)
        if len(text.encode()) > MAX_PAYLOAD_BYTES:
            # the state fails without an exit event (recorded on AWS: localstack snapshot
            # v2/error_handling/test_states_errors.snapshot.json, test_start_large_input)
            raise StatesError(StatesErrorName.DATA_LIMIT_EXCEEDED, data_limit_cause(self.name))
        frame.active = None
        frame.record(f"{self.type}StateExited", {
            "name": self.name, "output": text, "outputDetails": io_details(output), **assigned})
        return output, next_state

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        raise NotImplementedError

    def finish(self, visit: Visit, result: Any, fields: dict[str, Any] | None = None,
               where: str = "") -> tuple[Any, str | None]:
        """Shape the output from ``result`` (and the variables ``fields``' Assign sets) and pick the transition."""
        output, visit.assigned = self.lang.finish(visit, result, fields, where)
        return output, self.next


class Visit:
    """One visit of a state: its input, when it was entered, the retry count, the context object."""

    def __init__(self, state: State, frame: Frame, state_input: Any, entered_id: int, entered: datetime) -> None:
        self.state = state
        self.frame = frame
        self.input = state_input
        self.entered_id = entered_id
        self.entered = entered
        self.retry_count = 0
        #: the variables the state assigns, stored when it exits (:meth:`store`)
        self.assigned: dict[str, Any] | None = None
        #: an attempt got as far as ``<Type>StateStarted`` (Map, Parallel): its final failure is recorded
        self.started = False

    @property
    def raw(self) -> dict[str, Any]:
        """The state's definition."""
        return self.state.raw

    def context(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The context object (``$$``) of this visit: ``State.RetryCount`` only in a state that retries (recorded
        on AWS: localstack snapshots v2/context_object/test_context_object.snapshot.json, a Pass state's
        ``{"Name", "EnteredTime"}``, and v2/scenarios/test_base_scenarios.snapshot.json, a Task's with RetryCount)."""
        retries = self.retry_count if isinstance(self.state, RetryingState) else None
        return self.frame.env.context(self.state.name, self.entered, retries, extra)

    @property
    def variables(self) -> Scope:
        """The workflow variables this visit sees."""
        return self.frame.scope

    def store(self) -> dict[str, Any]:
        """Store the assigned variables in the path's scope; the ``assignedVariables`` of the exit event."""
        if not self.assigned:
            return {}
        try:
            self.frame.scope.assign(self.assigned)
        except VariableError as exc:
            raise EvaluationError(StatesErrorName.RUNTIME, str(exc)) from None
        return assigned_details(self.assigned)

    def located(self, exc: EvaluationError) -> StatesError:
        """A run-time evaluation error reported the way Step Functions words it; a failed JSONata expression
        also records an EvaluationFailed event naming the field (recorded on AWS: localstack snapshot
        v2/assign/test_assign_reference_variables.snapshot.json, test_undefined_reference)."""
        cause = (f"An error occurred while executing the state '{self.state.name}' "
                 f"(entered at the event id #{self.entered_id}). {exc.cause}")
        if hasattr(exc, "location"):  # a query-language failure (JSONata): where it happened, if one field
            self.frame.record("EvaluationFailed", {"error": exc.error, "cause": cause, "location": exc.location,
                                                   "state": self.state.name}, key="evaluationFailedEventDetails")
        return StatesError(exc.error, cause)


class PassState(State):
    type = "Pass"

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        data = self.lang.state_input(visit, arguments=True)
        return self.finish(visit, self.raw["Result"] if "Result" in self.raw else data)


class SucceedState(State):
    type = "Succeed"

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        return self.finish(visit, self.lang.state_input(visit))[0], None


class FailState(State):
    type = "Fail"

    def _field(self, visit: Visit, name: str) -> str | None:
        label = self.lang.expression_field(name)
        try:
            value = self.lang.expression(visit, name, f"the field '{label}'")
        except PathMissing as exc:
            # recorded on AWS: localstack snapshot v2/scenarios/test_base_scenarios.snapshot.json,
            # test_invalid_jsonpath (INVALID_JSONPATH_IN_ERRORPATH, INVALID_JSONPATH_IN_CAUSEPATH)
            source = visit.context() if exc.path.startswith("$$") else visit.input
            raise EvaluationError(exc.error, f"The JSONPath '{exc.path}' specified for the field '{label}' could not "
                                             f"be found in the input '{to_json(source)}'") from None
        if value is ABSENT:
            return self.raw.get(name)
        if not isinstance(value, str):
            raise EvaluationError(StatesErrorName.RUNTIME,
                                  f"The value of the field '{label}' must resolve to a string, got {to_json(value)}")
        return value

    def execute(self, frame: Frame, state_input: Any) -> tuple[Any, str | None]:
        entered = frame.record("FailStateEntered", {
            "name": self.name, "input": to_json(state_input), "inputDetails": io_details(state_input)})
        visit = Visit(self, frame, state_input, entered, now())
        try:
            error, cause = self._field(visit, "Error"), self._field(visit, "Cause")
        except EvaluationError as exc:
            raise visit.located(exc) from None
        raise StatesError(error or "", cause or "")


class WaitState(State):
    type = "Wait"

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        data = self.lang.state_input(visit)
        seconds = self._seconds(visit)
        if seconds > MAX_WAIT_SECONDS:
            raise EvaluationError(StatesErrorName.RUNTIME, "Wait state delay is too long.")
        if seconds > 0 and visit.frame.sleep(seconds):
            raise ExecutionInterrupted()
        return self.finish(visit, data)

    def _given(self, visit: Visit, field: str) -> Any:
        """SecondsPath / TimestampPath's value (ABSENT when not given so); a path that selects nothing fails as
        AWS words it (recorded on AWS: localstack snapshot v2/logs/test_logs.snapshot.json, wait_seconds_path)."""
        try:
            return self.lang.expression(visit, field)
        except PathMissing as exc:
            raise EvaluationError(exc.error, f"The {self.lang.expression_field(field)} parameter does not reference "
                                             f"an input value: {exc.path}") from None

    def _bad(self, field: str, problem: str, value: Any) -> EvaluationError:
        """``The SecondsPath parameter cannot be parsed as a long value: $.x == 1.5`` (recorded on AWS: localstack
        snapshots v2/base/test_wait.snapshot.json, test_base_wait_seconds_path, and
        v2/scenarios/test_base_scenarios.snapshot.json, test_wait_timestamp_path)."""
        label = self.lang.expression_field(field)
        shown = value if isinstance(value, str) else to_json(value)
        return EvaluationError(StatesErrorName.RUNTIME,
                               f"The {label} parameter {problem}: {self.raw.get(label)} == {shown}")

    def _seconds(self, visit: Visit) -> float:
        """How long to wait from now, in definition seconds (negative: the timestamp is past)."""
        raw = self.raw
        given = self._given(visit, "Seconds")
        if given is ABSENT and "Seconds" in raw:
            return float(raw["Seconds"])
        if given is not ABSENT:
            value = as_number(given, integer=True)  # "parsed as a long": text that is a whole number reads as one
            if value is None:
                raise self._bad("Seconds", "cannot be parsed as a long value", given)
            if value < 0:
                raise self._bad("Seconds", "references a negative value", given)
            return float(value)
        stamp = self._given(visit, "Timestamp")
        stamp = raw.get("Timestamp") if stamp is ABSENT else stamp
        when = parse_timestamp(stamp)
        if when is None:
            raise self._bad("Timestamp", "does not reference a valid ISO-8601 extended offset date-time format "
                                         "string", stamp)
        return (when - now()).total_seconds()


class ChoiceState(State):
    type = "Choice"

    def __init__(self, name: str, raw: dict[str, Any], language: QueryLanguage) -> None:
        super().__init__(name, raw, language)
        self.choices: list[dict[str, Any]] = raw["Choices"]
        self.default: str | None = raw.get("Default")

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        data = self.lang.state_input(visit)
        for i, rule in enumerate(self.choices):
            if self.lang.matches(visit, rule, data, f"Choices[{i}]"):
                # a matched rule's own Assign and Output apply (recorded on AWS: localstack snapshots
                # v2/assign/test_assign_base (test_assign_in_choice), v2/outputdecl/test_output (test_output_in_choice))
                return self.finish(visit, data, rule, f"Choices[{i}]")[0], rule["Next"]
        if self.default is None:
            raise StatesError(StatesErrorName.NO_CHOICE_MATCHED, "No Matches!")
        return self.finish(visit, data)[0], self.default


class RetryingState(State):
    """Task, Parallel and Map: one attempt at a time under Retry, with Catch; the result becomes the output."""

    def __init__(self, name: str, raw: dict[str, Any], language: QueryLanguage) -> None:
        super().__init__(name, raw, language)
        self.retriers = [Retrier.from_json(r) for r in raw.get("Retry", [])]
        self.catchers = [Catcher.from_json(c) for c in raw.get("Catch", [])]

    def attempt(self, visit: Visit) -> Any:
        """Produce the raw result (the state's arguments evaluated inside); raise StatesError on failure."""
        raise NotImplementedError

    def failed(self, visit: Visit) -> None:
        """The state failed for good (no retry left), before a Catcher takes over: record what AWS records once
        then (Map, Parallel: ``<Type>StateFailed``)."""

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        policy = RetryPolicy(self.retriers)
        while True:
            try:
                try:
                    return self.finish(visit, self.attempt(visit))
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
                self.failed(visit)
                catcher = find_catcher(self.catchers, failure.error)
                if catcher is None:
                    raise
                where = f"Catch[{self.catchers.index(catcher)}]"
                try:
                    output, visit.assigned = self.lang.catch(visit, catcher.raw, failure.as_output(), where)
                except EvaluationError as exc:
                    raise visit.located(exc) from None
                return output, catcher.next
