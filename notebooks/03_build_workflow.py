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
# # 03 · Build the workflow
#
# The workflow is built from the SDK's steps, one state per cell below, as in the original AWS sample — change a
# step and run the cells again. The SDK documents every step at
# <https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/sagemaker.html> (SageMaker steps),
# [service.html](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/services.html) (Glue, Lambda)
# and [states.html](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/states.html) (Choice, Fail,
# Wait, Task).
#
# | state | SDK step | what it does |
# |---|---|---|
# | Extract, Transform, Load | `GlueStartJobRunStep` | runs the Glue job and waits for it (`glue:startJobRun.sync`) |
# | Train Model | `TrainingStep` | trains XGBoost and waits (`sagemaker:createTrainingJob.sync`) |
# | Save Model | `ModelStep` | registers the model, **named per execution** |
# | Query Training Status | `LambdaStep` | returns the job's metrics **by name** |
# | Accuracy Gate | `Choice` | `validationError <= 1 - accuracy_threshold`? |
# | Create Endpoint Config | `EndpointConfigStep` | a new config **per execution** |
# | Check Endpoint | `Task` (`aws-sdk:sagemaker:describeEndpoint`) | does the endpoint exist? |
# | Create / Update Endpoint | `EndpointStep` | **create on the first run, update afterwards** — decided at run time |
# | Wait / Describe / In Service? | `Wait`, `Task`, `Choice` | loop until the endpoint serves this run's config |
# | Model Rejected | `Fail` | the gate said no; the cause carries the measured error |
#
# Fixes over the sample: its gate read `trainingMetrics[0]` (whichever metric came first) — ours reads
# `validation:error` by name; its model and endpoint-config names clashed on the second run; its `EndpointStep`
# fixed *create* or *update* when the workflow was built, so a scheduled retrain failed either the first time or
# every later time; it retried nothing. Here the transient errors AWS really reports are retried with backoff,
# while a job that *failed* — bad data, a bad hyperparameter — is not retried. The few things the SDK cannot
# express are small helpers in `retrain/workflow.py`.

# %% tags=["parameters"]
# Parameters: `retrain run` injects its own values in a cell right after this one.
params_file = "../params/local.yaml"  # or ../params/aws.yaml
overrides = {}  # e.g. {"accuracy_threshold": 0.95}
run_id = None  # None: a new id (notebook 04)
out_dir = None  # where figures go; None: next to the run state file
cleanup_reason = None  # set by `retrain run` when 05 runs after a failed or interrupted run
offline_account = None  # an account id: only build the definition, with no cloud (`retrain plan`, the tests)

# %%
from pathlib import Path

from retrain.config import load_params
from retrain.session import connect, offline
from retrain.state import RunState

params = load_params(params_file, overrides)
state = RunState.load(params.state_path)
cloud = connect(params) if offline_account is None else offline(params, offline_account)
artifacts = Path(out_dir or params.state_path.parent) / "artifacts"
print(cloud.describe())
print("run state:", state.path)

# %% [markdown]
# The roles notebook 01 created and the bucket notebook 02 filled, and the estimator notebook 02 configured:
# SageMaker's built-in XGBoost with this run's hyperparameters.

# %%
from retrain.resources import Layout, make_estimator, planned_names

if offline_account is None:
    roles, bucket = state.require("roles", "01_setup_roles"), state.require("bucket", "01_setup_roles")
    state.require("glue_job", "02_create_resources")
else:  # building only: the names notebooks 01 and 02 would give them in that account
    roles, bucket = planned_names(params, cloud.account_id)
layout = Layout(bucket, params.project_name)
estimator = make_estimator(params, cloud.sagemaker_session(bucket), roles["sagemaker"], layout.output_uri)

# %% [markdown]
# ## Execution input
#
# Names that must change with every execution (training job, model, endpoint config) are **placeholders** filled
# from the execution's input; the SDK writes them as `$$.Execution.Input['...']` paths.
# ([ExecutionInput](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/placeholders.html))

# %%
from retrain.workflow import make_execution_input

execution_input = make_execution_input()
execution_input.get_schema_as_dict()

# %% [markdown]
# ## Extract, transform, load
#
# A [GlueStartJobRunStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/services.html)
# runs the ETL job and, with `wait_for_completion`, waits for the run to end (`glue:startJobRun.sync`). The
# arguments say where to read and write and how to split. `transient_retry` retries the errors Glue really
# reports through Step Functions for a busy or throttled service; a run that *failed* is not retried.

# %%
from stepfunctions import steps

from retrain.workflow import glue_arguments, transient_retry

etl = steps.GlueStartJobRunStep(
    "Extract, Transform, Load",
    wait_for_completion=True,
    parameters={"JobName": execution_input["GlueJobName"], "Arguments": glue_arguments(params, layout)},
    result_path="$.EtlResult",
)
etl.add_retry(transient_retry("glue"))

