"""code/model_gate.py against moto's SageMaker (training jobs there complete at once)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

REGION = "us-east-1"
JOB = "churn-xgboost-0001"


@pytest.fixture
def handler(code_module: Callable[[str], ModuleType]) -> ModuleType:
    return code_module("model_gate")


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("sagemaker", region_name=REGION)
        client.create_training_job(
            TrainingJobName=JOB,
            AlgorithmSpecification={
                "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                "TrainingInputMode": "File",
            },
            RoleArn="arn:aws:iam::123456789012:role/sagemaker",
            InputDataConfig=[
                {
                    "ChannelName": "train",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://churn/train/"}},
                }
            ],
            OutputDataConfig={"S3OutputPath": "s3://churn/models"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
            HyperParameters={"objective": "binary:logistic", "num_round": "100"},
        )
        yield client


def fake_job() -> Any:
    """moto's stored job, to give it the state a real run could end in."""
    return sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].training_jobs[JOB]


def test_completed_job_reports_status_artifact_and_metrics(handler: ModuleType, sagemaker: Any) -> None:
    result = handler.lambda_handler({"TrainingJobName": JOB, "RequiredMetrics": ["train:progress"]}, None)

    assert json.loads(json.dumps(result)) == result  # a Lambda result must be JSON
    assert result["TrainingJobName"] == JOB
    assert result["TrainingJobStatus"] == "Completed"
    assert result["ModelArtifacts"] == f"s3://churn/models/{JOB}/output/model.tar.gz"
    assert result["metrics"] == {"trainProgress": 100.0}
    [metric] = result["trainingMetrics"]
    assert metric["MetricName"] == "train:progress" and metric["Value"] == 100.0
    described = sagemaker.describe_training_job(TrainingJobName=JOB)["FinalMetricDataList"][0]["Timestamp"]
    assert datetime.fromisoformat(metric["Timestamp"]) == described


def test_required_metrics_come_first_and_names_become_camel_case(handler: ModuleType, sagemaker: Any) -> None:
    stamp = fake_job().creation_time
    fake_job().final_metric_data_list = [
        {"MetricName": "train:error", "Value": 0.031, "Timestamp": stamp},
        {"MetricName": "validation:ndcg@5", "Value": 0.8, "Timestamp": stamp},
        {"MetricName": "validation:error", "Value": 0.052, "Timestamp": stamp},
    ]
    result = handler.lambda_handler({"TrainingJobName": JOB}, None)  # default: validation:error

    assert result["metrics"] == {"validationError": 0.052, "trainError": 0.031, "validationNdcg5": 0.8}
    assert [m["MetricName"] for m in result["trainingMetrics"]] == [
        "validation:error",
        "train:error",
        "validation:ndcg@5",
    ]
    assert result["trainingMetrics"][0]["Value"] == 0.052


def test_missing_job_raises_training_job_not_found(handler: ModuleType, sagemaker: Any) -> None:
    with pytest.raises(handler.TrainingJobNotFound, match="'no-such-job' does not exist"):
        handler.lambda_handler({"TrainingJobName": "no-such-job"}, None)


def test_missing_metric_names_it_and_the_available_ones(handler: ModuleType, sagemaker: Any) -> None:
    with pytest.raises(handler.MetricNotFound) as caught:
        handler.lambda_handler({"TrainingJobName": JOB}, None)
    assert "validation:error" in str(caught.value)
    assert "available: train:progress" in str(caught.value)
    assert type(caught.value).__name__ == "MetricNotFound"  # what Step Functions sees as errorType


def test_job_not_completed_raises_with_status_and_reason(handler: ModuleType, sagemaker: Any) -> None:
    fake_job().training_job_status = "Failed"
    fake_job().failure_reason = "AlgorithmError: label column has values other than 0 and 1"
    with pytest.raises(handler.TrainingJobNotCompleted, match="is Failed, not Completed: AlgorithmError"):
        handler.lambda_handler({"TrainingJobName": JOB, "RequiredMetrics": ["train:progress"]}, None)


@pytest.mark.parametrize(
    "event", [{}, {"TrainingJobName": ""}, {"TrainingJobName": JOB, "RequiredMetrics": [1]}]
)
def test_malformed_event_raises_invalid_event(handler: ModuleType, event: dict[str, Any]) -> None:
    with pytest.raises(handler.InvalidEvent):
        handler.lambda_handler(event, None)


def test_camel_case(handler: ModuleType) -> None:
    assert handler.camel_case("validation:error") == "validationError"
    assert handler.camel_case("train:binary_logloss") == "trainBinaryLogloss"
    assert handler.camel_case("validation:map@10") == "validationMap10"


# -- FindChampion / JudgeModel ------------------------------------------------------------------------------

GROUP = "churn-models"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


