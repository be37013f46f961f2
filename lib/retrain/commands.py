"""The ``retrain`` commands that act on the registry and the run history: ``approve``, ``reject``, ``history``,
``compare``, ``rollback`` and ``redrive``. They talk to the target of the parameters (on ``local``, the local cloud must already run: they never
start one), and work the same on AWS, since the registry and the run records live there."""

from __future__ import annotations

import json
from typing import Any

from retrain.config import Params
from retrain.errors import CloudError


def _cloud(params: Params) -> Any:
    from retrain.session import connect

    return connect(params, start_local=False)


def _layout(params: Params, cloud: Any) -> Any:
    from retrain.resources import Layout, bucket_name

    return Layout(bucket_name(params.project_name, cloud.account_id, params.region), params.project_name)


def decide(params: Params, run_id: str, approve: bool, reason: str) -> int:
    """``retrain approve RUN`` / ``retrain reject RUN --reason ...``: the waiting execution goes on or fails."""
    from retrain.registry import decide as decide_package

    result = decide_package(_cloud(params).client("sagemaker"), params, run_id, approve, reason)
    print(f"{result['status']}: {result['package']} ({result['description']})")
    return 0


def history(params: Params, as_json: bool) -> int:
    """``retrain history``: one line per recorded run, oldest first."""
    from retrain.history import format_table, history_rows, records

    cloud = _cloud(params)
    found = records(cloud.client("s3"), _layout(params, cloud))
    print(json.dumps(found, indent=2, default=str) if as_json else format_table(history_rows(found)))
    return 0


def compare(params: Params, run_a: str, run_b: str) -> int:
    """``retrain compare RUN_A RUN_B``: metric deltas, importance shift and data drift between two runs."""
    from retrain.compare import compare_runs
    from retrain.history import read_json, record_of

    cloud = _cloud(params)
    s3, layout = cloud.client("s3"), _layout(params, cloud)
    a, b = record_of(s3, layout, run_a), record_of(s3, layout, run_b)
    profiles = tuple(read_json(s3, layout.run_prefix(run) + "profile.json") for run in (run_a, run_b))
    result = compare_runs(a, b, profiles)  # type: ignore[arg-type]
    print(_compare_text(result))
    return 0


def _compare_text(result: dict[str, Any]) -> str:
    a, b = result["runs"]
    lines = [f"{a} -> {b}", f"data: {'the same' if result['data']['same'] else 'different'}; parameters: "
                           f"{'the same' if result['params_same'] else 'different'}", "metrics (held-back rows):"]
    for name, d in result["metrics"].items():
        mark = {True: "better", False: "worse", None: "same"}[d["better"]]
        lines.append(f"  {name:<10} {d['a']:.4f} -> {d['b']:.4f} ({d['change']:+.4f}, {mark})")
    if result["importance_shift"]:
        lines.append("feature importance (gain), largest moves:")
        lines += [f"  {f:<24} {v:+.4f}" for f, v in result["importance_shift"].items()]
    if result["drift"]:
        lines.append(f"data drift (PSI; {result['drift_note']}):")
        lines += [f"  {f:<24} {v:.4f}" for f, v in list(result["drift"].items())[:10]]
    return "\n".join(lines)


def rollback(params: Params, to_run: str | None) -> int:
    """``retrain rollback [--to RUN]``: the endpoint back on an earlier run's config (:mod:`retrain.rollback`)."""
    from retrain.rollback import rollback as roll_back

    cloud = _cloud(params)
    done = roll_back(cloud, params, _layout(params, cloud), to_run)
    print(f"endpoint {done['endpoint']}: {done['from_config']} (run {done['from_run'] or 'unknown'}) -> "
          f"{done['to_config']} (run {done['to_run']})")
    if done["alarms_left_out"]:
        print(f"alarms already in ALARM, not watched during the rollback: {', '.join(done['alarms_left_out'])}")
    print(f"registry: {done['rejected']} Rejected" if done["rejected"] else "registry: no version to mark")
    return 0


def schedule(params: Params, action: str) -> int:
    """``retrain schedule status|pause|resume``: the triggers of retraining unattended (:mod:`retrain.triggers`)."""
    from retrain import triggers

    cloud = _cloud(params)
    if action != "status":
        changed = triggers.set_state(cloud, params, enable=action == "resume")
        print("\n".join(changed) or "no schedule or new-data rule of this project: nothing to "
                                     f"{action} (set schedule / retrain_on_new_data and run notebook 03)")
        return 0 if changed else 1
    found = triggers.status(cloud, params)
    sched, rule = found["schedule"], found["rule"]
    print(f"schedule: {sched['name']} {sched['expression']} {sched['state']}" if sched else "schedule: none")
    print(f"new data: rule {rule['name']} {rule['state']}" if rule else "new data: no rule")
    for e in found["executions"]:
        print(f"  {e['start'][:19]}  {e['status']:<9} {e['name']}")
    return 0


def redrive(params: Params, run_id: str, out_dir: str | None) -> int:
    """``retrain redrive RUN``: the run's failed execution continues from the state that failed
    (:mod:`retrain.redrive`); the exit code of its verdict."""
    from pathlib import Path

    from retrain.redrive import redrive as redrive_run

    cloud = _cloud(params)
    done = redrive_run(cloud, params, _layout(params, cloud), run_id,
                       out_dir=Path(out_dir).resolve() if out_dir else None)
    print(f"{done.report.verdict.upper()}: redrive {done.redrive_count} of {done.report.name}")
    return done.exit_code


def require_run_id(run_id: str) -> str:
    if not run_id or "/" in run_id:
        raise CloudError(f"{run_id!r} is not a run id (such as 20260101-120000-1a2b; `retrain history` lists them).")
    return run_id
