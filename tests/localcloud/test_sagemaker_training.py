"""SageMaker training jobs: real XGBoost training, the built-in algorithm's contract, failures, stop, listing."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from botocore.config import Config
from botocore.exceptions import ClientError
from test_sagemaker_support import (
    XGB_IMAGE,
    channel,
    churn,
    job_log,
    load_artifact,
    put,
    sagemaker_backend,
    synthetic,
    to_csv,
    training_request,
    trust_for,
    unique,
    wait_for,
    wait_job,
)

import xgb17

LONG_HPS = {"num_round": "1000000", "max_depth": "6", "objective": "binary:logistic"}


@pytest.fixture(scope="module")
def churn_channels(s3: Any, bucket: str) -> dict[str, Any]:
    """Generated churn data split into train/validation prefixes (two part files, as Spark writes them)."""
    data = churn(900, seed=7)
    train, validation = data[:650], data[650:]
    put(s3, bucket, "churn/train/part-00000.csv", to_csv(train[:300]))
    put(s3, bucket, "churn/train/part-00001.csv", to_csv(train[300:]))
    put(s3, bucket, "churn/validation/part-00000.csv", to_csv(validation))
    return {"channels": [channel("train", f"s3://{bucket}/churn/train"),
                         channel("validation", f"s3://{bucket}/churn/validation/")],
            "validation": validation}


@pytest.fixture(scope="module")
def small_train(s3: Any, bucket: str) -> str:
    put(s3, bucket, "small/train/data.csv", to_csv(synthetic(300, seed=1)))
    return f"s3://{bucket}/small/train"


@pytest.fixture(scope="module")
def long_train(s3: Any, bucket: str) -> str:
    """Enough rows that a million rounds keep the algorithm busy until it is stopped."""
    put(s3, bucket, "long/train/data.csv", to_csv(synthetic(3000, seed=2, features=10)))
    return f"s3://{bucket}/long/train"


def _train(sm: Any, role: str, bucket: str, channels: list[dict[str, Any]], hps: dict[str, str] | None = None,
           **extra: Any) -> dict[str, Any]:
    name = unique("job")
    sm.create_training_job(**training_request(name, role, bucket, channels, hps, **extra))
    return wait_job(sm, name)


def _client_error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response


# --------------------------------------------------------------------------------------------------- success


def test_training_job_trains_reports_metrics_and_uploads_the_model(sm, s3, role, bucket, churn_channels) -> None:
    hps = {"max_depth": "4", "eta": "0.3", "objective": "binary:logistic", "eval_metric": "error,auc",
           "num_round": "25"}
    name = unique("churn")
    before = datetime.now(UTC) - timedelta(seconds=1)
    out = sm.create_training_job(**training_request(
        name, role, bucket, churn_channels["channels"], hps,
        DebugHookConfig={"S3OutputPath": f"s3://{bucket}/debug"}, EnableManagedSpotTraining=False,
        Tags=[{"Key": "project", "Value": "retrain"}]))
    assert out["TrainingJobArn"] == f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name.lower()}"
    job = wait_job(sm, name)

    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["SecondaryStatus"] == "Completed"
    steps = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert steps == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert all("EndTime" in t and t["StartTime"] <= t["EndTime"] for t in job["SecondaryStatusTransitions"])
    assert before <= job["CreationTime"] <= job["TrainingStartTime"] <= job["TrainingEndTime"]
    assert job["HyperParameters"] == hps and job["DebugHookConfig"]["S3OutputPath"] == f"s3://{bucket}/debug"

    metrics = {m["MetricName"]: m for m in job["FinalMetricDataList"]}
    assert set(metrics) == {"train:error", "train:auc", "validation:error", "validation:auc"}
    assert all(isinstance(m["Timestamp"], datetime) for m in metrics.values())
    assert 0.5 < metrics["validation:auc"]["Value"] <= 1.0

    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{bucket}/output/{name}/output/model.tar.gz"
    names, booster, raw = load_artifact(s3, artifact)
    assert names == ["xgboost-model"]
    assert raw[:4] == b"binf"  # the container's save_model("xgboost-model"): xgboost 1.7's legacy binary format
    validation = churn_channels["validation"]
    assert booster.num_features() == validation.shape[1] - 1
    scores = xgb17.predict(raw, validation[:, 1:])  # the container's own xgboost
    error = float(((scores > 0.5) != validation[:, 0]).mean())
    # SageMaker reads the metric off the log line (five decimals) and keeps it as a 32-bit float
    assert metrics["validation:error"]["Value"] == float(np.float32(f"{error:.5f}"))
    assert np.allclose(booster.predict(xgb.DMatrix(validation[:, 1:])), scores, atol=1e-6)


def test_identical_jobs_train_identical_models(sm, s3, role, bucket, churn_channels) -> None:
    first = _train(sm, role, bucket, churn_channels["channels"])
    second = _train(sm, role, bucket, churn_channels["channels"])
    assert first["TrainingJobStatus"] == second["TrainingJobStatus"] == "Completed"
    values = [[(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] for job in (first, second)]
    assert values[0] == values[1]
    assert [m[0] for m in values[0]] == ["validation:error", "train:error"]
    models = [load_artifact(s3, j["ModelArtifacts"]["S3ModelArtifacts"])[2] for j in (first, second)]
    assert models[0] == models[1]


def test_manifest_channel_and_early_stopping(sm, s3, role, bucket) -> None:
    put(s3, bucket, "manifest/data/a.csv", to_csv(synthetic(200, seed=3)))
    put(s3, bucket, "manifest/data/b.csv", to_csv(synthetic(200, seed=4)))
    manifest = put(s3, bucket, "manifest/train.manifest",
                   json.dumps([{"prefix": f"s3://{bucket}/manifest/data/"}, "a.csv", "b.csv"]))
    put(s3, bucket, "manifest/validation/v.csv", to_csv(synthetic(150, seed=5)))
    hps = {"num_round": "500", "objective": "binary:logistic", "eval_metric": "logloss",
           "early_stopping_rounds": "3", "eta": "0.5"}
    job = _train(sm, role, bucket, [channel("train", manifest, kind="ManifestFile"),
                                    channel("validation", f"s3://{bucket}/manifest/validation")], hps)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    booster = load_artifact(s3, job["ModelArtifacts"]["S3ModelArtifacts"])[1]
    assert booster.num_boosted_rounds() < 500  # stopped early, best iteration kept
    best = int(booster.attr("best_iteration"))
    assert booster.num_boosted_rounds() == best + 1 and booster.attr("best_ntree_limit") == str(best + 1)


def test_uncompressed_output(sm, s3, role, bucket, small_train) -> None:
    name = unique("raw")
    request = training_request(name, role, bucket, [channel("train", small_train)],
                               {"num_round": "5", "objective": "binary:logistic"})
    request["OutputDataConfig"]["CompressionType"] = "NONE"
    sm.create_training_job(**request)
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    prefix = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert prefix == f"s3://{bucket}/output/{name}/output/model/"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"output/{name}/output/model/")["Contents"]
    assert [o["Key"].rsplit("/", 1)[-1] for o in listed] == ["xgboost-model"]


def test_gzip_file_in_file_mode_is_read_as_the_container_reads_it(sm, s3, role, bucket) -> None:
    # CompressionType applies to Pipe mode only (CreateTrainingJob API reference); in File mode the object lands
    # as it is and xgboost's CSV reader sees compressed bytes
    import gzip

    put(s3, bucket, "gz/train/part-0.csv.gz", gzip.compress(to_csv(synthetic(300, seed=6)).encode()))
    train = dict(channel("train", f"s3://{bucket}/gz/train"), CompressionType="Gzip")
    job = _train(sm, role, bucket, [train], {"num_round": "5", "objective": "binary:logistic"})
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(("ClientError: Failed to load csv data",
                                            "ClientError: Could not determine delimiter"))


# --------------------------------------------------------------------------------------------------- failures


def _failure_cases(bucket: str, small_train: str) -> dict[str, tuple[dict[str, Any], str]]:
    """Each case and the FailureReason text the 1.7-1 container gives (aws/sagemaker-xgboost-container)."""
    base = {"num_round": "5", "objective": "binary:logistic"}
    train = [channel("train", small_train)]
    libsvm_error = "...' of file 'data.csv' is not 'LIBSVM' format. Please ensure the file is in 'LIBSVM' format."
    return {
        "out-of-range": ({"hps": {**base, "eta": "2"}, "channels": train}, "Hyperparameter eta: 2.0 is not in [0, 1]"),
        "unparsable": ({"hps": {**base, "max_depth": "five"}, "channels": train},
                       "Hyperparameter max_depth: could not parse value 'five'"),
        "unknown": ({"hps": {**base, "learning_speed": "1"}, "channels": train},
                    "Extraneous hyperparameter found: learning_speed"),
        "no-num-round": ({"hps": {"objective": "binary:logistic"}, "channels": train},
                         "Missing required hyperparameter: num_round"),
        "bad-metric": ({"hps": {**base, "eval_metric": "error,wrongness"}, "channels": train},
                       "Hyperparameter eval_metric: value 'wrongness'"),
        # data_utils.get_size is 0 (only empty files): train.py "No data in training channel path ..."
        "empty-channel": ({"hps": base, "channels": [channel("train", f"s3://{bucket}/empty/train")]},
                          "No data in training channel path /opt/ml/input/data/train"),
        "no-objects": ({"hps": base, "channels": [channel("train", f"s3://{bucket}/nothing/here")]},
                       f'No S3 objects found under S3 URL "s3://{bucket}/nothing/here"'),
        # an empty _SUCCESS next to the data: the container sniffs the delimiter of the first file it lists
        "success-marker": ({"hps": base, "channels": [channel("train", f"s3://{bucket}/marker/train")]},
                           "Could not determine delimiter on line :\nCould not determine delimiter"),
        "hidden-file": ({"hps": base, "channels": [channel("train", f"s3://{bucket}/hidden/train")]},
                        "Hidden file found in the data path! Remove that before training."),
        "label-range": ({"hps": base, "channels": [channel("train", f"s3://{bucket}/label/train")]},
                        "label must be in [0,1] for logistic regression"),
        "libsvm": ({"hps": base, "channels": [channel("train", small_train, content_type="text/libsvm")]},
                   libsvm_error),
        # channel_validation.py: a missing ContentType is text/libsvm
        "no-content-type": ({"hps": base, "channels": [channel("train", small_train, content_type=None)]},
                            libsvm_error),
        # the channel check is an exact match: parameters are accepted at inference, not in training
        "content-type-parameter": ({"hps": base, "channels": [channel("train", small_train,
                                                                      content_type="text/csv;label_size=1")]},
                                   "Channel configuration for 'train' channel is not supported: {'ContentType': "
                                   "'text/csv;label_size=1', 'TrainingInputMode': 'File'"),
        "no-train-channel": ({"hps": base, "channels": [channel("validation", small_train)]},
                             "Missing required channel: train"),
        "image": ({"hps": base, "channels": train, "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-algo:1"},
                  "localcloud cannot run the image '123456789012.dkr.ecr.us-east-1.amazonaws.com/my-algo:1'"),
        "other-version": ({"hps": base, "channels": train,
                           "image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.5-1"},
                          "localcloud runs the built-in XGBoost image of version 1.7-1 only"),
        "gpu": ({"hps": {**base, "tree_method": "gpu_hist"}, "channels": train}, "needs a GPU"),
    }


@pytest.fixture(scope="module")
def failure_data(s3: Any, bucket: str, small_train: str) -> dict[str, tuple[dict[str, Any], str]]:
    put(s3, bucket, "empty/train/_SUCCESS", b"")
    put(s3, bucket, "empty/train/part-0.csv", b"")
    put(s3, bucket, "marker/train/part-0.csv", to_csv(synthetic(50, seed=8)))
    put(s3, bucket, "marker/train/_SUCCESS", b"")
    put(s3, bucket, "hidden/train/part-0.csv", to_csv(synthetic(50, seed=8)))
    put(s3, bucket, "hidden/train/.part-0.csv.crc", b"crc")
    put(s3, bucket, "label/train/data.csv", "0,1,2\n2,3,4\n")
    return _failure_cases(bucket, small_train)


@pytest.mark.parametrize("case", list(_failure_cases("b", "s3://b/t")))
def test_training_job_fails_with_the_containers_reason(sm, role, bucket, failure_data, case) -> None:
    spec, expected = failure_data[case]
    extra = {"image": spec["image"]} if "image" in spec else {}
    job = _train(sm, role, bucket, spec["channels"], spec["hps"], **extra)
    assert job["TrainingJobStatus"] == "Failed"
    assert expected in job["FailureReason"], job["FailureReason"]
    prefix = "AlgorithmError: " if case in ("image", "other-version") else "ClientError: "
    assert job["FailureReason"].startswith(prefix)
    assert job["SecondaryStatusTransitions"][-1]["Status"] == "Failed"
    assert expected in job["SecondaryStatusTransitions"][-1]["StatusMessage"]
    assert "ModelArtifacts" not in job and "FinalMetricDataList" not in job


# What xgboost 1.7.4's CSV reader (dmlc) makes of odd rows: no quotes, no header, an unparsable label is 0 and an
# unparsable feature is missing. The container trains on them without complaint, so localcloud does too.
QUIRKS = {
    "header-row": ("Churn?,Day Mins,Eve Mins\n1,2,3\n", 2, 2),
    "unparsable-cell": ("1,0.5,0.25\n0,0.1,0.2\n1,2,abc\n", 3, 2),
    "ragged-rows": ("1,2,3\n0,1,2,3\n", 2, 3),
    "quoted-rows": ('"1,2,3"\n"0,1,2"\n', 2, 2),
    "non-empty-underscore-file": (None, 4, 2),
}


@pytest.mark.parametrize("case", list(QUIRKS))
def test_odd_csv_trains_as_the_container_reads_it(cloud, sm, s3, role, bucket, case) -> None:
    body, rows, columns = QUIRKS[case]
    prefix = unique(case)
    if body is None:  # dmlc reads _-prefixed files too; only the container's validation step skips them
        put(s3, bucket, f"{prefix}/train/a.csv", "1,1,2\n0,2,3\n")
        put(s3, bucket, f"{prefix}/train/_meta", "1,5,6\n0,7,8\n")
    else:
        put(s3, bucket, f"{prefix}/train/data.csv", body)
    job = _train(sm, role, bucket, [channel("train", f"s3://{bucket}/{prefix}/train")],
                 {"num_round": "2", "objective": "binary:logistic"})
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert f"Train matrix has {rows} rows and {columns} columns" in job_log(cloud, job["TrainingJobName"])


def test_role_must_exist(sm, bucket, small_train) -> None:
    missing = "arn:aws:iam::123456789012:role/no-such-role-for-training"
    error = _client_error(sm.create_training_job,
                          **training_request(unique("norole"), missing, bucket, [channel("train", small_train)]))
    assert error["Error"]["Code"] == "ValidationException"
    assert error["Error"]["Message"] == (f"Could not assume role {missing}. Please ensure that the role exists and "
                                         "allows principal 'sagemaker.amazonaws.com' to assume the role.")


def test_duplicate_and_missing_jobs(sm, role, bucket) -> None:
    name = unique("dup")
    request = training_request(name, role, bucket, [channel("train", f"s3://{bucket}/nothing")])
    sm.create_training_job(**request)
    error = _client_error(sm.create_training_job, **request)
    assert error["Error"]["Code"] == "ResourceInUse"
    assert f"training-job/{name}" in error["Error"]["Message"]
    for call in (sm.describe_training_job, sm.stop_training_job):
        error = _client_error(call, TrainingJobName=unique("ghost"))
        assert (error["Error"]["Code"], error["Error"]["Message"]) == ("ValidationException",
                                                                       "Requested resource not found.")
    wait_job(sm, name)


# --------------------------------------------------------------------------------------------------- stop & time


def _wait_training(sm: Any, name: str) -> None:
    wait_for(sm.describe_training_job, "SecondaryStatus", ("Starting", "Downloading"), TrainingJobName=name)


def test_stop_training_job(sm, role, bucket, long_train) -> None:
    name = unique("stop")
    sm.create_training_job(**training_request(name, role, bucket, [channel("train", long_train)], LONG_HPS))
    _wait_training(sm, name)
    sm.stop_training_job(TrainingJobName=name)
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Stopping", "Stopped")
    job = wait_job(sm, name, timeout=30)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-2:] == ["Stopping", "Stopped"]
    assert "ModelArtifacts" not in job
    error = _client_error(sm.stop_training_job, TrainingJobName=name)
    assert error["Error"]["Message"] == "The request was rejected because the training job is in status Stopped."


def test_max_runtime_stops_the_job(sm, role, bucket, long_train) -> None:
    job = _train(sm, role, bucket, [channel("train", long_train)], LONG_HPS,
                 StoppingCondition={"MaxRuntimeInSeconds": 1})
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    elapsed = (job["TrainingEndTime"] - job["TrainingStartTime"]).total_seconds()
    assert elapsed >= 1


def test_a_crashed_training_process_fails_the_job(cloud, sm, role, bucket, long_train) -> None:
    name = unique("crash")
    sm.create_training_job(**training_request(name, role, bucket, [channel("train", long_train)], LONG_HPS))
    _wait_training(sm, name)
    running = sagemaker_backend(cloud).runner.running
    deadline = time.monotonic() + 30
    while name not in running and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(running[name].pid, signal.SIGKILL)  # what the kernel's OOM killer would do
    job = wait_job(sm, name, timeout=30)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: the training process was killed by SIGKILL")


@pytest.mark.slow
def test_stopping_the_server_stops_its_training_processes(tmp_path) -> None:
    import boto3

    from localcloud import LocalCloud

    with LocalCloud(port=0, home=tmp_path) as other:
        session = boto3.session.Session(region_name="us-east-1")
        sm, s3, iam = (session.client(n, endpoint_url=other.endpoint_url) for n in ("sagemaker", "s3", "iam"))
        bucket = unique("own")
        s3.create_bucket(Bucket=bucket)
        arn = iam.create_role(RoleName=unique("own-role"),
                              AssumeRolePolicyDocument=trust_for("sagemaker.amazonaws.com"))["Role"]["Arn"]
        train = put(s3, bucket, "t/data.csv", to_csv(synthetic(3000, seed=2, features=10)))
        name = unique("orphan")
        sm.create_training_job(**training_request(name, arn, bucket, [channel("train", train)], LONG_HPS))
        _wait_training(sm, name)
        runner = sagemaker_backend(other).runner
        deadline = time.monotonic() + 30
        while name not in runner.running and time.monotonic() < deadline:
            time.sleep(0.02)
        procs = [runner.running[name].proc, runner._spare._spare.proc]
    assert all(p.poll() is not None for p in procs)
    for proc in procs:
        with pytest.raises(ProcessLookupError):
            os.kill(proc.pid, 0)


# --------------------------------------------------------------------------------------------------- listing


def test_list_training_jobs_filters_sorts_and_pages(sm, role, bucket, small_train) -> None:
    tag = unique("lst")
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/not-xgboost:1"
    names = []
    for i in range(3):
        names.append(f"{tag}-{i}")
        sm.create_training_job(**training_request(names[-1], role, bucket, [channel("train", small_train)],
                                                  image=image if i < 2 else XGB_IMAGE,
                                                  hyperparameters={"num_round": "2"}))
        time.sleep(0.01)
    for name in names:
        wait_job(sm, name)

    listed = sm.list_training_jobs(NameContains=tag, MaxResults=100)["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in listed] == names  # default: CreationTime, Ascending
    assert {j["TrainingJobStatus"] for j in listed} == {"Failed", "Completed"}
    failed = sm.list_training_jobs(NameContains=tag, StatusEquals="Failed")["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in failed] == names[:2]
    desc = sm.list_training_jobs(NameContains=tag, SortBy="Name", SortOrder="Descending")["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in desc] == names[::-1]
    after = listed[0]["CreationTime"]
    later = sm.list_training_jobs(NameContains=tag, CreationTimeAfter=after)["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in later] == names[1:]

    first = sm.list_training_jobs(NameContains=tag, MaxResults=2)
    assert len(first["TrainingJobSummaries"]) == 2 and first["NextToken"]
    rest = sm.list_training_jobs(NameContains=tag, MaxResults=2, NextToken=first["NextToken"])
    assert [j["TrainingJobName"] for j in rest["TrainingJobSummaries"]] == names[2:]
    assert "NextToken" not in rest
    paginated = [j["TrainingJobName"] for page in sm.get_paginator("list_training_jobs").paginate(
        NameContains=tag, PaginationConfig={"PageSize": 1}) for j in page["TrainingJobSummaries"]]
    assert paginated == names


# --------------------------------------------------------------------------------------------------- the wire


def test_malformed_requests_get_aws_errors(aws, cloud, role, bucket) -> None:
    raw = aws("sagemaker", config=Config(parameter_validation=False))
    error = _client_error(raw.create_training_job, TrainingJobName="bad_name", RoleArn=role,
                          AlgorithmSpecification={"TrainingImage": "x", "TrainingInputMode": "File"},
                          OutputDataConfig={"S3OutputPath": f"s3://{bucket}/o"})
    assert error["Error"]["Code"] == "ValidationException"
    assert "Value 'bad_name' at 'trainingJobName' failed to satisfy constraint" in error["Error"]["Message"]
    error = _client_error(raw.create_training_job, TrainingJobName=unique("norole"),
                          AlgorithmSpecification={"TrainingImage": "x", "TrainingInputMode": "File"},
                          OutputDataConfig={"S3OutputPath": f"s3://{bucket}/o"})
    assert "Value null at 'roleArn'" in error["Error"]["Message"]
    error = _client_error(raw.list_training_jobs, SortBy="Color")
    assert error["Error"]["Code"] == "ValidationException" and "sortBy" in error["Error"]["Message"]

    request = urllib.request.Request(
        cloud.endpoint_url + "/", data=b"{not json", method="POST",
        headers={"X-Amz-Target": "SageMaker.DescribeTrainingJob", "Content-Type": "application/x-amz-json-1.1",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sagemaker/aws4_request, "
                                  "SignedHeaders=host, Signature=0"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 400
    assert json.loads(err.value.read())["__type"] == "SerializationException"


@pytest.mark.parametrize("pinned", [None, "1"])
def test_training_uses_every_core_unless_told(tmp_path: Any, monkeypatch: Any, pinned: str | None) -> None:
    """The 1.7-1 container trains with xgboost's default thread count (every core of the instance; ``nthread`` is
    an optional hyperparameter and only serving sets it to 1): the training process's OpenMP pool has a thread per
    core, unless the server's own environment pins ``OMP_NUM_THREADS``."""
    import subprocess

    from localcloud import images
    from localcloud.services.sagemaker.training import trainer_spec

    if pinned is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", pinned)
    probe = ("import xgboost, threadpoolctl; "
             "print([p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'openmp'])")
    spec = trainer_spec(tmp_path)
    done = subprocess.run([images.python(images.XGBOOST), "-c", probe], env=spec.environment(), capture_output=True,
                          text=True, timeout=120, check=True)
    threads = json.loads(done.stdout.strip().splitlines()[-1])
    assert threads, done.stdout
    assert set(threads) == {int(pinned) if pinned else len(os.sched_getaffinity(0))}  # libgomp: the usable CPUs
