"""IAM roles for the workflow: trust policies and least-privilege inline policies, created idempotently.

Each role may act only on this project's resources: its bucket (under ``<project_name>/``), its Glue job, its
Lambda function, the SageMaker jobs, models and endpoint configs whose names start with ``<project_name>-`` and
the one endpoint named by ``endpoint_name``. ``"Resource": "*"`` appears only for actions that accept nothing else
(``ecr:GetAuthorizationToken``, ``cloudwatch:PutMetricData``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import Params
from retrain.errors import CloudError

LOG = logging.getLogger(__name__)

VERSION = "2012-10-17"
ROLE_KINDS = ("stepfunctions", "glue", "lambda", "sagemaker")
SERVICE_PRINCIPALS = {
    "stepfunctions": "states.amazonaws.com",
    "glue": "glue.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
    "sagemaker": "sagemaker.amazonaws.com",
}
#: The EventBridge rule Step Functions manages for ``sagemaker:createTrainingJob.sync``.
SYNC_TRAINING_RULE = "StepFunctionsGetEventsForSageMakerTrainingJobsRule"


@dataclass(frozen=True)
class Scope:
    """Where the policies point: partition, region, account and this project's names."""

    region: str
    account: str
    project: str
    bucket: str
    glue_job: str
    function: str
    endpoint: str
    partition: str = "aws"

    @classmethod
    def of(cls, params: Params, account: str, bucket: str) -> Scope:
        return cls(region=params.region, account=account, project=params.project_name, bucket=bucket,
                   glue_job=params.glue_job_name, function=params.lambda_function_name,
                   endpoint=params.endpoint_name)

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")

    def sagemaker(self, kind: str, name: str) -> str:
        # SageMaker writes resource names in ARNs in lower case.
        return self.arn("sagemaker", f"{kind}/{name.lower()}")

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    @property
    def prefix_arn(self) -> str:
        return f"{self.bucket_arn}/{self.project}/*"


def trust_policy(kind: str, account: str | None = None) -> dict[str, Any]:
    """The assume-role policy letting the service of ``kind`` use the role (only for ``account`` if given)."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": SERVICE_PRINCIPALS[kind]},
        "Action": "sts:AssumeRole",
    }
    if account:
        # Guards against the confused-deputy problem: only calls made on behalf of this account.
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return {"Version": VERSION, "Statement": [statement]}


def _logs(scope: Scope, group: str) -> dict[str, Any]:
    return {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        "Resource": [scope.arn("logs", f"log-group:{group}"), scope.arn("logs", f"log-group:{group}:log-stream:*")],
    }


def stepfunctions_policy(scope: Scope, sagemaker_role_arn: str) -> dict[str, Any]:
    """What the state machine does: run the Glue job, train/create/deploy in SageMaker, invoke the Lambda."""
    p = scope.project
    return {"Version": VERSION, "Statement": [
        {
            "Sid": "RunTheEtlJob",
            "Effect": "Allow",
            "Action": ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
            "Resource": scope.arn("glue", f"job/{scope.glue_job}"),
        },
        {
            "Sid": "TrainAndDeploy",
            "Effect": "Allow",
            "Action": [
                "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig",
                "sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint", "sagemaker:DescribeEndpoint",
                # .sync tags the jobs it starts (MANAGED_BY_AWS) and reads the tags back
                "sagemaker:AddTags", "sagemaker:ListTags",
            ],
            "Resource": [
                scope.sagemaker("training-job", f"{p}-*"),
                scope.sagemaker("model", f"{p}-*"),
                scope.sagemaker("endpoint-config", f"{p}-*"),
                scope.sagemaker("endpoint", scope.endpoint),
            ],
        },
        {
            "Sid": "QueryTrainingStatus",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [scope.arn("lambda", f"function:{scope.function}"),
                         scope.arn("lambda", f"function:{scope.function}:*")],
        },
        {
            "Sid": "PassOnlyTheSageMakerRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": sagemaker_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        {
            "Sid": "SyncTrainingJobEvents",
            "Effect": "Allow",
            "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            "Resource": scope.arn("events", f"rule/{SYNC_TRAINING_RULE}"),
        },
    ]}


def glue_policy(scope: Scope) -> dict[str, Any]:
    """What the ETL job does: read the raw data and the script, write the splits, log."""
    return {"Version": VERSION, "Statement": [
        {"Sid": "ListProjectPrefix", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": scope.bucket_arn,
         "Condition": {"StringLike": {"s3:prefix": [f"{scope.project}/*", scope.project]}}},
        {"Sid": "ReadWriteProjectObjects", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": scope.prefix_arn},
        _logs(scope, "/aws-glue/*"),
        {"Sid": "PublishJobMetrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
         "Condition": {"StringEquals": {"cloudwatch:namespace": "Glue"}}},
    ]}


def lambda_policy(scope: Scope) -> dict[str, Any]:
    """What the status Lambda does: describe this project's training jobs, log."""
    return {"Version": VERSION, "Statement": [
        {"Sid": "DescribeProjectTrainingJobs", "Effect": "Allow", "Action": "sagemaker:DescribeTrainingJob",
         "Resource": scope.sagemaker("training-job", f"{scope.project}-*")},
        _logs(scope, f"/aws/lambda/{scope.function}"),
    ]}


