"""``retrain run``: execute notebooks 01 -> 05 headless with papermill and write the run's report.

A straight sequence: validate the parameters once and save the validated set; start the kernels and, on the local
target, the local cloud; run each chosen notebook with that set; read the verdict from the run state; stop what
was started; write the report. Output folder (default ``reports/<run_id>/``): ``params.json`` (the validated set
every notebook loaded), the executed notebooks and their offline HTML, ``artifacts/`` (definition, graph, plots),
``state.json`` (the run state the notebooks shared), ``summary.json`` and ``index.html``.

Exit codes: 0 deployed, 3 rejected by the accuracy gate, 1 failed, 2 bad parameters, 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrain.config import Params, load_params
from retrain.errors import RetrainError
from retrain.kernels import KernelSource, PreparedKernels
from retrain.local import RunCloud
from retrain.notebooks import NOTEBOOKS, notebooks_dir
from retrain.reports import HtmlWriter, write_index
from retrain.state import RunState, new_run_id
from retrain.summary import (
    EXIT_CODES,
    RUN_NOTEBOOK,
    echo_outcome,
    failure_message,
    fill_from_state,
    new_summary,
)

CLEANUP_NOTEBOOK = "05_clean_up"


@dataclass
class RunResult:
    summary: dict[str, Any]
    out_dir: Path
    index: Path

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.summary["status"], 1)


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


@dataclass
class Chain:
    """What every notebook of one run shares: where they are, where they write, their parameters and kernels."""

    folder: Path
    out: Path
    parameters: dict[str, Any]
    kernels: KernelSource
    html: HtmlWriter
    echo: Callable[[str], None]

    def execute(self, name: str, entry: dict[str, Any], extra: dict[str, Any] | None = None) -> str | None:
        """Run one notebook with papermill; None when it succeeded, else the message naming the failed cell."""
        import papermill as pm

        executed, started = self.out / f"{name}.ipynb", time.monotonic()
        failure = None
        try:
            pm.execute_notebook(str(self.folder / f"{name}.ipynb"), str(executed),
                                parameters={**self.parameters, **(extra or {})}, progress_bar=False,
                                log_output=False, **self.kernels.papermill_arguments(name))
            entry["status"] = "ok"
        except Exception as exc:  # papermill raises PapermillExecutionError, or others before the kernel runs
            entry["status"], failure = "failed", failure_message(name, exc)
        finally:
            entry["duration_s"] = round(time.monotonic() - started, 2)
            self.kernels.release(name)
            if executed.is_file():
                self.html.submit(entry, executed, self.out / f"{name}.html")
        self.echo(f"  {name:<20} {entry['status']:<7} {entry['duration_s']:7.1f}s")
        return failure


def validated_set(params: Params, out: Path) -> tuple[Params, Path]:
    """The parameters with the run state in ``out``, saved once as ``params.json``: each notebook loads this
    file (no overrides to parse again), and the summary records the very set the notebooks used."""
    params = dataclasses.replace(params, state_file=str(out / "state.json"))
    return params, params.save(out / "params.json")


def run(params_file: str | Path | None = None, overrides: Iterable[str] | Mapping[str, Any] | None = None, *,
        out_dir: str | Path | None = None, only: Iterable[str] | None = None, kernel: str = "python3",
        keep_cloud: bool = False, echo: Callable[[str], None] = print,
        kernels: KernelSource | None = None) -> RunResult:
    """Run the notebook chain; raises :class:`~retrain.errors.ParamsError` on bad parameters (exit code 2).

    ``kernels`` is where each notebook's kernel comes from: by default :class:`~retrain.kernels.PreparedKernels`
    starts each one (with its imports) while the notebook before it runs. When a notebook fails or the run is
    interrupted (Ctrl-C, SIGTERM), notebook 05 still runs, if it was chosen, so that nothing billable the
    parameters did not ask to keep stays behind. ``keep_cloud`` leaves a local cloud this run started running
    afterwards (the next run finds it warm).
    """
    params, chosen, run_id = load_params(params_file, overrides), select(only), new_run_id()
    out = Path(out_dir).resolve() if out_dir else Path(params.root) / "reports" / run_id
    out.mkdir(parents=True, exist_ok=True)
    params, snapshot = validated_set(params, out)
    RunState(params.state_path, {"run_id": run_id}).save()
    summary, begun = new_summary(run_id, params, list(NOTEBOOKS)), time.monotonic()
    summary["chosen"] = chosen  # what `retrain run --resume` continues
    echo(f"retrain run {run_id}: target={params.target}, report in {out}")
    folder = notebooks_dir()
    kernels = kernels or PreparedKernels(folder, chosen, kernel_name=kernel)
    chain = Chain(folder, out, {"params_file": str(snapshot), "overrides": {}, "run_id": run_id, "out_dir": str(out)},
                  kernels, HtmlWriter(), echo)
    cloud = RunCloud(params, keep=keep_cloud, echo=echo)
    try:
        kernels.start()
        importing = _import_in_background("papermill")  # while the local cloud starts
        problem = cloud.start(prewarm=("glue",) if RUN_NOTEBOOK in chosen else ())
        importing.join()
        outcome = "failed" if problem else "ok"
        summary["message"] = problem or ""
        outcome = run_notebooks(chain, chosen, summary, outcome)
        fill_from_state(summary, RunState.load(params.state_path), chosen, outcome)
    finally:
        chain.html.close()
        cloud.stop()
        kernels.close()
        summary["duration_s"] = round(time.monotonic() - begun, 2)
        index = write_index(summary, out)
    echo_outcome(summary, index, echo)
    return RunResult(summary=summary, out_dir=out, index=index)


def _import_in_background(module: str) -> threading.Thread:
    import importlib

    thread = threading.Thread(target=importlib.import_module, args=(module,), name=f"import-{module}", daemon=True)
    thread.start()
    return thread


def run_notebooks(chain: Chain, chosen: list[str], summary: dict[str, Any], outcome: str,
                  extras: dict[str, dict[str, Any]] | None = None) -> str:
    """Run the chosen notebooks in order; after a failure or an interrupt, only the clean-up (05) still runs.
    ``extras`` are parameters of one notebook only (a resumed run's notebook 04 runs under its attempt's id)."""
    entries = {entry["name"]: entry for entry in summary["notebooks"]}
    for name in chosen:
        if outcome != "ok" and name != CLEANUP_NOTEBOOK:
            continue
        reason = {"ok": None, "failed": "the run failed", "interrupted": "the run was interrupted"}[outcome]
        try:
            extra = {**(extras or {}).get(name, {}), **({"cleanup_reason": reason} if reason else {})}
            failure = chain.execute(name, entries[name], extra or None)
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


def main_run(argv_params: str | None, overrides: list[str], out_dir: str | None, only: list[str] | None,
             keep_cloud: bool = False) -> int:
    """CLI glue: run and map the outcome to the exit code (:func:`guarded`)."""
    return guarded(lambda: run(argv_params, overrides, out_dir=out_dir, only=only, keep_cloud=keep_cloud))


def guarded(work: Callable[[], RunResult]) -> int:
    """Do ``work`` (a run, or a resumed run) and map the outcome to the exit code; errors print one clear line.
    SIGTERM is handled like Ctrl-C: the clean-up notebook runs before the process exits."""
    import signal

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        result = work()
    except RetrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CODES["interrupted"]
    finally:
        signal.signal(signal.SIGTERM, previous)
    return result.exit_code
