"""``retrain run --resume RUN``: continue a failed or interrupted run's notebook chain in its report folder.

The run keeps its id, its report folder and its validated parameters (``params.json``: the resume takes no other
parameters). It continues from the notebook that failed, keeping the notebooks before it (their executed notebooks
and HTML are not touched) — unless what a kept notebook built is gone: after a failure notebook 05 ran on the way
out and deleted what the parameters do not keep (the Glue job, the Lambda function and the state machine when no
trigger keeps them; the roles, data and bucket unless ``keep_*``). So each kept notebook's products, recorded in
``state.json``, are looked up, and the chain restarts from the earliest notebook whose products are missing; the
terminal and ``summary.json`` (``resumes``, each notebook's ``resume``: ``kept`` or ``resumed``) say which and why.

Notebook 04 names the workflow's execution and per-run resources after the run id. When the failed attempt had
started an execution, those names are taken: "This name must be unique for your Amazon Web Services account,
Region, and state machine for 90 days" (StartExecution ``name``) and a training job's name "must be unique within
an Amazon Web Services Region in an Amazon Web Services account" (CreateTrainingJob ``TrainingJobName``; botocore's
``stepfunctions`` and ``sagemaker`` models). Notebook 04 then runs as the attempt ``<RUN>-<n>`` (n = 2, 3, ...):
the report stays the run's, the workflow's names, data prefix and record carry the attempt's id. To continue the
failed execution itself while its state machine still exists, ``retrain redrive RUN`` (:mod:`retrain.redrive`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrain.config import Params, find_root, load_params
from retrain.errors import RunRefused
from retrain.notebooks import NOTEBOOKS, notebooks_dir
from retrain.state import RunState
from retrain.summary import RUN_NOTEBOOK

CLEANUP = "05_clean_up"
RESUMABLE = ("failed", "interrupted")
#: what the previous attempt's notebook 04 left in the run state that the next attempt must not reuse
VERDICT_KEYS = ("verdict", "execution", "gate", "endpoint", "cleanup", "evaluation", "record", "previous_run",
                "trend", "auc", "shadow", "cache")


def report_folder(run_id: str, out_dir: str | Path | None) -> Path:
    """The run's report folder: ``--out`` or ``reports/<RUN>/`` under the project root."""
    return Path(out_dir).resolve() if out_dir else find_root(Path.cwd()) / "reports" / run_id


def load_run(run_id: str, out: Path) -> tuple[dict[str, Any], Params]:
    """The run's summary and validated parameters; :class:`RunRefused` when it cannot be resumed."""
    files = [out / name for name in ("summary.json", "params.json", "state.json")]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise RunRefused(f"no resumable report of run {run_id} in {out} (missing {', '.join(missing)}): give the "
                         "run's report folder with --out, as `retrain run` printed it.")
    summary = json.loads(files[0].read_text(encoding="utf-8"))
    if summary.get("run_id") != run_id:
        raise RunRefused(f"{out} holds the report of run {summary.get('run_id')}, not {run_id}.")
    if summary.get("status") not in RESUMABLE:
        raise RunRefused(f"run {run_id} ended {summary.get('status')}: only a failed or interrupted run is resumed; "
                         "start a new run with `retrain run`.")
    return summary, load_params(files[1])


def _found(cloud: Any, kind: str, name: str) -> bool:
    from retrain.cleanup_tools import exists

    calls = {
        "iam role": lambda: exists(cloud.client("iam").get_role, RoleName=name.rsplit("/", 1)[-1]),
        "bucket": lambda: exists(cloud.client("s3").head_bucket, Bucket=name),
        "s3 object": lambda: exists(cloud.client("s3").head_object, Bucket=name[5:].split("/", 1)[0],
                                    Key=name[5:].split("/", 1)[1]),
        "glue job": lambda: exists(cloud.client("glue").get_job, JobName=name),
        "lambda function": lambda: exists(cloud.client("lambda").get_function, FunctionName=name),
        "model package group": lambda: exists(cloud.client("sagemaker").describe_model_package_group,
                                              ModelPackageGroupName=name.rsplit("/", 1)[-1]),
        "state machine": lambda: exists(cloud.client("stepfunctions").describe_state_machine,
                                        stateMachineArn=name),
    }
    return bool(calls[kind]())


