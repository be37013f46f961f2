"""The model registry: a SageMaker model package group per project, one model package per trained model.

Every trained model is registered with its evaluation and the gate's verdict (``ModelApprovalStatus``: Approved,
PendingManualApproval or Rejected; ``ModelMetrics`` pointing at the evaluation; ``CustomerMetadataProperties`` with
the run id, its data prefix and the scores). Only an approved package is deployed: the workflow creates the model
from the package (``Containers: [{"ModelPackageName": ...}]``). With ``approval: manual`` the execution waits,
polling the package, until a person approves or rejects it (``retrain approve`` / ``retrain reject``, or notebook
04) or the wait times out; polling works the same on AWS and locally and needs no callback plumbing.

Sources: SageMaker developer guide, "Model Registry" (model groups, versions, "Update the Approval Status of a
Model", "Deploy a Model from the Registry"); API reference CreateModelPackage / UpdateModelPackage.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from botocore.exceptions import ClientError
from stepfunctions import steps

from retrain.config import Params
from retrain.errors import CloudError
from retrain.ownership import OwnershipError, owned
from retrain.workflow import FailWithPaths, TaskWithSelector

LOG = logging.getLogger(__name__)

#: the AWS SDK integration (Java v2 naming: an unmodelled error is SageMaker.SageMakerException)
SDK = "arn:aws:states:::aws-sdk:sagemaker:"
REVIEWER_REJECTED_ERROR = "ModelRejectedByReviewer"
APPROVAL_TIMED_OUT_ERROR = "ApprovalTimedOut"


# -- the workflow's steps -----------------------------------------------------------------------------------

def _text(path: str) -> str:
    """A number or string at ``path`` as the string CustomerMetadataProperties wants."""
    return f"States.Format('{{}}', {path})"


def register_step(params: Params, image_uri: str, execution_input: Any) -> steps.Task:
    """``Register Model``: CreateModelPackage in the project's group, with the verdict's approval status, the
    evaluation as its model quality statistics, and the run's scores as metadata."""
    judged = "$.Judgement.Payload"
    return TaskWithSelector(
        "Register Model",
        resource=SDK + "createModelPackage",
        parameters={
            "ModelPackageGroupName": execution_input["ModelPackageGroupName"],
            "ModelPackageDescription.$": f"States.Format('run {{}}: {{}}', $.Run.RunId, {judged}.reason)",
            "ModelApprovalStatus.$": f"{judged}.approval_status",
            "InferenceSpecification": {
                "Containers": [{"Image": image_uri, "ModelDataUrl.$": "$.Training.ModelArtifacts.S3ModelArtifacts"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "ModelMetrics": {"ModelQuality": {"Statistics": {
                "ContentType": "application/json",
                "S3Uri.$": "States.Format('{}evaluation.json', $.Run.EvaluationUri)"}}},
            "CustomerMetadataProperties": {
                "run_id.$": "$.Run.RunId",
                "data_prefix.$": "$.Run.DataPrefix",
                "decision.$": f"{judged}.decision",
                "gate_metric.$": f"{judged}.gate.metric",
                "candidate.$": _text(f"{judged}.gate.candidate"),
            },
            # no Tags: a version in a group "uses the tags associated with the model group", and CreateModelPackage
            # with ModelPackageGroupName takes none (botocore sagemaker model, CreateModelPackageInput.Tags)
        },
        result_selector={"ModelPackageArn.$": "$.ModelPackageArn"},
        result_path="$.Registered",
    )


def create_model_step(params: Params, role_arn: str, execution_input: Any) -> steps.Task:
    """``Create Model``: the SageMaker model of this run, made from its approved package."""
    return steps.Task(
        "Create Model",
        resource="arn:aws:states:::sagemaker:createModel",
        parameters={
            "ModelName": execution_input["ModelName"],
            "ExecutionRoleArn": role_arn,
            "Containers": [{"ModelPackageName.$": "$.Registered.ModelPackageArn"}],
            "Tags": [{"Key": k, "Value": v} for k, v in params.tags.items()],
        },
        result_path="$.ModelStepResults",
    )


def approval_steps(params: Params, approved: steps.State) -> dict[str, Any]:
    """Wait for a person's decision on the package (``approval: manual``), at most ``approval_timeout_seconds``.

    ``Start Waiting`` → (``Wait for Approval`` → ``Check Approval`` → ``Approved?``)*: Approved goes on to
    ``approved``; Rejected fails with ``ModelRejectedByReviewer`` and the reviewer's description; after the last poll
    the package is marked Rejected ("no decision within ...") and the run fails with ``ApprovalTimedOut``.
    """
    polls = max(1, math.ceil(params.approval_timeout_seconds / params.approval_poll_seconds))
    start = steps.Pass("Start Waiting", result={"polls": 0}, result_path="$.ApprovalWait")
    wait = steps.Wait("Wait for Approval", seconds=params.approval_poll_seconds)
    check = TaskWithSelector("Check Approval", resource=SDK + "describeModelPackage",
                             parameters={"ModelPackageName.$": "$.Registered.ModelPackageArn"},
                             result_selector={"ModelApprovalStatus.$": "$.ModelApprovalStatus"},
                             result_path="$.Approval")
    decided = steps.Choice("Approved?")
    count = steps.Pass("Count the Wait", parameters={"polls.$": "States.MathAdd($.ApprovalWait.polls, 1)"},
                       result_path="$.ApprovalWait")
    out_of_time = steps.Choice("Out of Time?")
    timed_out = steps.Task("Reject After Timeout", resource=SDK + "updateModelPackage", parameters={
        "ModelPackageArn.$": "$.Registered.ModelPackageArn", "ModelApprovalStatus": "Rejected",
        "ApprovalDescription": f"no decision within {params.approval_timeout_seconds} s: rejected by the workflow"},
        result_path="$.Approval")
    rejected = FailWithPaths("Rejected by Reviewer", error=REVIEWER_REJECTED_ERROR, cause_path=(
        "States.Format('a reviewer rejected {} (its ApprovalDescription says why)', $.Registered.ModelPackageArn)"))
    gave_up = FailWithPaths("Approval Timed Out", error=APPROVAL_TIMED_OUT_ERROR,
                            cause=f"nobody approved or rejected the model within {params.approval_timeout_seconds} s")
    status = "$.Approval.ModelApprovalStatus"
    decided.add_choice(steps.ChoiceRule.StringEquals(variable=status, value="Approved"), next_step=approved)
    decided.add_choice(steps.ChoiceRule.StringEquals(variable=status, value="Rejected"), next_step=rejected)
    decided.default_choice(count)
    out_of_time.add_choice(steps.ChoiceRule.NumericGreaterThanEquals(variable="$.ApprovalWait.polls", value=polls),
                           next_step=timed_out)
    out_of_time.default_choice(wait)
    start.next(wait)
    wait.next(check)
    check.next(decided)
    count.next(out_of_time)
    timed_out.next(gave_up)
    return {"start": start, "wait": wait, "check": check, "decided": decided, "count": count,
            "out_of_time": out_of_time, "timed_out": timed_out, "rejected": rejected, "gave_up": gave_up}


# -- the registry from the notebooks and the CLI -----------------------------------------------------------

def ensure_group(sm: Any, params: Params) -> str:
    """Create the project's model package group (tagged), or check that the existing one is the project's."""
    name = params.model_package_group_name
    try:
        arn = sm.describe_model_package_group(ModelPackageGroupName=name)["ModelPackageGroupArn"]
    except ClientError as exc:
        if "does not exist" not in str(exc) and "not found" not in str(exc).lower():
            raise
        return str(sm.create_model_package_group(
            ModelPackageGroupName=name, ModelPackageGroupDescription=f"models of {params.project_name}",
            Tags=[{"Key": k, "Value": v} for k, v in params.tags.items()])["ModelPackageGroupArn"])
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn).get("Tags", [])}
    if not owned(tags, params):
        raise OwnershipError(f"model package group {name} already exists but is not this project's (no "
                             "retrain:project tag); change project_name.")
    return str(arn)


def packages(sm: Any, params: Params) -> list[dict[str, Any]]:
    """Every model package of the project's group, newest first (with its metadata)."""
    found: list[dict[str, Any]] = []
    for page in sm.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=params.model_package_group_name, SortBy="CreationTime", SortOrder="Descending"):
        found += page.get("ModelPackageSummaryList", [])
    return [sm.describe_model_package(ModelPackageName=p["ModelPackageArn"]) for p in found]


def package_of_run(sm: Any, params: Params, run_id: str) -> dict[str, Any]:
    """The model package a run registered (found by its ``run_id`` metadata)."""
    for package in packages(sm, params):
        if (package.get("CustomerMetadataProperties") or {}).get("run_id") == run_id:
            return package
    raise CloudError(f"run {run_id} registered no model package in {params.model_package_group_name} (did it reach "
                     "Register Model? `retrain history` lists the runs).")


def decide(sm: Any, params: Params, run_id: str, approve: bool, reason: str = "") -> dict[str, Any]:
    """Approve or reject the package of ``run_id`` (a waiting execution then goes on or fails)."""
    package = package_of_run(sm, params, run_id)
    status = package["ModelApprovalStatus"]
    if status != "PendingManualApproval":
        raise CloudError(f"the model of run {run_id} is {status}, not waiting for a decision.")
    wanted = "Approved" if approve else "Rejected"
    description = reason or ("approved" if approve else "rejected") + " by a reviewer"
    sm.update_model_package(ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus=wanted,
                            ApprovalDescription=description)
    return {"package": package["ModelPackageArn"], "status": wanted, "description": description}
