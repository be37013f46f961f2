# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Run the workflow
#
# Start an execution with this run's names, follow it live, and read the verdict from its history: the data
# checks, the floor, the new model against the one in production on the same held-back rows, the registry, and —
# when the model was deployed — the held-back rows through the endpoint.

# %% tags=["parameters"]
# Parameters: `retrain run` injects its own values in a cell right after this one.
params_file = "../params/local.yaml"  # or ../params/aws.yaml
overrides = {}  # e.g. {"accuracy_threshold": 0.95}
run_id = None  # None: a new id (notebook 04)
out_dir = None  # where figures go; None: next to the run state file
cleanup_reason = None  # set by `retrain run` when 05 runs after a failed or interrupted run
decision = None  # approval: manual — "approve" or "reject" here, or leave None and use `retrain approve RUN`

# %%
from pathlib import Path

from retrain.config import load_params
from retrain.session import connect
from retrain.state import RunState

params = load_params(params_file, overrides)
state = RunState.load(params.state_path)
cloud = connect(params)  # target local: starts the local cloud if none is running
artifacts = Path(out_dir or params.state_path.parent) / "artifacts"
print(cloud.describe())
print("run state:", state.path)

# %%
from stepfunctions.workflow import Workflow

from retrain.resources import Layout
from retrain.state import new_run_id
from retrain.workflow import execution_names

sfn, sm, s3 = cloud.client("stepfunctions"), cloud.client("sagemaker"), cloud.client("s3")
workflow = Workflow.attach(state.require("state_machine_arn", "03_build_workflow"), client=sfn)
definition = workflow.definition.to_dict()
layout = Layout(state.require("bucket", "01_setup_roles"), params.project_name)
run_id = run_id or new_run_id()
inputs = execution_names(params, run_id, layout)
inputs

# %% [markdown]
# What the endpoint serves before this run (if it exists) — clean-up retires it after an update.

# %%
from retrain.deploy import describe_endpoint

before = describe_endpoint(sm, params.endpoint_name)
previous = None
if before:
    config = sm.describe_endpoint_config(EndpointConfigName=before["EndpointConfigName"])
    previous = {"EndpointConfigName": before["EndpointConfigName"],
                "models": [v["ModelName"] for v in config["ProductionVariants"]]}
print("endpoint before the run:", previous or "none")
state.update(previous_endpoint=previous, execution_input=inputs, run_id=run_id)

# %% [markdown]
# The workflow updates an existing endpoint only if this project made it (it carries the tag
# `retrain:project=<project_name>`; the state machine's role may update no other). A same-named endpoint of someone
# else stops the run here, before anything is trained.

# %%
from retrain.ownership import require_owned

if before:
    require_owned(cloud, params, "endpoint", params.endpoint_name)
    print(f"endpoint {params.endpoint_name} is this project's: it will be updated")

# %% [markdown]
# ## Execute
#
# Each execution gets a unique name and the run id as its input: the workflow's first states derive every per-run
# name from it (the `inputs` above are the same names, computed here to read the run's files).

# %%
execution = workflow.execute(name=f"{params.project_name}-{run_id}", inputs={"RunId": run_id})
state.update(execution_arn=execution.execution_arn)  # a clean-up after an interrupt stops it
print(execution.execution_arn)

# %% [markdown]
# ## Up to the verdict
#
# One line per state as it is entered, until the model is registered with the judge's verdict (or the execution
# ends first: a data check failed, or a job failed).

# %%
from retrain.execute import REGISTER_STATE, ExecutionReport, state_output, wait_for_state

poll = 0.25 if params.target == "local" else 10
events = wait_for_state(sfn, execution.execution_arn, REGISTER_STATE, poll_seconds=poll,
                        timeout_seconds=params.execution_timeout_seconds)
judged = (state_output(events, REGISTER_STATE) or {}).get("Judgement", {}).get("Payload")
print(judged["reason"] if judged else "the execution ended before the judge")