def products(state: RunState) -> dict[str, list[tuple[str, str]]]:
    """What each of notebooks 01-03 built, as the run state records it: ``(kind, name)``."""
    get = state.get
    built: dict[str, list[tuple[str, str]]] = {
        "01_setup_roles": [("iam role", arn) for arn in (get("roles") or {}).values()]
        + [("bucket", get("bucket"))],
        "02_create_resources": [("glue job", get("glue_job")), ("lambda function", get("lambda_function")),
                                ("s3 object", get("data_uri")), ("s3 object", get("holdout_uri")),
                                ("s3 object", get("script_uri")), ("model package group",
                                                                   get("model_package_group"))],
        "03_build_workflow": [("state machine", get("state_machine_arn"))],
    }
    return {nb: [(kind, name) for kind, name in items if name] for nb, items in built.items()}


def restart_point(cloud: Any, summary: dict[str, Any], state: RunState) -> tuple[str, str]:
    """The notebook to restart from and why: the first that did not succeed, or an earlier one whose products
    are gone."""
    statuses = {entry["name"]: entry["status"] for entry in summary["notebooks"]}
    chosen = summary.get("chosen") or list(NOTEBOOKS)
    failed = next((nb for nb in chosen if statuses.get(nb) != "ok"), RUN_NOTEBOOK)
    why = f"{failed} {statuses.get(failed, 'did not run')}"
    if failed == CLEANUP:  # only the clean-up failed: what it deleted was meant to go
        return failed, why
    for nb, items in products(state).items():
        if NOTEBOOKS.index(nb) >= NOTEBOOKS.index(failed):
            break
        gone = [f"{kind} {name}" for kind, name in items if not _found(cloud, kind, name)]
        if gone:
            return nb, (f"what {nb} built is gone ({', '.join(gone)}; the clean-up after the failure deleted what "
                        f"the parameters do not keep); {why}")
        if not items:
            return nb, f"the run state records nothing {nb} built; {why}"
    return failed, why


def attempt_id(run_id: str, summary: dict[str, Any], state: RunState) -> str:
    """The id notebook 04 runs under: the run id, or ``<RUN>-<n>`` when an earlier attempt started an execution
    (its names are taken)."""
    if not state.get("execution_arn"):
        return run_id
    return f"{run_id}-{len(summary.get('resumes', [])) + 2}"


def prepare(summary: dict[str, Any], state: RunState, start: str, why: str, workflow_run: str,
            echo: Callable[[str], None]) -> list[str]:
    """Mark kept and resumed notebooks in the summary, clear the last attempt's verdict; the notebooks to run."""
    chosen = summary.get("chosen") or list(NOTEBOOKS)
    to_run = [nb for nb in chosen if NOTEBOOKS.index(nb) >= NOTEBOOKS.index(start)]
    kept = [nb for nb in chosen if nb not in to_run]
    for entry in summary["notebooks"]:
        if entry["name"] in kept:
            entry["resume"] = "kept"
        elif entry["name"] in to_run:
            entry.update(resume="resumed", status="skipped", duration_s=0.0)
    summary.setdefault("resumes", []).append({
        "at": datetime.now(UTC).isoformat(timespec="seconds"), "from": start, "why": why, "kept": kept,
        "resumed": to_run, "workflow_run_id": workflow_run})
    summary.update(status="failed", message="")
    for key in ("gate", "endpoint", "execution", "cleanup", "evaluation", "record"):
        summary[key] = None
    for key in VERDICT_KEYS:
        state.data.pop(key, None)
    state.save()
    echo(f"resuming run {summary['run_id']} from {start}: {why}")
    echo(f"  kept (not run again): {', '.join(kept) or 'none'}")
    if workflow_run != summary["run_id"]:
        echo(f"  notebook 04 runs as {workflow_run}: the names of the execution the failed attempt started are taken")
    return to_run


