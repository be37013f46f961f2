"""The ``retrain`` command line: ``run`` executes the notebook chain; ``plan`` checks the aws target offline;
``check`` validates parameters; ``approve``/``reject`` decide on a model waiting for approval; ``history`` and
``compare`` read the runs' records; ``rollback`` returns the endpoint to an earlier run's model; ``redrive``
continues a run's failed execution from the state that failed."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from retrain.errors import RetrainError

LOG = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retrain", description="Retrain and deploy the churn model with AWS Step "
                                     "Functions, on AWS or on the local cloud.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    plan = sub.add_parser("plan", help="build and check offline what the target would send (no credentials)",
                          description="Build every request of the target (roles and policies, bucket layout, Glue "
                                      "job, Lambda function, state machine, execution input) and check it offline: "
                                      "the ASL with statelint, the requests against botocore's models, every call "
                                      "against the roles' policies. Exit codes: 0 clean, 1 problems, 2 bad "
                                      "parameters.")
    plan.add_argument("--params", default=None, help="parameter file (e.g. params/aws.yaml)")
    plan.add_argument("-p", "--param", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    plan.add_argument("--account", default=None, help="12-digit account id (default: AWS's example 111122223333)")
    check = sub.add_parser("check", help="validate a parameter file and print the resolved parameters")
    check.add_argument("--params", default=None)
    check.add_argument("-p", "--param", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    for name, text in (("approve", "approve the model of RUN (waiting with approval: manual): it is deployed"),
                       ("reject", "reject the model of RUN (waiting with approval: manual): the run fails")):
        decide = sub.add_parser(name, help=text)
        decide.add_argument("run", help="the run id (retrain history lists them)")
        decide.add_argument("--reason", default="", required=name == "reject", help="why (kept in the registry)")
        _target_options(decide)
    _add_redrive(sub)
    history = sub.add_parser("history", help="the recorded runs: data hash, parameters, commit, scores, decision")
    history.add_argument("--json", action="store_true", help="the whole records as JSON")
    _target_options(history)
    rollback = sub.add_parser("rollback", help="put the endpoint back on an earlier run's model (guarded update)",
                              description="Update the endpoint to an earlier deployed run's endpoint config with the "
                                          "workflow's guarded deployment, wait until it serves it, and mark the "
                                          "model it leaves Rejected in the registry. Exit codes: 0 rolled back, "
                                          "1 failed (no such run, its config deleted, the update rolled back), "
                                          "2 bad parameters.")
    rollback.add_argument("--to", dest="to_run", default=None, metavar="RUN",
                          help="the run to return to (default: the deployed run before the one serving)")
    _target_options(rollback)
    schedule = sub.add_parser("schedule", help="the triggers of retraining unattended: status, pause, resume",
                              description="status: the schedule, the new-data rule and the latest executions; "
                                          "pause/resume: disable or enable both (exit 1 when there is none).")
    schedule.add_argument("action", choices=("status", "pause", "resume"))
    _target_options(schedule)
    compare = sub.add_parser("compare", help="two runs side by side: metrics, feature importance, data drift")
    compare.add_argument("run_a")
    compare.add_argument("run_b")
    _target_options(compare)
    return parser


def _add_run(sub: Any) -> None:
    run = sub.add_parser("run", help="run notebooks 01-05 headless and write the report",
                         description="Run notebooks 01-05 with papermill. Exit codes: 0 deployed, 3 not deployed "
                                     "(rejected by the gate or a reviewer, or no decision in time), 4 the new data "
                                     "failed its checks, 1 failed, 2 bad parameters, 130 interrupted (after a "
                                     "failure or an interrupt, notebook 05 cleans up before the run exits).")
    run.add_argument("--params", default=None, help="parameter file (default params/local.yaml)")
    run.add_argument("-p", "--param", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override one parameter (YAML scalar; hyperparameters.<name>=... for XGBoost); repeatable")
    run.add_argument("--out", default=None, help="report folder (default reports/<run_id>/)")
    run.add_argument("--only", action="append", default=None, metavar="NN[,NN]",
                     help="run only these notebooks, e.g. --only 01,02,03,05 (default: all five)")
    run.add_argument("--resume", default=None, metavar="RUN",
                     help="continue the failed or interrupted run RUN in its report folder (--out, default "
                          "reports/RUN/) from the notebook that failed, with its own parameters (no --params/-p)")
    run.add_argument("--keep-cloud", action="store_true",
                     help="target local: leave the local cloud this run starts running afterwards, so the next "
                          "run finds it warm (stop it with `localcloud stop --port PORT`)")


def _add_redrive(sub: Any) -> None:
    redrive = sub.add_parser("redrive", help="continue RUN's failed execution from the state that failed",
                             description="RedriveExecution on the run's failed, aborted or timed-out execution: the "
                                         "states that succeeded are not run again. Follows it live, updates the "
                                         "run's record and report. Exit codes: 0 deployed, 3 not deployed, 4 the "
                                         "data failed its checks, 1 failed, 2 unknown run or not redrivable.")
    redrive.add_argument("run", help="the run id (`retrain history`) or the execution's name")
    redrive.add_argument("--out", default=None, help="the run's report folder (default reports/<RUN>/)")
    _target_options(redrive)


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default=None, help="parameter file naming the target (default params/local.yaml)")
    parser.add_argument("-p", "--param", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``retrain`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "run":
        if args.resume:
            from retrain.resume import main_resume

            return main_resume(args.resume, args.params, args.overrides, args.out, args.only, args.keep_cloud)
        from retrain.runner import main_run

        return main_run(args.params, args.overrides, args.out, args.only, keep_cloud=args.keep_cloud)
    try:
        from retrain.config import load_params

        params = load_params(args.params, args.overrides)
    except RetrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.command == "schedule":
        from retrain import commands

        try:
            return commands.schedule(params, args.action)
        except RetrainError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
    if args.command in ("approve", "reject", "history", "compare", "rollback", "redrive"):
        from retrain import commands

        try:
            if args.command == "redrive":
                return commands.redrive(params, commands.require_run_id(args.run), args.out)
            if args.command == "history":
                return commands.history(params, args.json)
            if args.command == "rollback":
                return commands.rollback(params, args.to_run and commands.require_run_id(args.to_run))
            if args.command == "compare":
                return commands.compare(params, commands.require_run_id(args.run_a),
                                        commands.require_run_id(args.run_b))
            return commands.decide(params, commands.require_run_id(args.run), args.command == "approve",
                                   args.reason)
        except RetrainError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
    if args.command == "plan":
        from retrain import plancheck
        from retrain.plan import EXAMPLE_ACCOUNT, build, report

        built = build(params, args.account or EXAMPLE_ACCOUNT)
        problems = plancheck.check(built)
        print(report(built))
        return 1 if problems else 0
    import yaml

    print(yaml.safe_dump(params.to_dict(), sort_keys=False), end="")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
