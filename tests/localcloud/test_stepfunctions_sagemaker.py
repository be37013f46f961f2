"""Step Functions driving real SageMaker training and hosting on localcloud (the optimized integration).

AWS behaviour relied on: ``createTrainingJob.sync`` returns the DescribeTrainingJob response once the job ended
(timestamps as epoch milliseconds, as the Java SDK serialises them) and records ``TaskSubmitted`` with the create
response; a job that ends Failed fails the task with ``States.TaskFailed``; service errors the SageMaker model does
not declare (``ValidationException``) are ``SageMaker.AmazonSageMakerException`` — the name AWS users see for
SageMaker throttling and validation errors in Retry/Catch (aws-step-functions-data-science-sdk-python issue #191).
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from sfn_helpers import ensure_role, history, run, unique, wait_done, wait_for

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TRUST_SAGEMAKER = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions")


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-sagemaker-tests-role")


@pytest.fixture(scope="module")
def sagemaker_role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-sagemaker-tests-exec-role", TRUST_SAGEMAKER)


@pytest.fixture(scope="module")
def data(aws: Any) -> str:
    """A bucket with tiny label-first CSV train/validation channels."""
    rng = random.Random(7)
    rows = []
    for _ in range(200):
        x1, x2 = rng.random(), rng.random()
        rows.append(f"{int(x1 + x2 > 1)},{x1:.4f},{x2:.4f}")
    bucket = unique("sfn-sm-data")
    s3 = aws("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="train/train.csv", Body="\n".join(rows[:150]).encode())
    s3.put_object(Bucket=bucket, Key="validation/validation.csv", Body="\n".join(rows[150:]).encode())
    return bucket


def _training(bucket: str, exec_role: str, hyperparameters: dict[str, str]) -> dict[str, Any]:
    return {
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": exec_role,
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {"ChannelName": name, "ContentType": "text/csv", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{name}/", "S3DataDistributionType": "FullyReplicated"}}}
            for name in ("train", "validation")],
        "TrainingJobName.$": "$.job",
    }


GOOD_HP = {"objective": "binary:logistic", "num_round": "10", "max_depth": "3", "eval_metric": "error"}


@pytest.mark.slow
def test_training_sync_then_model_and_endpoint_config(sfn: Any, role: str, sagemaker_role: str, data: str) -> None:
    job = unique("sfn-train")
    definition = {"StartAt": "Train", "States": {
        "Train": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                  "Parameters": _training(data, sagemaker_role, GOOD_HP), "ResultPath": "$.training",
                  "Next": "Model"},
        "Model": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createModel",
                  "Parameters": {"ModelName.$": "$.job", "ExecutionRoleArn": sagemaker_role,
                                 "PrimaryContainer": {"Image": IMAGE,
                                                      "ModelDataUrl.$": "$.training.ModelArtifacts.S3ModelArtifacts"}},
                  "ResultPath": "$.model", "Next": "Config"},
        "Config": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createEndpointConfig",
                   "Parameters": {"EndpointConfigName.$": "$.job", "ProductionVariants": [{
                       "VariantName": "AllTraffic", "ModelName.$": "$.job", "InitialInstanceCount": 1,
                       "InstanceType": "ml.m5.large"}]},
                   "ResultPath": "$.config", "End": True}}}
    described = run(sfn, role, definition, {"job": job})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    training = output["training"]
    assert training["TrainingJobName"] == job and training["TrainingJobStatus"] == "Completed"
    assert training["ModelArtifacts"]["S3ModelArtifacts"].endswith(f"{job}/output/model.tar.gz")
    assert isinstance(training["CreationTime"], int) and training["CreationTime"] > 1_600_000_000_000
    assert {m["MetricName"] for m in training["FinalMetricDataList"]} >= {"validation:error", "train:error"}
    assert list(training) == sorted(training)
    assert output["model"]["ModelArn"].endswith(f":model/{job}")
    assert set(output["model"]) == {"ModelArn", "SdkHttpMetadata", "SdkResponseMetadata"}
    assert output["config"]["EndpointConfigArn"].endswith(f":endpoint-config/{job}")
    submitted = [e for e in described["history"] if e["type"] == "TaskSubmitted"][0]["taskSubmittedEventDetails"]
    assert json.loads(submitted["output"])["TrainingJobArn"].endswith(f":training-job/{job}")
    assert (submitted["resourceType"], submitted["resource"]) == ("sagemaker", "createTrainingJob.sync")


@pytest.mark.slow
def test_failed_training_fails_the_task(sfn: Any, role: str, sagemaker_role: str, data: str) -> None:
    job = unique("sfn-train-bad")
    bad = {**GOOD_HP, "max_depth": "deep"}
    definition = {"StartAt": "Train", "States": {"Train": {
        "Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
        "Parameters": _training(data, sagemaker_role, bad), "End": True}}}
    described = run(sfn, role, definition, {"job": job})
    assert (described["status"], described["error"]) == ("FAILED", "States.TaskFailed")
    cause = json.loads(described["cause"])
    assert cause["TrainingJobName"] == job and cause["TrainingJobStatus"] == "Failed"
    assert "max_depth" in cause["FailureReason"]


def test_validation_errors_are_amazon_sagemaker_exceptions(sfn: Any, role: str) -> None:
    definition = {"StartAt": "Config", "States": {"Config": {
        "Type": "Task", "Resource": "arn:aws:states:::sagemaker:createEndpointConfig",
        "Parameters": {"EndpointConfigName": unique("cfg"), "ProductionVariants": [{
            "VariantName": "AllTraffic", "ModelName": unique("no-such-model"), "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large"}]},
        "Retry": [{"ErrorEquals": ["SageMaker.AmazonSageMakerException"], "MaxAttempts": 1,
                   "IntervalSeconds": 1}],
        "End": True}}}
    described = run(sfn, role, definition)
    assert (described["status"], described["error"]) == ("FAILED", "SageMaker.AmazonSageMakerException")
    assert "Could not find model" in described["cause"]
    assert "(Service: AmazonSageMaker; Status Code: 400; Error Code: ValidationException" in described["cause"]
    types = [e["type"] for e in described["history"]]
    assert types.count("TaskFailed") == 2  # the retrier matched the name once


@pytest.mark.slow
def test_stopping_the_execution_stops_training(sfn: Any, role: str, sagemaker_role: str, data: str,
                                              aws: Any) -> None:
    job = unique("sfn-train-stop")
    hp = {**GOOD_HP, "num_round": "100000"}
    definition = {"StartAt": "Train", "States": {"Train": {
        "Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
        "Parameters": _training(data, sagemaker_role, hp), "End": True}}}
    arn = sfn.create_state_machine(name=unique("sfn-sm-stop"), definition=json.dumps(definition),
                                   roleArn=role)["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"job": job}))
    wait_for(lambda: any(e["type"] == "TaskSubmitted" for e in history(sfn, started["executionArn"])))
    sfn.stop_execution(executionArn=started["executionArn"])
    assert wait_done(sfn, started["executionArn"])["status"] == "ABORTED"
    sm = aws("sagemaker")
    status = wait_for(lambda: sm.describe_training_job(TrainingJobName=job)["TrainingJobStatus"]
                      if sm.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] in
                      ("Stopped", "Completed", "Failed") else None, limit=120)
    assert status in ("Stopped", "Completed")  # stop requested; a job that already finished stays Completed