# long: one straight sequence, like retrain.runner.run, which it mirrors for a run that already has a report
def resume(run_id: str, *, out_dir: str | Path | None = None, kernel: str = "python3", keep_cloud: bool = False,
           echo: Callable[[str], None] = print, kernels: Any = None) -> Any:
    """Continue run ``run_id``'s notebook chain; a :class:`~retrain.runner.RunResult`."""
    from retrain.kernels import PreparedKernels
    from retrain.local import RunCloud
    from retrain.reports import HtmlWriter, write_index
    from retrain.runner import Chain, RunResult, run_notebooks
    from retrain.session import connect
    from retrain.summary import echo_outcome, fill_from_state

    out = report_folder(run_id, out_dir)
    summary, params = load_run(run_id, out)
    state, begun = RunState.load(out / "state.json"), time.monotonic()
    if params.state_path != out / "state.json":
        raise RunRefused(f"{out / 'params.json'} names the run state {params.state_path}, not the one in {out}: "
                         "resume the run in the folder it was run in.")
    echo(f"retrain run --resume {run_id}: target={params.target}, report in {out}")
    cloud = RunCloud(params, keep=keep_cloud, echo=echo)
    problem = cloud.start()
    try:
        if problem:
            raise RunRefused(f"cannot reach the target to resume run {run_id}: {problem}")
        start, why = restart_point(connect(params, start_local=False), summary, state)
        workflow_run = attempt_id(run_id, summary, state)
        to_run = prepare(summary, state, start, why, workflow_run, echo)
        folder = notebooks_dir()
        kernels = kernels or PreparedKernels(folder, to_run, kernel_name=kernel)
        chain = Chain(folder, out, {"params_file": str(out / "params.json"), "overrides": {}, "run_id": run_id,
                                    "out_dir": str(out)}, kernels, HtmlWriter(), echo)
        try:
            kernels.start()
            outcome = run_notebooks(chain, to_run, summary, "ok", extras={RUN_NOTEBOOK: {"run_id": workflow_run}})
            fill_from_state(summary, RunState.load(params.state_path), summary.get("chosen") or list(NOTEBOOKS),
                            outcome)
        finally:
            chain.html.close()
            kernels.close()
    finally:
        cloud.stop()
    summary["duration_s"] = round(summary.get("duration_s", 0.0) + time.monotonic() - begun, 2)
    index = write_index(summary, out)
    echo_outcome(summary, index, echo)
    return RunResult(summary=summary, out_dir=out, index=index)


def main_resume(run_id: str, argv_params: str | None, overrides: list[str], out_dir: str | None,
                only: list[str] | None, keep_cloud: bool = False) -> int:
    """CLI glue of ``retrain run --resume RUN``: refuse other parameters, resume, map the outcome to the exit
    code like ``retrain run`` (:func:`retrain.runner.guarded`)."""
    from retrain.runner import guarded

    def work() -> Any:
        refuse_other_parameters(run_id, argv_params, overrides, only)
        return resume(run_id, out_dir=out_dir, keep_cloud=keep_cloud)

    return guarded(work)


def refuse_other_parameters(run_id: str, argv_params: str | None, overrides: list[str], only: list[str] | None) -> None:
    """A resumed run keeps its validated parameters (``params.json``) and its chain: no --params, -p or --only."""
    given = [flag for flag, value in (("--params", argv_params), ("-p", overrides), ("--only", only)) if value]
    if given:
        raise RunRefused(f"--resume {run_id} runs with that run's own validated parameters (params.json in its "
                         f"report folder) and its chain; drop {', '.join(given)}, or start a new run with other "
                         "parameters: `retrain run`.")