# %% [markdown]
# ## A person's decision (`approval: manual`)
#
# The model waits in the registry as `PendingManualApproval`; the execution polls it. Decide here (`decision`
# parameter) or from a terminal: `retrain approve RUN` / `retrain reject RUN --reason "..."`.

# %%
from retrain.registry import decide

if judged and judged["approval_status"] == "PendingManualApproval":
    if decision in ("approve", "reject"):
        print(decide(sm, params, run_id, approve=decision == "approve", reason=f"{decision} from notebook 04"))
    else:
        print(f"waiting for a decision: retrain approve {run_id}  |  retrain reject {run_id} --reason ...")

# %% [markdown]
# ## To the end

# %%
from retrain.execute import wait

report: ExecutionReport = wait(sfn, execution.execution_arn, poll_seconds=poll,
                               timeout_seconds=params.execution_timeout_seconds + 60)
gate = report.gate(sm)  # after a person decided, the reason is theirs (the package's ApprovalDescription)
state.update(execution=report.to_state(), verdict=report.verdict, gate=gate,
             endpoint={"name": params.endpoint_name, "action": report.endpoint_action, "smoke_test": None})
print(f"verdict: {report.verdict}; {gate['reason'] or report.error}; endpoint {report.endpoint_action}")

# %% [markdown]
# ## Reused, not repeated (`cache: true`)
#
# What the step cache answered for the ETL job and the training job: a hit names the earlier run whose outputs
# this run used (its data splits; its training job and model), a miss says why it ran. The run's names below are
# then the ones the workflow used, so the data checks, the features and the model shown are those it judged.

# %%
from retrain.cache import cache_report

cache = cache_report(report.events, params.cache)
inputs = {**inputs, **cache.pop("run", {})}
state.update(cache=cache, execution_input=inputs)
cache

# %% [markdown]
# ## The execution graph
#
# Green states succeeded, yellow failed but were caught (the endpoint check on a first run), red failed, grey
# did not run.

# %%
from retrain.graph import show_graph

graph = show_graph(definition, report.events, title=f"{params.state_machine_name}: {report.name}")
artifacts.mkdir(parents=True, exist_ok=True)
graph.save(artifacts / "graph.svg")
graph

# %% [markdown]
# ## Events, executions, workflows
#
# The execution's history from the SDK's `list_events()` (shown as a table here: the SDK's own HTML table breaks on
# the `truncated` flags current histories carry), then the SDK's tables of executions and workflows.

# %%
from retrain.reports import EventsTable

events = execution.list_events(max_items=1000)
EventsTable(events)

# %%
workflow.list_executions(html=True)

# %%
Workflow.list_workflows(html=True, client=sfn)

# %% [markdown]
# ## The data checks
#
# What the ETL job found in the new data (`data_report.json`): every check with its value and limit, and the drift
# of each feature from the data of the model in production. A failed check stopped the run before any training.

# %%
import pandas as pd

from retrain.history import read_json

data_report = read_json(s3, inputs["DataPrefix"] + "data_report.json")
if data_report:
    checks = pd.DataFrame(data_report["checks"])
    print(f"{data_report['rows']} rows; {'passed' if data_report['passed'] else 'FAILED'}; baseline: "
          f"{data_report['baseline'] or 'none (no model in production)'}")
    display_checks = checks[~checks["passed"]] if not data_report["passed"] else checks
else:
    display_checks = "no data report (the ETL job did not get to its checks)"
display_checks

# %% [markdown]
# ## The new model against the one in production
#
# Both scored by the evaluation job on the same held-back rows (`evaluation.json`); the gate's metric is marked.

# %%
from IPython.display import display

from retrain.compare import face_off_alt, plot_face_off
from retrain.reports import show_figure

