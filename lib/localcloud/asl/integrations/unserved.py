"""Optimized integrations AWS offers that localcloud cannot run: accepted in a definition, failing when they run.

A definition naming one of them is valid on AWS, so CreateStateMachine accepts it here too; when the task runs it
fails as a task whose service cannot be reached fails on AWS: ``<Service>.SdkClientException`` with *Unable to
execute HTTP request: ...* (recorded on AWS: localstack snapshot
``tests/aws/services/stepfunctions/v2/error_handling/test_task_service_sqs.snapshot.json``,
``test_send_message_no_such_queue``), the cause naming what localcloud lacks. Like any task error it can be caught
(``States.ALL``, or the name itself) and retried.

The actions and their patterns are those of the Step Functions developer guide's pages on each integration
("Run AWS Batch jobs", "Run Amazon ECS or Fargate tasks", "Run Amazon Athena queries", ...).
"""

from __future__ import annotations

from typing import Any

from localcloud.asl.errors import TaskFailed
from localcloud.asl.integrations.base import Call

_RR, _SYNC, _TOKEN = "", "sync", "waitForTaskToken"


def _actions(patterns: tuple[str, ...], *names: str) -> dict[str, frozenset[str]]:
    return {name: frozenset(patterns) for name in names}


#: Step Functions service name → (the service's name, the error-name prefix, action → the patterns AWS offers)
SERVICES: dict[str, tuple[str, str, dict[str, frozenset[str]]]] = {
    "batch": ("AWS Batch", "Batch", _actions((_RR, _SYNC), "submitJob")),
    "ecs": ("Amazon ECS", "ECS", _actions((_RR, _SYNC, _TOKEN), "runTask")),
    "athena": ("Amazon Athena", "Athena", {
        **_actions((_RR, _SYNC), "startQueryExecution"),
        **_actions((_RR,), "stopQueryExecution", "getQueryExecution", "getQueryResults")}),
    "codebuild": ("AWS CodeBuild", "CodeBuild", {
        **_actions((_RR, _SYNC), "startBuild", "startBuildBatch", "retryBuildBatch"),
        **_actions((_RR,), "stopBuild", "batchDeleteBuilds", "batchGetReports", "stopBuildBatch",
                   "deleteBuildBatch")}),
    "databrew": ("AWS Glue DataBrew", "DataBrew", _actions((_RR, _SYNC), "startJobRun")),
    "eks": ("Amazon EKS", "EKS", {
        **_actions((_RR, _SYNC), "createCluster", "deleteCluster", "createFargateProfile", "deleteFargateProfile",
                   "createNodegroup", "deleteNodegroup", "runJob"),
        **_actions((_RR,), "call")}),
    "elasticmapreduce": ("Amazon EMR", "EMR", {
        **_actions((_RR, _SYNC), "createCluster", "terminateCluster", "addStep"),
        **_actions((_RR,), "cancelStep", "setClusterTerminationProtection", "modifyInstanceFleetByName",
                   "modifyInstanceGroupByName")}),
    "emr-containers": ("Amazon EMR on EKS", "EMRContainers", {
        **_actions((_RR, _SYNC), "deleteVirtualCluster", "startJobRun"),
        **_actions((_RR,), "createVirtualCluster")}),
    "apigateway": ("Amazon API Gateway", "ApiGateway", _actions((_RR, _TOKEN), "invoke")),
}

#: (service, action) → patterns, for the integration registry
ROUTES: dict[tuple[str, str], frozenset[str]] = {
    (service, action): patterns
    for service, (_, _, actions) in SERVICES.items() for action, patterns in actions.items()
}


def run(call: Call) -> Any:
    """Fail as an unreachable service does."""
    title, prefix, _ = SERVICES[call.service]
    raise TaskFailed(
        f"{prefix}.SdkClientException",
        f"Unable to execute HTTP request: localcloud does not run {title}, so the task {call.service}:{call.action} "
        f"cannot reach it. localcloud runs Lambda, Glue, SageMaker and Step Functions tasks, and DynamoDB, SNS, SQS, "
        f"EventBridge and S3 calls (moto); catch this error or replace the state to rehearse the rest of the "
        f"workflow.",
    )
