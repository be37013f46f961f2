"""Map Runs of Distributed Map states: the engine's host (it registers each run and child execution), and
DescribeMapRun, ListMapRuns, UpdateMapRun, ListExecutions(mapRunArn).

Shapes recorded on AWS (localstack snapshot ``test_sfn_api_map_run.snapshot.json``
``test_list_map_runs_and_describe_map_run``): DescribeMapRun gives ``executionArn``, ``mapRunArn``, ``status``,
``startDate``/``stopDate``, ``maxConcurrency``, ``toleratedFailureCount`` (0 when not given),
``toleratedFailurePercentage`` (0.0), ``itemCounts`` and ``executionCounts`` (``resultsWritten`` included);
ListMapRuns lists ``{executionArn, mapRunArn, stateMachineArn: <machine ARN>/<label>, startDate, stopDate}``.
"""

from __future__ import annotations

import logging
from typing import Any

from localcloud.asl.mapruns import MapRun
from localcloud.errors import AWSError
from localcloud.services.stepfunctions import validation as check
from localcloud.services.stepfunctions.models import ExecutionRecord
from localcloud.services.stepfunctions.store import Store

LOG = logging.getLogger(__name__)


def describe(run: MapRun) -> dict[str, Any]:
    """DescribeMapRun's answer."""
    with run.lock:
        out: dict[str, Any] = {
            "mapRunArn": run.arn,
            "executionArn": run.execution_arn,
            "status": run.status,
            "startDate": run.start_date,
            "maxConcurrency": run.max_concurrency,
            "toleratedFailurePercentage": float(run.tolerated_failure_percentage or 0.0),
            "toleratedFailureCount": int(run.tolerated_failure_count or 0),
            "itemCounts": run.items.as_dict(),
            "executionCounts": run.executions.as_dict(),
        }
        if run.stop_date is not None:
            out["stopDate"] = run.stop_date
        if run.redrive_count:
            out["redriveCount"], out["redriveDate"] = run.redrive_count, run.redrive_date
        return out


class MapRuns(Store):
    """The Map Runs of every execution, and the host side of the engine's Distributed Map."""

    def map_run_started(self, run: MapRun) -> None:
        parent = self.executions.get(run.execution_arn)
        machine = parent.state_machine_arn if parent is not None else run.state_machine_arn.rsplit("/", 1)[0]
        with self._lock:
            self.map_runs[run.arn] = (run, machine)
        LOG.info("map run %s started", run.arn)

    def child_started(self, run: MapRun, child: Any) -> None:
        """Register a child execution so DescribeExecution, GetExecutionHistory and ListExecutions find it."""
        parent = self.executions.get(run.execution_arn)
        env = child.env
        record = ExecutionRecord(
            arn=env.execution_arn, name=env.name, state_machine_arn=run.state_machine_arn, input=child.input_text,
            start_date=child.start_time, engine=child, definition=parent.definition if parent else "",
            role_arn=env.role_arn or "", state_machine_name=env.state_machine_name,
            state_machine_update_date=parent.state_machine_update_date if parent else child.start_time,
            revision_id=None, type=child.execution_type, map_run_arn=run.arn)
        with self._lock:
            self.add_execution(record, run.arn)

    def child_redriven(self, run: MapRun, child: Any) -> None:
        with self._lock:
            record = self.executions.get(child.env.execution_arn)
            if record is None:
                return
            record.redrive_count += 1
            record.redrive_date = run.redrive_date
            record.status, record.stop_date = "RUNNING", None
            record.output = record.error = record.cause = None

    def map_run(self, arn: str) -> MapRun:
        check.map_run_arn(arn)
        with self._lock:
            entry = self.map_runs.get(arn)
        if entry is None:
            raise AWSError("ResourceNotFound", f"Resource not found: '{arn}'")
        return entry[0]

    def list_map_runs(self, execution_arn: str) -> list[dict[str, Any]]:
        self.execution(execution_arn)
        with self._lock:
            runs = [(r, m) for r, m in self.map_runs.values() if r.execution_arn == execution_arn]
        out = []
        for run, _machine in sorted(runs, key=lambda e: e[0].start_date, reverse=True):
            item: dict[str, Any] = {"executionArn": run.execution_arn, "mapRunArn": run.arn,
                                    "stateMachineArn": run.state_machine_arn, "startDate": run.start_date}
            if run.stop_date is not None:
                item["stopDate"] = run.stop_date
            out.append(item)
        return out

    def update_map_run(self, arn: str, max_concurrency: int | None, tolerated_count: int | None,
                       tolerated_percentage: float | None) -> None:
        """UpdateMapRun: "Updates an in-progress Map Run's configuration" (API reference)."""
        if max_concurrency is None and tolerated_count is None and tolerated_percentage is None:
            raise AWSError("ValidationException", "At least one of the parameters maxConcurrency, "
                           "toleratedFailurePercentage or toleratedFailureCount must be specified.")
        self.map_run(arn).update(max_concurrency, tolerated_count, tolerated_percentage)

    def map_run_children(self, arn: str, status: str | None) -> list[ExecutionRecord]:
        """ListExecutions(mapRunArn): the run's child executions, newest first."""
        self.map_run(arn)
        found = self.executions_of(arn)
        for record in found:
            self.refresh(record)
        if status:
            found = [e for e in found if e.status == status]
        return sorted(found, key=lambda e: e.stop_date or e.start_date, reverse=True)
