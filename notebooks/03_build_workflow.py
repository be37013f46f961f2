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
# Every retrain is judged against the model in production, not only against a fixed threshold:
#
# | state | SDK step | what it does |
# |---|---|---|
# | Find Champion | `LambdaStep` | which registered model the endpoint serves now (none on a first run) |
# | Extract, Transform, Load | `GlueStartJobRunStep` | checks the new data (schema, missing values, labels, **drift** from the champion's data), then splits it into this run's own prefix |
# | Look Up … Cache / … Cache Hit | `LambdaStep`, `Choice`, `Pass` | with `cache: true`: reuse an earlier run's ETL outputs or training job when the inputs are the same |
# | Train Model | `TrainingStep` | trains XGBoost and waits (`sagemaker:createTrainingJob.sync`) |
# | Champion Serving? / Evaluate … | `Choice`, `ProcessingStep` | scores the candidate — and the champion — on the **same held-back rows** neither trained on |
# | Judge Model | `LambdaStep` | the floor (`validation:error <= 1 - accuracy_threshold`), then the candidate must **beat the champion** on `gate_metric` |
# | Register Model | `Task` (`aws-sdk:sagemaker:createModelPackage`) | every model goes into the registry with its evaluation: Approved, PendingManualApproval or Rejected |
# | Deploy? | `Choice` | deploy, or fail with the reason (`Model Rejected`) |
# | (manual approval) | `Wait`, `Task`, `Choice` | waits until a person approves or rejects the package, or time runs out |
# | Create Model | `Task` (`sagemaker:createModel`) | the model of this run, **from its approved package** |
# | Create Endpoint Config | `EndpointConfigStep` | a new config **per execution** |
# | Check Endpoint | `Task` (`aws-sdk:sagemaker:describeEndpoint`) | does the endpoint exist? |
# | Create / Update Endpoint | `EndpointStep` | **create on the first run, update afterwards** — decided at run time |
# | Wait / Describe / In Service? | `Wait`, `Task`, `Choice` | loop until the endpoint serves this run's config |
#
# Fixes over the sample: its gate read `trainingMetrics[0]` (whichever metric came first) and judged each model
# alone; its model and endpoint-config names clashed on the second run; its `EndpointStep` fixed *create* or
# *update* when the workflow was built, so a scheduled retrain failed either the first time or every later time;
# it retried nothing. Here the transient errors AWS really reports are retried with backoff, while a job that
# *failed* — bad data, a bad hyperparameter — is not retried. The few things the SDK cannot express are small
# helpers in `retrain/workflow.py` and `retrain/registry.py`.

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
from retrain.resources import Layout, make_estimator, planned_names, training_image

if offline_account is None:
    roles, bucket = state.require("roles", "01_setup_roles"), state.require("bucket", "01_setup_roles")
    state.require("glue_job", "02_create_resources")
else:  # building only: the names notebooks 01 and 02 would give them in that account
    roles, bucket = planned_names(params, cloud.account_id)
layout = Layout(bucket, params.project_name)
image_uri = training_image(params.region)
estimator = make_estimator(params, cloud.sagemaker_session(bucket), roles["sagemaker"], layout.output_uri)

# %% [markdown]
# ## Name the run
#
# Names that must change with every execution (training job, evaluation job, model, endpoint config) and the run's
# own data prefix (`<project>/runs/<run_id>/`) are computed by the workflow's first states into `$.Run`: from the
# `RunId` notebook 04 passes, or — when a schedule or new data started the execution, with no notebook to name it —
# from the execution's start time and a `States.UUID()` (a [Pass](https://docs.aws.amazon.com/step-functions/latest/dg/state-pass.html)
# with [intrinsic functions](https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html)).
# Every later step reads them through [placeholders](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/placeholders.html)
# written as `$['Run']['...']` paths (`make_execution_input`).

# %%
from retrain.workflow import make_execution_input, naming_steps

naming = naming_steps(params, layout)
execution_input = make_execution_input()
naming["name_run"].parameters

# %% [markdown]
# ## Find the champion
#
# A [LambdaStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/services.html) asks which
# model the endpoint serves now and which package of the model registry it was made from (`code/model_gate.py`,
# action `FindChampion`). On a first run there is none: the new model then only has to clear the floor.

# %%
from stepfunctions import steps

from retrain.workflow import transient_retry

