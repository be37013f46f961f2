"""Figures of the benchmark over repeated runs: each timed figure is the median of its runs, with min and max.

A section that runs several times keeps each run's measurements under ``runs`` and, beside them, the median of
every numeric measurement (a dict of them, such as ``notebooks_s``, key by key). :data:`FIGURES` names every timed
figure ``bench.json`` reports under ``figures``, each as ``{"median", "min", "max", "runs", "unit"}`` — always all
of them, ``null`` where a figure was not measured, so two runs' JSON compare key for key.
"""

from __future__ import annotations

import statistics
from typing import Any

#: every timed figure of ``bench.json`` (dotted path in the results → unit, what it is)
FIGURES: dict[str, tuple[str, str]] = {
    "cold.total_s": ("s", "retrain run end to end, the local cloud started by the run"),
    "cold.execution_s": ("s", "the workflow execution of the cold run"),
    "cold.peak_rss_gb": ("GB", "peak RSS summed over every process of the cold run"),
    "cold.cpu_busy_pct": ("%", "share of all cores busy during the cold run (anyone's work)"),
    "floor.total_s": ("s", "one fresh process: the same Spark ETL, XGBoost training and a prediction"),
    "cold.ratio_to_floor": ("x", "cold run ÷ floor, pairwise per repetition"),
    "warm.run_s": ("s", "a second retrain run on the running local cloud"),
    "warm.execution_s": ("s", "its workflow execution"),
    "endpoint.http_p50_ms": ("ms", "one-row InvokeEndpoint over a kept-alive HTTP connection, median"),
    "endpoint.http_p99_ms": ("ms", "the same, 99th percentile"),
    "endpoint.boto3_p50_ms": ("ms", "one-row invoke_endpoint through boto3, median"),
    "endpoint.boto3_p99_ms": ("ms", "the same, 99th percentile"),
    "endpoint.concurrent_rps": ("req/s", "one-row requests/s of 4 client processes"),
    "endpoint.batch_ms": ("ms", "a 1,000-row CSV batch over HTTP (the median batch)"),
    "endpoint.batch_rows_per_s": ("rows/s", "rows/s of the median 1,000-row batch"),
    "endpoint.inprocess_csv_rows_per_s": ("rows/s", "CSV text to scores in the bench's process (numpy + xgboost)"),
    "endpoint.inprocess_predict_rows_per_s": ("rows/s", "inplace_predict of parsed rows, the project's xgboost"),
    "endpoint.served_predict_rows_per_s": ("rows/s", "inplace_predict of parsed rows, the served xgboost 1.7.4"),
    "endpoint.batch_vs_inprocess": ("x", "batch over HTTP ÷ CSV to scores in-process"),
    "endpoint.batch_vs_predict_only": ("x", "batch over HTTP ÷ inplace_predict, the project's xgboost"),
    "endpoint.batch_vs_served_predict": ("x", "batch over HTTP ÷ inplace_predict, the served xgboost 1.7.4"),
    "endpoint.inprocess_single_ms": ("ms", "inplace_predict of one row, the project's xgboost"),
    "endpoint.served_single_ms": ("ms", "inplace_predict of one row, the served xgboost 1.7.4"),
    "endpoint.server_parse_ms": ("ms", "the model server reading the batch's CSV body (its own process)"),
    "endpoint.server_predict_ms": ("ms", "the model server scoring the batch"),
    "endpoint.server_encode_ms": ("ms", "the model server writing the batch's 1,000 scores"),
    "endpoint.server_invoke_ms": ("ms", "the model server's whole invocation of the batch"),
    "endpoint.outside_model_server_ms": ("ms", "the rest of a batch: HTTP, routing, metrics, the hop both ways"),
    "scale.100000.total_s": ("s", "retrain run on 100k generated rows"),
    "scale.100000.peak_rss_gb": ("GB", "its peak RSS"),
    "scale.1000000.total_s": ("s", "retrain run on 1M generated rows"),
    "scale.1000000.peak_rss_gb": ("GB", "its peak RSS"),
    "scale.ratio_1m_to_100k": ("x", "1M ÷ 100k, pairwise per repetition"),
    "scale.5000000.total_s": ("s", "retrain run on 5M generated rows"),
    "scale.5000000.peak_rss_gb": ("GB", "its peak RSS"),
    "scale.ratio_5m_to_1m": ("x", "5M ÷ 1M, pairwise per repetition"),
    "scale.cpu_ratio_5m_to_1m": ("x", "CPU seconds of all the run's processes, 5M ÷ 1M"),
    "scale.5000000.cpu_s": ("s", "CPU seconds of all the 5M run's processes"),
    "scale.1000000.cpu_s": ("s", "CPU seconds of all the 1M run's processes"),
    "cold.cpu_s": ("s", "CPU seconds of all the cold run's processes"),
    "floor.cpu_s": ("s", "CPU seconds of the floor's process and its JVM"),
    "cold.cpu_ratio_to_floor": ("x", "CPU seconds, cold run ÷ floor, pairwise per repetition"),
    "canary.requests": ("requests", "requests the fixed-rate client sent during both guarded updates"),
    "canary.rate_rps": ("req/s", "the rate the client kept during the good update"),
    "canary.failed_good_update": ("requests", "requests that failed (or got a third answer) during the good canary"),
    "canary.canary_share_new": ("share", "share of requests the new fleet answered while the canary baked"),
    "canary.update_s": ("s", "the good update from the deploy branch's start to InService on the new config"),
    "canary.failed_broken_update": ("requests", "requests the broken canary answered 500 before the rollback"),
    "canary.failed_after_rollback": ("requests", "requests that failed after the endpoint was back on the old fleet"),
    "canary.rollback_s": ("s", "the broken canary's first failed request to the endpoint InService on the old config"),
    "canary.rollback_in_periods": ("x", "rollback_s in (scaled) alarm periods"),
    "soak.runs": ("executions", "executions the schedule started during the soak"),
    "soak.lost": ("executions", "schedule firings without an execution"),
    "soak.failed": ("executions", "executions that did not succeed"),
    "soak.unrecorded": ("runs", "executions without their run's record (record.json: retrain history)"),
    "soak.grown": ("measures", "measures of the cloud higher in the last third than in the first (beyond slack)"),
    "soak.soak_s": ("s", "the soak from the cloud's start to the last execution's end"),
    "soak.processes_first": ("processes", "the cloud's processes, lowest in the first third"),
    "soak.processes_last": ("processes", "the same, lowest in the last third"),
    "soak.processes_first_peak": ("processes", "the cloud's processes, highest in the first third"),
    "soak.processes_last_peak": ("processes", "the same, highest in the last third"),
    "soak.open_files_first": ("fds", "their open file descriptors, lowest in the first third"),
    "soak.open_files_last": ("fds", "the same, lowest in the last third"),
    "soak.open_files_first_peak": ("fds", "their open file descriptors, highest in the first third"),
    "soak.open_files_last_peak": ("fds", "the same, highest in the last third"),
    "soak.rss_mb_first": ("MB", "their summed RSS, lowest in the first third"),
    "soak.rss_mb_last": ("MB", "the same, lowest in the last third"),
    "soak.rss_mb_first_peak": ("MB", "their summed RSS, highest in the first third"),
    "soak.rss_mb_last_peak": ("MB", "the same, highest in the last third"),
    "soak.disk_mb_first": ("MB", "the disk under the cloud's home, lowest in the first third"),
    "soak.disk_mb_last": ("MB", "the same, lowest in the last third"),
    "soak.disk_mb_first_peak": ("MB", "the disk under the cloud's home, highest in the first third"),
    "soak.disk_mb_last_peak": ("MB", "the same, highest in the last third"),
}


