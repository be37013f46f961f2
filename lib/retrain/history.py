"""Run history and lineage, kept where both targets can read it: one record per run under the project's prefix in
the bucket (``<project>/runs/<run_id>/record.json``), next to the run's data, profile, data report and evaluation,
and the registry's model package it points at.

A record says what went in (data hash, parameters digest, git commit), what came out (training metrics, the
evaluation, the gate's decision and reason, the model package, the endpoint config), how the run ended and what
started it (``started_by``: ``retrain run``, ``schedule`` or ``new data``). The workflow writes one as each run ends
(``recorded_by: workflow``, :mod:`retrain.outcomes`), so runs nobody started from a notebook are listed too;
notebook 04, when it ran the execution, replaces it with its richer one (``recorded_by: notebook 04``).
``retrain history`` lists them; ``retrain compare RUN_A RUN_B`` puts two side by side (:mod:`retrain.compare`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import Params
from retrain.errors import CloudError
from retrain.resources import Layout

RECORD = "record.json"


def digest(data: bytes | str) -> str:
    """``sha256:<hex>`` of ``data``."""
    raw = data.encode() if isinstance(data, str) else data
    return "sha256:" + hashlib.sha256(raw).hexdigest()


#: parameters that say where a run writes or what the clean-up keeps, not what model it makes
NOT_THE_MODEL = ("state_file", "localcloud_port", "keep_endpoint", "keep_roles", "keep_data", "endpoint_poll_seconds",
                 "iam_propagation_seconds", "approval_poll_seconds", "schedule", "retrain_on_new_data",
                 "keep_triggers", "cache", "notify_events", "notify_email", "notify_webhook")


def params_digest(params: Params) -> str:
    """A digest of the validated parameters that decide the model (not where files go or what the clean-up
    keeps), independent of key order: two runs with the same digest asked for the same model."""
    data = {k: v for k, v in params.to_dict().items() if k not in NOT_THE_MODEL}
    return digest(json.dumps(data, sort_keys=True, default=str))


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_json(s3: Any, uri: str) -> Any:
    """The JSON document at ``uri``; None when there is none."""
    bucket, key = _split(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    return json.loads(body)


def write_record(s3: Any, layout: Layout, run_id: str, record: dict[str, Any]) -> str:
    """Store the record of ``run_id``; its URI."""
    uri = layout.run_prefix(run_id) + RECORD
    bucket, key = _split(uri)
    body = {"run_id": run_id, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"), **record}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body, indent=2, default=str).encode(),
                  ContentType="application/json")
    return uri


def records(s3: Any, layout: Layout) -> list[dict[str, Any]]:
    """Every run's record, oldest first (by run id, which starts with the run's UTC time)."""
    bucket, prefix = _split(layout.dest + "runs/")
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/" + RECORD):
                found.append(read_json(s3, f"s3://{bucket}/{item['Key']}"))
    return sorted((r for r in found if r), key=lambda r: r["run_id"])


def record_of(s3: Any, layout: Layout, run_id: str) -> dict[str, Any]:
    record = read_json(s3, layout.run_prefix(run_id) + RECORD)
    if record is None:
        raise CloudError(f"no record of run {run_id} under {layout.run_prefix(run_id)}; `retrain history` lists the "
                         "runs there are.")
    return dict(record)


def history_rows(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run for ``retrain history`` (and the report's trend)."""
    rows = []
    for r in found:
        gate = r.get("gate") or {}
        rows.append({
            "run": r["run_id"], "date": str(r.get("recorded_at", ""))[:19], "status": r.get("status"),
            # records from before the workflow recorded runs were all notebook 04's
            "started by": r.get("started_by") or "retrain run",
            "data": str(r.get("data_sha256") or "")[7:19], "params": str(r.get("params_digest") or "")[7:19],
            "commit": str(r.get("git_commit") or "")[:12], "metric": gate.get("metric"),
            "score": gate.get("candidate"), "champion": gate.get("champion"), "decision": gate.get("decision"),
            "version": str(gate.get("model_package") or "").rsplit("/", 1)[-1],
            "endpoint config": r.get("endpoint_config") or "",
        })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain text table of ``rows`` (same keys in each)."""
    if not rows:
        return "no runs recorded yet"
    columns = list(rows[0])
    text = [[c for c in columns]] + [["" if r[c] is None else (f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]))
                                      for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in text) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in text)


def trend_alt(rows: list[dict[str, Any]]) -> str:
    """The trend picture in words: each recorded run's score on the gate's metric, oldest first."""
    scored = [f"{r['run']} {r['score']:.4f} ({r['decision'] or r['status']})" for r in rows
              if r.get("score") is not None]
    metric = next((r["metric"] for r in rows if r.get("metric")), "the gate's metric")
    return f"{metric} of the {len(scored)} recorded runs that were scored, oldest first: " + "; ".join(scored)