# %% [markdown]
# ## Train the model
#
# A [TrainingStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/sagemaker.html) turns the
# estimator into a `createTrainingJob.sync` task on the two channels the ETL job wrote (headerless CSV, label
# first). The job is named per execution and tagged as this project's.

# %%
from sagemaker.inputs import TrainingInput

from retrain.workflow import project_tags

train = steps.TrainingStep(
    "Train Model",
    estimator=estimator,
    data={
        "train": TrainingInput(layout.train_uri, content_type="text/csv"),
        "validation": TrainingInput(layout.validation_uri, content_type="text/csv"),
    },
    job_name=execution_input["TrainingJobName"],
    wait_for_completion=True,
    tags=project_tags(params),
)
train.add_retry(transient_retry("sagemaker", attempts=3))

# %% [markdown]
# ## Save the model
#
# A [ModelStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/sagemaker.html) registers the
# trained artifact as a SageMaker model, named per execution so a second run does not clash with the first.

# %%
save_model = steps.ModelStep(
    "Save Model",
    model=train.get_expected_model(),
    model_name=execution_input["ModelName"],
    result_path="$.ModelStepResults",
    tags=project_tags(params),
)
save_model.add_retry(transient_retry("sagemaker", attempts=3))

# %% [markdown]
# ## Query the training status
#
# A [LambdaStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/services.html) invokes the
# function notebook 02 deployed; it returns the job's metrics **by name** (`metrics.validationError`), so the gate
# does not depend on the order SageMaker lists them in.

# %%
from retrain.workflow import GATE_METRIC

query_status = steps.LambdaStep(
    "Query Training Status",
    parameters={
        "FunctionName": execution_input["LambdaFunctionName"],
        "Payload": {"TrainingJobName": execution_input["TrainingJobName"], "RequiredMetrics": [GATE_METRIC]},
    },
)
query_status.add_retry(transient_retry("lambda", attempts=6))

# %% [markdown]
# ## The endpoint configuration
#
# An [EndpointConfigStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/sagemaker.html),
# named per execution. Its result keeps this run's config name in the state: the readiness check below compares
# what the endpoint serves with it (`ResultSelector`, which SDK 2.3 lacks: `EndpointConfigWithSelector` adds it).

# %%
from retrain.workflow import EndpointConfigWithSelector

endpoint_config = EndpointConfigWithSelector(
    "Create Endpoint Config",
    endpoint_config_name=execution_input["EndpointConfigName"],
    model_name=execution_input["ModelName"],
    initial_instance_count=params.endpoint_instance_count,
    instance_type=params.endpoint_instance_type,
    result_path="$.EndpointConfig",
    result_selector={"EndpointConfigArn.$": "$.EndpointConfigArn",
                     "EndpointConfigName.$": "$$.Execution.Input['EndpointConfigName']"},
    tags=project_tags(params),
)
endpoint_config.add_retry(transient_retry("sagemaker", attempts=3))

# %% [markdown]
# ## Create or update the endpoint, decided at run time
#
# The SDK's [EndpointStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/sagemaker.html)
# fixes *create* or *update* when the workflow is built. A retrain must decide when it runs: `Check Endpoint` asks
# SageMaker for the endpoint; "Could not find endpoint" leads to `Create Endpoint`, an endpoint that exists to
# `Update Endpoint`, and any other failure (access denied, a service error) ends the run in
# `Endpoint Check Failed` instead of trying to create (`endpoint_check_steps`).

# %%
from retrain.workflow import endpoint_check_steps


def endpoint_step(name, update):
    step = steps.EndpointStep(
        name,
        endpoint_name=execution_input["EndpointName"],
        endpoint_config_name=execution_input["EndpointConfigName"],
        update=update,
        result_path="$.EndpointAction",
        tags=None if update else project_tags(params),  # UpdateEndpoint takes no tags
    )
    step.add_retry(transient_retry("sagemaker", attempts=3))
    return step


create_endpoint = endpoint_step("Create Endpoint", update=False)
update_endpoint = endpoint_step("Update Endpoint", update=True)
check = endpoint_check_steps(execution_input, create_endpoint, update_endpoint)
endpoint_config.next(check["check_endpoint"])
print(check["check_endpoint"])

# %% [markdown]
# ## Wait until the endpoint serves this run's model
#
# Creating or updating an endpoint returns at once; the endpoint then takes minutes. A `Wait`, a
# `describeEndpoint` task and a `Choice` loop until the endpoint is `InService` **on this run's configuration**.
# `InService` on another configuration means the update failed and SageMaker rolled back to the old model:
# `Endpoint Deploy Failed` says why (`deploy_failure_steps` supplies a reason when SageMaker gives none).

# %%
from retrain.workflow import SDK_SAGEMAKER_ERROR, deploy_failure_steps

