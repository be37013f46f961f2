"""``retrain plan``: everything the aws target would send, built and checked offline (no credentials, no calls).

The plan holds the roles (trust and permission policies), the bucket layout and uploads, the Glue job, the Lambda
function, the log groups, the state machine and the execution input, with the account of AWS's documentation
examples (111122223333) unless one is given. The checks:

* the state machine definition with statelint (States Language);
* every request, and every Task's ``Parameters`` (paths filled with this run's names), against botocore's service
  models, as botocore validates a request before sending it;
* every call each role makes — the workflow's tasks with the state machine role, the Glue job's S3 reads and writes,
  the training job's channels and artifact, the Lambda function's SageMaker call — against that role's policies,
  and each trust policy against the service that assumes the role, with localcloud's IAM evaluation.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrain import notifications, triggers
from retrain.config import Params
from retrain.deployment import alarm_requests, deployment_config
from retrain.notebooks import workflow_definition
from retrain.policies import ROLE_KINDS, Scope, role_policies, trust_policy
from retrain.resources import (
    LAMBDA_HANDLER,
    LAMBDA_RUNTIME,
    Layout,
    bucket_name,
    glue_job_spec,
    project_log_groups,
    training_image,
)
from retrain.state import new_run_id
from retrain.workflow import execution_names

LOG = logging.getLogger(__name__)

EXAMPLE_ACCOUNT = "111122223333"  # the account AWS's documentation uses in examples
#: optimized integration resource -> (botocore service, operation)
INTEGRATIONS = {
    "glue:startJobRun": ("glue", "StartJobRun"), "sagemaker:createTrainingJob": ("sagemaker", "CreateTrainingJob"),
    "sagemaker:createModel": ("sagemaker", "CreateModel"),
    "sagemaker:createEndpointConfig": ("sagemaker", "CreateEndpointConfig"),
    "sagemaker:createEndpoint": ("sagemaker", "CreateEndpoint"),
    "sagemaker:updateEndpoint": ("sagemaker", "UpdateEndpoint"), "lambda:invoke": ("lambda", "Invoke"),
    "sagemaker:createProcessingJob": ("sagemaker", "CreateProcessingJob"),
    "sns:publish": ("sns", "Publish"),
}
#: what a ``.sync`` task does besides starting the job (Step Functions guide, IAM policies for integrated services)
SYNC_NEEDS = {
    ("glue", "StartJobRun"): ("GetJobRun", "GetJobRuns", "BatchStopJobRun"),
    ("sagemaker", "CreateTrainingJob"): ("DescribeTrainingJob", "StopTrainingJob"),
    ("sagemaker", "CreateProcessingJob"): ("DescribeProcessingJob", "StopProcessingJob"),
}
PLACEHOLDER = {"string": "x", "integer": 1, "long": 1, "boolean": True, "double": 1.0, "float": 1.0,
               "timestamp": "2026-01-01T00:00:00Z", "blob": b"x"}


@dataclass
class Plan:
    params: Params
    account: str
    bucket: str
    roles: dict[str, dict[str, Any]]  # kind -> {"arn", "trust", "policies"}
    requests: list[tuple[str, str, dict[str, Any]]]  # (service, operation, parameters)
    definition: dict[str, Any]
    execution_input: dict[str, str]
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)


def build(params: Params, account: str = EXAMPLE_ACCOUNT) -> Plan:
    """Every request of the aws target, built offline."""
    bucket = bucket_name(params.project_name, account, params.region)
    layout = Layout(bucket, params.project_name)
    image = training_image(params.region)
    arns = {kind: f"arn:aws:iam::{account}:role/{params.role_name(kind)}" for kind in ROLE_KINDS}
    if params.sagemaker_role_arn:
        arns["sagemaker"] = params.sagemaker_role_arn
    scope = Scope.of(params, account, bucket)
    roles = {kind: {"arn": arns[kind], "trust": trust_policy(kind, account),
                    "policies": role_policies(kind, scope, sagemaker_role_arn=arns["sagemaker"], image_uri=image)}
             for kind in ROLE_KINDS}
    with tempfile.TemporaryDirectory(prefix="retrain-plan-") as tmp:  # notebook 03 builds it, with no cloud
        definition = workflow_definition(params.save(Path(tmp) / "params.json"), account=account)
    run_id = new_run_id()
    names = execution_names(params, run_id, layout)
    tags = [{"Key": k, "Value": v} for k, v in params.tags.items()]
    requests: list[tuple[str, str, dict[str, Any]]] = []
    for kind, role in roles.items():
        if kind == "sagemaker" and params.sagemaker_role_arn:
            continue
        requests.append(("iam", "CreateRole", {"RoleName": params.role_name(kind), "Tags": tags,
                                               "AssumeRolePolicyDocument": json.dumps(role["trust"])}))
        requests += [("iam", "PutRolePolicy", {"RoleName": params.role_name(kind), "PolicyName": name,
                                               "PolicyDocument": json.dumps(doc)})
                     for name, doc in role["policies"].items()]
    create_bucket: dict[str, Any] = {"Bucket": bucket}
    if params.region != "us-east-1":
        create_bucket["CreateBucketConfiguration"] = {"LocationConstraint": params.region}
    requests.append(("s3", "CreateBucket", create_bucket))
    requests += [("s3", "PutObject", {"Bucket": bucket, "Key": key, "Body": b"..."})
                 for key in (layout.data_key, layout.holdout_key, layout.script_key, *layout.module_keys,
                             *layout.evaluation_code_keys, layout.lambda_key)]
    requests.append(("sagemaker", "CreateModelPackageGroup", {
        "ModelPackageGroupName": params.model_package_group_name, "Tags": tags,
        "ModelPackageGroupDescription": f"models of {params.project_name}"}))
    modules = [f"s3://{bucket}/{key}" for key in layout.module_keys]
    requests.append(("glue", "CreateJob", {"Name": params.glue_job_name, "Tags": params.tags,
                                           **glue_job_spec(params, arns["glue"], f"s3://{bucket}/{layout.script_key}",
                                                           modules)}))
    requests.append(("lambda", "CreateFunction", {
        "FunctionName": params.lambda_function_name, "Runtime": LAMBDA_RUNTIME, "Role": arns["lambda"],
        "Handler": LAMBDA_HANDLER, "Code": {"S3Bucket": bucket, "S3Key": layout.lambda_key}, "Timeout": 30,
        "MemorySize": 128, "Tags": params.tags}))
    for group in project_log_groups(params):
        requests.append(("logs", "CreateLogGroup", {"logGroupName": group, "tags": params.tags}))
        requests.append(("logs", "PutRetentionPolicy", {"logGroupName": group,
                                                        "retentionInDays": params.log_retention_days}))
    requests += guarded_update_requests(params, names["EndpointConfigName"])
    requests += notifications.requests(params, account, arns["stepfunctions"])  # notebook 02
    machine = f"arn:aws:states:{params.region}:{account}:stateMachine:{params.state_machine_name}"
    requests += triggers.plan_requests(params, account, bucket, layout.data_key)  # notebook 03, after the machine
    requests.append(("stepfunctions", "CreateStateMachine", {
        "name": params.state_machine_name, "definition": json.dumps(definition), "roleArn": arns["stepfunctions"],
        "type": "STANDARD", "tags": [{"key": k, "value": v} for k, v in params.tags.items()]}))
    requests.append(("stepfunctions", "StartExecution", {"stateMachineArn": machine,
                                                         "name": f"{params.project_name}-{run_id}",
                                                         "input": json.dumps({"RunId": run_id})}))
    return Plan(params, account, bucket, roles, requests, definition, names)


def guarded_update_requests(params: Params, config: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The endpoint's auto-rollback alarms (notebook 02) and a guarded update as ``retrain rollback`` sends it."""
    update = {"EndpointName": params.endpoint_name, "EndpointConfigName": config,
              "DeploymentConfig": deployment_config(params)}
    return [*[("cloudwatch", "PutMetricAlarm", alarm) for alarm in alarm_requests(params)],
            ("sagemaker", "UpdateEndpoint", update)]


def report(plan: Plan) -> str:
    """A short report: what would be sent, what was checked, the problems."""
    p = plan.params
    lines = [f"plan for target {p.target}, region {p.region}, account {plan.account}:",
             f"  roles        {', '.join(r['arn'].rsplit('/', 1)[-1] for r in plan.roles.values())}",
             f"  bucket       s3://{plan.bucket}/{p.project_name}/ (data, holdout, code, splits, output)",
             f"  glue job     {p.glue_job_name}; lambda {p.lambda_function_name}; endpoint {p.endpoint_name}",
             f"  state machine {p.state_machine_name}: {len(plan.definition['States'])} states",
             f"  requests     {len(plan.requests)} API requests and the workflow's tasks",
             f"checked: States Language ({plan.checked.get('states', 0)} states), "
             f"{plan.checked.get('requests', 0)} requests against botocore's models, "
             f"{plan.checked.get('permissions', 0)} permissions and trusts against the roles' policies"]
    if plan.problems:
        lines.append(f"{len(plan.problems)} problem(s):")
        lines += [f"  - {problem}" for problem in plan.problems]
    else:
        lines.append("no problems: the aws target's requests are well-formed and its roles allow what it does")
    return "\n".join(lines)
