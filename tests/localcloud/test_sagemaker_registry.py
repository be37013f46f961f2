"""The SageMaker Model Registry on localcloud: model package groups, versioned and unversioned model packages,
approval, and models made from a package version serving on an endpoint and in batch transform.

AWS behaviour relied on (the sources are cited in ``localcloud/services/sagemaker/registry.py`` and
``registry_models.py``): versions are numbered 1, 2, ... per group with ARNs ``model-package/<group>/<n>``;
``PendingManualApproval`` is the default approval; the response shapes of "View the Details of a Model Version"
(SageMaker developer guide); the error texts AWS's CloudFormation provider for AWS::SageMaker::ModelPackageGroup
matches (``Model Package Group already exists: <arn>``, ``ModelPackageGroup <arn> does not exist.``) and
``ModelPackage <arn> does not exist.``; a versioned package deploys only when Approved (botocore
CreateModelPackage ``ModelApprovalStatus``, and aws/sagemaker-python-sdk's model_builder.py).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sfn_helpers import ensure_role, run
from test_sagemaker_support import XGB_IMAGE, put, tarball, to_csv, unique, wait_endpoint, wait_transform

import xgb17
from localcloud import LocalCloud
from localcloud.iam import needs_of

ACCOUNT = "123456789012"
ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
SPEC = {"Containers": [{"Image": XGB_IMAGE, "ModelDataUrl": "s3://nowhere/model.tar.gz"}],
        "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"],
        "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"], "SupportedTransformInstanceTypes": ["ml.m5.large"]}
METRICS = {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://reports/evaluation.json"}},
           "Bias": {"Report": {"ContentType": "application/json", "S3Uri": "s3://reports/bias.json"}}}


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def _group(sm: Any, **extra: Any) -> str:
    name = unique("Churn")
    sm.create_model_package_group(ModelPackageGroupName=name, **extra)
    return name


def _version(sm: Any, group: str, **extra: Any) -> str:
    return sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=SPEC, **extra)["ModelPackageArn"]


# --------------------------------------------------------------------------------------------------- groups


def test_a_group_is_created_described_tagged_listed_and_deleted(sm) -> None:
    name = unique("Churn-Models")
    group_arn = f"{ARN}:model-package-group/{name.lower()}"
    created = sm.create_model_package_group(ModelPackageGroupName=name, ModelPackageGroupDescription="churn models",
                                            Tags=[{"Key": "team", "Value": "ml"}])
    assert created["ModelPackageGroupArn"] == group_arn
    for reference in (name, name.lower(), group_arn):
        described = sm.describe_model_package_group(ModelPackageGroupName=reference)
        described.pop("ResponseMetadata")
        assert set(described) == {"ModelPackageGroupName", "ModelPackageGroupArn", "ModelPackageGroupDescription",
                                  "CreationTime", "CreatedBy", "ModelPackageGroupStatus"}
        assert (described["ModelPackageGroupName"], described["ModelPackageGroupStatus"]) == (name, "Completed")
    assert _error(sm.create_model_package_group, ModelPackageGroupName=name.upper()) == \
        ("ValidationException", f"Model Package Group already exists: {group_arn}")

    assert sm.list_tags(ResourceArn=group_arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    sm.add_tags(ResourceArn=group_arn, Tags=[{"Key": "stage", "Value": "dev"}])
    sm.delete_tags(ResourceArn=group_arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=group_arn)["Tags"] == [{"Key": "stage", "Value": "dev"}]

    sm.delete_model_package_group(ModelPackageGroupName=name)
    missing = ("ValidationException", f"ModelPackageGroup {group_arn} does not exist.")
    assert _error(sm.describe_model_package_group, ModelPackageGroupName=name) == missing
    assert _error(sm.delete_model_package_group, ModelPackageGroupName=name) == missing
    assert _error(sm.list_tags, ResourceArn=group_arn)[0] == "ValidationException"


def test_groups_are_listed_filtered_sorted_and_paged(sm) -> None:
    tag = unique("lg")
    before = datetime.now(UTC) - timedelta(seconds=1)
    names = [f"{tag}-{suffix}" for suffix in ("b", "a", "c")]
    for name in names:
        sm.create_model_package_group(ModelPackageGroupName=name)
        time.sleep(0.01)
    listed = sm.list_model_package_groups(NameContains=tag)["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in listed] == names  # default: CreationTime, Ascending
    assert set(listed[0]) == {"ModelPackageGroupName", "ModelPackageGroupArn", "CreationTime",
                              "ModelPackageGroupStatus"}
    page = sm.list_model_package_groups(NameContains=tag, SortBy="Name", SortOrder="Descending", MaxResults=2)
    assert [g["ModelPackageGroupName"] for g in page["ModelPackageGroupSummaryList"]] == [names[2], names[0]]
    rest = sm.list_model_package_groups(NameContains=tag, SortBy="Name", SortOrder="Descending",
                                        NextToken=page["NextToken"])
    assert [g["ModelPackageGroupName"] for g in rest["ModelPackageGroupSummaryList"]] == [names[1]]
    assert "NextToken" not in rest
    assert len(sm.list_model_package_groups(NameContains=tag, CreationTimeAfter=before)[
        "ModelPackageGroupSummaryList"]) == 3
    assert sm.list_model_package_groups(NameContains=tag, CreationTimeBefore=before)[
        "ModelPackageGroupSummaryList"] == []
    assert sm.list_model_package_groups(CrossAccountFilterOption="CrossAccount")["ModelPackageGroupSummaryList"] == []
    assert _error(sm.list_model_package_groups, SortBy="Status")[1] == (
        "1 validation error detected: Value 'Status' at 'sortBy' failed to satisfy constraint: Member must satisfy "
        "enum value set: [Name, CreationTime]")


def test_a_group_holding_versions_cannot_be_deleted(sm) -> None:
    group = _group(sm)
    first, second = _version(sm, group), _version(sm, group)
    code, message = _error(sm.delete_model_package_group, ModelPackageGroupName=group)
    assert code == "ConflictException" and "[1, 2]" in message
    sm.delete_model_package(ModelPackageName=first)
    sm.delete_model_package(ModelPackageName=second)
    sm.delete_model_package_group(ModelPackageGroupName=group)


# --------------------------------------------------------------------------------------------------- versions


def test_versions_are_numbered_per_group_and_described_as_aws_shows_them(sm) -> None:
    group, other = _group(sm), _group(sm)
    first = _version(sm, group, ModelPackageDescription="first", ModelMetrics=METRICS,
                     MetadataProperties={"CommitId": "abc123", "Repository": "retrain"},
                     CustomerMetadataProperties={"auc": "0.91", "data": "2026-11"})
    second = _version(sm, group)
    assert (first, second) == (f"{ARN}:model-package/{group.lower()}/1", f"{ARN}:model-package/{group.lower()}/2")
    assert _version(sm, other) == f"{ARN}:model-package/{other.lower()}/1"

    described = sm.describe_model_package(ModelPackageName=first)
    described.pop("ResponseMetadata")
    assert set(described) == {
        "ModelPackageName", "ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn",
        "ModelPackageDescription", "CreationTime", "InferenceSpecification", "ModelPackageStatus",
        "ModelPackageStatusDetails", "CertifyForMarketplace", "ModelApprovalStatus", "MetadataProperties",
        "ModelMetrics", "LastModifiedTime", "CustomerMetadataProperties"}
    assert (described["ModelPackageName"], described["ModelPackageGroupName"], described["ModelPackageVersion"]) == \
        (f"{group}/1", group, 1)
    assert (described["ModelPackageStatus"], described["ModelApprovalStatus"]) == ("Completed", "PendingManualApproval")
    assert described["ModelPackageStatusDetails"] == {"ValidationStatuses": [], "ImageScanStatuses": []}
    assert described["CertifyForMarketplace"] is False
    container = described["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == XGB_IMAGE and re.fullmatch(r"sha256:[0-9a-f]{64}", container["ImageDigest"])
    assert {k: v for k, v in described["InferenceSpecification"].items() if k != "Containers"} == \
        {k: v for k, v in SPEC.items() if k != "Containers"}
    assert described["ModelMetrics"] == METRICS
    assert described["CustomerMetadataProperties"] == {"auc": "0.91", "data": "2026-11"}
    # the same version by its name and by its group's ARN-less name
    assert sm.describe_model_package(ModelPackageName=f"{group}/2")["ModelPackageArn"] == second

    summaries = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert [s["ModelPackageVersion"] for s in summaries] == [1, 2]
    assert set(summaries[0]) == {"ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn",
                                 "ModelPackageDescription", "CreationTime", "ModelPackageStatus",
                                 "ModelApprovalStatus"}  # a version's summary has no ModelPackageName

    sm.delete_model_package(ModelPackageName=second)
    assert _version(sm, group) == f"{ARN}:model-package/{group.lower()}/3"  # a number is not given twice
    assert _error(sm.describe_model_package, ModelPackageName=second) == \
        ("ValidationException", f"ModelPackage {second} does not exist.")


def test_model_packages_are_listed_by_group_status_type_and_time(sm) -> None:
    group = _group(sm)
    start = datetime.now(UTC) - timedelta(seconds=1)
    arns = [_version(sm, group, ModelApprovalStatus=status)
            for status in ("Approved", "PendingManualApproval", "Rejected", "Approved")]
    loose = unique("loose")
    sm.create_model_package(ModelPackageName=loose, InferenceSpecification=SPEC)

    def listed(**kwargs: Any) -> list[str]:
        return [s["ModelPackageArn"] for s in sm.list_model_packages(**kwargs)["ModelPackageSummaryList"]]

    assert listed(ModelPackageGroupName=group, ModelApprovalStatus="Approved") == [arns[0], arns[3]]
    assert listed(ModelPackageGroupName=f"{ARN}:model-package-group/{group.lower()}", SortOrder="Descending",
                  MaxResults=2) == [arns[3], arns[2]]
    assert listed(ModelPackageGroupName=group, CreationTimeAfter=start) == arns
    assert listed(ModelPackageGroupName=group, ModelPackageType="Unversioned") == []
    assert listed(NameContains=loose) == [f"{ARN}:model-package/{loose.lower()}"]  # default: unversioned only
    assert listed(NameContains=group) == []
    assert set(listed(ModelPackageType="Both", CreationTimeAfter=start)) >= {*arns, f"{ARN}:model-package/"
                                                                            f"{loose.lower()}"}
    assert listed(ModelPackageType="Versioned", NameContains=group, SortBy="Name") == arns
    assert _error(sm.list_model_packages, ModelPackageType="Other")[1].endswith(
        "Member must satisfy enum value set: [Versioned, Unversioned, Both]")


def test_approval_and_metadata_are_updated(sm) -> None:
    group = _group(sm)
    package = _version(sm, group, CustomerMetadataProperties={"auc": "0.80", "owner": "ml"})
    created = sm.describe_model_package(ModelPackageName=package)
    time.sleep(0.01)
    assert sm.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved",
                                   ApprovalDescription="auc above the bar",
                                   CustomerMetadataProperties={"auc": "0.93", "run": "7"},
                                   CustomerMetadataPropertiesToRemove=["owner"])["ModelPackageArn"] == package
    updated = sm.describe_model_package(ModelPackageName=package)
    assert (updated["ModelApprovalStatus"], updated["ApprovalDescription"]) == ("Approved", "auc above the bar")
    assert updated["CustomerMetadataProperties"] == {"auc": "0.93", "run": "7"}
    assert updated["LastModifiedTime"] > created["LastModifiedTime"]
    assert updated["CreationTime"] == created["CreationTime"]
    sm.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Rejected")
    assert sm.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"] == "Rejected"

    assert _error(sm.update_model_package, ModelPackageArn=package, ModelApprovalStatus="Maybe") == (
        "ValidationException", "1 validation error detected: Value 'Maybe' at 'modelApprovalStatus' failed to "
        "satisfy constraint: Member must satisfy enum value set: [Approved, Rejected, PendingManualApproval]")
    ghost = f"{ARN}:model-package/{group.lower()}/9"
    assert _error(sm.update_model_package, ModelPackageArn=ghost, ModelApprovalStatus="Approved") == \
        ("ValidationException", f"ModelPackage {ghost} does not exist.")
    code, message = _error(sm.update_model_package, ModelPackageArn=group, ModelApprovalStatus="Approved")
    assert code == "ValidationException" and message.startswith(
        f"1 validation error detected: Value '{group}' at 'modelPackageArn' failed to satisfy constraint: Member "
        "must satisfy regular expression pattern: arn:aws")


def test_requests_are_checked(aws, sm) -> None:
    group = _group(sm)
    assert _error(sm.create_model_package, ModelPackageGroupName=group, ModelPackageName="x",
                  InferenceSpecification=SPEC) == ("ValidationException", "Both ModelPackageName and "
                                                   "ModelPackageGroupName are provided in the input. Cannot "
                                                   "determine which one to use.")
    assert _error(sm.create_model_package, InferenceSpecification=SPEC) == ("ValidationException", "Missing ARN.")
    ghost = unique("ghost")
    assert _error(sm.create_model_package, ModelPackageGroupName=ghost, InferenceSpecification=SPEC) == \
        ("ValidationException", f"ModelPackageGroup {ARN}:model-package-group/{ghost} does not exist.")
    code, message = _error(sm.create_model_package, ModelPackageGroupName=group, InferenceSpecification=SPEC,
                           Tags=[{"Key": "k", "Value": "v"}])
    assert code == "ValidationException" and "Tags" in message
    assert _error(sm.describe_model_package, ModelPackageName=f"{ghost}/1") == \
        ("ValidationException", f"ModelPackage {ARN}:model-package/{ghost}/1 does not exist.")
    assert _error(sm.describe_model_package, ModelPackageName="bad_name") == (
        "ValidationException", "1 validation error detected: Value 'bad_name' at 'modelPackageName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: (arn:aws[a-z\\-]*:sagemaker:"
        "[a-z0-9\\-]*:[0-9]{12}:[a-z\\-]*\\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)(\\/[0-9]{1,9})?$")
    assert _error(sm.create_model_package, ModelPackageGroupName=group, InferenceSpecification=SPEC,
                  CustomerMetadataProperties={"bad key!": "v"})[1].startswith(
        "1 validation error detected: Value 'bad key!' at 'customerMetadataProperties.key' failed to satisfy")
    # what botocore checks on the client is checked again on the server (other clients do not check)
    raw = aws("sagemaker", config=Config(parameter_validation=False))
    assert _error(raw.create_model_package, ModelPackageGroupName=group, InferenceSpecification=SPEC,
                  ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json"}}}) == (
        "ValidationException", "1 validation error detected: Value null at 'modelMetrics.modelQuality.statistics."
        "s3Uri' failed to satisfy constraint: Member must not be null")
    assert _error(raw.create_model_package, ModelPackageGroupName=group, InferenceSpecification={"Containers": []})[
        1].endswith("at 'inferenceSpecification.containers' failed to satisfy constraint: Member must not be null")


def test_a_client_token_makes_the_request_idempotent(sm) -> None:
    group = _group(sm)
    token = unique("token")
    first = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=SPEC, ClientToken=token)
    again = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=SPEC, ClientToken=token)
    assert first["ModelPackageArn"] == again["ModelPackageArn"]
    assert len(sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]) == 1
    assert _version(sm, group).endswith("/2")  # botocore sends a fresh token of its own otherwise


def test_unversioned_packages_have_names_tags_and_no_approval(sm) -> None:
    name = unique("Marketplace-Model")
    package_arn = f"{ARN}:model-package/{name.lower()}"
    created = sm.create_model_package(ModelPackageName=name, InferenceSpecification=SPEC, CertifyForMarketplace=True,
                                      Tags=[{"Key": "kind", "Value": "unversioned"}])
    assert created["ModelPackageArn"] == package_arn
    described = sm.describe_model_package(ModelPackageName=name)
    assert described["ModelPackageName"] == name and "ModelPackageGroupName" not in described
    assert "ModelApprovalStatus" not in described and described["CertifyForMarketplace"] is True
    summary = sm.list_model_packages(NameContains=name)["ModelPackageSummaryList"][0]
    assert summary["ModelPackageName"] == name
    assert sm.list_tags(ResourceArn=package_arn)["Tags"] == [{"Key": "kind", "Value": "unversioned"}]
    assert _error(sm.create_model_package, ModelPackageName=name, InferenceSpecification=SPEC)[0] == \
        "ValidationException"
    sm.delete_model_package(ModelPackageName=package_arn)
    assert _error(sm.describe_model_package, ModelPackageName=name)[0] == "ValidationException"


def test_batch_describe_reports_found_and_missing_versions(sm) -> None:
    group = _group(sm)
    package = _version(sm, group, ModelApprovalStatus="Approved")
    ghost = f"{ARN}:model-package/{group.lower()}/5"
    out = sm.batch_describe_model_package(ModelPackageArnList=[package, ghost])
    summary = out["ModelPackageSummaries"][package]
    assert (summary["ModelPackageGroupName"], summary["ModelPackageVersion"], summary["ModelApprovalStatus"]) == \
        (group, 1, "Approved")
    assert summary["InferenceSpecification"]["Containers"][0]["Image"] == XGB_IMAGE
    assert out["BatchDescribeModelPackageErrorMap"] == {
        ghost: {"ErrorCode": "ValidationException", "ErrorResponse": f"ModelPackage {ghost} does not exist."}}


def test_a_validation_specification_is_reported_as_not_run(sm) -> None:
    group = _group(sm)
    validation = {"ValidationRole": f"arn:aws:iam::{ACCOUNT}:role/any", "ValidationProfiles": [{
        "ProfileName": "smoke", "TransformJobDefinition": {
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}}},
            "TransformOutput": {"S3OutputPath": "s3://b/out"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}}]}
    package = _version(sm, group, ValidationSpecification=validation)
    described = sm.describe_model_package(ModelPackageName=package)
    assert described["ModelPackageStatus"] == "Failed"
    status = described["ModelPackageStatusDetails"]["ValidationStatuses"][0]
    assert (status["Name"], status["Status"]) == ("smoke", "Failed") and "localcloud" in status["FailureReason"]
    skipped = _version(sm, group, ValidationSpecification=validation, SkipModelValidation="All")
    assert sm.describe_model_package(ModelPackageName=skipped)["ModelPackageStatus"] == "Completed"


# --------------------------------------------------------------------------------------------------- deploying


def test_only_an_approved_version_makes_a_model(sm, role) -> None:
    group = _group(sm)
    package = _version(sm, group)
    for status in ("PendingManualApproval", "Rejected"):
        if status != "PendingManualApproval":
            sm.update_model_package(ModelPackageArn=package, ModelApprovalStatus=status)
        code, message = _error(sm.create_model, ModelName=unique("m"), ExecutionRoleArn=role,
                               Containers=[{"ModelPackageName": package}])
        assert code == "ValidationException" and f"has ModelApprovalStatus {status}" in message
    sm.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
    name = unique("m")
    sm.create_model(ModelName=name, ExecutionRoleArn=role, Containers=[{"ModelPackageName": package}])
    assert sm.describe_model(ModelName=name)["Containers"] == [{"ModelPackageName": package}]  # as sent
    ghost = f"{ARN}:model-package/{group.lower()}/7"
    assert _error(sm.create_model, ModelName=unique("m"), ExecutionRoleArn=role,
                  PrimaryContainer={"ModelPackageName": ghost}) == \
        ("ValidationException", f"ModelPackage {ghost} does not exist.")
    # an unversioned package has no approval to give
    loose = unique("loose")
    sm.create_model_package(ModelPackageName=loose, InferenceSpecification=SPEC)
    sm.create_model(ModelName=unique("m"), ExecutionRoleArn=role, PrimaryContainer={"ModelPackageName": loose})


@pytest.fixture(scope="module")
def registered(sm: Any, s3: Any, bucket: str) -> dict[str, Any]:
    """An Approved version of a model trained by xgboost 1.7.4 outside localcloud, whose container answers JSON
    when no Accept is given (its Environment)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 5)).round(4)
    y = (X[:, 0] + X[:, 2] > 0).astype(float)
    raw = xgb17.train_model(X, y, {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3}, 15)
    artifact = put(s3, bucket, "registry/model.tar.gz", tarball({"xgboost-model": raw}))
    group = _group(sm)
    spec = {**SPEC, "Containers": [{"Image": XGB_IMAGE, "ModelDataUrl": artifact,
                                    "Environment": {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json"}}]}
    package = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec,
                                      ModelApprovalStatus="Approved")["ModelPackageArn"]
    rows = X[:20]
    return {"package": package, "rows": rows, "expected": xgb17.predict(raw, rows)}


def test_an_endpoint_serves_a_model_made_from_an_approved_version(sm, rt, role, registered) -> None:
    plain, csv_model = unique("from-package"), unique("from-package-csv")
    sm.create_model(ModelName=plain, ExecutionRoleArn=role, Containers=[{"ModelPackageName": registered["package"]}])
    # the CreateModel container's own Environment goes over the package's
    sm.create_model(ModelName=csv_model, ExecutionRoleArn=role, PrimaryContainer={
        "ModelPackageName": registered["package"], "Environment": {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}})
    config = unique("config")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[
        {"VariantName": name, "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        for name, model in (("Json", plain), ("Csv", csv_model))])
    endpoint = unique("endpoint")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    described = wait_endpoint(sm, endpoint)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    assert described["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"] == XGB_IMAGE

    rows, expected = registered["rows"], registered["expected"]
    answer = rt.invoke_endpoint(EndpointName=endpoint, Body=to_csv(rows), ContentType="text/csv", TargetVariant="Json")
    assert answer["ContentType"] == "application/json"
    scores = np.array([p["score"] for p in json.loads(answer["Body"].read())["predictions"]])
    assert float(np.max(np.abs(scores - expected))) <= 1e-6
    answer = rt.invoke_endpoint(EndpointName=endpoint, Body=to_csv(rows), ContentType="text/csv", TargetVariant="Csv")
    assert answer["ContentType"] == "text/csv; charset=utf-8"
    assert float(np.max(np.abs(np.array([float(v) for v in answer["Body"].read().decode().split()]) - expected))) \
        <= 1e-6
    sm.delete_endpoint(EndpointName=endpoint)


def test_batch_transform_runs_a_model_made_from_an_approved_version(sm, s3, role, bucket, registered) -> None:
    model = unique("from-package")
    sm.create_model(ModelName=model, ExecutionRoleArn=role, PrimaryContainer={"ModelPackageName": registered["package"]})
    put(s3, bucket, "registry/in/rows.csv", to_csv(registered["rows"]))
    name = unique("tj")
    sm.create_transform_job(TransformJobName=name, ModelName=model, TransformResources={
        "InstanceType": "ml.m5.large", "InstanceCount": 1}, TransformInput={
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/registry/in"}},
        "ContentType": "text/csv", "SplitType": "Line"}, TransformOutput={
        "S3OutputPath": f"s3://{bucket}/registry/out", "AssembleWith": "Line"})
    job = wait_transform(sm, name)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    body = s3.get_object(Bucket=bucket, Key="registry/out/rows.csv.out")["Body"].read().decode()
    scores = np.array([float(v) for v in body.split()])
    assert float(np.max(np.abs(scores - registered["expected"]))) <= 1e-6


# --------------------------------------------------------------------------------------------------- Step Functions

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z")


def test_step_functions_registers_describes_approves_and_lists_versions(aws, sm) -> None:
    group = _group(sm)
    sdk = "arn:aws:states:::aws-sdk:sagemaker:"
    definition = {"StartAt": "Register", "States": {
        "Register": {"Type": "Task", "Resource": f"{sdk}createModelPackage", "ResultPath": "$.registered",
                     "Parameters": {"ModelPackageGroupName.$": "$.group", "ModelPackageDescription": "from a workflow",
                                    "InferenceSpecification": SPEC, "CustomerMetadataProperties": {"auc.$": "$.auc"}},
                     "Next": "Describe"},
        "Describe": {"Type": "Task", "Resource": f"{sdk}describeModelPackage", "ResultPath": "$.described",
                     "Parameters": {"ModelPackageName.$": "$.registered.ModelPackageArn"}, "Next": "Approve"},
        "Approve": {"Type": "Task", "Resource": f"{sdk}updateModelPackage", "ResultPath": "$.approved",
                    "Parameters": {"ModelPackageArn.$": "$.registered.ModelPackageArn",
                                   "ModelApprovalStatus": "Approved", "ApprovalDescription": "auc above the bar"},
                    "Next": "List"},
        "List": {"Type": "Task", "Resource": f"{sdk}listModelPackages", "ResultPath": "$.listed",
                 "Parameters": {"ModelPackageGroupName.$": "$.group", "ModelApprovalStatus": "Approved"},
                 "Next": "Missing"},
        "Missing": {"Type": "Task", "Resource": f"{sdk}describeModelPackage", "Parameters": {
            "ModelPackageName.$": "States.Format('{}/9', $.group)"},
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.missing", "Next": "Done"}], "Next": "Done"},
        "Done": {"Type": "Succeed"}}}
    role = ensure_role(aws("iam"), "sfn-registry-tests-role")
    described = run(aws("stepfunctions"), role, definition, {"group": group, "auc": "0.93"})
    assert described["status"] == "SUCCEEDED", described.get("cause")
    out = json.loads(described["output"])
    package = f"{ARN}:model-package/{group.lower()}/1"
    assert out["registered"] == {"ModelPackageArn": package}
    found = out["described"]
    assert (found["ModelPackageVersion"], found["ModelApprovalStatus"]) == (1, "PendingManualApproval")
    assert found["CustomerMetadataProperties"] == {"auc": "0.93"}
    assert ISO.fullmatch(found["CreationTime"]) and ISO.fullmatch(found["LastModifiedTime"])
    assert found["InferenceSpecification"]["SupportedResponseMIMETypes"] == ["text/csv"]
    assert out["approved"] == {"ModelPackageArn": package}
    summary = out["listed"]["ModelPackageSummaryList"][0]
    assert (summary["ModelPackageArn"], summary["ModelApprovalStatus"]) == (package, "Approved")
    assert ISO.fullmatch(summary["CreationTime"])
    # ValidationException is not declared in SageMaker's model: the SDK's base exception, AWS's message in the cause
    assert out["missing"]["Error"] == "SageMaker.SageMakerException"
    assert f"ModelPackage {ARN}:model-package/{group.lower()}/9 does not exist." in out["missing"]["Cause"]
    assert sm.describe_model_package(ModelPackageName=package)["ApprovalDescription"] == "auc above the bar"


# --------------------------------------------------------------------------------------------------- IAM


def test_what_each_registry_request_needs() -> None:
    def needs(operation: str, **params: Any) -> list[tuple[str, str, dict[str, str]]]:
        return [(n.action, n.resource, n.context) for n in needs_of("sagemaker", operation, params, "us-east-1",
                                                                   ACCOUNT) or []]

    group_arn = f"{ARN}:model-package-group/churn"
    assert needs("CreateModelPackageGroup", ModelPackageGroupName="Churn", Tags=[{"Key": "k", "Value": "v"}]) == [
        ("sagemaker:CreateModelPackageGroup", group_arn, {}), ("sagemaker:AddTags", group_arn, {})]
    assert needs("DescribeModelPackageGroup", ModelPackageGroupName=group_arn) == \
        [("sagemaker:DescribeModelPackageGroup", group_arn, {})]
    assert needs("ListModelPackageGroups") == [("sagemaker:ListModelPackageGroups", "*", {})]
    assert needs("CreateModelPackage", ModelPackageGroupName="Churn", ModelApprovalStatus="Approved",
                 CustomerMetadataProperties={"auc": "0.9"}) == [
        ("sagemaker:CreateModelPackage", f"{ARN}:model-package/churn/*",
         {"sagemaker:CustomerMetadataProperties/auc": "0.9", "sagemaker:ModelApprovalStatus": "Approved"})]
    assert needs("UpdateModelPackage", ModelPackageArn=f"{ARN}:model-package/churn/2",
                 ModelApprovalStatus="Rejected") == [
        ("sagemaker:UpdateModelPackage", f"{ARN}:model-package/churn/2", {"sagemaker:ModelApprovalStatus": "Rejected"})]
    assert needs("DescribeModelPackage", ModelPackageName="Churn/2") == \
        [("sagemaker:DescribeModelPackage", f"{ARN}:model-package/churn/2", {})]
    assert needs("CreateModel", ModelName="M", Containers=[{"ModelPackageName": f"{ARN}:model-package/churn/2"}]) == [
        ("sagemaker:CreateModel", f"{ARN}:model/m", {}), ("sagemaker:CreateModel", f"{ARN}:model-package/churn/2", {})]
    assert needs_of("sagemaker", "ListModelPackages", {}, "us-east-1", ACCOUNT) is None  # resource not confirmed


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A local cloud enforcing IAM, with a Step Functions role that may register versions of group ``Gated`` only
    as PendingManualApproval (the condition key sagemaker:ModelApprovalStatus)."""
    with LocalCloud(port=0, home=tmp_path_factory.mktemp("registry-iam"), enforce_iam=True) as cloud:
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        clients = {n: session.client(n, endpoint_url=cloud.endpoint_url) for n in ("iam", "sagemaker", "stepfunctions")}
        role = ensure_role(clients["iam"], "registry-gated-role")
        clients["iam"].put_role_policy(RoleName="registry-gated-role", PolicyName="register", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sagemaker:CreateModelPackage",
                "Resource": f"{ARN}:model-package/gated/*",
                "Condition": {"StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}}}]}))
        clients["sagemaker"].create_model_package_group(ModelPackageGroupName="Gated")
        yield {"role": role, **clients}


def test_an_enforcing_cloud_checks_the_approval_a_workflow_registers(strict: dict[str, Any]) -> None:
    def register(status: str) -> dict[str, Any]:
        definition = {"StartAt": "Register", "States": {"Register": {
            "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sagemaker:createModelPackage", "End": True,
            "Parameters": {"ModelPackageGroupName": "Gated", "InferenceSpecification": SPEC,
                           "ModelApprovalStatus": status}}}}
        return run(strict["stepfunctions"], strict["role"], definition)

    assert register("PendingManualApproval")["status"] == "SUCCEEDED"
    denied = register("Approved")
    assert (denied["status"], denied["error"]) == ("FAILED", "SageMaker.SageMakerException")
    assert ("is not authorized to perform: sagemaker:CreateModelPackage on resource: "
            f"{ARN}:model-package/gated/*") in denied["cause"]
    listed = strict["sagemaker"].list_model_packages(ModelPackageGroupName="Gated")["ModelPackageSummaryList"]
    assert [s["ModelApprovalStatus"] for s in listed] == ["PendingManualApproval"]