wait_endpoint = steps.Wait("Wait for Endpoint", seconds=params.endpoint_poll_seconds)
describe_endpoint = steps.Task(
    "Describe Endpoint",
    resource="arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
    parameters={"EndpointName": execution_input["EndpointName"]},
    result_path="$.Endpoint",
)
describe_endpoint.add_retry(steps.Retry(error_equals=[SDK_SAGEMAKER_ERROR], interval_seconds=2, max_attempts=3,
                                        backoff_rate=2.0))
endpoint_ready = steps.Choice("Endpoint In Service?")
deployed = steps.Succeed("Model Deployed")
failure = deploy_failure_steps()

status = describe_endpoint.output()["Endpoint"]["EndpointStatus"]
serving = describe_endpoint.output()["Endpoint"]["EndpointConfigName"]
endpoint_ready.add_choice(
    steps.ChoiceRule.And([
        steps.ChoiceRule.StringEquals(variable=status, value="InService"),
        steps.ChoiceRule.StringEqualsPath(variable=serving, value="$.EndpointConfig.EndpointConfigName"),
    ]),
    next_step=deployed,
)
endpoint_ready.add_choice(steps.ChoiceRule.StringEquals(variable=status, value="InService"),
                          next_step=failure["reason_given"])
endpoint_ready.add_choice(steps.ChoiceRule.StringEquals(variable=status, value="Failed"),
                          next_step=failure["reason_given"])
create_endpoint.next(wait_endpoint)
update_endpoint.next(wait_endpoint)
wait_endpoint.next(describe_endpoint)
describe_endpoint.next(endpoint_ready)
endpoint_ready.default_choice(wait_endpoint)  # Creating / Updating: look again after a pause

# %% [markdown]
# ## The accuracy gate and the rejection
#
# A [Choice](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/states.html) compares the
# Lambda's `Payload.metrics.validationError` — looked up by name — with `1 - accuracy_threshold`. When the model is
# not good enough, `Model Rejected` fails the execution with error `ModelRejected` and a cause built by
# `States.Format` from the measured value (the SDK's `Fail` step has no `CausePath`: `FailWithPaths` adds it).

# %%
from retrain.workflow import REJECTED_ERROR, FailWithPaths, rejection_cause

rejected = FailWithPaths("Model Rejected", error=REJECTED_ERROR, cause_path=rejection_cause(params),
                         comment=f"validation accuracy below {params.accuracy_threshold:g}")
gate = steps.Choice("Accuracy Gate", comment=f"deploy when validation accuracy >= {params.accuracy_threshold:g}")
gate.add_choice(
    steps.ChoiceRule.NumericLessThanEquals(
        variable=query_status.output()["Payload"]["metrics"]["validationError"],
        value=params.max_validation_error,
    ),
    next_step=endpoint_config,
)
gate.default_choice(rejected)
print(gate)

# %% [markdown]
# ## Chain the steps into a workflow
#
# The main line is a [Chain](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/states.html);
# the branches hang off the gate, the endpoint check and the readiness loop. The
# [Workflow](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/workflow.html) carries the role,
# the execution input, a time limit and the project's tag.

# %%
from stepfunctions.workflow import Workflow

from retrain.workflow import workflow_tags

workflow = Workflow(
    name=params.state_machine_name,
    definition=steps.Chain([etl, train, save_model, query_status, gate]),
    role=roles["stepfunctions"],
    execution_input=execution_input,
    timeout_seconds=params.execution_timeout_seconds,
    tags=workflow_tags(params),
    client=cloud.client("stepfunctions"),
)
definition = workflow.definition.to_dict()
print(f"{len(definition['States'])} states, starting at {definition['StartAt']!r}")

# %% [markdown]
# ## Validate the definition
#
# `statelint` checks the Amazon States Language before anything is sent; the definition is kept with the run.

# %%
import json

from retrain.workflow import lint

problems = lint(definition)
print("statelint:", problems or "no problems")
assert not problems, problems
artifacts.mkdir(parents=True, exist_ok=True)
definition_file = artifacts / "definition.json"
definition_file.write_text(json.dumps(definition, indent=2) + "\n")
print("saved:", definition_file)

# %% [markdown]
# ## Draw it
#
# Drawn from the definition itself as SVG, so it shows in JupyterLab and in the HTML report with no network
# (the SDK's `render_graph()` loads its script from a CDN and stays blank offline).

# %%
from retrain.graph import show_graph

graph = show_graph(definition, title=params.state_machine_name)
graph.save(artifacts / "workflow.svg")
graph

# %% [markdown]
# ## Create or update the state machine
#
# `Workflow.create()` only logs when a state machine of that name exists, so re-runs would keep the old
# definition; `create_or_update` updates it instead — if it carries the project's tag.

# %%
from retrain.workflow import create_or_update

if offline_account is None:
    state_machine_arn, action = create_or_update(workflow, settle_seconds=5 if params.target == "aws" else 0)
    print(f"{action}: {state_machine_arn}")
    state.update(state_machine_arn=state_machine_arn, state_machine_action=action)