find_champion = steps.LambdaStep(
    "Find Champion",
    parameters={
        "FunctionName": execution_input["LambdaFunctionName"],
        "Payload": {"Action": "FindChampion", "EndpointName": execution_input["EndpointName"],
                    "ModelPackageGroupName": execution_input["ModelPackageGroupName"]},
    },
    result_path="$.Champion",
)
find_champion.add_retry(transient_retry("lambda", attempts=6))

# %% [markdown]
# ## Extract, transform, load — after checking the data
#
# A [GlueStartJobRunStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/services.html)
# runs the ETL job and, with `wait_for_completion`, waits for the run to end (`glue:startJobRun.sync`). Before it
# writes anything the job checks the new data — missing and unreadable values, the label's shares, and **drift**
# from the data the champion was trained on (`--BASELINE`, the champion's data prefix): a failed check stops the run
# here, before any training, with `DataCheckFailed` and a `data_report.json` naming the columns and values. The
# splits go to this run's own prefix. `transient_retry` retries the errors Glue really reports for a busy or
# throttled service; a run that *failed* is not retried.

# %%
from retrain.workflow import glue_arguments

etl = steps.GlueStartJobRunStep(
    "Extract, Transform, Load",
    wait_for_completion=True,
    parameters={
        "JobName": execution_input["GlueJobName"],
        "Arguments": glue_arguments(params, layout, execution_input,
                                    baseline=find_champion.output()["Champion"]["Payload"]["Baseline"]),
    },
    result_path="$.EtlResult",
)
etl.add_retry(transient_retry("glue"))

# %% [markdown]
# ## Reuse instead of repeat: the ETL job
#
# With `cache: true` the ETL job runs only for inputs no earlier run had, like
# [SageMaker Pipelines' step caching](https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-caching.html).
# `Look Up ETL Cache` (the model gate Lambda, action `LookUpCache`, `code/step_cache.py`) hashes the data's
# content, the ETL code as uploaded and the split settings into a key and looks for `<project>/cache/etl/<key>.json`.
# A hit whose outputs still exist goes to `ETL Cache Hit`, which points the run's data locations in `$.Run` at the
# run that made them (`$.EtlCache` says which, and why); a miss runs the job, and `Cache ETL Outputs` remembers
# them — only after the job succeeded, so a failed run is never reused. With `cache: false` none of this is built.

# %%
from retrain.cache import LambdaWithSelector, etl_inputs, lookup_selector


def cache_call(name, payload, **fields):
    step = LambdaWithSelector(name, parameters={"FunctionName": execution_input["LambdaFunctionName"],
                                                "Payload": {"CacheUri": layout.cache_uri, "Run.$": "$.Run",
                                                            **payload}}, **fields)
    step.add_retry(transient_retry("lambda", attempts=6))
    return step


etl_stage = [etl]
if params.cache:
    look_up_etl = cache_call("Look Up ETL Cache",
                             {"Action": "LookUpCache", "Step": "etl", "Inputs": etl_inputs(params, layout)},
                             result_selector=lookup_selector(), result_path="$.EtlCache")
    etl_hit = steps.Pass("ETL Cache Hit", input_path="$.EtlCache.Run", result_path="$.Run")
    etl_cached = steps.Choice("ETL Cached?")
    etl_cached.add_choice(steps.ChoiceRule.BooleanEquals(variable="$.EtlCache.Hit", value=True), next_step=etl_hit)
    store_etl = cache_call("Cache ETL Outputs", {"Action": "StoreInCache", "Step": "etl", "Key.$": "$.EtlCache.Key"},
                           result_selector={"Uri.$": "$.Payload.Stored"}, result_path="$.EtlCache.Stored")
    etl_stage = [look_up_etl, etl_cached, etl, store_etl]  # a miss: Choice's default, the ETL job
print(" -> ".join(step.state_id for step in etl_stage))

# %% [markdown]
# ## Train the model
#
# A [TrainingStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/sagemaker.html) turns the
# estimator into a `createTrainingJob.sync` task on the two channels the ETL job wrote for this run (headerless
# CSV, label first; `parameters` sets them from the execution input, as the SDK allows for any request field). The
# job is named per execution and tagged as this project's.

# %%
from retrain.workflow import project_tags


def channel(name, uri):
    return {"ChannelName": name, "ContentType": "text/csv",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                            "S3DataDistributionType": "FullyReplicated"}}}


train = steps.TrainingStep(
    "Train Model",
    estimator=estimator,
    job_name=execution_input["TrainingJobName"],
    wait_for_completion=True,
    tags=project_tags(params),
    parameters={"InputDataConfig": [channel("train", execution_input["TrainUri"]),
                                    channel("validation", execution_input["ValidationUri"])]},
    result_path="$.Training",
)
train.add_retry(transient_retry("sagemaker", attempts=3))