evaluation = read_json(s3, inputs["EvaluationUri"] + "evaluation.json")
if evaluation:
    metric = gate["metric"] or "auc"
    display(show_figure(plot_face_off(evaluation, metric), artifacts / "face_off.png",
                        alt=face_off_alt(evaluation, metric)))
    state.update(evaluation={"rows": evaluation["rows"], "candidate": evaluation["candidate"]["metrics"],
                             "champion": (evaluation.get("champion") or {}).get("metrics")})
pd.DataFrame(gate, index=["gate"]).T

# %% [markdown]
# ## The verdict

# %%
from retrain.errors import ExecutionFailed

if report.deployed:
    print(f"Deployed: {gate['reason']}; endpoint {params.endpoint_name} {report.endpoint_action}.")
elif report.verdict == "data_check_failed":
    print(f"The new data failed its checks; nothing was trained and the endpoint was not touched.\n{report.cause}")
elif report.rejected:
    print(f"Not deployed ({report.verdict}); the endpoint was not touched.\n{report.error}: {report.cause}")
else:
    raise ExecutionFailed(f"the execution ended {report.status}: {report.error}: {report.cause}")

# %% [markdown]
# ## Smoke test: the held-back rows through the endpoint
#
# The rows held back in notebook 02 are encoded like the Glue job encodes its input (by this run's `features.json`),
# sent to the endpoint as CSV, and the scores compared with the true labels.

# %%
from retrain.deploy import features_matrix, read_bytes, smoke_test, wait_in_service
from retrain.gating import task_of

smoke = None
if report.deployed and params.holdout_rows:
    wait_in_service(sm, params.endpoint_name, poll=1 if params.target == "local" else 15)
    manifest = read_json(s3, inputs["FeaturesUri"])
    X, y = features_matrix(read_bytes(s3, state["holdout_uri"]), manifest)
    smoke = smoke_test(cloud.client("sagemaker-runtime"), params.endpoint_name, X, y,
                       task=task_of(params))
    state.update(endpoint={"name": params.endpoint_name, "action": report.endpoint_action,
                           "smoke_test": smoke.to_summary()})
    print(smoke.to_summary())
else:
    print("no smoke test: the model was not deployed" if not report.deployed else "holdout_rows is 0")

# %% [markdown]
# ## Shadow test: the new model beside the champion (`shadow: true`)
#
# When this run deployed its model as a shadow variant, the held-back rows go through the endpoint once more, each
# request with an `InferenceId`; the champion answers them, the shadow gets copies, and both answers land in the
# data capture under the run's prefix. Paired by `InferenceId`: how often the two models agree (same class at the
# 0.5 cut-off, or the same most likely class), how far their scores are apart, and each variant's model latency
# (CloudWatch `ModelLatency`). Next: promote the shadow with a normal run (`shadow: false`: the gate compares a new
# candidate with the champion and a guarded update deploys it), leave it running, or remove it with
# `retrain rollback` (the endpoint back on the previous run's config; this run's registry version `Rejected`).

# %%
import json

from retrain.shadow import compare, differences_alt, plot_differences, shadowing

shadow_test = None
if report.deployed and params.shadow and params.holdout_rows and shadowing(sm, params.endpoint_name):
    shadow_test = compare(cloud, params.endpoint_name, X, task=task_of(params),
                          poll=1 if params.target == "local" else 15)
    figures = {"endpoint_config": inputs["EndpointConfigName"], **shadow_test.to_summary()}
    state.update(shadow=figures)
    display(show_figure(plot_differences(shadow_test), artifacts / "shadow.png", alt=differences_alt(shadow_test)))
    print(json.dumps(figures, indent=2))
else:
    print("no shadow test: " + ("shadow is false" if not params.shadow else
                                "the endpoint runs no shadow variant (no champion, or not deployed)"))

# %% [markdown]
# ## Traffic during the update
#
# Each fleet's requests per period while the guarded update ran (from `Update Endpoint` to the end of the
# execution), from the endpoint's CloudWatch metrics: `Invocations` per `EndpointConfigName`, the old run's config
# against this run's (`retrain.traffic`). Only live traffic shows here: when nobody called the endpoint during the
# update there is nothing to draw.

