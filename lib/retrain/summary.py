"""The summary of one ``retrain run`` (``summary.json``, the index page, the exit code): what ran, with which
parameters and versions, and the verdict the notebooks recorded in the run state."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from retrain.config import Params
from retrain.state import RunState

RUN_NOTEBOOK = "04_run_workflow"
#: documented in the README: 0 deployed, 3 not deployed (rejected by the gate or a reviewer, or no decision in
#: time; the endpoint untouched), 4 the new data failed its checks (nothing trained), 1 failed, 2 bad parameters,
#: 130 interrupted
EXIT_CODES = {"deployed": 0, "rejected": 3, "rejected_by_reviewer": 3, "approval_timed_out": 3,
              "data_check_failed": 4, "failed": 1, "partial": 0, "interrupted": 130}
#: the verdicts of notebook 04 (retrain.execute.VERDICTS) that are a run's status as they are
VERDICT_STATUSES = ("deployed", "rejected", "rejected_by_reviewer", "approval_timed_out", "data_check_failed")
KEY_PACKAGES = ("stepfunctions", "sagemaker", "boto3", "botocore", "xgboost-cpu", "pyspark", "papermill",
                "nbconvert", "moto", "numpy", "pandas", "matplotlib")


def git_commit(root: Path) -> str | None:
    """The checked-out commit (with ``-dirty`` when the tree has changes), or None outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def new_summary(run_id: str, params: Params, notebooks: list[str]) -> dict[str, Any]:
    """The summary before anything ran: every notebook ``skipped``, status ``failed`` until a verdict."""
    return {
        "run_id": run_id, "target": params.target, "status": "failed", "message": "",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gate": None, "endpoint": None, "execution": None, "data": None,
        "notebooks": [{"name": name, "status": "skipped", "duration_s": 0.0, "html": None} for name in notebooks],
        "cleanup": None, "params": params.to_dict(), "git_commit": git_commit(Path(params.root)),
        "versions": package_versions(),
    }


def failure_message(name: str, exc: BaseException) -> str:
    """Name the notebook and the cell that failed, and the error (from papermill's execution error)."""
    cell = getattr(exc, "exec_count", None)
    index = getattr(exc, "cell_index", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    where = f"cell {cell}" if cell is not None else "a cell"
    if index is not None:
        where += f" (cell #{index + 1} of the notebook)"
    first = f" `{source[0][:80]}`" if source else ""
    return f"{name}.ipynb failed in {where}{first}: {ename}: {evalue}"


def fill_from_state(summary: dict[str, Any], state: RunState, chosen: list[str], outcome: str) -> None:
    """Copy the verdict the notebooks recorded (gate, endpoint, execution, clean-up) into the summary."""
    for key in ("gate", "endpoint", "cleanup", "evaluation", "record", "previous_run", "trend", "shadow", "cache"):
        if state.get(key) is not None:
            summary[key] = state.get(key)
    names = state.get("execution_input") or {}
    data = {key: state.get(key) for key in ("data_uri", "holdout_uri", "data_sha256") if state.get(key)}
    data.update({key: names[key] for key in ("DataPrefix", "FeaturesUri", "EvaluationUri") if names.get(key)})
    if data:
        summary["data"] = data
    execution = state.get("execution")
    if execution:
        summary["execution"] = {"arn": execution.get("arn"), "status": execution.get("status"),
                                "duration_s": execution.get("duration_s")}
    if outcome != "ok":
        summary["status"] = outcome
        return
    verdict = state.get("verdict")
    if RUN_NOTEBOOK in chosen:
        summary["status"] = verdict if verdict in VERDICT_STATUSES else "failed"
        gate = summary.get("gate") or {}
        if summary["status"] == "deployed":
            action = (summary.get("endpoint") or {}).get("action")
            if summary.get("shadow"):
                action = f"{action}, the new model as a shadow beside the one in production"
            summary["message"] = f"model deployed; endpoint {action}" + (f" ({gate['reason']})" if gate.get("reason")
                                                                          else "")
        elif summary["status"] == "data_check_failed":
            summary["message"] = "the new data failed its checks: " + _glue_error((execution or {}).get("cause"))
        elif summary["status"] != "failed":
            summary["message"] = gate.get("reason") or (execution or {}).get("cause") or "the model was not deployed"
        else:
            summary["message"] = summary["message"] or "the workflow run recorded no verdict"
    else:
        summary["status"] = "partial"
        summary["message"] = f"ran {', '.join(chosen)} only"


def _glue_error(cause: str | None) -> str:
    """The Glue run's ErrorMessage from a failed ``glue:startJobRun.sync`` task's cause (the JobRun as JSON)."""
    import json

    try:
        return str(json.loads(cause or "").get("ErrorMessage") or cause)
    except (ValueError, AttributeError):
        return str(cause)


def echo_outcome(summary: dict[str, Any], index: Path, echo: Callable[[str], None]) -> None:
    """The verdict, what the clean-up stopped and left (and why), and where the report is."""
    echo(f"{summary['status'].upper()}: {summary['message']}".rstrip(": "))
    cleanup = summary.get("cleanup") or {}
    for arn in cleanup.get("stopped", []):
        echo(f"  stopped execution {arn}")
    why = cleanup.get("why", {})
    for item in cleanup.get("remaining", []):
        echo(f"  remains: {item} ({why.get(item) or 'UNEXPECTED: nothing asked to keep it'})")
    echo(f"report: {index}")
