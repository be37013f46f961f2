"""The workflow's evaluation job (code/evaluate.py with retrain/evaluation.py) as SageMaker runs it: a processing
job in the XGBoost 1.7-1 image, scoring a candidate and a champion — each model with its own features.json — on the
same held-back rows, with xgboost 1.7.4 models as the built-in algorithm writes them."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_sagemaker_support import XGB_IMAGE, put, unique, wait_for

import xgb17
from retrain import evaluation

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5}}
P = "/opt/ml/processing"
MANIFEST = {"label": "y", "task": "binary", "label_values": {"yes": 1, "no": 0}, "numeric": ["a", "b"],
            "categorical": {"c": ["u", "v"]}, "features": ["a", "b", "c_u", "c_v"], "input_format": "raw"}


def _rows(n: int, seed: int) -> tuple[str, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=n), rng.normal(size=n), rng.choice(["u", "v"], n)
    y = ((a + (c == "u") * 0.8 + rng.normal(scale=0.7, size=n)) > 0.5).astype(int)
    text = "a,b,c,y\n" + "".join(f"{a[i]:.4f},{b[i]:.4f},{c[i]},{'yes' if y[i] else 'no'}\n" for i in range(n))
    X = np.column_stack([a, b, c == "u", c == "v"]).astype(float)
    return text, X, y


def _model(X: np.ndarray, y: np.ndarray, rounds: int) -> tuple[bytes, bytes]:
    """``(model file, model.tar.gz)`` of xgboost 1.7.4, as the built-in algorithm writes them."""
    raw = xgb17.train_model(X, y, {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3}, rounds)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        archive.addfile(info, io.BytesIO(raw))
    return raw, buffer.getvalue()


def _input(name: str, uri: str, path: str) -> dict[str, Any]:
    return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": path, "S3DataType": "S3Prefix",
                                           "S3InputMode": "File"}}


@pytest.mark.slow
def test_the_evaluation_job_scores_both_models_on_the_same_rows(sm: Any, s3: Any, bucket: str, role: str) -> None:
    _, X_train, y_train = _rows(600, 1)
    holdout, X, y = _rows(150, 2)
    prefix = f"eval/{unique('r')}"
    for name, path in (("evaluate.py", ROOT / "code" / "evaluate.py"), ("evaluation.py", Path(evaluation.__file__))):
        put(s3, bucket, f"{prefix}/code/{name}", path.read_bytes())
    put(s3, bucket, f"{prefix}/holdout/holdout.csv", holdout)
    strong, strong_tar = _model(X_train, y_train, 40)
    # the champion: fewer rounds, and trained with its feature columns in an order of its own
    reordered = {**MANIFEST, "features": ["c_v", "c_u", "b", "a"]}
    weak, weak_tar = _model(X_train[:, [3, 2, 1, 0]], y_train, 2)
    for role_name, model, manifest in (("candidate", strong_tar, MANIFEST), ("champion", weak_tar, reordered)):
        put(s3, bucket, f"{prefix}/{role_name}/model.tar.gz", model)
        put(s3, bucket, f"{prefix}/{role_name}/features.json", json.dumps(manifest))
    name = unique("eval")
    inputs = [_input("code", f"s3://{bucket}/{prefix}/code/", f"{P}/code"),
              _input("holdout", f"s3://{bucket}/{prefix}/holdout/holdout.csv", f"{P}/holdout"),
              _input("candidate-model", f"s3://{bucket}/{prefix}/candidate/model.tar.gz", f"{P}/candidate/model"),
              _input("candidate-data", f"s3://{bucket}/{prefix}/candidate/features.json", f"{P}/candidate/data"),
              _input("champion-model", f"s3://{bucket}/{prefix}/champion/model.tar.gz", f"{P}/champion/model"),
              _input("champion-data", f"s3://{bucket}/{prefix}/champion/features.json", f"{P}/champion/data")]
    sm.create_processing_job(
        ProcessingJobName=name, RoleArn=role, ProcessingResources=CLUSTER, ProcessingInputs=inputs,
        AppSpecification={"ImageUri": XGB_IMAGE, "ContainerEntrypoint": ["python3", f"{P}/code/evaluate.py"]},
        ProcessingOutputConfig={"Outputs": [{"OutputName": "evaluation", "S3Output": {
            "S3Uri": f"s3://{bucket}/{prefix}/evaluation/", "LocalPath": f"{P}/evaluation",
            "S3UploadMode": "EndOfJob"}}]})
    job = wait_for(lambda: sm.describe_processing_job(ProcessingJobName=name), "ProcessingJobStatus",
                   ("InProgress", "Stopping"), timeout=120)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    result = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/evaluation/evaluation.json")["Body"].read())
    assert result["task"] == "binary" and result["rows"] == 150 and result["labels"] == y.astype(float).tolist()
    # the reference: xgboost 1.7.4 on the rows each model's features.json encodes
    expected_candidate = xgb17.predict(strong, X)
    assert np.allclose(result["candidate"]["scores"], expected_candidate, atol=1e-6)
    expected = evaluation.metrics("binary", y, expected_candidate)
    assert result["candidate"]["metrics"] == pytest.approx(expected, abs=2e-6)
    expected_champion = xgb17.predict(weak, X[:, [3, 2, 1, 0]])  # encoded by its own features.json
    assert np.allclose(result["champion"]["scores"], expected_champion, atol=1e-6)
    auc_champion = result["champion"]["metrics"]["auc"]
    assert result["comparison"]["auc"]["absolute"] == pytest.approx(result["candidate"]["metrics"]["auc"] -
                                                                     auc_champion, abs=1e-6)
    assert result["comparison"]["logloss"]["absolute"] == pytest.approx(
        result["champion"]["metrics"]["logloss"] - result["candidate"]["metrics"]["logloss"], abs=1e-6)
