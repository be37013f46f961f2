"""Shared helpers of the SageMaker tests: data, S3 layout, requests and waits (imported by the test modules)."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from typing import Any

import numpy as np
import xgboost as xgb

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SEED_HPS = {"max_depth": "5", "eta": "0.2", "gamma": "4", "min_child_weight": "6", "subsample": "0.8",
            "objective": "binary:logistic", "eval_metric": "error", "num_round": "30"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def to_csv(rows: np.ndarray) -> str:
    return "\n".join(",".join(f"{v:g}" for v in row) for row in rows) + "\n"


def synthetic(rows: int, seed: int, features: int = 6) -> np.ndarray:
    """Label-first rows: the label depends on the first two features, with noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).round(3)
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.4 * rng.normal(size=rows) > 0).astype(float)
    return np.column_stack([y, x])


def churn(rows: int, seed: int) -> np.ndarray:
    """Generated churn data prepared as the built-in XGBoost reads it: numeric, label (0/1) first."""
    from retrain.data import generate

    df = generate(rows, seed=seed).drop(columns=["State", "Phone"])
    for column in ("Int'l Plan", "VMail Plan"):
        df[column] = (df[column] == "yes").astype(float)
    label = (df.pop("Churn?") == "True.").astype(float)
    return np.column_stack([label.to_numpy(), df.to_numpy(dtype=float)])


def put(s3: Any, bucket: str, key: str, body: str | bytes) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def channel(name: str, uri: str, content_type: str | None = "text/csv", kind: str = "S3Prefix") -> dict[str, Any]:
    out: dict[str, Any] = {"ChannelName": name,
                           "DataSource": {"S3DataSource": {"S3DataType": kind, "S3Uri": uri,
                                                           "S3DataDistributionType": "FullyReplicated"}}}
    if content_type is not None:
        out["ContentType"] = content_type
    return out


def training_request(name: str, role: str, bucket: str, channels: list[dict[str, Any]],
                     hyperparameters: dict[str, str] | None = None, image: str = XGB_IMAGE,
                     **extra: Any) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "RoleArn": role,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": dict(SEED_HPS if hyperparameters is None else hyperparameters),
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        **extra,
    }


def wait_for(describe: Any, field: str, pending: tuple[str, ...], timeout: float = 90.0,
             **kwargs: Any) -> dict[str, Any]:
    """Poll ``describe(**kwargs)`` until ``field`` leaves the ``pending`` states."""
    deadline = time.monotonic() + timeout
    while True:
        out = describe(**kwargs)
        if out[field] not in pending or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def wait_job(sm: Any, name: str, timeout: float = 90.0) -> dict[str, Any]:
    return wait_for(sm.describe_training_job, "TrainingJobStatus", ("InProgress", "Stopping"), timeout,
                    TrainingJobName=name)


def wait_endpoint(sm: Any, name: str, timeout: float = 60.0) -> dict[str, Any]:
    return wait_for(sm.describe_endpoint, "EndpointStatus", ("Creating", "Updating"), timeout, EndpointName=name)


def load_artifact(s3: Any, uri: str) -> tuple[list[str], xgb.Booster, bytes]:
    """The file names in a model.tar.gz, the booster its ``xgboost-model`` holds (read by this environment's
    xgboost, which still reads the legacy binary format) and the file's bytes."""
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
        raw = tar.extractfile("xgboost-model").read()  # type: ignore[union-attr]
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return names, booster, raw


def tarball(files: dict[str, bytes]) -> bytes:
    """A model.tar.gz holding ``files``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def job_log(cloud: Any, name: str) -> str:
    """The algorithm's own output of a training job (what CloudWatch Logs would show)."""
    return (cloud.home / "sagemaker" / "training" / name / "algorithm.log").read_text()


def make_bucket(aws: Any) -> str:
    name = unique("sm-test")
    aws("s3").create_bucket(Bucket=name)
    return name


def trust_for(service: str) -> str:
    """A trust policy letting ``service`` (``sagemaker.amazonaws.com``) assume a role."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def make_role(aws: Any) -> str:
    return aws("iam").create_role(RoleName=unique("sm-role"),
                                  AssumeRolePolicyDocument=trust_for("sagemaker.amazonaws.com"))["Role"]["Arn"]


def sagemaker_backend(cloud: Any) -> Any:
    """The SageMaker backend of the session's server (to simulate an external kill of a training process)."""
    return cloud.app.backends["sagemaker"]


SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def wait_processing(sm: Any, name: str, timeout: float = 120.0) -> dict[str, Any]:
    return wait_for(sm.describe_processing_job, "ProcessingJobStatus", ("InProgress", "Stopping"), timeout,
                    ProcessingJobName=name)


def wait_transform(sm: Any, name: str, timeout: float = 120.0) -> dict[str, Any]:
    return wait_for(sm.describe_transform_job, "TransformJobStatus", ("InProgress", "Stopping"), timeout,
                    TransformJobName=name)


def log_events(aws: Any, group: str, prefix: str) -> dict[str, list[str]]:
    """Every stream of ``group`` whose name starts with ``prefix``, with its messages."""
    logs = aws("logs")
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)["logStreams"]
    return {s["logStreamName"]: [e["message"] for e in logs.get_log_events(
        logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True)["events"]] for s in streams}


def sdk_session(cloud: Any, bucket: str, monkeypatch: Any) -> Any:
    """A SageMaker SDK session whose boto3 clients reach the session's localcloud (as ``localcloud env`` does)."""
    import boto3
    import sagemaker

    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.endpoint_url)
    return sagemaker.Session(boto_session=boto3.Session(region_name="us-east-1"), default_bucket=bucket)


#: a script-mode training script as the SDK's SKLearn examples write it, with the model_fn serving needs
SKLEARN_TRAIN = '''
import argparse, json, os, sys
import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--c-value", type=float, default=1.0)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    args = parser.parse_args()
    rows = np.vstack([np.loadtxt(os.path.join(args.train, f), delimiter=",", ndmin=2)
                      for f in sorted(os.listdir(args.train))])
    model = LogisticRegression(C=args.c_value).fit(rows[:, 1:], rows[:, 0])
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    print(f"train_accuracy: {model.score(rows[:, 1:], rows[:, 0]):.4f}")
'''


def sourcedir(files: dict[str, str]) -> bytes:
    """The SDK's sourcedir.tar.gz of ``files``."""
    return tarball({name: text.encode() for name, text in files.items()})


def script_request(name: str, role: str, bucket: str, channels: list[dict[str, Any]], source_uri: str,
                   hyperparameters: dict[str, str] | None = None, program: str = "train.py",
                   image: str = SKLEARN_IMAGE, **extra: Any) -> dict[str, Any]:
    """CreateTrainingJob as the SDK's SKLearn estimator sends it (its own hyperparameters JSON-encoded)."""
    hps = {"sagemaker_submit_directory": json.dumps(source_uri), "sagemaker_program": json.dumps(program),
           "sagemaker_container_log_level": "20", "sagemaker_job_name": json.dumps(name),
           "sagemaker_region": json.dumps("us-east-1"), **(hyperparameters or {})}
    return training_request(name, role, bucket, channels, hps, image=image, **extra)


def sklearn_model_env(source_uri: str, program: str = "train.py") -> dict[str, str]:
    """The container Environment the SDK's SKLearnModel sends with CreateModel."""
    return {"SAGEMAKER_PROGRAM": program, "SAGEMAKER_SUBMIT_DIRECTORY": source_uri,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": "us-east-1"}