# %%
from retrain.traffic import invocations, plot_traffic, totals, traffic_alt, update_window

window = update_window(report.events) if report.endpoint_action == "updated" and previous else None
if window:
    series = invocations(cloud.client("cloudwatch"), params.endpoint_name,
                         {"old fleet": previous["EndpointConfigName"], "new fleet": inputs["EndpointConfigName"]},
                         *window, period=1 if params.target == "local" else 60)
    counted = totals(series)
    state.update(endpoint={**(state.get("endpoint") or {}), "traffic_during_update": counted})
    if sum(counted.values()):
        display(show_figure(plot_traffic(series), artifacts / "traffic.png", alt=traffic_alt(series)))
    print("requests during the update:", counted)
else:
    print("no guarded update in this run")

# %% [markdown]
# ## Model quality

# %%
from retrain.evaluation import confusion_matrix, roc_curve
from retrain.reports import confusion_alt, plot_confusion, plot_roc, roc_alt

if smoke is not None and task_of(params) == "binary":
    cm = confusion_matrix(smoke.labels, smoke.scores)
    display(show_figure(plot_confusion(cm), artifacts / "confusion.png", alt=confusion_alt(cm)))
    fpr, tpr, auc = roc_curve(smoke.labels, smoke.scores)
    display(show_figure(plot_roc(fpr, tpr, auc), artifacts / "roc.png", alt=roc_alt(auc)))
    state.update(auc=auc)
    print(f"AUC {auc:.3f}")

# %%
from retrain.deploy import feature_importance, model_booster
from retrain.reports import importance_alt, plot_importance

importance = None
if report.training_job:
    job = sm.describe_training_job(TrainingJobName=report.training_job)
    booster = model_booster(read_bytes(s3, job["ModelArtifacts"]["S3ModelArtifacts"]))
    importance = feature_importance(booster, read_json(s3, inputs["FeaturesUri"])["features"])
    display(show_figure(plot_importance(importance), artifacts / "importance.png", alt=importance_alt(importance)))

# %% [markdown]
# ## The run's record
#
# What went in (data hash, parameters digest, git commit) and what came out (metrics, the gate, the model package,
# the endpoint config), stored with the run's data in the bucket so that `retrain history` and
# `retrain compare` see it on either target. The workflow wrote a shorter record when the execution ended (what
# runs a schedule or new data starts have); this one replaces it.

# %%
from retrain.history import params_digest, write_record
from retrain.summary import git_commit

record_uri = write_record(s3, layout, run_id, {
    "recorded_by": "notebook 04", "started_by": "retrain run",
    "target": params.target, "status": report.verdict, "execution": report.arn,
    "data_sha256": state.get("data_sha256"), "params_digest": params_digest(params),
    "git_commit": git_commit(Path(params.root)), "gate": gate, "evaluation": state.get("evaluation"),
    "training_metrics": (report.judgement or {}).get("metrics"), "importance": importance,
    "data_prefix": inputs["DataPrefix"],
    "endpoint_config": inputs["EndpointConfigName"] if report.deployed else None,
})
state.update(record=record_uri)
print(record_uri)

# %% [markdown]
# ## Over time
#
# Every recorded run of the project (what `retrain history` lists), oldest first: the new model's score on the
# gate's metric, whether it was deployed, and the model in production it was compared with.

# %%
from retrain.compare import plot_trend
from retrain.history import format_table, history_rows, records, trend_alt

runs = history_rows(records(s3, layout))
earlier = [r for r in runs if r["run"] != run_id]
state.update(previous_run=earlier[-1]["run"] if earlier else None,
             trend=[{k: r[k] for k in ("run", "status", "metric", "score", "champion", "decision")} for r in runs])
print(format_table(runs))
if sum(r["score"] is not None for r in runs) > 1:
    display(show_figure(plot_trend(runs), artifacts / "trend.png", alt=trend_alt(runs)))
