"""code/step_cache.py through the model gate's handler, against moto's S3 and SageMaker: a key made of the inputs,
a hit only after a stored success whose outputs still exist, a miss for any changed input or a dangling entry."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"
BUCKET = "cache-bucket"
CACHE = f"s3://{BUCKET}/p/cache/"
CODE = [f"s3://{BUCKET}/p/code/glue_etl.py", f"s3://{BUCKET}/p/code/etl_io.py"]
ARGUMENTS = {"--TRAIN_FRACTION": "0.7", "--SEED": "42", "--INPUT_FORMAT": "raw"}
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TRAINING = {"AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "HyperParameters": {"num_round": "100", "eta": "0.2"},
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}}


@pytest.fixture
def handler(code_module: Callable[[str], ModuleType]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    gate = code_module("model_gate")

    def call(event: dict[str, Any]) -> dict[str, Any]:
        result = gate.lambda_handler(event, None)
        assert json.loads(json.dumps(result)) == result  # a Lambda result must be JSON
        return dict(result)

    return call


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="p/data/churn.csv", Body=b"label,x\n1,2\n0,3\n")
        for uri in CODE:
            client.put_object(Bucket=BUCKET, Key=uri.split("/", 3)[3], Body=b"print('etl')\n")
        yield client


def run_names(run_id: str) -> dict[str, str]:
    prefix = f"s3://{BUCKET}/p/runs/{run_id}/"
    return {"RunId": run_id, "DataPrefix": prefix, "FeaturesUri": prefix + "features.json",
            "TrainUri": prefix + "train/", "ValidationUri": prefix + "validation/", "TrainingJobName": f"p-{run_id}",
            "EvaluationUri": prefix + "evaluation/"}


def write_etl_outputs(s3: Any, run_id: str) -> None:
    """What the Glue job writes under a run's prefix (code/etl_io.py)."""
    for key in ("features.json", "profile.json", "train/part-00000.csv", "validation/part-00000.csv"):
        s3.put_object(Bucket=BUCKET, Key=f"p/runs/{run_id}/{key}", Body=b"x")


def etl_lookup(handler: Callable[..., dict[str, Any]], run_id: str, **arguments: str) -> dict[str, Any]:
    return handler({"Action": "LookUpCache", "Step": "etl", "CacheUri": CACHE, "Run": run_names(run_id),
                    "Inputs": {"Data": f"s3://{BUCKET}/p/data/churn.csv", "Code": CODE,
                               "Arguments": {**ARGUMENTS, **arguments}}})


def store(handler: Callable[..., dict[str, Any]], step: str, key: str, run_id: str) -> dict[str, Any]:
    return handler({"Action": "StoreInCache", "Step": step, "CacheUri": CACHE, "Key": key, "Run": run_names(run_id)})


def test_an_etl_output_is_reused_only_after_it_was_stored(handler: Callable[..., dict[str, Any]], s3: Any) -> None:
    first = etl_lookup(handler, "run-1")
    assert first["Hit"] is False and first["ReusedRun"] is None and first["Run"] == run_names("run-1")
    assert first["Key"].startswith("sha256:") and "no earlier run" in first["Reason"]
    write_etl_outputs(s3, "run-1")
    stored = store(handler, "etl", first["Key"], "run-1")
    assert stored["Stored"] == f"{CACHE}etl/{first['Key'][7:]}.json"
    entry = json.loads(s3.get_object(Bucket=BUCKET, Key=stored["Stored"].split("/", 3)[3])["Body"].read())
    assert entry["RunId"] == "run-1" and entry["Outputs"]["TrainUri"] == run_names("run-1")["TrainUri"]

    second = etl_lookup(handler, "run-2")
    assert second["Hit"] is True and second["Key"] == first["Key"] and second["ReusedRun"] == "run-1"
    reused, own = run_names("run-1"), run_names("run-2")
    for name in ("DataPrefix", "FeaturesUri", "TrainUri", "ValidationUri"):  # the data of run 1 ...
        assert second["Run"][name] == reused[name]
    for name in ("RunId", "TrainingJobName", "EvaluationUri"):  # ... and everything else still run 2's
        assert second["Run"][name] == own[name]


def test_any_changed_etl_input_is_another_key(handler: Callable[..., dict[str, Any]], s3: Any) -> None:
    key = etl_lookup(handler, "run-1")["Key"]
    write_etl_outputs(s3, "run-1")
    store(handler, "etl", key, "run-1")
    assert etl_lookup(handler, "run-2", **{"--TRAIN_FRACTION": "0.8"})["Hit"] is False  # the split settings
    s3.put_object(Bucket=BUCKET, Key="p/code/etl_io.py", Body=b"print('etl v2')\n")  # the code as uploaded
    assert etl_lookup(handler, "run-2")["Hit"] is False
    s3.put_object(Bucket=BUCKET, Key="p/code/etl_io.py", Body=b"print('etl')\n")
    assert etl_lookup(handler, "run-2")["Hit"] is True  # same content again: same key
    s3.put_object(Bucket=BUCKET, Key="p/data/churn.csv", Body=b"label,x\n1,2\n0,4\n")  # the data's content
    changed = etl_lookup(handler, "run-2")
    assert changed["Hit"] is False and changed["Key"] != key


