"""The IAM documents of the project's roles: trust policies and least-privilege inline policies.

Each role may act only on this project's resources: its bucket (under ``<project_name>/``, and there only on the
keys its job reads or writes), its Glue job, its Lambda function, its model package group, the SageMaker jobs,
models and endpoint configs whose names start with ``<project_name>-`` and the one endpoint named by
``endpoint_name`` — updated only while it carries the project's tag. ``"Resource": "*"`` appears only for actions
that accept nothing else (``ecr:GetAuthorizationToken``, ``cloudwatch:PutMetricData``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retrain.config import PROJECT_TAG, Params
from retrain.deployment import alarm_names
from retrain.notifications import enabled as notifications_enabled
from retrain.notifications import topic_name
from retrain.resources import ETL_MODULES

VERSION = "2012-10-17"
ROLE_KINDS = ("stepfunctions", "glue", "lambda", "sagemaker")
SERVICE_PRINCIPALS = {
    "stepfunctions": "states.amazonaws.com",
    "glue": "glue.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
    "sagemaker": "sagemaker.amazonaws.com",
}
#: The EventBridge rules Step Functions manages for ``sagemaker:createTrainingJob.sync`` and
#: ``createProcessingJob.sync`` (Step Functions guide, "IAM policies for calling Amazon SageMaker AI").
SYNC_TRAINING_RULE = "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
SYNC_PROCESSING_RULE = "StepFunctionsGetEventsForSageMakerProcessingJobsRule"
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
    group: str = ""
    partition: str = "aws"
    alarms: tuple[str, ...] = ()
    #: shadow testing: the endpoint captures its requests and answers under the runs' prefixes
    capture: bool = False
    cache: bool = False
    #: the notifications topic's name ('' when nobody is to be told: no topic, no permission)
    topic: str = ""

    @classmethod
    def of(cls, params: Params, account: str, bucket: str) -> Scope:
        return cls(region=params.region, account=account, project=params.project_name, bucket=bucket,
                   glue_job=params.glue_job_name, function=params.lambda_function_name,
                   endpoint=params.endpoint_name, group=params.model_package_group_name,
                   alarms=tuple(alarm_names(params)), capture=bool(params.shadow),
                   cache=params.cache,
                   topic=topic_name(params) if notifications_enabled(params) else "")

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

    @property
    def packages(self) -> list[str]:
        """The project's model package group and its versions (``model-package/<group>/<version>``)."""
        return [self.sagemaker("model-package-group", self.group), self.sagemaker("model-package", f"{self.group}/*")]

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
            "Sid": "TrainEvaluateAndModel",
            "Effect": "Allow",
            "Action": [
                "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                "sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
                "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig",
                # the workflow tags what it creates, and .sync reads the job's tags back
                "sagemaker:AddTags", "sagemaker:ListTags",
            ],
            "Resource": [
                scope.sagemaker("training-job", f"{p}-*"),
                scope.sagemaker("processing-job", f"{p}-*"),
                scope.sagemaker("model", f"{p}-*"),
                scope.sagemaker("endpoint-config", f"{p}-*"),
            ],
        },
        {
            # every trained model is registered in the project's group; the approval wait reads its status and a
            # timeout rejects it; CreateModel from a package is authorized on the package too (SageMaker guide,
            # "Deploy a Model Version from a Different Account": sagemaker:CreateModel on model-package/<group>/*)
            "Sid": "RegisterModels",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage",
                       "sagemaker:UpdateModelPackage", "sagemaker:CreateModel"],
            "Resource": scope.packages,
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
    """What the state machine does: run the Glue job, train/create/deploy in SageMaker, invoke the Lambda, and
    publish to the project's notifications topic when there is one."""
    policy = {"Version": VERSION, "Statement": [
        {
            "Sid": "RunTheEtlJob",
            "Effect": "Allow",
            "Action": ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
            "Resource": scope.arn("glue", f"job/{scope.glue_job}"),
        },
        *_sagemaker_statements(scope),
        {
            "Sid": "InvokeTheModelGate",
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
            "Sid": "SyncJobEvents",
            "Effect": "Allow",
            "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            "Resource": [scope.arn("events", f"rule/{SYNC_TRAINING_RULE}"),
                         scope.arn("events", f"rule/{SYNC_PROCESSING_RULE}")],
        },
    ]}
    if scope.topic:
        # Step Functions guide, "IAM policies for Amazon SNS" (static resources): sns:Publish on the topic
        policy["Statement"].append({"Sid": "PublishNotifications", "Effect": "Allow", "Action": "sns:Publish",
                                    "Resource": scope.arn("sns", scope.topic)})
    return policy


def glue_policy(scope: Scope) -> dict[str, Any]:
    """What the ETL job does: read the raw data and its script, write only its outputs, log.

    It cannot overwrite its own code or delete the raw data. Spark writes a split through a ``_temporary`` folder
    under it and replaces what was there (overwrite mode), hence read, write and delete on the split prefixes.
    """
    outputs = [scope.object_arn("runs/*/train/*"), scope.object_arn("runs/*/validation/*"),
               *[scope.object_arn(f"runs/*/{name}") for name in ("features.json", "profile.json", "data_report.json")]]
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


