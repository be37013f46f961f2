"""``retrain run``: execute notebooks 01 -> 05 headless with papermill and write the run's report.

Output folder (default ``reports/<run_id>/``): the executed notebooks, their offline HTML, ``artifacts/`` (graph,
plots), ``state.json`` (the run state the notebooks shared), ``summary.json`` and ``index.html``.
Exit codes: 0 deployed, 3 rejected by the accuracy gate, 1 failed, 2 bad parameters.
"""

from __future__ import annotations

import logging
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from retrain.config import RunState, load_params, new_run_id, parse_overrides
from retrain.errors import RetrainError
from retrain.kernels import PreparedKernel
from retrain.local import local_endpoint, local_home
from retrain.reports import notebook_to_html, write_index

LOG = logging.getLogger(__name__)

NOTEBOOKS = ("01_setup_roles", "02_create_resources", "03_build_workflow", "04_run_workflow", "05_clean_up")
RUN_NOTEBOOK = "04_run_workflow"
#: kernels prepared ahead of the running notebook (each ~200 MB), and how many start at the same time
KERNELS_AHEAD = 2
KERNELS_AT_ONCE = 2
EXIT_CODES = {"deployed": 0, "rejected": 3, "failed": 1, "partial": 0}
KEY_PACKAGES = ("stepfunctions", "sagemaker", "boto3", "botocore", "xgboost-cpu", "pyspark", "papermill",
                "nbconvert", "moto", "numpy", "pandas", "matplotlib")


@dataclass
class RunResult:
    summary: dict[str, Any]
    out_dir: Path
    index: Path

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.summary["status"], 1)