def _serve_package(sm: Any, group: str, run_id: str) -> str:
    """An endpoint serving a model made from a package of ``group`` (registered by run ``run_id``)."""
    if not sm.list_model_package_groups(NameContains=group)["ModelPackageGroupSummaryList"]:
        sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": "xgb", "ModelDataUrl": f"s3://churn/output/{run_id}.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        CustomerMetadataProperties={"run_id": run_id, "data_prefix": f"s3://churn/p/runs/{run_id}/"})["ModelPackageArn"]
    sm.create_model(ModelName=f"m-{run_id}", ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": arn}])
    sm.create_endpoint_config(EndpointConfigName=f"c-{run_id}", ProductionVariants=[
        {"VariantName": "v", "ModelName": f"m-{run_id}", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="ep", EndpointConfigName=f"c-{run_id}")
    return str(arn)


def test_no_endpoint_means_no_champion(handler: ModuleType, sagemaker: Any) -> None:
    found = handler.lambda_handler({"Action": "FindChampion", "EndpointName": "ep", "ModelPackageGroupName": GROUP},
                                   None)
    assert found == {"exists": False, "Baseline": "none", "reason": "no model serves on endpoint ep yet"}


def test_the_champion_is_the_package_the_endpoint_serves(handler: ModuleType, sagemaker: Any) -> None:
    arn = _serve_package(sagemaker, GROUP, "r1")
    found = handler.lambda_handler({"Action": "FindChampion", "EndpointName": "ep", "ModelPackageGroupName": GROUP},
                                   None)
    assert found["exists"] is True and found["ModelPackageArn"] == arn and found["RunId"] == "r1"
    assert found["ModelDataUrl"] == "s3://churn/output/r1.tar.gz"
    assert found["Baseline"] == found["DataPrefix"] == "s3://churn/p/runs/r1/"
    assert found["FeaturesUri"] == "s3://churn/p/runs/r1/features.json"


def test_a_model_of_another_group_is_no_champion(handler: ModuleType, sagemaker: Any) -> None:
    _serve_package(sagemaker, "someone-else", "x1")
    found = handler.lambda_handler({"Action": "FindChampion", "EndpointName": "ep", "ModelPackageGroupName": GROUP},
                                   None)
    assert found["exists"] is False and "was not made from a package of churn-models" in found["reason"]


def _judge(handler: ModuleType, evaluation: dict[str, Any], error: float, **gate: Any) -> dict[str, Any]:
    fake_job().final_metric_data_list = [{"MetricName": "validation:error", "Value": error,
                                          "Timestamp": datetime(2026, 1, 1)}]
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="churn")
    s3.put_object(Bucket="churn", Key="p/runs/r2/evaluation/evaluation.json", Body=json.dumps(evaluation).encode())
    return handler.lambda_handler({
        "Action": "JudgeModel", "TrainingJobName": JOB, "EvaluationUri": "s3://churn/p/runs/r2/evaluation/",
        "Floor": {"metric": "validation:error", "max": 0.1}, "Gate": {"metric": "auc", **gate}, "Approval": "auto"},
        None)


def _evaluation(candidate: float, champion: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {"task": "binary", "rows": 200, "candidate": {"metrics": {"auc": candidate}},
                           "champion": None, "comparison": None}
    if champion is not None:
        out["champion"] = {"metrics": {"auc": champion}}
        out["comparison"] = {"auc": {"absolute": round(candidate - champion, 6),
                                     "relative": round((candidate - champion) / champion, 6)}}
    return out


def test_first_model_needs_only_the_floor(handler: ModuleType, sagemaker: Any) -> None:
    judged = _judge(handler, _evaluation(0.91, None), 0.05, min_absolute_improvement=0.0)
    assert judged["decision"] == "deploy" and judged["approval_status"] == "Approved"
    assert judged["reason"] == "validation:error 0.05 <= 0.1; no model in production to beat (auc 0.91)"
    assert judged["floor"]["passed"] is True and "champion" not in judged["gate"]
    below = _judge(handler, _evaluation(0.99, None), 0.12, min_absolute_improvement=0.0)
    assert below["decision"] == "reject" and below["approval_status"] == "Rejected"
    assert below["reason"] == "the model does not clear the floor: validation:error 0.12 > 0.1"


def test_a_challenger_must_beat_the_champion_by_the_margin(handler: ModuleType, sagemaker: Any) -> None:
    wins = _judge(handler, _evaluation(0.93, 0.91), 0.05, min_absolute_improvement=0.01)
    assert wins["decision"] == "deploy" and wins["gate"]["absolute"] == pytest.approx(0.02)
    assert "auc 0.93 vs 0.91 for the model in production (gain +0.02 on 200 held-back rows)" in wins["reason"]
    loses = _judge(handler, _evaluation(0.915, 0.91), 0.05, min_absolute_improvement=0.01)
    assert loses["decision"] == "reject" and loses["approval_status"] == "Rejected"
    assert loses["reason"].startswith("the model does not beat the model in production: auc 0.915 vs 0.91")
    assert loses["reason"].endswith("it needed an absolute gain of 0.01")
    relative = _judge(handler, _evaluation(0.92, 0.91), 0.05, min_absolute_improvement=0.0,
                      min_relative_improvement=0.05)
    assert relative["decision"] == "reject" and relative["reason"].endswith("it needed a relative gain of 0.05")


def test_manual_approval_waits_for_a_person(handler: ModuleType, sagemaker: Any) -> None:
    fake_job().final_metric_data_list = [{"MetricName": "validation:error", "Value": 0.05,
                                          "Timestamp": datetime(2026, 1, 1)}]
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="churn")
    s3.put_object(Bucket="churn", Key="e/evaluation.json", Body=json.dumps(_evaluation(0.9, None)).encode())
    judged = handler.lambda_handler({"Action": "JudgeModel", "TrainingJobName": JOB, "EvaluationUri": "s3://churn/e/",
                                     "Floor": {"metric": "validation:error", "max": 0.1}, "Gate": {"metric": "auc"},
                                     "Approval": "manual"}, None)
    assert judged["decision"] == "deploy" and judged["approval_status"] == "PendingManualApproval"
    with pytest.raises(handler.EvaluationNotFound, match="cannot read the evaluation"):
        handler.lambda_handler({"Action": "JudgeModel", "TrainingJobName": JOB, "EvaluationUri": "s3://churn/none/",
                                "Floor": {"metric": "validation:error", "max": 0.1}, "Gate": {"metric": "auc"}}, None)
    with pytest.raises(handler.InvalidEvent, match="unknown Action 'Dance'"):
        handler.lambda_handler({"Action": "Dance"}, None)
