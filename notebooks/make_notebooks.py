"""Write the five notebooks of the retraining workflow from the cell texts below.

    python notebooks/make_notebooks.py          # rewrite notebooks/*.ipynb
    python notebooks/make_notebooks.py --check  # exit 1 when a committed notebook differs from this source

Notebooks are committed without outputs. Each starts with a cell tagged ``parameters`` (papermill injects the
values of ``retrain run`` after it); the state between notebooks travels in the run state file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

PARAMETERS = '''# Parameters: `retrain run` injects its own values in a cell right after this one.
params_file = "../params/local.yaml"  # or ../params/aws.yaml
overrides = {}  # e.g. {"accuracy_threshold": 0.95}
run_id = None  # None: a new id (notebook 04)
out_dir = None  # where figures go; None: next to the run state file
cleanup_reason = None  # set by `retrain run` when 05 runs after a failed or interrupted run'''

CONNECT = '''from pathlib import Path

from retrain.config import RunState, load_params
from retrain.session import connect

params = load_params(params_file, overrides)
state = RunState.load(params.state_path)
cloud = connect(params)  # target local: starts the local cloud if none is running
artifacts = Path(out_dir or params.state_path.parent) / "artifacts"
print(cloud.describe())
print("run state:", state.path)'''

# After a failed run, a local cloud that died is not started again: a new one would hold none of the run's resources.
CONNECT_CLEANUP = CONNECT.replace("cloud = connect(params)  # target local: starts the local cloud if none is running",
                                  "cloud = connect(params, start_local=cleanup_reason is None)")

NB01 = [
    ("md", '''# 01 · Set up the IAM roles

This series of five notebooks retrains an XGBoost customer-churn model and deploys it, with an
**AWS Step Functions** workflow built by the **Step Functions Data Science SDK**:

1. **01 set up roles** (this notebook) — who may do what
2. **02 create resources** — bucket, data, the Glue job, the Lambda function, the estimator
3. **03 build workflow** — the state machine, validated and drawn
4. **04 run workflow** — execute, watch, judge, test the endpoint
5. **05 clean up** — delete what the run made, keep what you asked to keep

The same notebooks run on AWS (`params/aws.yaml`) and on the local cloud (`params/local.yaml`, the default),
which answers the same API calls on `127.0.0.1`. Each notebook can be run on its own once the earlier ones
have run: what they create is written to a small *run state* file.'''),
    ("params", PARAMETERS),
    ("md", '''## Connect to the target

`connect` opens a boto3 session for the target. On AWS it uses your normal credentials; locally it points every
client at the local cloud's endpoint.'''),
    ("code", CONNECT),
    ("code", '''account = cloud.account_id  # STS GetCallerIdentity
print("account:", account)'''),
    ("md", '''## Name the bucket

The bucket is named `<project_name>-<account>-<region>` from the account STS returned. The original sample called
`sagemaker.Session().default_bucket()`, which reaches a fixed STS endpoint and creates a shared bucket; our name
is predictable, so the policies below can name it.'''),
    ("code", '''from retrain.resources import bucket_name, training_image

bucket = bucket_name(params.project_name, account, params.region)
image_uri = training_image(params.region)  # SageMaker's built-in XGBoost 1.7-1
print("bucket:", bucket)
print("training image:", image_uri)'''),
    ("md", '''## The policies

An IAM role has two documents:

* a **trust policy**: which service may *assume* the role (`states.amazonaws.com` for Step Functions, ...);
* **permission policies**: what the role may do, and on which resources.

The original sample had you paste policies into the IAM console by hand. Here they are generated,
**least-privilege** and scoped to this project: the bucket's `<project>/` prefix, the one Glue job, the one Lambda
function, SageMaker jobs/models/configs whose names start with `<project>-`, and the one endpoint.
`"Resource": "*"` appears only for actions that accept nothing narrower (`ecr:GetAuthorizationToken`,
`cloudwatch:PutMetricData`).

The Step Functions role is the heart of it: it runs the Glue job, trains and deploys with SageMaker, invokes the
Lambda, may pass *only* the SageMaker role and *only* to SageMaker (`iam:PassedToService`), and may manage the
EventBridge rule Step Functions uses to wait for training jobs (`.sync`).'''),
    ("code", '''import json

from retrain.iam import Scope, role_policies, trust_policy

scope = Scope.of(params, account, bucket)
sagemaker_role_arn = params.sagemaker_role_arn or f"arn:aws:iam::{account}:role/{params.role_name('sagemaker')}"
print("trust:", json.dumps(trust_policy("stepfunctions", account), indent=2))
print(json.dumps(role_policies("stepfunctions", scope, sagemaker_role_arn=sagemaker_role_arn), indent=2))'''),
    ("md", '''The three other roles: **Glue** reads the raw data and writes the splits under the project prefix,
**Lambda** may only describe this project's training jobs, **SageMaker** reads the splits, writes model
artifacts and pulls the XGBoost image. (With `sagemaker_role_arn` set in the parameters, that role is used
instead of creating one.)'''),
    ("code", '''for kind in ("glue", "lambda", "sagemaker"):
    print(f"--- {params.role_name(kind)}")
    print(json.dumps(role_policies(kind, scope, image_uri=image_uri), indent=2))'''),
    ("md", '''## Create or update the roles

`ensure_project_roles` creates each role when missing and otherwise brings its trust and inline policies up to
date, so this cell is safe to run again. On AWS a new or changed role becomes usable by the services only after
IAM has propagated it; `iam_propagation_seconds` waits that out.'''),
    ("code", '''from retrain.iam import ensure_project_roles

roles = ensure_project_roles(cloud.client("iam"), params, account, bucket, image_uri=image_uri)
for kind, role in roles.items():
    action = "created" if role.created else ("updated" if role.changed else "unchanged")
    print(f"{kind:<14} {action:<10} {role.arn}")'''),
    ("md", "## Record what was made\n\nThe next notebooks read these values from the run state file."),
    ("code", '''state.update(account=account, bucket=bucket, region=params.region, training_image=image_uri,
             roles={kind: role.arn for kind, role in roles.items()})
state'''),
]

NB02 = [
    ("md", '''# 02 · Create the resources

The workflow needs data in S3 and two pieces of job code, identical on AWS and locally:

* `code/glue_etl.py` — an **AWS Glue** (PySpark) job: encodes the raw churn data (drops the phone number and
  the charges, one-hot encodes state, area code and plans, puts the label first), splits it into train and
  validation sets, and writes headerless CSV for XGBoost plus `features.json`;
* `code/query_training_status.py` — an **AWS Lambda** function that reads a training job's metrics *by name*.

Then we configure the SageMaker **XGBoost estimator** the training step will run.'''),
    ("params", PARAMETERS),
    ("code", CONNECT),
    ("code", '''roles = state.require("roles", "01_setup_roles")
bucket = state.require("bucket", "01_setup_roles")'''),
    ("md", "## The bucket\n\nCreated in the target region unless it exists. Everything of this project lives under `<project>/`."),
    ("code", '''from retrain.resources import Layout, ensure_bucket

s3 = cloud.client("s3")
created = ensure_bucket(s3, bucket, params.region, tags=params.tags)
layout = Layout(bucket, params.project_name)
print(("created " if created else "using ") + f"s3://{bucket}/{params.project_name}/")'''),
    ("md", '''## Upload the data, holding some rows back

`holdout_rows` rows (chosen with the run's `seed`) are held back: they never reach the Glue job, the training
job or the accuracy gate. Notebook 04 sends them to the deployed endpoint as a smoke test of the model that is
actually serving. The rest is uploaded byte for byte.'''),
    ("code", '''from retrain.resources import split_holdout, upload_bytes

split = split_holdout(params.data_file, params.input_format, params.holdout_rows, params.seed)
data_uri = upload_bytes(s3, split.training_bytes(), bucket, layout.data_key)
holdout_uri = upload_bytes(s3, split.holdout_bytes(), bucket, layout.holdout_key)
print(f"{len(split.training_lines)} rows for the workflow -> {data_uri}")
print(f"{len(split.holdout_lines)} rows held back     -> {holdout_uri}")'''),
    ("md", "## Upload the job code\n\nThe Glue script as it is, the Lambda handler zipped (deterministically: same source, same zip)."),
    ("code", '''from retrain.resources import lambda_zip, upload_file

code_dir = params.resolve("code")
script_uri = upload_file(s3, code_dir / "glue_etl.py", bucket, layout.script_key)
lambda_zip_uri = upload_bytes(s3, lambda_zip(code_dir / "query_training_status.py"), bucket, layout.lambda_key)
print(script_uri)
print(lambda_zip_uri)'''),
    ("md", '''## The Glue job

Glue **5.0** (Spark 3.5, Python 3.11) on `G.1X` workers; the original sample's Glue 1.0 and `Standard` workers
are retired. The workflow passes the S3 locations and the split settings as job arguments at run time.'''),
    ("code", '''import json

from retrain.resources import ensure_glue_job, glue_job_spec

glue_spec = glue_job_spec(params, roles["glue"], script_uri)
print(json.dumps(glue_spec, indent=2))
glue_action = ensure_glue_job(cloud.client("glue"), params.glue_job_name, glue_spec, tags=params.tags,
                              account=state["account"])
print(f"Glue job {params.glue_job_name}: {glue_action}")'''),
    ("md", "## The Lambda function\n\nRuntime `python3.12` (the sample's `python3.7` is retired), code from the zip in S3."),
    ("code", '''from retrain.resources import ensure_lambda_function

lambda_action = ensure_lambda_function(cloud.client("lambda"), params.lambda_function_name, roles["lambda"],
                                       bucket, layout.lambda_key, tags=params.tags)
print(f"Lambda function {params.lambda_function_name}: {lambda_action}")'''),
    ("md", '''## Log groups with a retention

CloudWatch keeps log groups forever unless told otherwise. The Lambda function and the endpoint log to groups only
this project uses; creating them first (tagged) lets them expire after `log_retention_days`. Glue's and SageMaker
training's groups are shared by every job of the account and are left as they are.'''),
    ("code", '''from retrain.resources import ensure_log_groups

for group, action in ensure_log_groups(cloud.client("logs"), params).items():
    print(f"{group}: {action}, retention {params.log_retention_days} days")'''),
    ("md", '''## The XGBoost estimator

SageMaker's built-in XGBoost (image `xgboost` 1.7-1) with the sample's hyperparameters (from the parameters
file). The model artifacts go to an explicit `output_path` in our bucket. Nothing is trained yet: notebook 03
turns the estimator into the workflow's training step.'''),
    ("code", '''from retrain.resources import make_estimator

sagemaker_session = cloud.sagemaker_session(bucket)
estimator = make_estimator(params, sagemaker_session, roles["sagemaker"], layout.output_uri)
print("image:", estimator.training_image_uri())
print("instances:", estimator.instance_count, "x", estimator.instance_type)
print("output:", estimator.output_path)
estimator.hyperparameters()'''),
    ("code", '''state.update(data_uri=data_uri, holdout_uri=holdout_uri, script_uri=script_uri, lambda_zip_uri=lambda_zip_uri,
             glue_job=params.glue_job_name, lambda_function=params.lambda_function_name,
             output_path=layout.output_uri, features_uri=layout.features_uri,
             train_uri=layout.train_uri, validation_uri=layout.validation_uri)
state'''),
]

NB03 = [
    ("md", '''# 03 · Build the workflow

The workflow is built from the SDK's steps, as in the original sample, with its bugs fixed:

| state | SDK step | what it does |
|---|---|---|
| Extract, Transform, Load | `GlueStartJobRunStep` | runs the Glue job and waits for it (`glue:startJobRun.sync`) |
| Train Model | `TrainingStep` | trains XGBoost and waits (`sagemaker:createTrainingJob.sync`) |
| Save Model | `ModelStep` | registers the model, **named per execution** |
| Query Training Status | `LambdaStep` | returns the job's metrics **by name** |
| Accuracy Gate | `Choice` | `validationError <= 1 - accuracy_threshold`? |
| Create Endpoint Config | `EndpointConfigStep` | a new config **per execution** |
| Check Endpoint | `Task` (`aws-sdk:sagemaker:describeEndpoint`) | does the endpoint exist? |
| Create / Update Endpoint | `EndpointStep` | **create on the first run, update afterwards** — decided at run time |
| Wait / Describe / In Service? | `Wait`, `Task`, `Choice` | loop until the endpoint is `InService` |
| Model Rejected | `Fail` | the gate said no; the cause carries the measured error |

Fixes over the sample: its gate read `trainingMetrics[0]` (whichever metric came first) — ours reads
`validation:error` by name; its model and endpoint-config names clashed on the second run; its `EndpointStep`
fixed *create* or *update* when the workflow was built, so a scheduled retrain failed either the first time or
every later time; it retried nothing. Here transient service errors (throttling, service unavailable) are
retried with backoff, while a job that *failed* — bad data, a bad hyperparameter — is not retried.'''),
    ("params", PARAMETERS),
    ("code", CONNECT),
    ("code", '''from retrain.resources import Layout, make_estimator

roles = state.require("roles", "01_setup_roles")
bucket = state.require("bucket", "01_setup_roles")
state.require("glue_job", "02_create_resources")
layout = Layout(bucket, params.project_name)
estimator = make_estimator(params, cloud.sagemaker_session(bucket), roles["sagemaker"], layout.output_uri)'''),
    ("md", '''## Execution input

Names that must change with every execution (training job, model, endpoint config) are **placeholders** filled
from the execution's input; the SDK writes them as `$$.Execution.Input['...']` paths.'''),
    ("code", '''from retrain.workflow import make_execution_input

execution_input = make_execution_input()
execution_input.get_schema_as_dict()'''),
    ("md", "## The steps\n\nThis is the SDK code that builds every state (from `retrain/workflow.py`):"),
    ("code", '''import inspect

from IPython.display import Code

from retrain.workflow import build_steps

Code(inspect.getsource(build_steps), language="python")'''),
    ("code", "wf = build_steps(params, execution_input, estimator, layout)\nprint(wf.train)"),
    ("md", '''### The accuracy gate and the rejection

The `Choice` compares the Lambda's `Payload.metrics.validationError` — looked up by name — with
`1 - accuracy_threshold`. When the model is not good enough, `Model Rejected` fails the execution with error
`ModelRejected` and a cause built by `States.Format` from the measured value (the SDK's `Fail` step has no
`CausePath`, so `FailWithPaths` adds it).'''),
    ("code", "print(wf.gate)\nprint(wf.rejected)"),
    ("md", '''### Create or update, decided at run time

`Check Endpoint` asks SageMaker for the endpoint (`aws-sdk:sagemaker:describeEndpoint`). If it exists, the
workflow goes on to `Update Endpoint`; if the call fails (`States.TaskFailed`, the endpoint is missing), the
`Catch` sends it to `Create Endpoint`.'''),
    ("code", "print(wf.check_endpoint)"),
    ("md", "## Chain the steps into a workflow"),
    ("code", '''from stepfunctions import steps
from stepfunctions.workflow import Workflow

from retrain.workflow import workflow_tags

definition_chain = steps.Chain([wf.etl, wf.train, wf.save_model, wf.query_status, wf.gate])
workflow = Workflow(
    name=params.state_machine_name,
    tags=workflow_tags(params),  # retrain:project=<project_name>: the project changes only what carries it
    definition=definition_chain,
    role=roles["stepfunctions"],
    execution_input=execution_input,
    timeout_seconds=params.execution_timeout_seconds,
    client=cloud.client("stepfunctions"),
)
definition = workflow.definition.to_dict()
print(f"{len(definition['States'])} states, starting at {definition['StartAt']!r}")'''),
    ("md", "## Validate the definition\n\n`statelint` checks the Amazon States Language before anything is sent."),
    ("code", '''from retrain.workflow import lint

problems = lint(definition)
print("statelint:", problems or "no problems")
assert not problems, problems'''),
    ("md", '''## Draw it

Drawn from the definition itself as SVG, so it shows in JupyterLab and in the HTML report with no network
(the SDK's `render_graph()` loads its script from a CDN and stays blank offline).'''),
    ("code", '''from retrain.graph import show_graph

graph = show_graph(definition, title=params.state_machine_name)
artifacts.mkdir(parents=True, exist_ok=True)
graph.save(artifacts / "workflow.svg")
graph'''),
    ("md", '''## Create or update the state machine

`Workflow.create()` only logs when a state machine of that name exists, so re-runs would keep the old
definition; `create_or_update` updates it instead.'''),
    ("code", '''from retrain.workflow import create_or_update

state_machine_arn, action = create_or_update(workflow, settle_seconds=5 if params.target == "aws" else 0)
print(f"{action}: {state_machine_arn}")
state.update(state_machine_arn=state_machine_arn, state_machine_action=action)'''),
]

NB04 = [
    ("md", '''# 04 · Run the workflow

Start an execution with this run's names, follow it live, read the verdict from its history, and — when the
model was deployed — score the held-back rows through the endpoint.'''),
    ("params", PARAMETERS),
    ("code", CONNECT),
    ("code", '''from stepfunctions.workflow import Workflow

from retrain.resources import Layout
from retrain.workflow import execution_names, new_run_id

sfn, sm = cloud.client("stepfunctions"), cloud.client("sagemaker")
workflow = Workflow.attach(state.require("state_machine_arn", "03_build_workflow"), client=sfn)
definition = workflow.definition.to_dict()
layout = Layout(state.require("bucket", "01_setup_roles"), params.project_name)
run_id = run_id or new_run_id()
inputs = execution_names(params, run_id)
inputs'''),
    ("md", "What the endpoint serves before this run (if it exists) — clean-up retires it after an update."),
    ("code", '''from retrain.deploy import describe_endpoint

before = describe_endpoint(sm, params.endpoint_name)
previous = None
if before:
    config = sm.describe_endpoint_config(EndpointConfigName=before["EndpointConfigName"])
    previous = {"EndpointConfigName": before["EndpointConfigName"],
                "models": [v["ModelName"] for v in config["ProductionVariants"]]}
print("endpoint before the run:", previous or "none")
state.update(previous_endpoint=previous, execution_input=inputs, run_id=run_id)'''),
    ("md", '''The workflow updates an existing endpoint only if this project made it (it carries the tag
`retrain:project=<project_name>`; the state machine's role may update no other). A same-named endpoint of someone
else stops the run here, before anything is trained.'''),
    ("code", '''from retrain.ownership import require_owned

if before:
    require_owned(cloud, params, "endpoint", params.endpoint_name)
    print(f"endpoint {params.endpoint_name} is this project's: it will be updated")'''),
    ("md", "## Execute\n\nEach execution gets a unique name; the per-run names travel in its input."),
    ("code", '''execution = workflow.execute(name=f"{params.project_name}-{run_id}", inputs=inputs)
state.update(execution_arn=execution.execution_arn)  # a clean-up after an interrupt stops it
print(execution.execution_arn)'''),
    ("md", "## Follow it\n\nOne line per state as it is entered, until the execution ends."),
    ("code", '''from retrain.execute import wait

report = wait(sfn, execution.execution_arn, poll_seconds=0.25 if params.target == "local" else 10,
              timeout_seconds=params.execution_timeout_seconds + 60)
gate = report.gate(params.accuracy_threshold)
state.update(execution=report.to_state(), verdict=report.verdict, gate=gate,
             endpoint={"name": params.endpoint_name, "action": report.endpoint_action, "smoke_test": None})
measured = "not measured" if gate["value"] is None else f"{gate['value']:.4f}"
print(f"verdict: {report.verdict}; validation error {measured} (max {params.max_validation_error:g}); "
      f"endpoint {report.endpoint_action}")'''),
    ("md", '''## The execution graph

Green states succeeded, yellow failed but were caught (the endpoint check on a first run), red failed, grey
did not run.'''),
    ("code", '''from retrain.graph import show_graph

graph = show_graph(definition, report.events, title=f"{params.state_machine_name}: {report.name}")
artifacts.mkdir(parents=True, exist_ok=True)
graph.save(artifacts / "graph.svg")
graph'''),
    ("md", '''## Events, executions, workflows

The execution's history from the SDK's `list_events()` (shown as a table here: the SDK's own HTML table breaks on
the `truncated` flags current histories carry), then the SDK's tables of executions and workflows.'''),
    ("code", '''from retrain.reports import EventsTable

events = execution.list_events(max_items=1000)
EventsTable(events)'''),
    ("code", "workflow.list_executions(html=True)"),
    ("code", "Workflow.list_workflows(html=True, client=sfn)"),
    ("md", "## The verdict"),
    ("code", '''from retrain.errors import ExecutionFailed

if report.deployed:
    print(f"Deployed: validation error {gate['value']:.4f} <= {params.max_validation_error:g}; "
          f"endpoint {params.endpoint_name} {report.endpoint_action}.")
elif report.rejected:
    print(f"Rejected by the accuracy gate; the endpoint was not touched.\\n{report.error}: {report.cause}")
else:
    raise ExecutionFailed(f"the execution ended {report.status}: {report.error}: {report.cause}")'''),
    ("md", '''## Smoke test: the held-back rows through the endpoint

The rows held back in notebook 02 are encoded like the Glue job encodes its input (the feature list comes from
`features.json`), sent to the endpoint as CSV, and the scores compared with the true labels.'''),
    ("code", '''from retrain.deploy import features_matrix, read_bytes, read_json, smoke_test, wait_in_service

smoke = None
if report.deployed and params.holdout_rows:
    wait_in_service(sm, params.endpoint_name, poll=1 if params.target == "local" else 15)
    features = read_json(cloud.client("s3"), layout.features_uri)["features"]
    X, y = features_matrix(read_bytes(cloud.client("s3"), state["holdout_uri"]), params.input_format, features)
    smoke = smoke_test(cloud.client("sagemaker-runtime"), params.endpoint_name, X, y)
    state.update(endpoint={"name": params.endpoint_name, "action": report.endpoint_action,
                           "smoke_test": smoke.to_summary()})
    print(f"{smoke.rows} held-back rows, accuracy {smoke.accuracy:.3f}")
else:
    print("no smoke test: the model was not deployed" if not report.deployed else "holdout_rows is 0")'''),
    ("md", "## Model quality"),
    ("code", '''from retrain.deploy import feature_importance, model_booster
from retrain.reports import confusion_matrix, plot_confusion, plot_roc, roc_curve, save_figure

if smoke is not None:
    fig = plot_confusion(confusion_matrix(smoke.labels, smoke.scores))
    save_figure(fig, artifacts / "confusion.png")
    fpr, tpr, auc = roc_curve(smoke.labels, smoke.scores)
    fig = plot_roc(fpr, tpr, auc)
    save_figure(fig, artifacts / "roc.png")
    state.update(auc=auc)
    print(f"AUC {auc:.3f}")'''),
    ("code", '''from retrain.reports import plot_importance

if report.deployed:
    job = sm.describe_training_job(TrainingJobName=inputs["TrainingJobName"])
    booster = model_booster(read_bytes(cloud.client("s3"), job["ModelArtifacts"]["S3ModelArtifacts"]))
    importance = feature_importance(booster, read_json(cloud.client("s3"), layout.features_uri)["features"])
    fig = plot_importance(importance)
    save_figure(fig, artifacts / "importance.png")'''),
]

NB05 = [
    ("md", '''# 05 · Clean up

Delete what the run created. The parameters choose what stays:

* `keep_endpoint` — keep the endpoint serving (with the configuration and model it uses); the next run updates it.
  Older endpoint configurations and models of earlier runs are removed either way.
* `keep_data` — keep the objects under the bucket's `<project>/` prefix (and the bucket).
* `keep_roles` — keep the IAM roles.

The Glue job, the Lambda function and the state machine are removed; notebooks 02 and 03 make them again.
Training jobs cannot be deleted in SageMaker and log groups expire after `log_retention_days`; they are listed as
what remains. Only what carries this project's tag is deleted.

`retrain run` also runs this notebook after a failed or interrupted run (`cleanup_reason` says why): an execution
of the run that is still going is stopped first, so nothing billable stays that the parameters did not keep.'''),
    ("params", PARAMETERS),
    ("code", CONNECT_CLEANUP),
    ("code", '''import pandas as pd

from retrain.cleanup import clean_up

if cleanup_reason:
    print(f"cleaning up because {cleanup_reason}")
result = clean_up(cloud, params, state)
pd.DataFrame(result.rows())'''),
    ("md", "## Nothing unexpected remains\n\nEverything still there is there because a parameter kept it."),
    ("code", '''state.update(cleanup=result.to_state())
unexpected = result.to_state()["unexpected"]
assert not unexpected, f"left behind: {unexpected}"
print(f"deleted {len(result.deleted)}, kept {len(result.remaining)}, nothing unexpected")'''),
]

NOTEBOOKS = {
    "01_setup_roles": NB01,
    "02_create_resources": NB02,
    "03_build_workflow": NB03,
    "04_run_workflow": NB04,
    "05_clean_up": NB05,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name`` with no outputs and deterministic cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNEL), "language_info": {"name": "python"}}
    for i, (kind, text) in enumerate(NOTEBOOKS[name]):
        cell_id = f"{name[:2]}-{i:02d}"
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(text, id=cell_id))
        else:
            cell = nbformat.v4.new_code_cell(text, id=cell_id)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(name)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed notebooks")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        text = render(name)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run python notebooks/make_notebooks.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