def sagemaker_policy(scope: Scope, image_uri: str | None = None) -> dict[str, Any]:
    """What training and hosting do: read the splits, write artifacts, pull the XGBoost image, log, metrics."""
    statements: list[dict[str, Any]] = [
        {"Sid": "ListProjectPrefix", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": scope.bucket_arn,
         "Condition": {"StringLike": {"s3:prefix": [f"{scope.project}/*", scope.project]}}},
        {"Sid": "ReadWriteProjectObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": scope.prefix_arn},
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        _logs(scope, "/aws/sagemaker/*"),
        {"Sid": "PublishMetrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
         "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}}},
    ]
    if image_uri:
        registry, _, repo = image_uri.partition("/")
        image_account = registry.split(".")[0]
        repo_name = repo.split(":")[0].split("@")[0]
        statements.insert(3, {
            "Sid": "PullTheAlgorithmImage", "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            "Resource": f"arn:{scope.partition}:ecr:{scope.region}:{image_account}:repository/{repo_name}",
        })
    return {"Version": VERSION, "Statement": statements}


def role_policies(kind: str, scope: Scope, *, sagemaker_role_arn: str = "", image_uri: str | None = None
                  ) -> dict[str, dict[str, Any]]:
    """The inline policies (name -> document) of the role of ``kind``."""
    if kind == "stepfunctions":
        return {"workflow-access": stepfunctions_policy(scope, sagemaker_role_arn)}
    if kind == "glue":
        return {"etl-access": glue_policy(scope)}
    if kind == "lambda":
        return {"status-access": lambda_policy(scope)}
    if kind == "sagemaker":
        return {"training-access": sagemaker_policy(scope, image_uri)}
    raise ValueError(f"unknown role kind {kind!r}; expected one of {ROLE_KINDS}")


@dataclass
class RoleResult:
    name: str
    arn: str
    created: bool
    changed: bool


def ensure_role(iam: Any, name: str, trust: dict[str, Any], policies: dict[str, dict[str, Any]], *,
                description: str = "", propagation_seconds: int = 0) -> RoleResult:
    """Create the role or bring it up to date (trust + inline policies); idempotent.

    When something changed and ``propagation_seconds`` > 0, wait for the role to exist and then that long, since
    AWS services see new or changed roles only after IAM has propagated them.
    """
    trust_doc = json.dumps(trust, sort_keys=True)
    created = changed = False
    try:
        role = iam.get_role(RoleName=name)["Role"]
        current = role.get("AssumeRolePolicyDocument")
        if _normalise(current) != trust:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust_doc)
            changed = True
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("NoSuchEntity", "NoSuchEntityException"):
            raise CloudError(f"cannot read IAM role {name}: {exc}") from exc
        try:
            role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_doc,
                                   Description=description[:1000] or f"{name} (retrain)")["Role"]
        except ClientError as create_exc:
            raise CloudError(f"cannot create IAM role {name}: {create_exc}. The caller needs iam:CreateRole and "
                             f"iam:PutRolePolicy on roles named {name}.") from create_exc
        created = changed = True
    existing = set(iam.list_role_policies(RoleName=name).get("PolicyNames", []))
    for policy_name, document in policies.items():
        if policy_name in existing:
            current = iam.get_role_policy(RoleName=name, PolicyName=policy_name).get("PolicyDocument")
            if _normalise(current) == document:
                continue
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
        changed = True
    for stale in existing - set(policies):
        iam.delete_role_policy(RoleName=name, PolicyName=stale)
        changed = True
    if changed and propagation_seconds > 0:
        iam.get_waiter("role_exists").wait(RoleName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 30})
        LOG.info("waiting %ss for IAM to propagate role %s", propagation_seconds, name)
        time.sleep(propagation_seconds)
    return RoleResult(name=name, arn=role["Arn"], created=created, changed=changed)


def _normalise(document: Any) -> Any:
    """IAM returns policy documents URL-encoded JSON strings or parsed dicts depending on the client."""
    if isinstance(document, str):
        from urllib.parse import unquote

        try:
            return json.loads(unquote(document))
        except json.JSONDecodeError:
            return document
    return document


def delete_role(iam: Any, name: str) -> bool:
    """Delete the role and its inline policies; False when it did not exist."""
    try:
        for policy in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for attached in iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        iam.delete_role(RoleName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchEntity", "NoSuchEntityException"):
            return False
        raise CloudError(f"cannot delete IAM role {name}: {exc}") from exc
    return True


def ensure_project_roles(iam: Any, params: Params, account: str, bucket: str, *, image_uri: str | None = None
                         ) -> dict[str, RoleResult]:
    """Create or update the four roles of the project (the SageMaker one only without ``sagemaker_role_arn``)."""
    scope = Scope.of(params, account, bucket)
    wait = params.iam_propagation_seconds
    results: dict[str, RoleResult] = {}
    order = ["glue", "lambda", "sagemaker", "stepfunctions"]
    for kind in order:
        if kind == "sagemaker" and params.sagemaker_role_arn:
            arn = params.sagemaker_role_arn
            results[kind] = RoleResult(name=arn.rsplit("/", 1)[-1], arn=arn, created=False, changed=False)
            continue
        sm_arn = results["sagemaker"].arn if "sagemaker" in results else ""
        results[kind] = ensure_role(
            iam, params.role_name(kind), trust_policy(kind, account),
            role_policies(kind, scope, sagemaker_role_arn=sm_arn, image_uri=image_uri),
            description=f"{kind} role of the {params.project_name} retraining workflow",
            propagation_seconds=0,
        )
    if wait > 0 and any(r.changed for r in results.values()):
        for result in results.values():
            if result.changed:
                iam.get_waiter("role_exists").wait(RoleName=result.name, WaiterConfig={"Delay": 2, "MaxAttempts": 30})
        LOG.info("waiting %ss for IAM to propagate the new or changed roles", wait)
        time.sleep(wait)
    return results
