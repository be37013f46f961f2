"""TestState: run one state once, with an input, and say what each step of its data flow made of it.

"Accepts the definition of a single state and executes it" (TestState, API reference). The answer: ``status``
SUCCEEDED, FAILED, RETRIABLE (a retrier would run the state again) or CAUGHT_ERROR (a catcher takes over, its
``Next`` is ``nextState``), the ``output``, ``error``/``cause``, and with inspection level DEBUG or TRACE the
``inspectionData`` steps. Which steps each state type reports is recorded on AWS (localstack snapshot
``tests/aws/services/stepfunctions/v2/test_state/test_test_state_scenarios.snapshot.json``,
``test_base_inspection_level_debug[...]``): a Pass state ``input``, ``afterInputPath``, ``afterParameters``,
``afterResultSelector``, ``afterResultPath`` (with a ``Result``: ``input``, ``result`` and the last two); Choice,
Succeed and Fail ``input`` and ``afterInputPath``; a Task every step and its ``result``. A retry is judged against
``stateConfiguration.retrierRetryCount``: RETRIABLE with ``errorDetails.retryIndex`` and
``retryBackoffIntervalSeconds`` while the retrier has attempts left, FAILED with the ``retryIndex`` once it has not
(test_state_configuration.snapshot.json ``test_state_configuration_retrier_retry_count``).
Layer: the top of the engine's run side, beside :mod:`.engine`.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localcloud.asl.concurrent import MapState, ParallelState
from localcloud.asl.distributed import DistributedMapState
from localcloud.asl.env import Environment, Frame
from localcloud.asl.errors import EvaluationError, ExecutionInterrupted, StatesError, StatesErrorName
from localcloud.asl.history import History, now
from localcloud.asl.query import ABSENT
from localcloud.asl.retry import UNCATCHABLE, error_matches, find_catcher
from localcloud.asl.states import ChoiceState, FailState, PassState, RetryingState, State, Visit
from localcloud.asl.values import to_json

LOG = logging.getLogger(__name__)


@dataclass
class Mock:
    """``mock.result`` (JSON text) or ``mock.errorOutput`` (error, cause)."""

    result: Any = None
    error: tuple[str, str] | None = None
    #: stateConfiguration.mapIterationFailureCount: how many of a mocked Map's iterations failed
    failures: int = 0


@dataclass
class Outcome:
    """What TestState answers, before it becomes JSON text."""

    status: str
    output: Any = None
    has_output: bool = False
    error: str | None = None
    cause: str | None = None
    next_state: str | None = None
    inspection: dict[str, Any] = field(default_factory=dict)

    def response(self, level: str) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.has_output:
            out["output"] = to_json(self.output)
        for key, value in (("error", self.error), ("cause", self.cause), ("nextState", self.next_state)):
            if value is not None:
                out[key] = value
        if level in ("DEBUG", "TRACE") and self.inspection:
            out["inspectionData"] = {k: v if k in ("errorDetails", "maxConcurrency", "toleratedFailureCount",
                                                   "toleratedFailurePercentage") else to_json(v)
                                     for k, v in self.inspection.items()}
        return out


class _Partial:
    """A view of the visit whose definition holds only some of the state's fields."""

    def __init__(self, visit: Any, raw: dict[str, Any]) -> None:
        self.raw, self.input, self._visit = raw, visit.input, visit

    def context(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._visit.context(extra)


class Inspecting:
    """The state's query language, noting each step of the data flow in ``steps``."""

    def __init__(self, inner: Any, steps: dict[str, Any]) -> None:
        self._inner, self.steps = inner, steps

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def state_input(self, visit: Any, *, arguments: bool = False, extra: dict[str, Any] | None = None) -> Any:
        jsonata = self._inner.name == "JSONata"
        if not jsonata:
            self.steps["afterInputPath"] = self._inner.state_input(visit)
        data = self._inner.state_input(visit, arguments=arguments, extra=extra)
        if arguments:
            self.steps["afterArguments" if jsonata else "afterParameters"] = data
        return data

    def finish(self, visit: Any, result: Any, fields: dict[str, Any] | None = None, where: str = "") -> Any:
        raw = visit.raw
        self.steps["result"] = result
        if self._inner.name != "JSONata":
            selected = {k: raw[k] for k in ("ResultSelector",) if k in raw}
            self.steps["afterResultSelector"] = self._inner.state_output(_Partial(visit, selected), result)
            before = {k: raw[k] for k in ("ResultSelector", "ResultPath") if k in raw}
            self.steps["afterResultPath"] = self._inner.state_output(_Partial(visit, before), result)
        return self._inner.finish(visit, result, fields, where)

    def state_output(self, visit: Any, result: Any) -> Any:
        return self.finish(visit, result)[0]


class _TestEnvironment(Environment):
    """An environment whose context object may be given (TestState ``context``)."""

    given_context: dict[str, Any] | None = None

    def context(self, state_name: str, entered: datetime, retry_count: int | None = 0,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
        ctx = super().context(state_name, entered, retry_count, extra)
        if self.given_context is not None:
            for key, value in self.given_context.items():
                ctx[key] = {**ctx.get(key, {}), **value} if isinstance(value, dict) else value
        return ctx


def environment(*, execution_arn: str, name: str, input_value: Any, role_arn: str | None,
                state_machine_arn: str, integrations: Any, tokens: Any, time_scale: float,
                context: dict[str, Any] | None) -> _TestEnvironment:
    """The environment one TestState call runs in ("The TestState API can run for up to five minutes")."""
    env = _TestEnvironment(execution_arn=execution_arn, name=name, input_value=input_value, start_time=now(),
                           role_arn=role_arn, state_machine_arn=state_machine_arn,
                           state_machine_name=state_machine_arn.rsplit(":", 1)[-1], integrations=integrations,
                           tokens=tokens, history=History(), timeout_seconds=300, time_scale=time_scale)
    env.given_context = context
    return env


def run_state(state: State, env: Environment, data: Any, *, mock: Mock | None, retry_count: int) -> Outcome:
    """Run ``state`` once on ``data``; what it did becomes the :class:`Outcome`."""
    steps: dict[str, Any] = {"input": data}
    clone = copy.copy(state)
    clone.lang = Inspecting(state.lang, steps)  # type: ignore[assignment]
    frame = Frame(env)
    visit = Visit(clone, frame, data, 0, now())
    visit.retry_count = retry_count
    try:
        output, next_state = _once(clone, visit, mock)
    except EvaluationError as exc:
        return Outcome("FAILED", error=exc.error, cause=exc.cause, inspection=_steps(state, steps))
    except ExecutionInterrupted:
        interruption = env.interruption or ("TIMED_OUT", "States.Timeout", "")
        return Outcome("FAILED", error=interruption[1], cause=interruption[2], inspection=_steps(state, steps))
    except StatesError as failure:
        return _failed(clone, visit, failure, retry_count, steps)
    return Outcome("SUCCEEDED", output=output, has_output=True, next_state=next_state,
                   inspection=_steps(state, steps))


def _once(state: State, visit: Visit, mock: Mock | None) -> tuple[Any, str | None]:
    if isinstance(state, FailState):
        state.lang.state_input(visit)  # AWS reports afterInputPath for a Fail state too
        state.execute(visit.frame, visit.input)  # raises the state's error
    if not isinstance(state, RetryingState):
        return state.run(visit)
    if mock is None:
        return state.finish(visit, state.attempt(visit))
    if isinstance(state, MapState | DistributedMapState | ParallelState):
        return _mocked_concurrent(state, visit, mock)
    state.lang.state_input(visit, arguments=True)
    if mock.error is not None:
        raise StatesError(*mock.error)
    return state.finish(visit, mock.result)


def _limit(state: State, visit: Visit, field: str) -> Any:
    value = state.lang.expression(visit, field)
    return state.raw.get(field) if value is ABSENT else value


def _mocked_concurrent(state: State, visit: Visit, mock: Mock) -> tuple[Any, str | None]:
    """A Map or Parallel state whose result is mocked: the limits a Map would run under, then the mock; a Map's
    ``mapIterationFailureCount`` beyond ToleratedFailureCount/Percentage fails it as the threshold does (recorded on
    AWS: test_state_configuration.snapshot.json test_map_state_failure_count; without a tolerated threshold the
    count changes nothing there)."""
    steps = state.lang.steps  # type: ignore[attr-defined]
    if isinstance(state, ParallelState):
        state.lang.state_input(visit)
        steps.pop("afterInputPath", None)
    else:
        data = state.lang.state_input(visit)
        if state.lang.name != "JSONata":
            steps["afterItemsPath"] = state.lang.items(visit, data) if "ItemReader" not in state.raw else data
        else:
            steps.pop("afterInputPath", None)
        steps["maxConcurrency"] = int(_limit(state, visit, "MaxConcurrency") or 0)
        count = _limit(state, visit, "ToleratedFailureCount")
        percentage = _limit(state, visit, "ToleratedFailurePercentage")
        for key, value in (("toleratedFailureCount", count), ("toleratedFailurePercentage", percentage)):
            if value is not None:
                steps[key] = value
        total = len(mock.result) if isinstance(mock.result, list) else 0
        if mock.error is None and ((count is not None and mock.failures > count) or (
                percentage is not None and total and mock.failures * 100.0 / total > percentage)):
            raise StatesError(StatesErrorName.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                              "The specified tolerated failure threshold was exceeded")
    if mock.error is not None:
        raise StatesError(*mock.error)
    return state.finish(visit, mock.result)


def _steps(state: State, steps: dict[str, Any]) -> dict[str, Any]:
    """Only the steps AWS reports for this state type."""
    if isinstance(state, PassState):
        if "Result" in state.raw:
            return {k: v for k, v in steps.items() if k in ("input", "result", "afterResultSelector",
                                                            "afterResultPath")}
        return {k: v for k, v in steps.items() if k != "result"}
    if isinstance(state, ChoiceState | FailState) or state.type in ("Succeed", "Wait"):
        return {k: v for k, v in steps.items() if k in ("input", "afterInputPath")}
    if isinstance(state, ParallelState):  # recorded: test_test_state_mock_scenarios test_io_parallel_state_mock_success
        return {k: v for k, v in steps.items() if k in ("input", "afterResultSelector", "afterResultPath",
                                                        "errorDetails")}
    if isinstance(state, MapState | DistributedMapState):
        return {k: v for k, v in steps.items() if k in ("input", "afterInputPath", "afterItemsPath", "errorDetails",
                                                        "maxConcurrency", "toleratedFailureCount",
                                                        "toleratedFailurePercentage")}
    return dict(steps)


def _failed(state: State, visit: Visit, failure: StatesError, retry_count: int, steps: dict[str, Any]) -> Outcome:
    """FAILED, RETRIABLE or CAUGHT_ERROR, as the state's Retry and Catch would decide."""
    inspection = _steps(state, steps)
    error, cause = failure.error, failure.cause
    outcome = Outcome("FAILED", error=error, cause=cause, inspection=inspection)
    if not isinstance(state, RetryingState) or error in UNCATCHABLE:
        return outcome
    details: dict[str, Any] = {}
    for index, retrier in enumerate(state.retriers):
        if error_matches(retrier.error_equals, error):
            details["retryIndex"] = index
            if retry_count < retrier.max_attempts:
                details["retryBackoffIntervalSeconds"] = int(retrier.delay(retry_count))
                inspection["errorDetails"] = details
                outcome.status = "RETRIABLE"
                return outcome
            break
    catcher = find_catcher(state.catchers, error)
    if catcher is not None:
        details = {"catchIndex": state.catchers.index(catcher)}
        outcome.status, outcome.next_state = "CAUGHT_ERROR", catcher.next
        outcome.output = state.lang.catch(visit, catcher.raw, failure.as_output())[0]
        outcome.has_output = True
    if details:
        inspection["errorDetails"] = details
    return outcome
