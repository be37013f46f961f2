"""code/query_training_status.py against moto's SageMaker (training jobs there complete at once)."""

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
    return code_module("query_training_status")


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
