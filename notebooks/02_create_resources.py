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
# # 02 · Create the resources
#
# The workflow needs data in S3 and three pieces of job code, identical on AWS and locally:
#
# * `code/glue_etl.py` — an **AWS Glue** (PySpark) job: checks the new data (missing and unreadable values, the
#   label, drift from the data of the model in production), encodes it by the `dataset` schema (the churn schema by
#   default: drops the phone number and the charges, one-hot encodes state, area code and plans, puts the label
#   first), splits it into train and validation sets for XGBoost, with `features.json` and a data profile;
# * `code/evaluate.py` — a **SageMaker processing** script that scores the new model and the one in production on
#   the same held-back rows;
# * `code/model_gate.py` — an **AWS Lambda** function that finds the model in production and judges the new one.
#
# Then the **model registry** every trained model goes into, and the SageMaker **XGBoost estimator** the training
# step will run.

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
roles = state.require("roles", "01_setup_roles")
bucket = state.require("bucket", "01_setup_roles")

# %% [markdown]
# ## The bucket
#
# Created in the target region unless it exists. Everything of this project lives under `<project>/`.

# %%
from retrain.resources import Layout, ensure_bucket

s3 = cloud.client("s3")
created = ensure_bucket(s3, bucket, params.region, tags=params.tags)
layout = Layout(bucket, params.project_name)
print(("created " if created else "using ") + f"s3://{bucket}/{params.project_name}/")

# %% [markdown]
# ## Upload the data, holding some rows back
#
# `holdout_rows` rows are held back: they never reach the Glue job or the training job. The evaluation job scores
# the new model and the one in production on them, and notebook 04 sends them to the deployed endpoint as a smoke
# test. Which rows is decided by a hash of each row (and the `seed`), not by its place in the file, so a row held
# back once stays held back when the data grows: neither model was trained on it. The rest is uploaded byte for
# byte; its digest goes into the run's record.

# %%
from retrain.history import digest
from retrain.holdout import split_holdout
from retrain.resources import upload_bytes, upload_if_changed

split = split_holdout(params.data_file, params.input_format, params.holdout_rows, params.seed)
# written only when it changed: with retrain_on_new_data, each new object at the data key starts a run
data_uri, data_written = upload_if_changed(s3, split.training_bytes(), bucket, layout.data_key)
holdout_uri = upload_bytes(s3, split.holdout_bytes(), bucket, layout.holdout_key)
data_sha256 = digest(split.training_bytes())
print(f"{split.training_rows} rows for the workflow -> {data_uri} ({data_sha256[:19]}...)"
      + ("" if data_written else ", unchanged: not written again"))
print(f"{len(split.holdout_lines)} rows held back     -> {holdout_uri}")

# %% [markdown]
# ## Upload the job code
#
# The Glue script and its modules (the feature plan, the data checks, reading and writing) as they are; the
# evaluation script with the module that encodes rows and computes metrics (`retrain/evaluation.py`, the same code
# the notebooks use); the Lambda handler zipped (deterministically: same source, same zip).

# %%
from retrain.resources import lambda_zip, upload_etl_code, upload_evaluation_code

code_dir = params.resolve("code")
script_uri, module_uris = upload_etl_code(s3, code_dir, layout)
evaluation_uris = upload_evaluation_code(s3, code_dir, layout)
lambda_zip_uri = upload_bytes(s3, lambda_zip(code_dir / "model_gate.py"), bucket, layout.lambda_key)
print(script_uri, *module_uris, *evaluation_uris, lambda_zip_uri, sep="\n")

# %% [markdown]
# ## The Glue job
#
# Glue **5.0** (Spark 3.5, Python 3.11) on `G.1X` workers; the original sample's Glue 1.0 and `Standard` workers
# are retired. The workflow passes the S3 locations and the split settings as job arguments at run time.

# %%
import json

from retrain.resources import ensure_glue_job, glue_job_spec

glue_spec = glue_job_spec(params, roles["glue"], script_uri, module_uris)
print(json.dumps(glue_spec, indent=2))
glue_action = ensure_glue_job(cloud.client("glue"), params.glue_job_name, glue_spec, tags=params.tags,
                              account=state["account"])
print(f"Glue job {params.glue_job_name}: {glue_action}")