# %% [markdown]
# ## Reuse instead of repeat: the training job
#
# With `cache: true`, `Look Up Training Cache` keys the training on the ETL key (the same key means the same
# splits: the job is seeded) and the request's defining fields — image, hyperparameters, channels, instances
# (`retrain.cache.training_request`). A hit goes to `Training Cache Hit`, which makes `$.Run.TrainingJobName` the
# earlier run's job, and `Describe Reused Training Job` puts that job's description where `Train Model` puts
# its own: the evaluation, the judge and the registry then use the reused job and its model artifact. A miss trains,
# and `Cache Training Job` remembers the job once it completed.

# %%
from retrain.cache import training_request
from retrain.workflow import SDK_SAGEMAKER_ERROR

train_stage, reuse_ends = [train], []
if params.cache:
    look_up_training = cache_call(
        "Look Up Training Cache",
        {"Action": "LookUpCache", "Step": "training",
         "Inputs": {"Etl.$": "$.EtlCache.Key", "Training": training_request(train.parameters)}},
        result_selector=lookup_selector(), result_path="$.TrainingCache")
    training_hit = steps.Pass("Training Cache Hit", input_path="$.TrainingCache.Run", result_path="$.Run")
    reuse_training = steps.Task("Describe Reused Training Job",
                                resource="arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob",
                                parameters={"TrainingJobName.$": "$.Run.TrainingJobName"}, result_path="$.Training")
    reuse_training.add_retry(steps.Retry(error_equals=[SDK_SAGEMAKER_ERROR], interval_seconds=2, max_attempts=3,
                                         backoff_rate=2.0))
    training_hit.next(reuse_training)
    training_cached = steps.Choice("Training Cached?")
    training_cached.add_choice(steps.ChoiceRule.BooleanEquals(variable="$.TrainingCache.Hit", value=True),
                               next_step=training_hit)
    store_training = cache_call("Cache Training Job",
                                {"Action": "StoreInCache", "Step": "training", "Key.$": "$.TrainingCache.Key"},
                                result_selector={"Uri.$": "$.Payload.Stored"}, result_path="$.TrainingCache.Stored")
    etl_hit.next(look_up_training)
    train_stage, reuse_ends = [look_up_training, training_cached, train, store_training], [reuse_training]
print(" -> ".join(step.state_id for step in train_stage))

# %% [markdown]
# ## Evaluate the candidate — and the champion — on the same rows
#
# A [ProcessingStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/sagemaker.html) runs
# `code/evaluate.py` in SageMaker's XGBoost container (a `ScriptProcessor`): it scores the new model and, when one
# serves, the champion on the held-back rows neither trained on, each encoded by its own `features.json`, and
# writes `evaluation.json` to the run's prefix. A `Choice` picks the job with or without a champion.

# %%
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor

processor = ScriptProcessor(image_uri=image_uri, command=["python3"], role=roles["sagemaker"], instance_count=1,
                            instance_type=params.training_instance_type,
                            sagemaker_session=cloud.sagemaker_session(bucket))
ROOT = "/opt/ml/processing"


def evaluation_step(name, champion):
    inputs = [
        ProcessingInput(source=layout.evaluation_code_uri, destination=f"{ROOT}/code", input_name="code"),
        ProcessingInput(source=f"s3://{bucket}/{layout.holdout_key}", destination=f"{ROOT}/holdout",
                        input_name="holdout"),
        ProcessingInput(source=train.output()["Training"]["ModelArtifacts"]["S3ModelArtifacts"],
                        destination=f"{ROOT}/candidate/model", input_name="candidate-model"),
        ProcessingInput(source=execution_input["FeaturesUri"], destination=f"{ROOT}/candidate/data",
                        input_name="candidate-data"),
    ]
    if champion:
        payload = find_champion.output()["Champion"]["Payload"]
        inputs += [ProcessingInput(source=payload["ModelDataUrl"], destination=f"{ROOT}/champion/model",
                                   input_name="champion-model"),
                   ProcessingInput(source=payload["FeaturesUri"], destination=f"{ROOT}/champion/data",
                                   input_name="champion-data")]
    step = steps.ProcessingStep(
        name, processor=processor, job_name=execution_input["EvaluationJobName"], inputs=inputs,
        outputs=[ProcessingOutput(source=f"{ROOT}/evaluation", destination=execution_input["EvaluationUri"],
                                  output_name="evaluation")],
        container_entrypoint=["python3", f"{ROOT}/code/evaluate.py"],
        tags=project_tags(params), result_path="$.Evaluation")
    step.add_retry(transient_retry("sagemaker", attempts=3))
    return step


