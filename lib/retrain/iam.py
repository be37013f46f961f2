"""IAM roles for the workflow: trust policies and least-privilege inline policies, created idempotently.

Each role may act only on this project's resources: its bucket (under ``<project_name>/``, and there only on the
keys its job reads or writes), its Glue job, its Lambda function, the SageMaker jobs, models and endpoint configs
whose names start with ``<project_name>-`` and the one endpoint named by ``endpoint_name`` — updated only while it
carries the project's tag. ``"Resource": "*"`` appears only for actions that accept nothing else
(``ecr:GetAuthorizationToken``, ``cloudwatch:PutMetricData``). Every role carries the project's tag, and an existing
role without it is refused (:mod:`retrain.ownership`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import PROJECT_TAG, Params
from retrain.errors import CloudError
from retrain.ownership import OwnershipError
from retrain.resources import ETL_MODULES

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
#: services whose documentation gives aws:SourceAccount for their role trust policies (confused-deputy protection):
#: Step Functions ("Creating an IAM role for your state machine") and SageMaker ("Cross-Service Confused Deputy
#: Prevention"). Glue and Lambda document no such key for their roles, and a condition on a key the service does
#: not send would keep it from assuming the role, so their trust policies carry none.
SOURCE_ACCOUNT_TRUST = ("stepfunctions", "sagemaker")


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

    def object_arn(self, key: str) -> str:
        """``arn:aws:s3:::<bucket>/<project>/<key>`` (``key`` may end with ``*``)."""
        return f"{self.bucket_arn}/{self.project}/{key}"

    def list_prefixes(self, *keys: str) -> dict[str, Any]:
        """``s3:ListBucket`` on the bucket, only for listings under these keys of the project."""
        return {"StringLike": {"s3:prefix": [f"{self.project}/{key}" for key in keys]}}


def trust_policy(kind: str, account: str | None = None) -> dict[str, Any]:
    """The assume-role policy letting the service of ``kind`` use the role; for the services that document it
    (:data:`SOURCE_ACCOUNT_TRUST`), only on behalf of ``account``."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": SERVICE_PRINCIPALS[kind]},
        "Action": "sts:AssumeRole",
    }
    if account and kind in SOURCE_ACCOUNT_TRUST:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return {"Version": VERSION, "Statement": [statement]}


def _logs(scope: Scope, group: str) -> dict[str, Any]:
    return {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        "Resource": [scope.arn("logs", f"log-group:{group}"), scope.arn("logs", f"log-group:{group}:log-stream:*")],
    }


def _sagemaker_statements(scope: Scope) -> list[dict[str, Any]]:
    """The state machine's SageMaker permissions: train, register, create, check and update the endpoint."""
    p = scope.project
    return [
        {
            "Sid": "TrainAndRegister",
            "Effect": "Allow",
            "Action": [
                "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig",
                # the workflow tags what it creates, and .sync reads the job's tags back
                "sagemaker:AddTags", "sagemaker:ListTags",
            ],
            "Resource": [
                scope.sagemaker("training-job", f"{p}-*"),
                scope.sagemaker("model", f"{p}-*"),
                scope.sagemaker("endpoint-config", f"{p}-*"),
            ],
        },
        {
            # CreateEndpoint names the endpoint and its config (Service Authorization Reference, SageMaker)
            "Sid": "CreateTheEndpoint",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateEndpoint", "sagemaker:AddTags"],
            "Resource": [scope.sagemaker("endpoint", scope.endpoint), scope.sagemaker("endpoint-config", f"{p}-*")],
        },
        {
            "Sid": "CheckTheEndpoint",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeEndpoint", "sagemaker:ListTags"],
            "Resource": scope.sagemaker("endpoint", scope.endpoint),
        },
        {
            # only an endpoint (and config) carrying the project's tag: a same-named endpoint someone else made
            # is refused by IAM itself. UpdateEndpoint authorizes both resources (Service Authorization Reference)
            "Sid": "UpdateOnlyOurEndpoint",
            "Effect": "Allow",
            "Action": "sagemaker:UpdateEndpoint",
            "Resource": [scope.sagemaker("endpoint", scope.endpoint), scope.sagemaker("endpoint-config", f"{p}-*")],
            "Condition": {"StringEquals": {f"aws:ResourceTag/{PROJECT_TAG}": scope.project}},
        },
    ]