def _cache_statements(scope: Scope) -> list[dict[str, Any]]:
    """The step cache (code/step_cache.py, with ``cache: true``): hash the ETL inputs, read and write the cache's
    entries, and see whether the outputs an entry points at still exist (by listing, see step_cache.py)."""
    return [
        {"Sid": "HashTheEtlInputs", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": [scope.object_arn("data/*"), scope.object_arn("code/glue_etl.py"),
                      *[scope.object_arn(f"code/{name}") for name in ETL_MODULES]]},
        {"Sid": "ReadAndWriteTheCache", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": scope.object_arn("cache/*")},
        {"Sid": "ListTheCacheAndCachedOutputs", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": scope.bucket_arn, "Condition": scope.list_prefixes("cache/*", "runs/*", "output/*")},
    ]


def lambda_policy(scope: Scope) -> dict[str, Any]:
    """What the model gate does: read this project's training jobs and evaluations, find what the endpoint serves
    and the package it was made from, log; with the step cache on, what :func:`_cache_statements` allows."""
    p = scope.project
    return {"Version": VERSION, "Statement": [
        {"Sid": "DescribeProjectTrainingJobs", "Effect": "Allow", "Action": "sagemaker:DescribeTrainingJob",
         "Resource": scope.sagemaker("training-job", f"{p}-*")},
        {"Sid": "FindTheChampion", "Effect": "Allow",
         "Action": ["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel",
                    "sagemaker:DescribeModelPackage"],
         "Resource": [scope.sagemaker("endpoint", scope.endpoint), scope.sagemaker("endpoint-config", f"{p}-*"),
                      scope.sagemaker("model", f"{p}-*"), *scope.packages]},
        {"Sid": "ReadEvaluations", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": scope.object_arn("runs/*/evaluation/*")},
        *(_cache_statements(scope) if scope.cache else []),
        # RecordRun writes how a run ended next to its data, and nothing else
        {"Sid": "WriteRunRecords", "Effect": "Allow", "Action": "s3:PutObject",
         "Resource": scope.object_arn("runs/*/record.json")},
        _logs(scope, f"/aws/lambda/{scope.function}"),
    ]}


def sagemaker_policy(scope: Scope, image_uri: str | None = None) -> dict[str, Any]:
    """What training, evaluation and hosting do: read a run's splits, write artifacts only under the output prefix
    and evaluations only under a run's evaluation prefix, read models and the held-back rows to evaluate and
    serve, pull the XGBoost image, log, metrics."""
    statements: list[dict[str, Any]] = [
        {"Sid": "ListTheInputs", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": scope.bucket_arn,
         "Condition": scope.list_prefixes("runs/*", "output*", "holdout*", "code/evaluation*")},
        {"Sid": "ReadSplitsModelsAndHeldBackRows", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": [scope.object_arn("runs/*/train/*"), scope.object_arn("runs/*/validation/*"),
                      scope.object_arn("runs/*/features.json"), scope.object_arn("output/*"),
                      scope.object_arn("holdout/*"), scope.object_arn("code/evaluation/*")]},
        {"Sid": "WriteOnlyArtifactsAndEvaluations", "Effect": "Allow", "Action": "s3:PutObject",
         "Resource": [scope.object_arn("output/*"), scope.object_arn("runs/*/evaluation/*")]},
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        _logs(scope, "/aws/sagemaker/*"),
        {"Sid": "PublishMetrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
         "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}}},
    ]
    if scope.capture:
        # data capture is written to S3 as the model's execution role (retrain.shadow): only under a run's
        # capture prefix. The AWS pages do not name the role; public reports do ("add the s3:PutObject permission
        # to the role you provided in the SageMaker Model behind this Endpoint. Otherwise, Endpoint data capture
        # will not work": github slalom/dataops-infra pull 113; philschmid/terraform-aws-sagemaker-huggingface
        # pull 8 adds s3:PutObject to the endpoint's model role for capture)
        statements.append({"Sid": "WriteTheCapturedRequests", "Effect": "Allow", "Action": "s3:PutObject",
                           "Resource": scope.object_arn("runs/*/capture/*")})
    if scope.alarms:
        # a guarded update reads its auto-rollback alarms as the model's execution role: "Ensure that your IAM
        # execution role has permission to perform the cloudwatch:DescribeAlarms action on the auto-rollback
        # alarms you specify" (SageMaker Developer Guide, "Auto-Rollback Configuration and Monitoring"); the
        # permission may name alarms (CloudWatch User Guide, "CloudWatch permissions reference": DescribeAlarms
        # with a narrower scope than *), arn:aws:cloudwatch:<region>:<account>:alarm:<name>
        statements.append({"Sid": "ReadTheRollbackAlarms", "Effect": "Allow", "Action": "cloudwatch:DescribeAlarms",
                           "Resource": [scope.arn("cloudwatch", f"alarm:{name}") for name in scope.alarms]})
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


