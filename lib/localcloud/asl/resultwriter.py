"""A Distributed Map's ResultWriter: the child executions' results exported to Amazon S3, or reshaped in place.

"Step Functions consolidates all child workflow execution data, such as execution input and output, ARN, and
execution status. It then exports executions with the same status to their respective files in the specified
Amazon S3 location"; the state's output is then ``{"MapRunArn": ..., "ResultWriterDetails": {"Bucket": ...,
"Key": "<Prefix>/<Map Run id>/manifest.json"}}`` (ResultWriter (Map), developer guide; recorded on AWS:
localstack snapshot test_base_scenarios.snapshot.json test_map_state_result_writer). A manifest AWS wrote lists
``{"DestinationBucket", "MapRunArn", "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key":
"<Prefix>/<id>/SUCCEEDED_0.json", "Size": n}]}}`` (quoted in localstack pull request #11381). Each entry of a
result file has the members a parser of AWS's files reads (ExecutionArn, Input, InputDetails, Name, Output,
OutputDetails, RedriveCount, RedriveStatus, RedriveStatusReason, StartDate, StateMachineArn, Status, StopDate,
Error, Cause). ``WriterConfig`` ``Transformation`` (NONE, COMPACT, FLATTEN) and ``OutputType`` (JSON, JSONL) shape
the results (ResultWriter (Map), developer guide).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from localcloud.asl.env import Frame, TaskContext, iso
from localcloud.asl.errors import StatesError, StatesErrorName, TaskFailed
from localcloud.asl.itemreader import PUT_OBJECT, View
from localcloud.asl.query import QueryLanguage
from localcloud.asl.values import to_json

LOG = logging.getLogger(__name__)


def entry(child: Any, state_machine_arn: str) -> dict[str, Any]:
    """One child execution as the result files list it (``child`` is an ``asl.Execution`` that ended)."""
    result = child.result
    status = result.status if result is not None else "PENDING"
    out: dict[str, Any] = {
        "ExecutionArn": child.env.execution_arn,
        "Input": child.input_text,
        "InputDetails": {"Included": True},
        "Name": child.env.name,
        "RedriveCount": 0,
        "StartDate": iso(child.start_time),
        "StateMachineArn": state_machine_arn,
        "Status": status,
    }
    if result is not None:
        out["StopDate"] = iso(result.stop_date)
    if status == "SUCCEEDED":
        out["Output"] = result.output
        out["OutputDetails"] = {"Included": True}
        out["RedriveStatus"] = "NOT_REDRIVABLE"
        out["RedriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven"
    else:
        out["RedriveStatus"] = "REDRIVABLE_BY_MAP_RUN"
        if result is not None and result.error is not None:
            out["Error"] = result.error
        if result is not None and result.cause is not None:
            out["Cause"] = result.cause
    return out


def transform(values: list[Any], entries: list[dict[str, Any]], how: str) -> list[Any]:
    """Transformation NONE (the entries), COMPACT (the outputs) or FLATTEN (the outputs, arrays flattened); a
    failed child's result stays as its entry ("If a child workflow execution fails, Step Functions returns its
    execution result unchanged")."""
    if how == "NONE":
        return entries
    out: list[Any] = []
    for value, item in zip(values, entries, strict=True):
        if item["Status"] != "SUCCEEDED":
            out.append(item)
        elif how == "FLATTEN" and isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


class ResultWriter:
    """Exports or reshapes the results of one Map Run."""

    def __init__(self, raw: dict[str, Any], lang: QueryLanguage) -> None:
        self.raw = raw
        self.lang = lang
        config = raw.get("WriterConfig") or {}
        self.exports = "Resource" in raw
        self.transformation: str = config.get("Transformation", "NONE" if self.exports else "COMPACT")
        self.output_type: str = config.get("OutputType", "JSON")

    def destination(self, visit: Any, data: Any) -> tuple[str, str]:
        raw = {k: v for k, v in self.raw.items() if k in ("Parameters", "Arguments")}
        target = self.lang.state_input(View(raw, data, visit), arguments=True)
        if not isinstance(target, dict) or not isinstance(target.get("Bucket"), str):
            raise StatesError(StatesErrorName.RESULT_WRITER_FAILED, "The ResultWriter needs a Bucket.")
        return target["Bucket"], str(target.get("Prefix") or "")

    def shape(self, values: list[Any], children: list[Any], state_machine_arn: str) -> list[Any]:
        return transform(values, [entry(c, state_machine_arn) for c in children], self.transformation)

    def export(self, frame: Frame, state_name: str, where: tuple[str, str], run: Any, values: list[Any],
               children: list[Any]) -> dict[str, Any]:
        """Write the result files (one per status) and the manifest; returns the state's output."""
        bucket, prefix = where
        base = f"{prefix.rstrip('/')}/{run.run_id}" if prefix else run.run_id
        entries = [entry(c, run.state_machine_arn) for c in children]
        ok = [(v, e) for v, e in zip(values, entries, strict=True) if e["Status"] == "SUCCEEDED"]
        groups = {
            "FAILED": [e for e in entries if e["Status"] not in ("SUCCEEDED", "PENDING")],
            "PENDING": [e for e in entries if e["Status"] == "PENDING"],
            "SUCCEEDED": transform([v for v, _ in ok], [e for _, e in ok], self.transformation),
        }
        files: dict[str, list[dict[str, Any]]] = {group: [] for group in groups}
        for group, items in groups.items():
            if not items:
                continue
            key = f"{base}/{group}_0.json"
            body = "\n".join(to_json(i) for i in items) if self.output_type == "JSONL" else to_json(items)
            self._put(frame, state_name, bucket, key, body)
            files[group].append({"Key": key, "Size": len(body.encode())})
        manifest = {"DestinationBucket": bucket, "MapRunArn": run.arn, "ResultFiles": files}
        self._put(frame, state_name, bucket, f"{base}/manifest.json", json.dumps(manifest))
        return {"MapRunArn": run.arn, "ResultWriterDetails": {"Bucket": bucket, "Key": f"{base}/manifest.json"}}

    def _put(self, frame: Frame, state_name: str, bucket: str, key: str, body: str) -> None:
        task = TaskContext(frame, state_name=state_name, resource=PUT_OBJECT, token=None, timeout_seconds=None,
                           heartbeat_seconds=None, resource_type="s3", resource_name="putObject")
        try:
            frame.env.integrations.invoke(PUT_OBJECT, {"Bucket": bucket, "Key": key, "Body": body}, task)
        except TaskFailed as failure:
            raise StatesError(StatesErrorName.RESULT_WRITER_FAILED, failure.cause or failure.error) from None
        finally:
            task.close()
