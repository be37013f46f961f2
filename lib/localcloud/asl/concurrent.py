"""Parallel and Map (inline): sub-programs run on worker threads, failures stop the siblings.

Layer: above :mod:`.states`; items and item inputs come from the state's query language.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from localcloud.asl.env import Frame
from localcloud.asl.errors import EvaluationError, ExecutionInterrupted, StatesError, StatesErrorName
from localcloud.asl.query import ABSENT, QueryLanguage
from localcloud.asl.states import Program, RetryingState, Visit, run_program
from localcloud.asl.values import to_json

LOG = logging.getLogger(__name__)

#: "Inline mode supports up to 40 concurrent iterations" (Step Functions developer guide, Map state)
INLINE_CONCURRENCY = 40


class _Outcomes:
    """Results of concurrent children, and the first failure among them."""

    def __init__(self, count: int) -> None:
        self.results: list[Any] = [None] * count
        self.failures: list[tuple[int, StatesError]] = []
        self.lock = threading.Lock()


def _run_children(frame: Frame, count: int, workers: int, child: Callable[[int, Frame], Any],
                  stop_on_failure: Callable[[_Outcomes], bool]) -> _Outcomes:
    """Run ``child(i, frame)`` for i in range(count) on ``workers`` threads; stop starting new ones (and abort
    the running ones) once ``stop_on_failure`` says so."""
    outcomes = _Outcomes(count)
    group = Frame(frame.env, parent=frame, previous=frame.last)
    next_index = [0]
    frames: list[Frame] = []

    def worker() -> None:
        while True:
            with outcomes.lock:
                if group.cancelled or next_index[0] >= count:
                    return
                index = next_index[0]
                next_index[0] += 1
                sub = Frame(frame.env, parent=group, previous=frame.last)
                frames.append(sub)
            try:
                outcomes.results[index] = child(index, sub)
            except ExecutionInterrupted:
                continue
            except StatesError as failure:
                with outcomes.lock:
                    outcomes.failures.append((index, failure))
                    if stop_on_failure(outcomes):
                        group.abort()
            except Exception as exc:  # an engine bug in a child must not leave the parent waiting
                LOG.exception("child %d of %s failed unexpectedly", index, frame)
                with outcomes.lock:
                    outcomes.failures.append((index, StatesError(StatesErrorName.RUNTIME, str(exc))))
                    group.abort()

    threads = [threading.Thread(target=worker, daemon=True, name=f"asl-child-{i}") for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    frame.last = max([frame.last] + [f.last for f in frames])
    return outcomes


class ParallelState(RetryingState):
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

        outcomes = _run_children(frame, len(self.branches), len(self.branches), branch, lambda o: True)
        if frame.cancelled:
            raise ExecutionInterrupted()
        if outcomes.failures:
            frame.record("ParallelStateFailed")
            raise outcomes.failures[0][1]
        frame.record("ParallelStateSucceeded")
        return outcomes.results


class MapState(RetryingState):
    type = "Map"

    def __init__(self, name: str, raw: dict[str, Any], language: QueryLanguage, processor: Program) -> None:
        super().__init__(name, raw, language)
        self.processor = processor

    def _number(self, visit: Visit, field: str, default: float | None) -> float | None:
        value = self.lang.expression(visit, field)
        if value is ABSENT:
            return self.raw.get(field, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise EvaluationError(StatesErrorName.RUNTIME,
                                  f"The {self.lang.expression_field(field)} field refers to value {to_json(value)} "
                                  f"which is not a valid non-negative number")
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

    def attempt(self, visit: Visit) -> Any:
        frame = visit.frame
        data = self.lang.state_input(visit)
        items = self._items(visit, data)
        concurrency = int(self._number(visit, "MaxConcurrency", 0) or 0)
        tolerated_count = self._number(visit, "ToleratedFailureCount", None)
        tolerated_percent = self._number(visit, "ToleratedFailurePercentage", None)
        tolerant = tolerated_count is not None or tolerated_percent is not None
        total = len(items)

        def exceeded(outcomes: Any) -> bool:
            failed = len(outcomes.failures)
            if not tolerant:
                return failed > 0
            if tolerated_count is not None and failed > tolerated_count:
                return True
            return tolerated_percent is not None and total > 0 and failed * 100 / total > tolerated_percent

        frame.record("MapStateStarted", {"length": total})

        def iteration(index: int, sub: Frame) -> Any:
            sub.record("MapIterationStarted", {"name": self.name, "index": index})
            try:
                extra = {"Map": {"Item": {"Index": index, "Value": items[index]}}}
                try:
                    item_input = self.lang.item_input(visit, data, items[index], extra)
                except EvaluationError as exc:
                    raise visit.located(exc) from None
                result = run_program(self.processor, sub, item_input)
            except ExecutionInterrupted:
                sub.record("MapIterationAborted", {"name": self.name, "index": index})
                raise
            except StatesError:
                sub.record("MapIterationFailed", {"name": self.name, "index": index})
                raise
            sub.record("MapIterationSucceeded", {"name": self.name, "index": index})
            return result

        limit = concurrency if concurrency > 0 else INLINE_CONCURRENCY
        workers = max(1, min(total, limit, INLINE_CONCURRENCY))
        outcomes = _run_children(frame, total, workers if total else 0, iteration, exceeded)
        if frame.cancelled:
            raise ExecutionInterrupted()
        if exceeded(outcomes):
            frame.record("MapStateFailed")
            if tolerant:
                raise StatesError(StatesErrorName.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                  "The specified tolerated failure threshold was exceeded")
            raise outcomes.failures[0][1]
        for index, failure in outcomes.failures:
            outcomes.results[index] = failure.as_output()
        frame.record("MapStateSucceeded")
        return outcomes.results