# %% [markdown]
# ## The Lambda function
#
# Runtime `python3.12` (the sample's `python3.7` is retired), code from the zip in S3.

# %%
from retrain.resources import ensure_lambda_function

lambda_action = ensure_lambda_function(cloud.client("lambda"), params.lambda_function_name, roles["lambda"],
                                       bucket, layout.lambda_key, tags=params.tags)
print(f"Lambda function {params.lambda_function_name}: {lambda_action}")

# %% [markdown]
# ## Log groups with a retention
#
# CloudWatch keeps log groups forever unless told otherwise. The Lambda function and the endpoint log to groups only
# this project uses; creating them first (tagged) lets them expire after `log_retention_days`. Glue's and SageMaker
# training's groups are shared by every job of the account and are left as they are.

# %%
from retrain.resources import ensure_log_groups

for group, action in ensure_log_groups(cloud.client("logs"), params).items():
    print(f"{group}: {action}, retention {params.log_retention_days} days")

# %% [markdown]
# ## Alarms that roll a bad model back
#
# A later run replaces the model in production with a guarded update (notebook 03, `deployment`). While it bakes,
# SageMaker watches these [CloudWatch alarms](https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html)
# on the endpoint and returns all traffic to the old model when one goes into ALARM: the share of requests
# answered with a 5xx error (`max_error_rate`) and the average model latency (`max_model_latency_ms`), over
# `alarm_period_seconds`. They watch the endpoint rather than a run, so they are made here, tagged as the
# project's, and go with the endpoint in clean-up.

# %%
from retrain.alarms import ensure_alarms

alarms = ensure_alarms(cloud.client("cloudwatch"), params)
for name, action in alarms.items():
    print(f"alarm {name}: {action}")
state.update(alarms=sorted(alarms))
print("rollback alarms:", ", ".join(alarms) or "none (rollback_alarms: false)")

# %% [markdown]
# ## The model registry
#
# A [model package group](https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-model-group.html) holds a
# version of every model the workflow trains, with its evaluation and approval status; what the endpoint serves is
# always one of them. It is the project's history of models.

# %%
from retrain.registry import ensure_group

group_arn = ensure_group(cloud.client("sagemaker"), params)
print(group_arn)

# %% [markdown]
# ## Who hears how a run ended
#
# A run a schedule or new data starts has nobody watching it. With `notify_email` or `notify_webhook` set, an
# [SNS topic](https://docs.aws.amazon.com/sns/latest/dg/sns-create-topic.html) `<project>-notifications` (tagged
# as the project's) gets those subscriptions, and the workflow publishes to it on the ends `notify_events` names
# (notebook 03). Its access policy lets only the workflow's role publish. On AWS an email or HTTPS subscription
# stays `PendingConfirmation` until the recipient confirms it; the local cloud confirms at once, delivers webhooks
# itself and appends mail to a mailbox file. With neither set, an earlier topic is removed.

# %%
from retrain import notifications

notified = notifications.ensure(cloud.client("sns"), params, cloud.account_id, roles["stepfunctions"])
state.update(notifications=notified)
print(notified["topic_arn"] or "no notifications (notify_email and notify_webhook are null)", notified)

# %% [markdown]
# ## The XGBoost estimator
#
# SageMaker's built-in XGBoost (image `xgboost` 1.7-1) with the sample's hyperparameters (from the parameters
# file). The model artifacts go to an explicit `output_path` in our bucket. Nothing is trained yet: notebook 03
# turns the estimator into the workflow's training step.

# %%
from retrain.resources import make_estimator

sagemaker_session = cloud.sagemaker_session(bucket)
estimator = make_estimator(params, sagemaker_session, roles["sagemaker"], layout.output_uri)
print("image:", estimator.training_image_uri())
print("instances:", estimator.instance_count, "x", estimator.instance_type)
print("output:", estimator.output_path)
estimator.hyperparameters()

# %%
state.update(data_uri=data_uri, holdout_uri=holdout_uri, data_sha256=data_sha256, script_uri=script_uri, lambda_zip_uri=lambda_zip_uri,
             glue_job=params.glue_job_name, lambda_function=params.lambda_function_name,
             output_path=layout.output_uri, model_package_group=group_arn, evaluation_code=layout.evaluation_code_uri)
state
