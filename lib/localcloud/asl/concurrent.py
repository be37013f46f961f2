"""Parallel and Map (inline): sub-programs run on worker threads, failures stop the siblings.

The history follows what AWS writes (recorded on AWS: localstack snapshots v2/scenarios/test_base_scenarios
.snapshot.json — test_map_state, test_map_state_catch, test_map_state_retry, test_parallel_state_catch,
test_parallel_state_retry, test_parallel_state_nested — and v2/services/test_lambda_task_service.snapshot.json,
test_service_lambda_map_timeout):

- a branch starts after ``ParallelStateStarted``; an iteration's ``MapIterationStarted`` follows the last event of
  the iteration that ended before it started (``MapStateStarted`` while none has); ``MapIterationSucceeded`` /
  ``MapIterationFailed`` follow the iteration's last event without becoming the previous event of anything else;
- success: ``<Type>StateSucceeded`` follows the last ``MapIterationSucceeded`` (a Parallel: the last branch
  event), and so does ``<Type>StateExited``: the Succeeded event is never a previous event;
- failure: the first failing child ends the state; every child still running is aborted (a Map iteration with
  ``MapIterationAborted``), and each aborted path, the failing one too, records ``<Type>StateAborted`` for the
  Task (Wait, Map, Parallel) it was in, all following the failing event; with a Retry left, the next attempt's
  ``<Type>StateStarted`` follows it too, and only the final failure records ``<Type>StateFailed``.

Layer: above :mod:`.states`; items and item inputs come from the state's query language.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.asl.env import Frame
from localcloud.asl.errors import EvaluationError, ExecutionInterrupted, StatesError, StatesErrorName
from localcloud.asl.query import ABSENT, QueryLanguage
from localcloud.asl.states import ABORTABLE, Program, RetryingState, Visit, run_program
from localcloud.asl.values import as_number, to_json

LOG = logging.getLogger(__name__)

#: "Inline mode supports up to 40 concurrent iterations" (Step Functions developer guide, Map state)
INLINE_CONCURRENCY = 40


@dataclass
class _Child:
    """One branch or iteration: how it ended and the last event of its own path."""

    index: int
    frame: Frame
    status: str = "running"  # running | succeeded | failed | aborted
    result: Any = None
    failure: StatesError | None = None
    last: int = 0


class _Group:
    """The children of one attempt of a Parallel or Map state, run on worker threads.

    ``marker(child, kind)`` records a Map's ``MapIteration<kind>`` event (a Parallel has none) and returns its id;
    ``stops(failed)`` says whether ``failed`` failures end the state.
    """

    def __init__(self, frame: Frame, count: int, body: Callable[[int, Frame], Any],
                 marker: Callable[[_Child, str], int | None], stops: Callable[[int], bool]) -> None:
        self.frame = frame
        self.count = count
        self.body = body
        self.marker = marker
        self.stops = stops
        self.paths = Frame(frame.env, parent=frame, previous=frame.last)
        self.children: list[_Child | None] = [None] * count
        self.cursor = frame.last  # the previous event of the next child to start
        self.markers: list[int] = []
        self.failures: list[_Child] = []
        self.ending: _Child | None = None  # the failure that ends the state
        self.lock = threading.Lock()
        self._next = 0

    def run(self, workers: int) -> None:
        threads = [threading.Thread(target=self._work, daemon=True, name=f"asl-child-{i}") for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _work(self) -> None:
        while True:
            with self.lock:
                if self.paths.cancelled or self._next >= self.count:
                    return
                child = _Child(self._next, Frame(self.frame.env, parent=self.paths, previous=self.cursor))
                self.children[self._next] = child
                self._next += 1
            status, result, failure = "succeeded", None, None
            try:
                result = self.body(child.index, child.frame)
            except ExecutionInterrupted:
                status = "aborted"
            except StatesError as exc:
                status, failure = "failed", exc
            except Exception as exc:  # an engine bug in a child must not leave the parent waiting
                LOG.exception("child %d of %s failed unexpectedly", child.index, self.frame)
                status, failure = "failed", StatesError(StatesErrorName.RUNTIME, str(exc))
            self._ended(child, status, result, failure)

    def _ended(self, child: _Child, status: str, result: Any, failure: StatesError | None) -> None:
        with self.lock:
            child.last = child.frame.last
            self.cursor = max(self.cursor, child.last)
            if status == "failed" and self.ending is not None:
                status = "aborted"  # a failure after the state already failed is an abort (AWS: iterations 1-3)
            child.status, child.result, child.failure = status, result, failure
            if status == "aborted":
                return
            marker = self.marker(child, "Succeeded" if status == "succeeded" else "Failed")
            if marker is not None:
                self.markers.append(marker)
            if status == "failed":
                self.failures.append(child)
                if self.stops(len(self.failures)):
                    self.ending = child
                    self.paths.abort()

    def tear_down(self, map_name: str | None) -> None:
        """Record the aborted children after the failing event (or, when the execution stops, after the last)."""
        anchor = self.ending.last if self.ending is not None else max([self.cursor, *self.markers])
        history = self.frame.env.history
        for child in self.children:
            if child is None or child.status not in ("aborted", "running") and child is not self.ending:
                continue
            if child is not self.ending and map_name is not None:
                history.add("MapIterationAborted", {"name": map_name, "index": child.index}, previous=anchor)
            if child.frame.active in ABORTABLE:
                history.add(f"{child.frame.active}StateAborted", previous=anchor)
        self.frame.last = anchor

    def succeeded(self, state_type: str) -> None:
        """``<Type>StateSucceeded`` after the last iteration marker (or branch event); the frame goes on from there."""
        ends = self.markers or [c.last for c in self.children if c is not None]
        self.frame.last = max([self.frame.last, *ends])
        self.frame.env.history.add(f"{state_type}StateSucceeded", previous=self.frame.last)


class _Failing(RetryingState):
    """What Parallel and Map share: ``<Type>StateFailed`` once, when no retry is left."""

    def failed(self, visit: Visit) -> None:
        if visit.started:
            visit.frame.record(f"{self.type}StateFailed")
        visit.frame.active = None  # a failed Map/Parallel is not aborted afterwards (only the Task in it)

    def _run(self, visit: Visit, group: _Group, workers: int, map_name: str | None) -> None:
        visit.started = True
        group.run(workers)
        if group.ending is not None or visit.frame.cancelled:
            group.tear_down(map_name)
        if visit.frame.cancelled:
            raise ExecutionInterrupted()


class ParallelState(_Failing):
    type = "Parallel"

    def __init__(self, name: str, raw: dict[str, Any], language: QueryLanguage, branches: list[Program]) -> None:
        super().__init__(name, raw, language)
        self.branches = branches

    def attempt(self, visit: Visit) -> Any:
        frame = visit.frame
        data = self.lang.state_input(visit, arguments=True)
        frame.record("ParallelStateStarted")

        def branch(index: int, sub: Frame) -> Any:
            return run_program(self.branches[index], sub, data)

        group = _Group(frame, len(self.branches), branch, lambda child, kind: None, lambda failed: True)
        self._run(visit, group, len(self.branches), None)
        if group.ending is not None:
            assert group.ending.failure is not None
            raise group.ending.failure
        group.succeeded(self.type)
        return [c.result for c in group.children if c is not None]


class MapState(_Failing):
    type = "Map"

    def __init__(self, name: str, raw: dict[str, Any], language: QueryLanguage, processor: Program) -> None:
        super().__init__(name, raw, language)
        self.processor = processor

    def _number(self, visit: Visit, field: str, integer: bool) -> float | None:
        """MaxConcurrency, ToleratedFailureCount or ToleratedFailurePercentage, checked as AWS checks the value
        of its ``*Path`` (recorded on AWS: localstack snapshot v2/scenarios/test_base_scenarios.snapshot.json,
        test_max_concurrency_path, test_map_state_tolerated_failure_count_path and _percentage_path)."""
        given = self.lang.expression(visit, field)
        if given is ABSENT:
            return self.raw.get(field)
        value = as_number(given, integer=integer)
        if value is None:
            label = self.lang.expression_field(field)
            shown = given if isinstance(given, str) else to_json(given)
            raise EvaluationError(StatesErrorName.RUNTIME,
                                  f'The {label} field refers to value "{shown}" which is not a valid '
                                  f'{"integer" if integer else "float"}: {self.raw.get(label)}')
        if field == "ToleratedFailurePercentage" and not 0 <= value <= 100:
            raise EvaluationError(StatesErrorName.RUNTIME, "ToleratedFailurePercentage must be between 0 and 100.")
        if value < 0:  # ToleratedFailureCount recorded; MaxConcurrency worded alike (AWS left that run hanging)
            raise EvaluationError(StatesErrorName.RUNTIME, f"{field} cannot be negative.")
        return value

    def _items(self, visit: Visit, data: Any) -> list[Any]:
        try:
            return self.lang.items(visit, data)
        except EvaluationError as exc:
            if not hasattr(exc, "location"):
                raise
            # a failed JSONata Items: EvaluationFailed, then MapStateFailed (recorded on AWS: localstack snapshot
            # v2/scenarios/test_base_scenarios.snapshot.json, test_map_state_items_eval_jsonata_fail)
            failure = visit.located(exc)
            visit.frame.record("MapStateFailed")
            raise failure from None

    def _marker(self, child: _Child, kind: str) -> int:
        return child.frame.env.history.add(f"MapIteration{kind}", {"name": self.name, "index": child.index},
                                           previous=child.last)

    def attempt(self, visit: Visit) -> Any:
        frame = visit.frame
        data = self.lang.state_input(visit)
        items = self._items(visit, data)
        concurrency = int(self._number(visit, "MaxConcurrency", True) or 0)
        tolerated_count = self._number(visit, "ToleratedFailureCount", True)
        tolerated_percent = self._number(visit, "ToleratedFailurePercentage", False)
        tolerant = tolerated_count is not None or tolerated_percent is not None
        total = len(items)

        def exceeded(failed: int) -> bool:
            if not tolerant:
                return failed > 0
            if tolerated_count is not None and failed > tolerated_count:
                return True
            return tolerated_percent is not None and total > 0 and failed * 100 / total > tolerated_percent

        frame.record("MapStateStarted", {"length": total})

        def iteration(index: int, sub: Frame) -> Any:
            sub.record("MapIterationStarted", {"name": self.name, "index": index})
            extra = {"Map": {"Item": {"Index": index, "Value": items[index]}}}
            try:
                item_input = self.lang.item_input(visit, data, items[index], extra)
            except EvaluationError as exc:
                raise visit.located(exc) from None
            return run_program(self.processor, sub, item_input)

        limit = concurrency if concurrency > 0 else INLINE_CONCURRENCY
        workers = max(1, min(total, limit, INLINE_CONCURRENCY)) if total else 0
        group = _Group(frame, total, iteration, self._marker, exceeded)
        self._run(visit, group, workers, self.name)
        if group.ending is not None:
            if tolerant:
                raise StatesError(StatesErrorName.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                  "The specified tolerated failure threshold was exceeded")
            assert group.ending.failure is not None
            raise group.ending.failure
        group.succeeded(self.type)
        return [c.failure.as_output() if c is not None and c.failure is not None else c.result if c else None
                for c in group.children]