evaluate_both = evaluation_step("Evaluate Both", champion=True)
evaluate_candidate = evaluation_step("Evaluate Candidate", champion=False)
champion_serving = steps.Choice("Champion Serving?")
champion_serving.add_choice(
    steps.ChoiceRule.BooleanEquals(variable=find_champion.output()["Champion"]["Payload"]["exists"], value=True),
    next_step=evaluate_both)
champion_serving.default_choice(evaluate_candidate)

# %% [markdown]
# ## Judge the model
#
# A [LambdaStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/services.html) decides
# (`code/model_gate.py`, action `JudgeModel`): the training job's validation metric must clear the **floor**
# (read **by name**), then the candidate must **beat the champion** on `gate_metric` by `min_absolute_improvement`
# (and `min_relative_improvement` when set). Its result carries the decision, the reason in words, both scores and
# the approval status to record in the registry.

# %%
import json

from retrain.gating import floor, gate

judge = steps.LambdaStep(
    "Judge Model",
    parameters={
        "FunctionName": execution_input["LambdaFunctionName"],
        "Payload": {"Action": "JudgeModel", "TrainingJobName": execution_input["TrainingJobName"],
                    "EvaluationUri": execution_input["EvaluationUri"], "Floor": floor(params),
                    "Gate": gate(params), "Approval": params.approval},
    },
    result_path="$.Judgement",
)
judge.add_retry(transient_retry("lambda", attempts=6))
evaluate_both.next(judge)
evaluate_candidate.next(judge)
print(json.dumps({"floor": floor(params), "gate": gate(params), "approval": params.approval}))

# %% [markdown]
# ## Register every model
#
# Each trained model becomes a version in the project's
# [model package group](https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry.html) (`CreateModelPackage`
# through the [AWS SDK integration](https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html)):
# its artifact, its evaluation as model-quality statistics, its run id and data prefix as metadata, and the
# verdict as its approval status. The registry is the history of every model, deployed or not.

# %%
from retrain.registry import register_step

register = register_step(params, image_uri, execution_input)
judge.next(register)

# %% [markdown]
# ## Deploy, or say why not
#
# A [Choice](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/states.html) reads the decision.
# A model that is not good enough — below the floor, or not better than the champion — fails the execution with
# error `ModelRejected` and the judge's reason as its cause (`FailWithPaths` adds the `CausePath` the SDK's `Fail`
# lacks); the endpoint is not touched.

# %%
from retrain.workflow import REJECTED_ERROR, FailWithPaths

rejected = FailWithPaths("Model Rejected", error=REJECTED_ERROR, cause_path="$.Judgement.Payload.reason")
deploy = steps.Choice("Deploy?")
deploy.default_choice(rejected)
register.next(deploy)

# %% [markdown]
# ## The model to deploy, from its approved package
#
# The SageMaker model is created from the registered package (`Containers: [{"ModelPackageName": ...}]`), so what
# serves is exactly what was approved. With `approval: manual` the execution first waits for a person
# (`retrain approve RUN` or `retrain reject RUN --reason ...`), polling the package's status, at most
# `approval_timeout_seconds`.

# %%
from retrain.registry import approval_steps, create_model_step

create_model = create_model_step(params, roles["sagemaker"], execution_input)
create_model.add_retry(transient_retry("sagemaker", attempts=3))
if params.approval == "manual":
    waiting = approval_steps(params, approved=create_model)
    after_gate = waiting["start"]
else:
    after_gate = create_model
deploy.add_choice(steps.ChoiceRule.StringEquals(variable=judge.output()["Judgement"]["Payload"]["decision"],
                                                value="deploy"), next_step=after_gate)
print("after the gate:", after_gate.state_id)

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
    result_selector={"EndpointConfigArn.$": "$.EndpointConfigArn"},
    tags=project_tags(params),
)
endpoint_config.add_retry(transient_retry("sagemaker", attempts=3))

# %% [markdown]
# ## Create the endpoint (the first run)
#
# The SDK's [EndpointStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/sagemaker.html)
# creates the endpoint on this run's configuration, tagged as the project's.

