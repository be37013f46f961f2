"""The pinned SDKs import together and build a SageMaker training step offline (no AWS calls)."""

from __future__ import annotations

import importlib.metadata

import boto3
import pytest

REGION = "us-east-1"
BUCKET = "churn-retrain-bucket"
ROLE = "arn:aws:iam::123456789012:role/StepFunctionsWorkflowExecutionRole"


def test_pinned_versions() -> None:
    assert importlib.metadata.version("stepfunctions") == "2.3.0"
    assert importlib.metadata.version("sagemaker").split(".")[0] == "2"


def test_training_step_uses_the_sync_sagemaker_integration() -> None:
    import sagemaker
    import stepfunctions
    from sagemaker.estimator import Estimator
    from stepfunctions.inputs import ExecutionInput
    from stepfunctions.steps import TrainingStep

    assert stepfunctions.__name__ == "stepfunctions"
    session = sagemaker.Session(boto_session=boto3.Session(region_name=REGION), default_bucket=BUCKET)
    image = sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1")
    assert image == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    estimator = Estimator(
        image_uri=image,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{BUCKET}/models",
        sagemaker_session=session,
    )
    estimator.set_hyperparameters(
        max_depth=5, eta=0.2, gamma=4, min_child_weight=6, subsample=0.8,
        objective="binary:logistic", num_round=100, eval_metric="error",
    )  # fmt: skip
    execution_input = ExecutionInput(schema={"TrainingJobName": str})
    step = TrainingStep(
        "Train",
        estimator=estimator,
        data={
            "train": sagemaker.inputs.TrainingInput(
                f"s3://{BUCKET}/prepared/train/", content_type="text/csv"
            ),
            "validation": sagemaker.inputs.TrainingInput(
                f"s3://{BUCKET}/prepared/validation/", content_type="text/csv"
            ),
        },
        job_name=execution_input["TrainingJobName"],
    )
    state = step.to_dict()
    assert state["Type"] == "Task"
    assert state["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    params = state["Parameters"]
    assert params["TrainingJobName.$"] == "$$.Execution.Input['TrainingJobName']"
    assert params["AlgorithmSpecification"]["TrainingImage"] == image
    assert params["HyperParameters"]["num_round"] == "100"  # hyperparameters become strings
    assert params["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/models"
    channels = {c["ChannelName"]: c for c in params["InputDataConfig"]}
    assert channels["validation"]["ContentType"] == "text/csv"


def test_default_bucket_lookup_still_reaches_for_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trap the offline build avoids: ``Session.default_bucket()`` calls S3 even when the bucket is given."""
    import sagemaker

    session = sagemaker.Session(boto_session=boto3.Session(region_name=REGION), default_bucket=BUCKET)
    calls: list[dict[str, str]] = []
    monkeypatch.setattr(session, "_create_s3_bucket_if_it_does_not_exist", lambda **kw: calls.append(kw))
    assert session.default_bucket() == BUCKET
    assert calls == [{"bucket_name": BUCKET, "region": REGION}]
