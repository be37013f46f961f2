"""The Distributed Map state (``ItemProcessor.ProcessorConfig.Mode: DISTRIBUTED``): a Map Run of child executions.

What the parent's history shows is recorded on AWS (localstack snapshot ``tests/aws/services/stepfunctions/v2/
scenarios/test_base_scenarios.snapshot.json``, e.g. ``test_map_state_config_distributed_parameters``,
``test_map_item_reader_base_csv_headers_first_line``, ``test_map_state_tolerated_failure_count_path``):
``MapStateEntered``, ``MapStateStarted`` (``length``: the items taken from the input, 0 when an ItemReader reads
them), ``MapRunStarted`` (``mapRunArn``), then ``MapRunSucceeded`` + ``MapStateSucceeded`` or ``MapRunFailed``
(``error``, ``cause``) + ``MapStateFailed``; the child executions' own events stay in their own histories. A
limit that does not evaluate (``MaxConcurrencyPath``, ``ToleratedFailure*Path``, ``MaxItemsPath``) fails the state
with ``States.Runtime`` before the Map Run starts.

Each item (or batch, with ItemBatcher) runs as a child execution of the item processor — STANDARD or EXPRESS as
``ProcessorConfig.ExecutionType`` says — at most ``MaxConcurrency`` at a time (UpdateMapRun may change it while the
run goes on). A run fails with ``States.ExceedToleratedFailureThreshold`` once failed and timed-out children exceed
``ToleratedFailureCount``/``ToleratedFailurePercentage`` (default 0: any failure) (Tolerated failure threshold for
Distributed Map state, developer guide). Layer: a state type beside :mod:`.concurrent`; reads and writes S3 through
the integrations registry (:mod:`.itemreader`, :mod:`.resultwriter`).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from typing import Any

from localcloud.asl.env import Frame
from localcloud.asl.errors import EvaluationError, ExecutionInterrupted, StatesError, StatesErrorName
from localcloud.asl.history import now
from localcloud.asl.itemreader import ItemBatcher, ItemReader
from localcloud.asl.mapruns import COUNTERS, MapRun
from localcloud.asl.query import ABSENT, QueryLanguage
from localcloud.asl.resultwriter import ResultWriter
from localcloud.asl.states import Program, RetryingState, Visit
from localcloud.asl.values import to_json

LOG = logging.getLogger(__name__)

#: threads one Map Run uses at most when MaxConcurrency is 0 (AWS allows up to 10,000 child executions at once;
#: a local machine runs them through this many workers)
LOCAL_WORKERS = 40
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"
#: the longest an EXPRESS child workflow runs
EXPRESS_SECONDS = 300


class DistributedMapState(RetryingState):
    type = "Map"

    def __init__(self, name: str, raw: dict[str, Any], language: QueryLanguage, processor: Program) -> None:
        super().__init__(name, raw, language)
        self.processor = processor
        processor_raw = raw.get("ItemProcessor") or raw.get("Iterator") or {}
        self.processor_document = {k: v for k, v in processor_raw.items() if k != "ProcessorConfig"}
        self.execution_type: str = (processor_raw.get("ProcessorConfig") or {}).get("ExecutionType", "STANDARD")
        self.label: str = raw.get("Label", name)
        self.reader = ItemReader(raw["ItemReader"], language) if "ItemReader" in raw else None
        self.batcher = ItemBatcher(raw["ItemBatcher"], language) if "ItemBatcher" in raw else None
        self.writer = ResultWriter(raw["ResultWriter"], language) if "ResultWriter" in raw else None

    # -- limits -------------------------------------------------------------------------------------------
    def _limit(self, visit: Visit, field: str, integer: bool) -> int | float | None:
        """MaxConcurrency / ToleratedFailureCount / ToleratedFailurePercentage, with AWS's recorded errors."""
        lang = self.lang
        if field in self.raw:
            return self.raw[field]
        value = lang.expression(visit, field)
        if value is ABSENT:
            return None
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            shown = value if isinstance(value, str) else to_json(value)
            raise EvaluationError(StatesErrorName.RUNTIME,
                                  f'The {lang.expression_field(field)} field refers to value "{shown}" which is '
                                  f'not a valid {"integer" if integer else "float"}: '
                                  f'{self.raw.get(lang.expression_field(field), "")}')
        if field == "ToleratedFailureCount" and value < 0:
            raise EvaluationError(StatesErrorName.RUNTIME, "ToleratedFailureCount cannot be negative.")
        if field == "ToleratedFailurePercentage" and not 0 <= value <= 100:
            raise EvaluationError(StatesErrorName.RUNTIME, "ToleratedFailurePercentage must be between 0 and 100.")
        if field == "MaxConcurrency" and value < 0:
            raise EvaluationError(StatesErrorName.RUNTIME, "MaxConcurrency cannot be negative.")
        return value

    def _new_run(self, visit: Visit, limits: tuple[Any, Any, Any]) -> MapRun:
        env = visit.frame.env
        parts = env.state_machine_arn.split(":")
        machine = parts[6] if len(parts) > 6 else env.state_machine_name
        prefix = ":".join(parts[:5])
        concurrency, count, percentage = limits
        return MapRun(arn=f"{prefix}:mapRun:{machine}/{self.label}:{uuid.uuid4()}", execution_arn=env.execution_arn,
                      state_machine_arn=f"{prefix}:stateMachine:{machine}/{self.label}", label=self.label,
                      max_concurrency=int(concurrency or 0), tolerated_failure_count=count,
                      tolerated_failure_percentage=None if percentage is None else float(percentage))

    # -- the state ----------------------------------------------------------------------------------------
    def attempt(self, visit: Visit) -> Any:
        frame = visit.frame
        data = self.lang.state_input(visit)
        concurrency = self._limit(visit, "MaxConcurrency", True)
        items = None if self.reader is not None else self.lang.items(visit, data)
        frame.record("MapStateStarted", {"length": len(items) if items is not None else 0})
        limits = (concurrency, self._limit(visit, "ToleratedFailureCount", True),
                  self._limit(visit, "ToleratedFailurePercentage", False))
        max_items = self.reader.max_items(visit, data) if self.reader is not None else None
        run, remembered = self._start_run(visit, limits)
        try:
            if items is None:
                assert self.reader is not None
                items = self.reader.read(frame, self.name, self.reader.parameters(visit, data), max_items)
            inputs = self._inputs(visit, data, items)
            outcome = _Dispatch(self, frame, run, inputs, remembered).run()
            return self._finish(visit, data, run, outcome)
        except EvaluationError as exc:
            raise visit.located(exc) from None
        except StatesError as failure:
            self._end(frame, run, "FAILED")
            frame.record("MapRunFailed", {"error": failure.error or None, "cause": failure.cause or None})
            frame.record("MapStateFailed")
            raise
        except ExecutionInterrupted:
            self._end(frame, run, "ABORTED")
            frame.record("MapRunAborted")
            raise

    def _start_run(self, visit: Visit, limits: tuple[Any, Any, Any]) -> tuple[MapRun, dict[int, Any]]:
        """A new Map Run, or on a redrive the one this state ran before (its children that succeeded are kept:
        "The parent workflow redrives all the unsuccessful states, including a failed Map Run", API reference)."""
        frame, env = visit.frame, visit.frame.env
        key = f"maprun:{frame.path}/{self.name}"
        previous: MapRun | None = env.memory.get(key)
        if previous is not None and env.redrive_count > previous.redrive_count and previous.status != "SUCCEEDED":
            run = previous
            with run.lock:
                run.status, run.stop_date = "RUNNING", None
                run.redrive_count, run.redrive_date = env.redrive_count, now()
                kept = dict(run.children)
            frame.record("MapRunRedriven", {"mapRunArn": run.arn, "redriveCount": run.redrive_count})
            return run, kept
        run = self._new_run(visit, limits)
        env.memory[key] = run
        if env.host is not None:
            env.host.map_run_started(run)
        frame.record("MapRunStarted", {"mapRunArn": run.arn})
        return run, {}

    def _inputs(self, visit: Visit, data: Any, items: list[Any]) -> list[Any]:
        """Each child execution's input: ItemSelector (or Parameters) per item, then ItemBatcher."""
        selected = []
        for index, item in enumerate(items):
            extra = {"Map": {"Item": {"Index": index, "Value": item}}}
            selected.append(self.lang.item_input(visit, data, item, extra))
        if self.batcher is None:
            return selected
        return list(self.batcher.batches(visit, data, selected))

    def _finish(self, visit: Visit, data: Any, run: MapRun, outcome: _Outcome) -> Any:
        frame = visit.frame
        if outcome.interrupted:
            raise ExecutionInterrupted()
        started = [(i, c) for i, c in enumerate(outcome.children) if c is not None]
        values = [outcome.values.get(i) for i, _ in started]
        children = [c for _, c in started]
        if self.writer is not None and self.writer.exports:
            result: Any = self.writer.export(frame, self.name, self.writer.destination(visit, data), run, values,
                                             children)
        elif self.writer is not None:
            result = self.writer.shape(values, children, run.state_machine_arn)
        else:
            result = values
        if outcome.exceeded:
            raise StatesError(StatesErrorName.EXCEED_TOLERATED_FAILURE_THRESHOLD, THRESHOLD_CAUSE)
        self._end(frame, run, "SUCCEEDED")
        succeeded = frame.record("MapRunSucceeded")
        frame.record("MapStateSucceeded")
        # MapStateSucceeded and MapStateExited both follow MapRunSucceeded (recorded on AWS: test_base_scenarios
        # .snapshot.json test_map_state_config_distributed_parameters, events 5-7)
        frame.last = succeeded
        return result

    def _end(self, frame: Frame, run: MapRun, status: str) -> None:
        with run.lock:
            if run.status == "RUNNING":
                run.status, run.stop_date = status, now()
            for counts in (run.items, run.executions):
                counts.resultsWritten = counts.succeeded