def test_an_entry_whose_outputs_were_deleted_is_a_miss(handler: Callable[..., dict[str, Any]], s3: Any) -> None:
    key = etl_lookup(handler, "run-1")["Key"]
    write_etl_outputs(s3, "run-1")
    store(handler, "etl", key, "run-1")
    s3.delete_object(Bucket=BUCKET, Key="p/runs/run-1/train/part-00000.csv")  # clean-up took the data
    found = etl_lookup(handler, "run-2")
    assert found["Hit"] is False and found["Run"] == run_names("run-2")
    assert found["Reason"] == f"run run-1 made these outputs but s3://{BUCKET}/p/runs/run-1/train/ no longer exists"


def _train(sm: Any, run_id: str) -> str:
    """A training job of run ``run_id`` (moto's complete at once) and its model artifact in the bucket."""
    name = f"p-{run_id}"
    sm.create_training_job(TrainingJobName=name, AlgorithmSpecification=TRAINING["AlgorithmSpecification"],
                           RoleArn="arn:aws:iam::123456789012:role/sagemaker",
                           InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                               "S3DataType": "S3Prefix", "S3Uri": run_names(run_id)["TrainUri"]}}}],
                           OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/p/output"},
                           ResourceConfig=TRAINING["ResourceConfig"], StoppingCondition={"MaxRuntimeInSeconds": 60},
                           HyperParameters=TRAINING["HyperParameters"])
    artifact = sm.describe_training_job(TrainingJobName=name)["ModelArtifacts"]["S3ModelArtifacts"]
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=artifact.split("/", 3)[3], Body=b"model")
    return artifact


def training_lookup(handler: Callable[..., dict[str, Any]], run_id: str, etl: str = "sha256:etl-1",
                    **hyperparameters: str) -> dict[str, Any]:
    request = {**TRAINING, "HyperParameters": {**TRAINING["HyperParameters"], **hyperparameters}}
    return handler({"Action": "LookUpCache", "Step": "training", "CacheUri": CACHE, "Run": run_names(run_id),
                    "Inputs": {"Etl": etl, "Training": request}})


def test_a_training_job_is_reused_for_the_same_data_and_request(handler: Callable[..., dict[str, Any]],
                                                                 s3: Any) -> None:
    sm = boto3.client("sagemaker", region_name=REGION)
    first = training_lookup(handler, "run-1")
    assert first["Hit"] is False
    artifact = _train(sm, "run-1")
    store(handler, "training", first["Key"], "run-1")

    second = training_lookup(handler, "run-2")
    assert second["Hit"] is True and second["ReusedRun"] == "run-1"
    assert second["Run"]["TrainingJobName"] == "p-run-1"  # the judge and the report read the reused job
    assert second["Run"]["EvaluationUri"] == run_names("run-2")["EvaluationUri"]  # evaluated again, as run 2
    assert training_lookup(handler, "run-2", num_round="50")["Hit"] is False  # other hyperparameters
    assert training_lookup(handler, "run-2", etl="sha256:etl-2")["Hit"] is False  # other data
    s3.delete_object(Bucket=BUCKET, Key=artifact.split("/", 3)[3])  # the model artifact is gone
    gone = training_lookup(handler, "run-2")
    assert gone["Hit"] is False and gone["Reason"].endswith(f"model artifact {artifact} no longer exists")


def test_a_missing_training_job_is_a_miss(handler: Callable[..., dict[str, Any]], s3: Any) -> None:
    key = training_lookup(handler, "run-1")["Key"]
    store(handler, "training", key, "run-1")  # an entry naming a job SageMaker does not know
    found = training_lookup(handler, "run-2")
    assert found["Hit"] is False and "training job p-run-1" in found["Reason"]


@pytest.mark.parametrize("event", [{"Action": "LookUpCache", "Step": "deploy", "CacheUri": CACHE, "Run": {},
                                    "Inputs": {}},
                                   {"Action": "StoreInCache", "Step": "etl", "CacheUri": CACHE, "Run": {}}])
def test_a_malformed_event_names_what_it_lacks(handler: Callable[..., dict[str, Any]], s3: Any,
                                               event: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="needs Step") as raised:
        handler(event)
    assert type(raised.value).__name__ == "CacheEventError"