# %%
create_endpoint = steps.EndpointStep(
    "Create Endpoint",
    endpoint_name=execution_input["EndpointName"],
    endpoint_config_name=execution_input["EndpointConfigName"],
    update=False,
    result_path="$.EndpointAction",
    tags=project_tags(params),
)
create_endpoint.add_retry(transient_retry("sagemaker", attempts=3))

# %% [markdown]
# ## Update the endpoint, guarded (later runs)
#
# A later run replaces the model in production with a
# [guarded deployment](https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails.html): SageMaker
# shifts traffic to the new fleet all at once, in a canary step or in linear steps (`deployment`), bakes, and
# sends all traffic back to the old fleet when one of the project's CloudWatch alarms (notebook 02) goes into
# ALARM. The SDK's `EndpointStep` cannot send a `DeploymentConfig` and the optimized `sagemaker:updateEndpoint`
# integration takes only the two names, so this state is an
# [AWS SDK integration](https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html)
# (`update_endpoint_step`). Its errors are named as the AWS SDK names them.

# %%
from retrain.deployment import SDK_TRANSIENT_ERRORS, describe, update_endpoint_step

update_endpoint = update_endpoint_step(params, execution_input)
update_endpoint.add_retry(steps.Retry(error_equals=list(SDK_TRANSIENT_ERRORS), interval_seconds=2, max_attempts=3,
                                      backoff_rate=2.0))
print(describe(params))
update_endpoint.parameters["DeploymentConfig"]

# %% [markdown]
# ## Create or update, decided at run time
#
# `EndpointStep` fixes *create* or *update* when the workflow is built. A retrain must decide when it runs: `Check
# Endpoint` asks SageMaker for the endpoint; "Could not find endpoint" leads to `Create Endpoint`, an endpoint that
# exists to `Update Endpoint`, and any other failure (access denied, a service error) ends the run in
# `Endpoint Check Failed` instead of trying to create (`endpoint_check_steps`).

# %%
from retrain.workflow import endpoint_check_steps

check = endpoint_check_steps(execution_input, create_endpoint, update_endpoint)
endpoint_config.next(check["check_endpoint"])
print(check["check_endpoint"])

# %% [markdown]
# ## Shadow testing (`shadow: true`)
#
# With `shadow: true` and a champion serving, the new model does not replace it: `Shadow Test?` sends the run to
# `Create Shadow Endpoint Config`, whose config keeps the champion in production and adds this run's model as a
# [shadow variant](https://docs.aws.amazon.com/sagemaker/latest/dg/model-shadow-deployment.html) that gets a copy
# of every request and answers only into
# [data capture](https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html) (under
# the run's prefix). The endpoint is then updated to it like any config. Notebook 04 compares the two models'
# answers (`retrain.shadow`). A first run has no champion and deploys the model alone.

# %%
first_config = endpoint_config
if params.shadow:
    from retrain.shadow import shadow_config_steps

    shadow = shadow_config_steps(params, endpoint_config)
    shadow["config"].next(check["check_endpoint"])
    first_config = shadow["choice"]
    print(shadow["config"].parameters["ProductionVariants"], shadow["config"].parameters["ShadowProductionVariants"])

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
        steps.ChoiceRule.StringEqualsPath(variable=serving, value="$.Run.EndpointConfigName"),
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
# ## How the run ended: recorded, and told
#
# A run that a schedule or new data started has no notebook 04 to write its record, and nobody watching. So both
# ends the workflow reaches by design pass two more states first: `Record Deployed` / `Record Rejection`, the
# project's Lambda function (action `RecordRun`) writing the run's `record.json` next to its data — what
# `retrain history` lists, marked with what started the run — and, when `notify_events` asks for that end,
# `Notify Deployed` / `Notify Rejection`, an [SnsPublishStep](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/services.html)
# publishing to the project's topic (notebook 02) what happened, why, and where the run's record and data are
# ([Call Amazon SNS with Step Functions](https://docs.aws.amazon.com/step-functions/latest/dg/connect-sns.html)).
# Each catches its own errors: recording or telling can never change how the run ends (`retrain/outcomes.py`).

# %%
from retrain import notifications
from retrain.history import params_digest
from retrain.outcomes import ending, redirect
from retrain.summary import git_commit

topic = notifications.topic_arn(params, cloud.account_id) if notifications.enabled(params) else None
built = {"ParamsDigest": params_digest(params), "GitCommit": git_commit(Path(params.root))}
on_deployed = ending(params, execution_input, topic, "deployed", "$.Judgement.Payload.reason", deployed, built,
                     "Deployed")
