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
# # 05 · Clean up
#
# Delete what the run created. The parameters choose what stays:
#
# * `keep_endpoint` — keep the endpoint serving (with the configuration and model it uses); the next run updates it.
#   Older endpoint configurations and models of earlier runs are removed either way.
# * `keep_data` — keep the objects under the bucket's `<project>/` prefix (and the bucket).
# * `keep_roles` — keep the IAM roles.
#
# The Glue job, the Lambda function and the state machine are removed; notebooks 02 and 03 make them again.
# Training jobs cannot be deleted in SageMaker and log groups expire after `log_retention_days`; they are listed as
# what remains. Only what carries this project's tag is deleted.
#
# `retrain run` also runs this notebook after a failed or interrupted run (`cleanup_reason` says why): an execution
# of the run that is still going is stopped first, so nothing billable stays that the parameters did not keep.

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
cloud = connect(params, start_local=cleanup_reason is None)
artifacts = Path(out_dir or params.state_path.parent) / "artifacts"
print(cloud.describe())
print("run state:", state.path)

# %% [markdown]
# ## Step by step
#
# Each step below deletes one kind of resource and shows what it did: `deleted`, or `remains` with the reason.
# A resource is deleted only when it carries the project's tag (`retrain:project`); one with a project name but
# without the tag is someone else's and is left alone. A resource that is already gone is simply skipped, so this
# notebook can be run again after an interruption.

# %%
import pandas as pd

from retrain.cleanup import Cleanup

if cleanup_reason:
    print(f"cleaning up because {cleanup_reason}")
cleanup = Cleanup(cloud, params, state)


def show(rows):
    return pd.DataFrame(rows, columns=["resource", "name", "state", "why"]) if rows else "nothing to do"


# %% [markdown]
# ### 1. Stop the run's execution if it still runs
#
# After a failed or interrupted run the workflow may still be going; it could create an endpoint after the clean-up.
# [StopExecution](https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html) ends it
# and the step waits until it has.

# %%
show(cleanup.stop_execution())

# %% [markdown]
# ### 2. The endpoint
#
# An endpoint bills by the hour while it exists. Unless `keep_endpoint` is true it is deleted
# ([DeleteEndpoint](https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpoint.html)) and the
# step waits until SageMaker no longer lists it.

# %%
show(cleanup.endpoint())

# %% [markdown]
# ### 2b. The endpoint's alarms
#
# The auto-rollback alarms notebook 02 made watch the endpoint: with it they are deleted
# ([DeleteAlarms](https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DeleteAlarms.html)), only
# those carrying the project's tag; a kept endpoint keeps them.

# %%
show(cleanup.alarms())

# %% [markdown]
# ### 3. Endpoint configurations and models
#
# Every run creates a configuration and a model named after its run id. Those the endpoint does not serve — this
# run's if it was rejected, and earlier runs' — are deleted
# ([DeleteEndpointConfig](https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpointConfig.html),
# [DeleteModel](https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteModel.html)); the ones a kept
# endpoint serves stay, and so do those of the last `rollback_configs_kept` deployed runs before it, so that
# `retrain rollback` can return to them.

# %%
show(cleanup.configs_and_models())

# %% [markdown]
# ### 4a. The triggers of retraining unattended
#
# While a `schedule` or `retrain_on_new_data` is on and `keep_triggers` is true, the schedule, the new-data rule
# and what they start and read (the state machine, the Lambda function, the Glue job, the data, the roles) stay,
# and the steps below keep them. Otherwise the schedule group with its schedule
# ([DeleteScheduleGroup](https://docs.aws.amazon.com/scheduler/latest/APIReference/API_DeleteScheduleGroup.html)),
# the rule ([DeleteRule](https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DeleteRule.html)), the
# bucket's EventBridge notifications and the triggers' role are deleted — and with them the notifications topic
# `<project>-notifications` and its subscriptions (notebook 02), which stay as long as the triggers do: they are
# what tells someone that an unattended run failed.

# %%
show(cleanup.triggers())

# %% [markdown]
# ### 4. The state machine, the Lambda function and the Glue job
#
# They cost nothing while idle, but notebooks 02 and 03 create them again, so they go:
# [DeleteStateMachine](https://docs.aws.amazon.com/step-functions/latest/apireference/API_DeleteStateMachine.html),
# [DeleteFunction](https://docs.aws.amazon.com/lambda/latest/api/API_DeleteFunction.html),
# [DeleteJob](https://docs.aws.amazon.com/glue/latest/webapi/API_DeleteJob.html).

# %%
show(cleanup.services())

# %% [markdown]
# ### 5. The data and the model registry
#
# Unless `keep_data` is true, the model registry (every model package, then the group:
# [DeleteModelPackage](https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteModelPackage.html)) and
# the objects under `<project_name>/` in the bucket (raw data, every run's splits, profile, data report and
# evaluation, model artifacts, the job code) are deleted, then the bucket itself if nothing else is in it.

# %%
show(cleanup.data())

# %% [markdown]
# ### 6. The roles
#
# Unless `keep_roles` is true, the three roles notebook 01 created are deleted with their inline policies. A
# SageMaker role you supplied (`sagemaker_role_arn`) is yours and stays.

# %%
show(cleanup.roles())

# %% [markdown]
# ## What remains, and why
#
# Everything of this project that still exists, with what keeps it. Training jobs cannot be deleted in SageMaker;
# log groups expire after `log_retention_days`. Anything marked `UNEXPECTED` stayed although nothing asked to keep
# it — the last cell fails in that case.

# %%
show(cleanup.what_remains())

# %%
result = cleanup.report
state.update(cleanup=result.to_state())
unexpected = result.to_state()["unexpected"]
errors = result.to_state()["errors"]
assert not unexpected, f"left behind: {unexpected}" + "".join(f"\n  {k}: {v}" for k, v in errors.items())
print(f"stopped {len(result.stopped)}, deleted {len(result.deleted)}, kept {len(result.remaining)}, "
      "nothing unexpected")
