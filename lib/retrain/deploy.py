"""The deployed endpoint: its status, and a smoke test with rows held back from training.

The held-back rows never reached the Glue job, the training job or the gate; scoring them through the endpoint
checks the model that is actually serving, end to end (features, serialisation, scores).
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from retrain.errors import CloudError
from retrain.evaluation import EvaluationError, encode_rows

LOG = logging.getLogger(__name__)



def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)`` (``s3a://`` too)."""
    rest = uri.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key


def read_json(s3: Any, uri: str) -> Any:
    bucket, key = split_s3_uri(uri)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def read_bytes(s3: Any, uri: str) -> bytes:
    bucket, key = split_s3_uri(uri)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def features_matrix(data: bytes, manifest: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` for held-back rows, encoded for the model of ``manifest`` (its ``features.json``) as the ETL job
    encoded its training rows (:func:`retrain.evaluation.encode_rows`)."""
    try:
        return encode_rows(data, manifest)
    except EvaluationError as exc:
        raise CloudError(str(exc)) from exc


def to_csv_payload(rows: np.ndarray) -> str:
    """Rows without label as ``text/csv`` (what the XGBoost container expects)."""
    return "\n".join(",".join(format(float(v), ".10g") for v in row) for row in rows)


def parse_scores(body: bytes | str) -> np.ndarray:
    """Scores from the endpoint's CSV answer: one per line (binary, regression, multi:softmax), or one row of
    class probabilities per line (multi:softprob); a single line of comma-separated scores is one per row."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    lines = [line for line in text.splitlines() if line.strip()]
    rows = [[float(t) for t in line.split(",") if t.strip()] for line in lines]
    if len(rows) == 1 and len(rows[0]) > 1:  # the older answer: every score on one line
        return np.array(rows[0], dtype=float)
    if rows and max(len(r) for r in rows) > 1:
        return np.array(rows, dtype=float)
    return np.array([r[0] for r in rows], dtype=float)


def invoke(runtime: Any, endpoint: str, rows: np.ndarray, *, batch: int = 500) -> np.ndarray:
    """Score ``rows`` through the endpoint in batches; one score per row."""
    scores: list[np.ndarray] = []
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv",
                                           Body=to_csv_payload(chunk).encode("utf-8"))
        got = parse_scores(response["Body"].read())
        if len(got) != len(chunk):
            raise CloudError(f"endpoint {endpoint} returned {len(got)} scores for {len(chunk)} rows.")
        scores.append(got)
    return np.concatenate(scores) if scores else np.array([], dtype=float)


@dataclass
class SmokeTest:
    """The endpoint's answers for the held-back rows."""

    endpoint: str
    labels: np.ndarray
    scores: np.ndarray
    cutoff: float = 0.5
    task: str = "binary"

    @property
    def rows(self) -> int:
        return int(len(self.labels))

    @property
    def predictions(self) -> np.ndarray:
        """The predicted class (binary: above the cut-off; multiclass: the likeliest), or the value."""
        if self.task == "regression":
            return self.scores
        if self.task == "multiclass":
            return self.scores.argmax(axis=1) if self.scores.ndim == 2 else self.scores.astype(int)
        return (self.scores > self.cutoff).astype(int)

    @property
    def accuracy(self) -> float | None:
        if not self.rows or self.task == "regression":
            return None
        return float((self.predictions == self.labels).mean())

    @property
    def rmse(self) -> float | None:
        if not self.rows or self.task != "regression":
            return None
        return float(np.sqrt(np.mean((self.scores - self.labels) ** 2)))

    def to_summary(self) -> dict[str, Any]:
        if self.task == "regression":
            rmse = self.rmse
            return {"rows": self.rows, "rmse": None if rmse is None else round(rmse, 4)}
        acc = self.accuracy
        return {"rows": self.rows, "accuracy": None if acc is None else round(acc, 4)}


def smoke_test(runtime: Any, endpoint: str, X: np.ndarray, y: np.ndarray, task: str = "binary") -> SmokeTest:
    """Invoke ``endpoint`` with the held-back rows ``X`` and compare with their labels ``y``."""
    labels = np.asarray(y, dtype=float if task == "regression" else int)
    return SmokeTest(endpoint=endpoint, labels=labels, scores=invoke(runtime, endpoint, X), task=task)


def describe_endpoint(sm: Any, name: str) -> dict[str, Any] | None:
    """The endpoint's description, or None when it does not exist."""
    try:
        return sm.describe_endpoint(EndpointName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
            return None
        raise CloudError(f"cannot describe endpoint {name}: {exc}") from exc


def wait_in_service(sm: Any, name: str, *, timeout: float = 1800, poll: float = 5) -> dict[str, Any]:
    """Wait until the endpoint is ``InService`` (a fresh update may still be rolling out)."""
    deadline = time.monotonic() + timeout
    while True:
        desc = describe_endpoint(sm, name)
        if desc is None:
            raise CloudError(f"endpoint {name} does not exist.")
        if desc["EndpointStatus"] == "InService":
            return desc
        if desc["EndpointStatus"] == "Failed":
            raise CloudError(f"endpoint {name} failed: {desc.get('FailureReason')}")
        if time.monotonic() > deadline:
            raise CloudError(f"endpoint {name} is still {desc['EndpointStatus']} after {timeout:.0f}s.")
        time.sleep(poll)


def model_booster(artifact: bytes) -> Any:
    """The XGBoost booster inside a SageMaker ``model.tar.gz`` (file ``xgboost-model``)."""
    import xgboost as xgb

    with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as archive:
        member = next((m for m in archive.getmembers() if m.name.split("/")[-1] == "xgboost-model"), None)
        if member is None:
            raise CloudError("model.tar.gz holds no xgboost-model file.")
        extracted = archive.extractfile(member)
        assert extracted is not None
        raw = extracted.read()
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster


def feature_importance(booster: Any, features: list[str], kind: str = "gain") -> dict[str, float]:
    """Importance per feature name (``f3`` -> ``features[3]``), largest first."""
    scores = booster.get_score(importance_type=kind)
    named: dict[str, float] = {}
    for key, value in scores.items():
        if key.startswith("f") and key[1:].isdigit() and int(key[1:]) < len(features):
            key = features[int(key[1:])]
        named[key] = float(value)
    return dict(sorted(named.items(), key=lambda kv: kv[1], reverse=True))
