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
# Start an execution with this run's names, follow it live, read the verdict from its history, and — when the
# model was deployed — score the held-back rows through the endpoint.

# %% tags=["parameters"]
# Parameters: `retrain run` injects its own values in a cell right after this one.
params_file = "../params/local.yaml"  # or ../params/aws.yaml
overrides = {}  # e.g. {"accuracy_threshold": 0.95}
run_id = None  # None: a new id (notebook 04)
out_dir = None  # where figures go; None: next to the run state file
cleanup_reason = None  # set by `retrain run` when 05 runs after a failed or interrupted run

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

sfn, sm = cloud.client("stepfunctions"), cloud.client("sagemaker")
workflow = Workflow.attach(state.require("state_machine_arn", "03_build_workflow"), client=sfn)
definition = workflow.definition.to_dict()
layout = Layout(state.require("bucket", "01_setup_roles"), params.project_name)
run_id = run_id or new_run_id()
inputs = execution_names(params, run_id)
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
# Each execution gets a unique name; the per-run names travel in its input.

# %%
execution = workflow.execute(name=f"{params.project_name}-{run_id}", inputs=inputs)
state.update(execution_arn=execution.execution_arn)  # a clean-up after an interrupt stops it
print(execution.execution_arn)

# %% [markdown]
# ## Follow it
#
# One line per state as it is entered, until the execution ends.

# %%
from retrain.execute import wait

report = wait(sfn, execution.execution_arn, poll_seconds=0.25 if params.target == "local" else 10,
              timeout_seconds=params.execution_timeout_seconds + 60)
gate = report.gate(params.accuracy_threshold)
state.update(execution=report.to_state(), verdict=report.verdict, gate=gate,
             endpoint={"name": params.endpoint_name, "action": report.endpoint_action, "smoke_test": None})
measured = "not measured" if gate["value"] is None else f"{gate['value']:.4f}"
print(f"verdict: {report.verdict}; validation error {measured} (max {params.max_validation_error:g}); "
      f"endpoint {report.endpoint_action}")

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
# ## The verdict

# %%
from retrain.errors import ExecutionFailed

if report.deployed:
    print(f"Deployed: validation error {gate['value']:.4f} <= {params.max_validation_error:g}; "
          f"endpoint {params.endpoint_name} {report.endpoint_action}.")
elif report.rejected:
    print(f"Rejected by the accuracy gate; the endpoint was not touched.\n{report.error}: {report.cause}")
else:
    raise ExecutionFailed(f"the execution ended {report.status}: {report.error}: {report.cause}")

# %% [markdown]
# ## Smoke test: the held-back rows through the endpoint
#
# The rows held back in notebook 02 are encoded like the Glue job encodes its input (the feature list comes from
# `features.json`), sent to the endpoint as CSV, and the scores compared with the true labels.

# %%
from retrain.deploy import features_matrix, read_bytes, read_json, smoke_test, wait_in_service

smoke = None
if report.deployed and params.holdout_rows:
    wait_in_service(sm, params.endpoint_name, poll=1 if params.target == "local" else 15)
    manifest = read_json(cloud.client("s3"), layout.features_uri)
    X, y = features_matrix(read_bytes(cloud.client("s3"), state["holdout_uri"]), manifest)
    smoke = smoke_test(cloud.client("sagemaker-runtime"), params.endpoint_name, X, y)
    state.update(endpoint={"name": params.endpoint_name, "action": report.endpoint_action,
                           "smoke_test": smoke.to_summary()})
    print(f"{smoke.rows} held-back rows, accuracy {smoke.accuracy:.3f}")
else:
    print("no smoke test: the model was not deployed" if not report.deployed else "holdout_rows is 0")

# %% [markdown]
# ## Model quality

# %%
from IPython.display import display

from retrain.deploy import feature_importance, model_booster
from retrain.evaluation import confusion_matrix, roc_curve
from retrain.reports import confusion_alt, plot_confusion, plot_roc, roc_alt, show_figure

if smoke is not None:
    cm = confusion_matrix(smoke.labels, smoke.scores)
    display(show_figure(plot_confusion(cm), artifacts / "confusion.png", alt=confusion_alt(cm)))
    fpr, tpr, auc = roc_curve(smoke.labels, smoke.scores)
    display(show_figure(plot_roc(fpr, tpr, auc), artifacts / "roc.png", alt=roc_alt(auc)))
    state.update(auc=auc)
    print(f"AUC {auc:.3f}")

# %%
from retrain.reports import importance_alt, plot_importance

if report.deployed:
    job = sm.describe_training_job(TrainingJobName=inputs["TrainingJobName"])
    booster = model_booster(read_bytes(cloud.client("s3"), job["ModelArtifacts"]["S3ModelArtifacts"]))
    importance = feature_importance(booster, read_json(cloud.client("s3"), layout.features_uri)["features"])
    display(show_figure(plot_importance(importance), artifacts / "importance.png", alt=importance_alt(importance)))