def notebooks_dir() -> Path:
    """The folder of the five notebooks (``<project root>/notebooks``)."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        candidate = folder / "notebooks"
        if (candidate / f"{NOTEBOOKS[0]}.ipynb").is_file():
            return candidate
    raise RetrainError("cannot find the notebooks folder next to the retrain package; run from a clone of the "
                       "project.")


def select(only: Iterable[str] | None) -> list[str]:
    """The notebooks to run: all, or those whose name or number prefix is in ``only`` (``01,02,05``)."""
    if not only:
        return list(NOTEBOOKS)
    wanted = {w.strip() for item in only for w in str(item).split(",") if w.strip()}
    chosen = [nb for nb in NOTEBOOKS if nb in wanted or nb.split("_", 1)[0] in wanted]
    unknown = wanted - {nb for nb in chosen} - {nb.split("_", 1)[0] for nb in chosen}
    if unknown:
        raise RetrainError(f"unknown notebook(s) {sorted(unknown)}; choose from {', '.join(NOTEBOOKS)}.")
    return chosen


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


def _failure_message(name: str, exc: BaseException) -> str:
    """Name the notebook and the cell that failed, and the error."""
    cell = getattr(exc, "exec_count", None)
    index = getattr(exc, "cell_index", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    where = f"cell {cell}" if cell is not None else "a cell"
    if index is not None:
        where += f" (cell #{index + 1} of the notebook)"
    first = f" `{source[0][:80]}`" if source else ""
    return f"{name}.ipynb failed in {where}{first}: {ename}: {evalue}"


def _kernel_config(folder: str, name: str) -> Any:
    """Kernels talk over local sockets in ``folder`` (no TCP ports, no "unencrypted TCP" warning per notebook).

    Each kernel gets its own socket name prefix ``name``: kernels starting at the same time would otherwise pick
    the same socket files.
    """
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(Path(folder) / name)
    return config


def _import_papermill() -> None:
    import papermill  # noqa: F401 - imported on a thread while the local cloud and the first kernel start


def run(params_file: str | Path | None = None, overrides: Iterable[str] | Mapping[str, Any] | None = None, *,
        out_dir: str | Path | None = None, only: Iterable[str] | None = None, kernel: str = "python3",
        keep_cloud: bool = False, echo: Callable[[str], None] = print) -> RunResult:
    """Run the notebook chain; raises :class:`~retrain.errors.ParamsError` on bad parameters (exit code 2).

    Each notebook runs in a fresh kernel of its own, started (and its imports done) while the notebook before it
    runs; the HTML of a notebook is written while the next one runs. ``keep_cloud`` leaves a local cloud this run
    started running afterwards (the next run finds it warm).
    """
    params = load_params(params_file, overrides)
    chosen = select(only)
    run_id = new_run_id()
    root = Path(params.root)
    out = Path(out_dir).resolve() if out_dir else root / "reports" / run_id
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state.json"
    notebook_overrides = {**parse_overrides(overrides), "state_file": str(state_path)}
    params_path = str(Path(params_file).resolve()) if params_file else str(root / "params" / "local.yaml")
    source = notebooks_dir()
    sockets = tempfile.mkdtemp(prefix="retrain-kernel-")
    started_local = False
    begun = time.monotonic()
    summary: dict[str, Any] = {
        "run_id": run_id, "target": params.target, "status": "failed", "message": "",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gate": None, "endpoint": None, "execution": None, "data": None, "notebooks": [],
        "params": params.to_dict(), "git_commit": git_commit(root), "versions": package_versions(),
    }
    RunState(state_path, {"run_id": run_id}).save()
    echo(f"retrain run {run_id}: target={params.target}, report in {out}")
    todo = [name for name in NOTEBOOKS if name in chosen]
    kernels: dict[str, PreparedKernel] = {}

    def prepare(names: list[str]) -> None:
        for name in names:
            if name not in kernels:
                started = list(kernels.values())  # the first kernel starts alone: its notebook is waiting
                previous = started[max(0, len(started) - KERNELS_AT_ONCE)] if started else None
                kernels[name] = PreparedKernel(source / f"{name}.ipynb", cwd=source, kernel_name=kernel,
                                               config=_kernel_config(sockets, name), after=previous)

    html_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain-html")
    html_jobs: list[tuple[dict[str, Any], Future[Path]]] = []
    try:
        prepare(todo[:1 + KERNELS_AHEAD])
        importer = threading.Thread(target=_import_papermill, name="import-papermill", daemon=True)
        importer.start()
        failed = False
        if params.target == "local":
            try:
                url, started_local = local_endpoint(params.localcloud_port, start=True, home=local_home(params),
                                                    prewarm=("glue",) if RUN_NOTEBOOK in chosen else ())
                echo(f"  local cloud at {url}" + (" (started for this run)" if started_local else " (already running)"))
            except RetrainError as exc:
                failed = True
                summary["message"] = str(exc)
        importer.join()
        import papermill as pm

        for name in NOTEBOOKS:
            entry: dict[str, Any] = {"name": name, "status": "skipped", "duration_s": 0.0, "html": None}
            summary["notebooks"].append(entry)
            if name not in chosen or failed:
                continue
            executed = out / f"{name}.ipynb"
            t0 = time.monotonic()
            position = todo.index(name)
            prepare(todo[position:position + 1 + KERNELS_AHEAD])  # the next ones start while this one runs
            prepared = kernels[name]
            km = prepared.manager()
            try:
                pm.execute_notebook(
                    str(source / f"{name}.ipynb"), str(executed),
                    parameters={"params_file": params_path, "overrides": notebook_overrides, "run_id": run_id,
                                "out_dir": str(out)},
                    kernel_name=kernel, progress_bar=False, log_output=False,
                    config=_kernel_config(sockets, f"{name}-fallback"),
                    **({"km": km} if km is not None else {"cwd": str(source)}),
                )
                entry["status"] = "ok"
            except Exception as exc:  # papermill raises PapermillExecutionError, or others before the kernel runs
                entry["status"] = "failed"
                failed = True
                summary["message"] = _failure_message(name, exc)
            finally:
                prepared.shutdown()
            entry["duration_s"] = round(time.monotonic() - t0, 2)
            if executed.is_file():
                html_jobs.append((entry, html_writer.submit(notebook_to_html, executed, out / f"{name}.html")))
            echo(f"  {name:<20} {entry['status']:<7} {entry['duration_s']:7.1f}s")
            if failed:
                echo(f"  {summary['message']}")
        _fill_from_state(summary, RunState.load(state_path), chosen, failed)
    finally:
        for prepared in kernels.values():
            prepared.shutdown()  # the kernel prepared for a notebook that did not run, after a failure
        html_writer.shutdown(wait=True)
        for entry, job in html_jobs:
            try:
                entry["html"] = job.result().name
            except Exception as exc:  # noqa: BLE001 - a report that cannot be drawn must not hide the run's outcome
                LOG.warning("writing the HTML of %s failed: %s", entry["name"], exc)
        if started_local and not keep_cloud:
            import localcloud

            localcloud.stop(params.localcloud_port, home=local_home(params))
            echo(f"  stopped the local cloud on port {params.localcloud_port}")
        elif started_local:
            echo(f"  left the local cloud running on port {params.localcloud_port} "
                 f"(stop it with `localcloud stop --port {params.localcloud_port}`)")
        for prepared in kernels.values():
            prepared.join()
        summary["duration_s"] = round(time.monotonic() - begun, 2)
        index = write_index(summary, out)
        shutil.rmtree(sockets, ignore_errors=True)
    echo(f"{summary['status'].upper()}: {summary['message']}".rstrip(": "))
    echo(f"report: {index}")
    return RunResult(summary=summary, out_dir=out, index=index)


def _fill_from_state(summary: dict[str, Any], state: RunState, chosen: list[str], failed: bool) -> None:
    """Copy the verdict the notebooks recorded (gate, endpoint, execution) into the summary."""
    for key in ("gate", "endpoint"):
        if state.get(key) is not None:
            summary[key] = state.get(key)
    data = {key: state.get(key) for key in ("data_uri", "holdout_uri", "train_uri", "validation_uri", "features_uri")
            if state.get(key)}
    if data:
        summary["data"] = data
    execution = state.get("execution")
    if execution:
        summary["execution"] = {"arn": execution.get("arn"), "status": execution.get("status"),
                                "duration_s": execution.get("duration_s")}
    if failed:
        summary["status"] = "failed"
        return
    verdict = state.get("verdict")
    if RUN_NOTEBOOK in chosen:
        summary["status"] = verdict if verdict in ("deployed", "rejected") else "failed"
        if summary["status"] == "rejected":
            summary["message"] = (execution or {}).get("cause") or "the accuracy gate rejected the model"
        elif summary["status"] == "deployed":
            action = (summary.get("endpoint") or {}).get("action")
            summary["message"] = f"model deployed; endpoint {action}"
        else:
            summary["message"] = summary["message"] or "the workflow run recorded no verdict"
    else:
        summary["status"] = "partial"
        summary["message"] = f"ran {', '.join(chosen)} only"


def main_run(argv_params: str | None, overrides: list[str], out_dir: str | None, only: list[str] | None,
             keep_cloud: bool = False) -> int:
    """CLI glue: run and map the outcome to the exit code (errors print one clear line)."""
    try:
        result = run(argv_params, overrides, out_dir=out_dir, only=only, keep_cloud=keep_cloud)
    except RetrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return result.exit_code