on_rejected = ending(params, execution_input, topic, "rejected", "$.Judgement.Payload.reason", rejected, built,
                     "Rejection")
assert redirect([endpoint_ready], deployed, on_deployed) == 1, "the endpoint loop no longer leads to Model Deployed"
assert redirect([deploy], rejected, on_rejected) == 1, "Deploy? no longer leads to Model Rejected"
print("notifications:", f"{topic} on {params.notify_events}" if topic else "none (no notify_email or notify_webhook)")

# %% [markdown]
# ## Chain the steps into a workflow
#
# The main line is a [Chain](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/states.html);
# the branches hang off the champion check, the gate, the approval loop, the endpoint check and the readiness
# loop. The [Workflow](https://aws-step-functions-data-science-sdk.readthedocs.io/en/stable/workflow.html) carries
# the role, the execution input, a time limit and the project's tag.

# %%
from stepfunctions.workflow import Workflow

from retrain.workflow import workflow_tags

create_model.next(first_config)
naming["name_run"].next(find_champion)
main_line = steps.Chain([find_champion, *etl_stage, *train_stage, champion_serving])
for reused in reuse_ends:  # a training cache hit goes on to the evaluation too
    reused.next(champion_serving)
workflow = Workflow(
    name=params.state_machine_name,
    definition=steps.Chain([naming["start"]]),
    role=roles["stepfunctions"],
    timeout_seconds=params.execution_timeout_seconds,
    tags=workflow_tags(params),
    client=cloud.client("stepfunctions"),
)
definition = workflow.definition.to_dict()
print(f"{len(definition['States'])} states, starting at {definition['StartAt']!r}")

# %% [markdown]
# ## A failed step: recorded, and told
#
# The other `Fail` states — `Endpoint Deploy Failed`, `Endpoint Check Failed`, and with `approval: manual` a
# reviewer's rejection and the approval timeout — are recorded (and told) on the way too: `Note ...` puts their
# error and cause into `$.Failure`, then `Record ...` and `Notify ...`. With `failed` among `notify_events` (and someone to tell), every task that can fail catches any error
# (`States.ALL`) into `$.Failure` and goes to `Record Failure` → `Notify Failure` → `Run Failed`, a `Fail` state
# that ends the execution with the original error and cause (`ErrorPath`, `CausePath`). Without it a failed task
# ends the execution where it failed, which is what a redrive (`RedriveExecution`) continues from: an execution
# that ended in `Run Failed` redrives to that Fail state only, so start a new run instead.

# %%
from retrain.outcomes import FAILED_STATE, catch_failures, rebuild, record_designed_ends

ends = record_designed_ends(naming["start"], params, execution_input, topic, built, skip={"Model Rejected"})
print("recorded on the way to:", ", ".join(ends))
if notifications.notifies(params, "failed"):
    run_failed = FailWithPaths(FAILED_STATE, error_path="$.Failure.Error", cause_path="$.Failure.Cause")
    on_failure = ending(params, execution_input, topic, "failed",
                        "States.Format('{}: {}', $.Failure.Error, $.Failure.Cause)", run_failed, built, "Failure")
    caught = catch_failures(naming["start"], on_failure, skip=set())
    print(f"failures of {len(caught)} tasks are recorded and told")
else:
    print("a failed task ends the run where it failed (failures do not notify)")
definition = rebuild(workflow, naming["start"])
print(f"{len(definition['States'])} states")

# %% [markdown]
# ## Validate the definition
#
# `statelint` checks the Amazon States Language before anything is sent; the definition is kept with the run.

# %%
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

# %% [markdown]
# ## Retraining unattended: the triggers
#
# With `schedule` (`rate(1 day)`, `cron(0 6 ? * MON *)`, ...) an
# [EventBridge Scheduler](https://docs.aws.amazon.com/scheduler/latest/UserGuide/what-is-scheduler.html) schedule
# starts the workflow on time; with `retrain_on_new_data: true` the bucket sends its events to EventBridge and a
# [rule](https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html) starts it for each new object
# written at the data key. Both act as the role `<project>-triggers-role`, which may only start this state
# machine. The executions they start have no notebook to name them: the first states above derive every name from
# the execution itself. Turning both off removes them (`retrain.triggers`).

# %%
from retrain import triggers

if offline_account is None:
    armed = triggers.ensure(cloud, params, cloud.account_id, bucket, layout.data_key)
    state.update(triggers=armed)
    print(armed)
else:
    print("triggers:", params.schedule or "no schedule", "| new data:", params.retrain_on_new_data)