class _Outcome:
    def __init__(self) -> None:
        self.children: list[Any] = []
        self.values: dict[int, Any] = {}
        self.exceeded = False
        self.interrupted = False


class _Dispatch:
    """Runs the children of one Map Run at most ``run.max_concurrency`` at a time (read anew as each ends)."""

    def __init__(self, state: DistributedMapState, frame: Frame, run: MapRun, inputs: list[Any],
                 kept: dict[int, Any]) -> None:
        self.state, self.frame, self.run_record, self.inputs, self.kept = state, frame, run, inputs, kept
        self.outcome = _Outcome()
        self.running: dict[int, Any] = {}

    def _sizes(self) -> list[int]:
        return [len(i["Items"]) if self.state.batcher is not None else 1 for i in self.inputs]

    def _prepare(self) -> deque[int]:
        run, sizes = self.run_record, self._sizes()
        with run.lock:
            for counts in (run.items, run.executions):
                for key in ("pending", "running", "succeeded", "failed", "timedOut", "aborted"):
                    setattr(counts, key, 0)
            run.items.total, run.executions.total = sum(sizes), len(sizes)
            run.items.pending, run.executions.pending = run.items.total, run.executions.total
        todo: deque[int] = deque()
        self.outcome.children = [None] * len(self.inputs)
        for index in range(len(self.inputs)):
            child = self.kept.get(index)
            if child is None or child.result is None or child.result.status != "SUCCEEDED":
                todo.append(index)
                continue
            self.outcome.children[index] = child
            self._settle(index, child, sizes[index])
        return todo

    def _settle(self, index: int, child: Any, size: int) -> None:
        """Count a child that ended (its result is its output, or its error output when it failed)."""
        run, result = self.run_record, child.result
        status = result.status if result is not None else "ABORTED"
        with run.lock:
            for counts, n in ((run.items, size), (run.executions, 1)):
                if index in self.running:
                    counts.running -= n
                else:
                    counts.pending -= n
                key = COUNTERS.get(status, "aborted")
                setattr(counts, key, getattr(counts, key) + n)
            run.lock.notify_all()
        if status == "SUCCEEDED":
            self.outcome.values[index] = json.loads(result.output) if result.output is not None else None
        else:
            self.outcome.values[index] = {"Error": result.error if result else None,
                                          "Cause": result.cause if result else None}

    def _launch(self, index: int) -> None:
        """Start the child of item ``index``: a new execution, or on a redrive the STANDARD child that did not
        succeed, redriven ("When you redrive a Map Run, the Express child workflows are rerun using the
        StartExecution API action": RedriveExecution, API reference; a STANDARD child is REDRIVABLE_BY_MAP_RUN)."""
        state, frame, run = self.state, self.frame, self.run_record
        env = frame.env
        previous = self.kept.get(index)
        if previous is not None and previous.execution_type == "STANDARD":
            child, runner = previous, previous.run_again
            child.redrive(run.redrive_count)
            if env.host is not None:
                env.host.child_redriven(run, child)
        else:
            assert env.spawn is not None, "the engine sets Environment.spawn"
            name = str(uuid.uuid4())
            machine = run.state_machine_arn.split(":stateMachine:", 1)[1]
            arn = run.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
            child = env.spawn(state.processor, state.processor_document, execution_arn=arn, name=name,
                              input_text=to_json(self.inputs[index]), state_machine_arn=run.state_machine_arn,
                              state_machine_name=machine, execution_type=state.execution_type)
            if state.execution_type == "EXPRESS":  # "Maximum execution duration: 5 minutes" (Express quotas)
                child.env.restart(min(child.machine.timeout_seconds or EXPRESS_SECONDS, EXPRESS_SECONDS))
            runner = child.run
            if env.host is not None:
                env.host.child_started(run, child)
        self.outcome.children[index] = child
        size = self._sizes()[index]
        with run.lock:
            run.children[index] = child
            self.running[index] = child
            for counts, n in ((run.items, size), (run.executions, 1)):
                counts.pending -= n
                counts.running += n

        def work() -> None:
            try:
                runner()
            finally:
                self._settle(index, child, size)
                with run.lock:
                    self.running.pop(index, None)
                    run.lock.notify_all()

        threading.Thread(target=work, daemon=True, name=f"maprun-{index}").start()

    # long: one loop starts children as slots free up, stops on the threshold, a stop or a timeout
    def run(self) -> _Outcome:
        run, frame = self.run_record, self.frame
        todo = self._prepare()
        with run.lock:
            while True:
                if run.exceeded():
                    self.outcome.exceeded = True
                if frame.cancelled:
                    self.outcome.interrupted = True
                if self.outcome.exceeded or self.outcome.interrupted:
                    break
                limit = run.max_concurrency or LOCAL_WORKERS
                while todo and len(self.running) < min(limit, LOCAL_WORKERS):
                    index = todo.popleft()
                    run.lock.release()
                    try:
                        self._launch(index)
                    finally:
                        run.lock.acquire()
                if not todo and not self.running:
                    self.outcome.exceeded = run.exceeded()
                    break
                run.lock.wait(0.05)
            still = list(self.running.values())
        for child in still:  # the run failed or was stopped: the children still running are aborted
            child.stop(None, None)
        with run.lock:
            while self.running:
                run.lock.wait(0.05)
        return self.outcome