def lookup(results: Any, dotted: str) -> Any:
    """``results["a"]["b"]`` for ``"a.b"`` (keys may hold digits: ``scale.1000000.total_s``); None when absent."""
    node: Any = results
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Key by key over ``runs``: the median of numbers (rounded as the runs round them), dicts merged the same
    way, anything else as the first run has it."""
    merged: dict[str, Any] = {}
    for key in dict.fromkeys(k for run in runs for k in run):
        values = [run[key] for run in runs if key in run and run[key] is not None]
        if not values:
            merged[key] = None
        elif all(_number(v) for v in values):
            merged[key] = round(statistics.median(values), 4)
        elif all(isinstance(v, dict) for v in values):
            merged[key] = median_of(values)
        else:
            merged[key] = values[0]
    return merged


def repeated(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A section's result: the medians of its runs and the runs themselves."""
    return {**median_of(runs), "runs": runs}


def run_values(results: dict[str, Any], dotted: str) -> list[float]:
    """The values of one figure in each run: taken from the deepest section along the path that keeps ``runs``;
    a figure measured once is its single value."""
    parts = dotted.split(".")
    node: Any = results
    found: list[Any] | None = None
    for index, part in enumerate(parts):
        if isinstance(node, dict) and isinstance(node.get("runs"), list):
            values = [lookup(run, ".".join(parts[index:])) for run in node["runs"]]
            if any(v is not None for v in values):
                found = values
        if not isinstance(node, dict) or part not in node:
            break
        node = node[part]
    if found is None:
        single = lookup(results, dotted)
        found = [single] if single is not None else []
    return [float(v) for v in found if _number(v)]


def spread(values: list[float], unit: str) -> dict[str, Any] | None:
    """``{"median", "min", "max", "runs", "unit"}`` of a figure's values, None when it has none."""
    if not values:
        return None
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4), "runs": len(values), "unit": unit}


def figures(results: dict[str, Any]) -> dict[str, Any]:
    """Every figure of :data:`FIGURES` (and of ``extra``), measured or not."""
    return {name: spread(run_values(results, name), unit) for name, (unit, _) in FIGURES.items()}
