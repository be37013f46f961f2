"""``retrain run``: execute notebooks 01 -> 05 headless with papermill and write the run's report.

Output folder (default ``reports/<run_id>/``): the executed notebooks, their offline HTML, ``artifacts/`` (graph,
plots), ``state.json`` (the run state the notebooks shared), ``summary.json`` and ``index.html``.
Exit codes: 0 deployed, 3 rejected by the accuracy gate, 1 failed, 2 bad parameters, 130 interrupted.
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
CLEANUP_NOTEBOOK = "05_clean_up"
#: kernels prepared ahead of the running notebook (each ~200 MB), and how many start at the same time
KERNELS_AHEAD = 2
KERNELS_AT_ONCE = 2
EXIT_CODES = {"deployed": 0, "rejected": 3, "failed": 1, "partial": 0, "interrupted": 130}
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


class _Chain:
    """One ``retrain run``: the notebooks in order in kernels started ahead, their HTML written in the background."""

    def __init__(self, source: Path, out: Path, kernel: str, parameters: dict[str, Any], chosen: list[str],
                 echo: Callable[[str], None]) -> None:
        self.source, self.out, self.kernel, self.parameters, self.echo = source, out, kernel, parameters, echo
        self.todo = [name for name in NOTEBOOKS if name in chosen]
        self.sockets = tempfile.mkdtemp(prefix="retrain-kernel-")
        self.kernels: dict[str, PreparedKernel] = {}
        self.html_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain-html")
        self.html_jobs: list[tuple[dict[str, Any], Future[Path]]] = []

    def prepare(self, names: list[str]) -> None:
        for name in names:
            if name not in self.kernels:
                started = list(self.kernels.values())  # the first kernel starts alone: its notebook is waiting
                previous = started[max(0, len(started) - KERNELS_AT_ONCE)] if started else None
                self.kernels[name] = PreparedKernel(self.source / f"{name}.ipynb", cwd=self.source,
                                                    kernel_name=self.kernel,
                                                    config=_kernel_config(self.sockets, name), after=previous)

    def execute(self, name: str, entry: dict[str, Any], extra: dict[str, Any] | None = None) -> str | None:
        """Run one notebook; None when it succeeded, else the message naming the cell that failed."""
        import papermill as pm

        executed = self.out / f"{name}.ipynb"
        t0 = time.monotonic()
        position = self.todo.index(name) if name in self.todo else len(self.todo)
        self.prepare(self.todo[position:position + 1 + KERNELS_AHEAD])  # the next ones start while this one runs
        prepared = self.kernels.get(name)
        km = prepared.manager() if prepared is not None else None
        failure = None
        try:
            pm.execute_notebook(
                str(self.source / f"{name}.ipynb"), str(executed), parameters={**self.parameters, **(extra or {})},
                kernel_name=self.kernel, progress_bar=False, log_output=False,
                config=_kernel_config(self.sockets, f"{name}-fallback"),
                **({"km": km} if km is not None else {"cwd": str(self.source)}),
            )
            entry["status"] = "ok"
        except Exception as exc:  # papermill raises PapermillExecutionError, or others before the kernel runs
            entry["status"] = "failed"
            failure = _failure_message(name, exc)
        finally:
            entry["duration_s"] = round(time.monotonic() - t0, 2)
            if prepared is not None:
                prepared.shutdown()
            if executed.is_file():
                self.html_jobs.append((entry, self.html_writer.submit(notebook_to_html, executed,
                                                                      self.out / f"{name}.html")))
        self.echo(f"  {name:<20} {entry['status']:<7} {entry['duration_s']:7.1f}s")
        return failure

    def close(self) -> None:
        for prepared in self.kernels.values():
            prepared.shutdown()  # the kernel prepared for a notebook that did not run, after a failure
        self.html_writer.shutdown(wait=True)
        for entry, job in self.html_jobs:
            try:
                entry["html"] = job.result().name
            except Exception as exc:  # noqa: BLE001 - a report that cannot be drawn must not hide the run's outcome
                LOG.warning("writing the HTML of %s failed: %s", entry["name"], exc)

    def join(self) -> None:
        for prepared in self.kernels.values():
            prepared.join()
        shutil.rmtree(self.sockets, ignore_errors=True)


def run(params_file: str | Path | None = None, overrides: Iterable[str] | Mapping[str, Any] | None = None, *,
        out_dir: str | Path | None = None, only: Iterable[str] | None = None, kernel: str = "python3",
        keep_cloud: bool = False, echo: Callable[[str], None] = print) -> RunResult:
    """Run the notebook chain; raises :class:`~retrain.errors.ParamsError` on bad parameters (exit code 2).

    Each notebook runs in a fresh kernel of its own, started (and its imports done) while the notebook before it
    runs; the HTML of a notebook is written while the next one runs. When a notebook fails or the run is
    interrupted (Ctrl-C, SIGTERM), notebook 05 still runs, if it was chosen, so that nothing billable the
    parameters did not ask to keep stays behind. ``keep_cloud`` leaves a local cloud this run started running
    afterwards (the next run finds it warm).
    """
    params = load_params(params_file, overrides)
    chosen = select(only)
    run_id = new_run_id()
    root = Path(params.root)
    out = Path(out_dir).resolve() if out_dir else root / "reports" / run_id
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state.json"
    params_path = str(Path(params_file).resolve()) if params_file else str(root / "params" / "local.yaml")
    notebook_overrides = {**parse_overrides(overrides), "state_file": str(state_path)}
    started_local = False
    begun = time.monotonic()
    summary: dict[str, Any] = {
        "run_id": run_id, "target": params.target, "status": "failed", "message": "",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gate": None, "endpoint": None, "execution": None, "data": None, "notebooks": [], "cleanup": None,
        "params": params.to_dict(), "git_commit": git_commit(root), "versions": package_versions(),
    }
    RunState(state_path, {"run_id": run_id}).save()
    echo(f"retrain run {run_id}: target={params.target}, report in {out}")
    chain = _Chain(notebooks_dir(), out, kernel, {"params_file": params_path, "overrides": notebook_overrides,
                                                  "run_id": run_id, "out_dir": str(out)}, chosen, echo)
    entries = {name: {"name": name, "status": "skipped", "duration_s": 0.0, "html": None} for name in NOTEBOOKS}
    summary["notebooks"] = list(entries.values())
    outcome = "ok"  # "ok", "failed" or "interrupted"
    try:
        chain.prepare(chain.todo[:1 + KERNELS_AHEAD])
        importer = threading.Thread(target=_import_papermill, name="import-papermill", daemon=True)
        importer.start()
        if params.target == "local":
            try:
                url, started_local = local_endpoint(params.localcloud_port, start=True, home=local_home(params),
                                                    prewarm=("glue",) if RUN_NOTEBOOK in chosen else ())
                echo(f"  local cloud at {url}" + (" (started for this run)" if started_local else " (already running)"))
            except RetrainError as exc:
                outcome, summary["message"] = "failed", str(exc)
        importer.join()
        outcome = _run_chain(chain, entries, summary, outcome)
        _fill_from_state(summary, RunState.load(state_path), chosen, outcome)
    finally:
        chain.close()
        if started_local and not keep_cloud:
            import localcloud

            localcloud.stop(params.localcloud_port, home=local_home(params))
            echo(f"  stopped the local cloud on port {params.localcloud_port}")
        elif started_local:
            echo(f"  left the local cloud running on port {params.localcloud_port} "
                 f"(stop it with `localcloud stop --port {params.localcloud_port}`)")
        chain.join()
        summary["duration_s"] = round(time.monotonic() - begun, 2)
        index = write_index(summary, out)
    echo(f"{summary['status'].upper()}: {summary['message']}".rstrip(": "))
    _echo_cleanup(summary.get("cleanup"), echo)
    echo(f"report: {index}")
    return RunResult(summary=summary, out_dir=out, index=index)


def _run_chain(chain: _Chain, entries: dict[str, dict[str, Any]], summary: dict[str, Any], outcome: str) -> str:
    """Run the chosen notebooks in order; after a failure or an interrupt, only the clean-up (05) still runs."""
    for name in chain.todo:
        if outcome != "ok" and name != CLEANUP_NOTEBOOK:
            continue
        reason = {"ok": None, "failed": "the run failed", "interrupted": "the run was interrupted"}[outcome]
        try:
            failure = chain.execute(name, entries[name], {"cleanup_reason": reason} if reason else None)
        except KeyboardInterrupt:
            entries[name]["status"] = "interrupted"
            if outcome == "interrupted" or name == CLEANUP_NOTEBOOK:
                summary["message"] = (f"interrupted again during {name}: the clean-up did not finish; run "
                                      "`retrain run --only 05` with the same parameters to finish it")
                return "interrupted"
            outcome, summary["message"] = "interrupted", f"interrupted during {name}"
            chain.echo(f"  {summary['message']}: running the clean-up (05) before exiting; Ctrl-C again to skip it")
            continue
        if failure and outcome == "ok":
            outcome, summary["message"] = "failed", failure
            chain.echo(f"  {failure}")
        elif failure:
            summary["message"] += f"; the clean-up failed too: {failure}"
            chain.echo(f"  {failure}")
    return outcome


def _echo_cleanup(cleanup: dict[str, Any] | None, echo: Callable[[str], None]) -> None:
    """What the clean-up left, and why (the terminal's version of the summary's ``cleanup``)."""
    if not cleanup:
        return
    for arn in cleanup.get("stopped", []):
        echo(f"  stopped execution {arn}")
    why = cleanup.get("why", {})
    for item in cleanup.get("remaining", []):
        echo(f"  remains: {item} ({why.get(item) or 'UNEXPECTED: nothing asked to keep it'})")


def _fill_from_state(summary: dict[str, Any], state: RunState, chosen: list[str], outcome: str) -> None:
    """Copy the verdict the notebooks recorded (gate, endpoint, execution, clean-up) into the summary."""
    for key in ("gate", "endpoint", "cleanup"):
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
    if outcome != "ok":
        summary["status"] = outcome
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
    """CLI glue: run and map the outcome to the exit code (errors print one clear line). SIGTERM is handled like
    Ctrl-C: the clean-up notebook runs before the process exits."""
    import signal

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        result = run(argv_params, overrides, out_dir=out_dir, only=only, keep_cloud=keep_cloud)
    except RetrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CODES["interrupted"]
    finally:
        signal.signal(signal.SIGTERM, previous)
    return result.exit_code
