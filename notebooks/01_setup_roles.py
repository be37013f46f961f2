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
# # 01 · Set up the IAM roles
#
# This series of five notebooks retrains an XGBoost customer-churn model and deploys it, with an
# **AWS Step Functions** workflow built by the **Step Functions Data Science SDK**:
#
# 1. **01 set up roles** (this notebook) — who may do what
# 2. **02 create resources** — bucket, data, the Glue job, the Lambda function, the estimator
# 3. **03 build workflow** — the state machine, validated and drawn
# 4. **04 run workflow** — execute, watch, judge, test the endpoint
# 5. **05 clean up** — delete what the run made, keep what you asked to keep
#
# The same notebooks run on AWS (`params/aws.yaml`) and on the local cloud (`params/local.yaml`, the default),
# which answers the same API calls on `127.0.0.1`. Each notebook can be run on its own once the earlier ones
# have run: what they create is written to a small *run state* file.

# %% tags=["parameters"]
# Parameters: `retrain run` injects its own values in a cell right after this one.
params_file = "../params/local.yaml"  # or ../params/aws.yaml
overrides = {}  # e.g. {"accuracy_threshold": 0.95}
run_id = None  # None: a new id (notebook 04)
out_dir = None  # where figures go; None: next to the run state file
cleanup_reason = None  # set by `retrain run` when 05 runs after a failed or interrupted run

# %% [markdown]
# ## Connect to the target
#
# `connect` opens a boto3 session for the target. On AWS it uses your normal credentials; locally it points every
# client at the local cloud's endpoint.

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
account = cloud.account_id  # STS GetCallerIdentity
print("account:", account)

# %% [markdown]
# ## Name the bucket
#
# The bucket is named `<project_name>-<account>-<region>` from the account STS returned. The original sample called
# `sagemaker.Session().default_bucket()`, which reaches a fixed STS endpoint and creates a shared bucket; our name
# is predictable, so the policies below can name it.

# %%
from retrain.resources import bucket_name, training_image

bucket = bucket_name(params.project_name, account, params.region)
image_uri = training_image(params.region)  # SageMaker's built-in XGBoost 1.7-1
print("bucket:", bucket)
print("training image:", image_uri)

# %% [markdown]
# ## The policies
#
# An IAM role has two documents:
#
# * a **trust policy**: which service may *assume* the role (`states.amazonaws.com` for Step Functions, ...);
# * **permission policies**: what the role may do, and on which resources.
#
# The original sample had you paste policies into the IAM console by hand. Here they are generated,
# **least-privilege** and scoped to this project: the bucket's `<project>/` prefix, the one Glue job, the one Lambda
# function, SageMaker jobs/models/configs whose names start with `<project>-`, and the one endpoint.
# `"Resource": "*"` appears only for actions that accept nothing narrower (`ecr:GetAuthorizationToken`,
# `cloudwatch:PutMetricData`).
#
# The Step Functions role is the heart of it: it runs the Glue job, trains and deploys with SageMaker, invokes the
# Lambda, may pass *only* the SageMaker role and *only* to SageMaker (`iam:PassedToService`), and may manage the
# EventBridge rule Step Functions uses to wait for training jobs (`.sync`).

# %%
import json

from retrain.policies import Scope, role_policies, trust_policy

scope = Scope.of(params, account, bucket)
sagemaker_role_arn = params.sagemaker_role_arn or f"arn:aws:iam::{account}:role/{params.role_name('sagemaker')}"
print("trust:", json.dumps(trust_policy("stepfunctions", account), indent=2))
print(json.dumps(role_policies("stepfunctions", scope, sagemaker_role_arn=sagemaker_role_arn), indent=2))

# %% [markdown]
# The three other roles: **Glue** reads the raw data and writes the splits under the project prefix,
# **Lambda** may only describe this project's training jobs, **SageMaker** reads the splits, writes model
# artifacts and pulls the XGBoost image. (With `sagemaker_role_arn` set in the parameters, that role is used
# instead of creating one.)

# %%
for kind in ("glue", "lambda", "sagemaker"):
    print(f"--- {params.role_name(kind)}")
    print(json.dumps(role_policies(kind, scope, image_uri=image_uri), indent=2))

# %% [markdown]
# ## Create or update the roles
#
# `ensure_project_roles` creates each role when missing and otherwise brings its trust and inline policies up to
# date, so this cell is safe to run again. On AWS a new or changed role becomes usable by the services only after
# IAM has propagated it; `iam_propagation_seconds` waits that out.

# %%
from retrain.iam import ensure_project_roles

roles = ensure_project_roles(cloud.client("iam"), params, account, bucket, image_uri=image_uri)
for kind, role in roles.items():
    action = "created" if role.created else ("updated" if role.changed else "unchanged")
    print(f"{kind:<14} {action:<10} {role.arn}")

# %% [markdown]
# ## Record what was made
#
# The next notebooks read these values from the run state file.

# %%
state.update(account=account, bucket=bucket, region=params.region, training_image=image_uri,
             roles={kind: role.arn for kind, role in roles.items()})
state