def stepfunctions_policy(scope: Scope, sagemaker_role_arn: str) -> dict[str, Any]:
    """What the state machine does: run the Glue job, train/create/deploy in SageMaker, invoke the Lambda."""
    return {"Version": VERSION, "Statement": [
        {
            "Sid": "RunTheEtlJob",
            "Effect": "Allow",
            "Action": ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
            "Resource": scope.arn("glue", f"job/{scope.glue_job}"),
        },
        *_sagemaker_statements(scope),
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
    """What the ETL job does: read the raw data and its script, write only its outputs, log.

    It cannot overwrite its own code or delete the raw data. Spark writes a split through a ``_temporary`` folder
    under it and replaces what was there (overwrite mode), hence read, write and delete on the split prefixes.
    """
    outputs = [scope.object_arn("train/*"), scope.object_arn("validation/*"),
               *[scope.object_arn(name) for name in ("features.json", "profile.json", "data_report.json")]]
    return {"Version": VERSION, "Statement": [
        # Hadoop's S3 file systems look at the output folder's parents before writing (list under the project)
        {"Sid": "ListProjectPrefix", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": scope.bucket_arn,
         "Condition": {"StringLike": {"s3:prefix": [f"{scope.project}/*", scope.project]}}},
        {"Sid": "ReadDataAndScript", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": [scope.object_arn("data/*"), scope.object_arn("code/glue_etl.py"),
                      *[scope.object_arn(f"code/{name}") for name in ETL_MODULES]]},
        {"Sid": "WriteOnlyTheOutputs", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": outputs},
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
    """What training and hosting do: read the splits, write artifacts only under the output prefix, read them back
    to serve, pull the XGBoost image, log, metrics."""
    statements: list[dict[str, Any]] = [
        {"Sid": "ListTheChannels", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": scope.bucket_arn,
         "Condition": scope.list_prefixes("train*", "validation*", "output*")},
        {"Sid": "ReadTheSplitsAndModels", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": [scope.object_arn("train/*"), scope.object_arn("validation/*"), scope.object_arn("output/*")]},
        {"Sid": "WriteOnlyModelArtifacts", "Effect": "Allow", "Action": "s3:PutObject",
         "Resource": scope.object_arn("output/*")},
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        _logs(scope, "/aws/sagemaker/*"),
        {"Sid": "PublishMetrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
         "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}}},
    ]
    if image_uri:
        registry, _, repo = image_uri.partition("/")
        image_account = registry.split(".")[0]
        repo_name = repo.split(":")[0].split("@")[0]
        statements.insert(4, {
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
                description: str = "", propagation_seconds: int = 0, tags: dict[str, str] | None = None
                ) -> RoleResult:
    """Create the role or bring it up to date (trust + inline policies); idempotent.

    With ``tags``, a new role gets them and an existing role must carry them: one without is someone else's and
    is not touched (:class:`~retrain.ownership.OwnershipError`). When something changed and
    ``propagation_seconds`` > 0, wait for the role to exist and then that long, since AWS services see new or
    changed roles only after IAM has propagated them.
    """
    trust_doc = json.dumps(trust, sort_keys=True)
    created = changed = False
    try:
        role = iam.get_role(RoleName=name)["Role"]
        if tags:
            _require_tags(iam, name, tags)
        current = role.get("AssumeRolePolicyDocument")
        if _normalise(current) != trust:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust_doc)
            changed = True
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("NoSuchEntity", "NoSuchEntityException"):
            raise CloudError(f"cannot read IAM role {name}: {exc}") from exc
        try:
            role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_doc,
                                   Description=description[:1000] or f"{name} (retrain)",
                                   Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])["Role"]
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


def _require_tags(iam: Any, name: str, tags: dict[str, str]) -> None:
    found = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name).get("Tags", [])}
    if any(found.get(k) != v for k, v in tags.items()):
        have = f"{PROJECT_TAG}={found[PROJECT_TAG]!r}" if PROJECT_TAG in found else f"no {PROJECT_TAG} tag"
        raise OwnershipError(f"iam role {name} already exists but is not this project's (it has {have}), so the "
                             f"project will not change it. Change project_name (roles are <project_name>-<kind>-role), "
                             f"or delete the role yourself if it is a leftover.")


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
            propagation_seconds=0, tags=params.tags,
        )
    if wait > 0 and any(r.changed for r in results.values()):
        for result in results.values():
            if result.changed:
                iam.get_waiter("role_exists").wait(RoleName=result.name, WaiterConfig={"Delay": 2, "MaxAttempts": 30})
        LOG.info("waiting %ss for IAM to propagate the new or changed roles", wait)
        time.sleep(wait)
    return results
