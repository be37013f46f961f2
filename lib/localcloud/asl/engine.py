"""State machines and executions: the public face of the engine."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localcloud.asl.env import Environment, Frame, Integrations, TokenRegistry
from localcloud.asl.errors import ExecutionInterrupted, InvalidDefinition, StatesError
from localcloud.asl.history import History, now
from localcloud.asl.parse import build_program, load_definition, validate_definition
from localcloud.asl.redrive import Journal, track
from localcloud.asl.states import Program, run_program
from localcloud.asl.values import to_json
from localcloud.errors import AWSError

LOG = logging.getLogger(__name__)


class StateMachine:
    """A parsed, validated state machine definition."""

    def __init__(self, document: dict[str, Any], program: Program) -> None:
        self.document = document
        self.program = program
        self.timeout_seconds: int | None = document.get("TimeoutSeconds")

    @classmethod
    def parse(cls, definition: str | dict[str, Any]) -> StateMachine:
        """Parse and validate; raises InvalidDefinition listing every problem."""
        problems = validate_definition(definition)
        if problems:
            raise InvalidDefinition(problems)
        document, _ = load_definition(definition)
        assert document is not None
        return cls(document, build_program(document))


@dataclass
class ExecutionResult:
    """How an execution ended."""

    status: str  # SUCCEEDED | FAILED | ABORTED | TIMED_OUT
    output: str | None
    error: str | None
    cause: str | None
    stop_date: datetime


class Execution:
    """One run of a state machine; :meth:`run` blocks until it ends, :meth:`stop` may be called from any thread.

    ``time_scale`` multiplies every duration of the definition (Wait, retry intervals, task and execution
    timeouts, heartbeats): 1.0 is real time, 0.01 rehearses a day-long workflow in minutes.
    """

    def __init__(self, machine: StateMachine, *, execution_arn: str, name: str, input: str,
                 state_machine_arn: str, state_machine_name: str, role_arn: str | None,
                 integrations: Integrations, tokens: TokenRegistry, start_time: datetime | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None, time_scale: float = 1.0) -> None:
        try:
            self.input_value = json.loads(input) if input is not None and input.strip() else {}
        except ValueError as exc:
            raise AWSError("InvalidExecutionInput", f"Invalid State Machine Execution Input: '{exc}'") from None
        self.input_text = input if input is not None and input.strip() else "{}"
        self.machine = machine
        self._history = History(on_event)
        self.events = self._history.events
        self.start_time = start_time or now()
        self.env = Environment(
            execution_arn=execution_arn, name=name, input_value=self.input_value, start_time=self.start_time,
            role_arn=role_arn, state_machine_arn=state_machine_arn, state_machine_name=state_machine_name,
            integrations=integrations, tokens=tokens, history=self._history,
            timeout_seconds=machine.timeout_seconds, time_scale=time_scale)
        self.result: ExecutionResult | None = None
        self._lock = threading.Lock()
        #: STANDARD, or EXPRESS for a Map Run's child whose ProcessorConfig.ExecutionType says so
        self.execution_type = "STANDARD"
        #: every path of this execution, where a redrive resumes (:mod:`.redrive`)
        self.journal = Journal()
        self._redriven = 0
        self.program = track(machine.program, self.journal)
        self.env.spawn = self._spawn

    def _spawn(self, program: Program, document: dict[str, Any], *, execution_arn: str, name: str,
               input_text: str, state_machine_arn: str, state_machine_name: str,
               execution_type: str = "STANDARD") -> Execution:
        """A child execution of a Map Run (not started): same role, integrations, host and clock as this one."""
        env = self.env
        child = Execution(StateMachine(document, program), execution_arn=execution_arn, name=name, input=input_text,
                          state_machine_arn=state_machine_arn, state_machine_name=state_machine_name,
                          role_arn=env.role_arn, integrations=env.integrations, tokens=env.tokens,
                          time_scale=env.time_scale)
        child.env.host = env.host
        child.execution_type = execution_type
        return child

    def history(self) -> list[dict[str, Any]]:
        """A thread-safe copy of the history so far."""
        return self._history.snapshot()

    def stop(self, error: str | None = None, cause: str | None = None) -> None:
        """Abort the execution (StopExecution); a no-op once it has ended."""
        with self._lock:
            if self.result is None:
                self.env.interrupt("ABORTED", error, cause)

    def run(self) -> ExecutionResult:
        """Run to the end and return how it ended; records ExecutionStarted … Execution<Outcome>."""
        env = self.env
        details: dict[str, Any] = {"input": to_json(self.input_value), "inputDetails": {"truncated": False}}
        if env.role_arn:
            details["roleArn"] = env.role_arn
        self._history.add("ExecutionStarted", details)
        return self._run_program(0)

    def redrive(self, redrive_count: int) -> None:
        """Prepare a redrive (RedriveExecution): the execution continues where it failed, with the same input;
        what succeeded is not run again. Call :meth:`run_again` to run it."""
        with self._lock:
            self.result = None
            self.env.redrive_count = redrive_count
            self.env.restart(self.machine.timeout_seconds)
            self.journal.generation += 1
        self._redriven = self._history.add("ExecutionRedriven", {"redriveCount": redrive_count},
                                           previous=len(self.events))

    def run_again(self) -> ExecutionResult:
        """Run a redriven execution to its end."""
        return self._run_program(self._redriven)

    def _run_program(self, previous: int) -> ExecutionResult:
        env = self.env
        frame = Frame(env, previous=previous)
        status, output, error, cause = "SUCCEEDED", None, None, None
        try:
            value = run_program(self.program, frame, self.input_value)
            output = to_json(value)
        except StatesError as failure:
            status, error, cause = "FAILED", failure.error or None, failure.cause or None
        except ExecutionInterrupted:
            status = "ABORTED"
        except Exception as exc:  # an engine bug must still end the execution
            LOG.exception("execution %s crashed", env.execution_arn)
            status, error, cause = "FAILED", "States.Runtime", f"Internal error: {type(exc).__name__}: {exc}"
        with self._lock:
            if env.interrupted or status == "ABORTED":
                assert env.interruption is not None
                status, error, cause = env.interruption
                output = None
            self.result = ExecutionResult(status, output, error, cause, now())
        result = self.result
        if status == "SUCCEEDED":
            frame.record("ExecutionSucceeded", {"output": output, "outputDetails": {"truncated": False}})
        elif status == "FAILED":
            frame.record("ExecutionFailed", {"error": error, "cause": cause})
        elif status == "ABORTED":
            # a stop follows no event of the run (recorded on AWS: localstack snapshot
            # v2/test_sfn_api.snapshot.json, test_stop_execution: 3<0 ExecutionAborted while in a Wait state)
            frame.last = 0
            frame.record("ExecutionAborted", {"error": error, "cause": cause})
        else:
            frame.record("ExecutionTimedOut", {"error": error, "cause": cause})
        env.notify()
        LOG.info("execution %s ended %s", env.execution_arn, status)
        return result
