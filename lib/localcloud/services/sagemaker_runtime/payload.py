"""Inference payloads of the built-in XGBoost serving container: CSV rows in, scores out.

Errors are :class:`ContainerError` with the HTTP status the container answers (400 bad payload, 406 bad Accept,
415 bad ContentType); the runtime wraps them in ``ModelError`` as SageMaker does.
"""

from __future__ import annotations

import io
import json

import numpy as np

from localcloud.errors import LocalCloudError

#: what the container accepts and what localcloud implements of it
ACCEPTED_CONTENT_TYPES = ("csv", "libsvm", "parquet", "recordio-protobuf", "text/csv", "text/libsvm",
                          "text/x-libsvm", "application/x-parquet", "application/x-recordio-protobuf")
SUPPORTED_ACCEPTS = ("application/json", "application/jsonlines", "application/x-recordio-protobuf", "text/csv")


class ContainerError(LocalCloudError):
    """The model container's error answer: ``status`` (4xx) and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def check_content_type(value: str | None) -> None:
    """Accept CSV (the default when none is sent); refuse the rest as the container does."""
    media = _media_type(value)
    if not media or media in ("text/csv", "csv"):
        return
    if media in ACCEPTED_CONTENT_TYPES:
        raise ContainerError(415, f"Content type {media} is accepted by the built-in XGBoost, but localcloud's "
                                  "model server reads text/csv only. Send CSV rows of features.")
    raise ContainerError(415, f"{media} is not an accepted ContentType: {', '.join(ACCEPTED_CONTENT_TYPES)}.")


def accept_type(value: str | None) -> str:
    """The response format: text/csv unless the request asks for JSON or JSON Lines."""
    media = _media_type(value)
    if not media or media == "*/*":
        return "text/csv"
    if media == "application/x-recordio-protobuf":
        raise ContainerError(406, "Accept type application/x-recordio-protobuf is not supported by localcloud's "
                                  "model server. Use text/csv, application/json or application/jsonlines.")
    if media not in SUPPORTED_ACCEPTS:
        raise ContainerError(406, f"Accept type {media} is not supported. Please use supported accept types: "
                                  f"{list(SUPPORTED_ACCEPTS)}.")
    return media


def _locate(text: str, expected: int) -> str:
    """Describe the first bad row of a CSV payload (only called after the fast parser failed)."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = line.split(",")
        for column, cell in enumerate(cells, 1):
            try:
                float(cell)
            except ValueError:
                return f"row {number}, column {column}: {cell.strip()[:40]!r} is not a number"
        if expected and len(cells) != expected:
            return f"row {number} has {len(cells)} columns, the model expects {expected} features"
    return "the payload is not CSV rows of numbers"


def parse_csv(body: bytes, num_features: int) -> np.ndarray:
    """Rows of features as float32, checked against the model's feature count."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContainerError(415, "Loading csv data failed: the payload is not UTF-8 text.") from exc
    if not text.strip():
        return np.empty((0, num_features), dtype=np.float32)
    try:
        rows = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError:
        raise ContainerError(400, "Unable to evaluate payload provided: "
                                  f"{_locate(text, num_features)}.") from None
    if rows.size and rows.shape[1] != num_features:
        label_hint = " Send the features only, without the label column." if rows.shape[1] == num_features + 1 \
            else ""
        raise ContainerError(400, f"Unable to evaluate payload provided: Feature size of csv inference data "
                                  f"{rows.shape[1]} is not consistent with feature size of trained model "
                                  f"{num_features}.{label_hint}")
    return rows


def _fmt(value: float) -> str:
    return repr(float(value))


def encode(predictions: np.ndarray, accept: str) -> bytes:
    """Scores in the requested format.

    CSV is what the built-in XGBoost answers a real-time request: the scores of all rows comma-separated on one
    line (``0.12,0.97``). Multi-class probabilities come one row per line, the classes comma-separated.
    """
    values = predictions.tolist()
    if accept == "text/csv":
        if predictions.ndim == 1:
            return ",".join(map(_fmt, values)).encode()
        return "\n".join(",".join(map(_fmt, row)) for row in values).encode()
    records = [{"score": v} for v in values]
    if accept == "application/jsonlines":
        return "\n".join(json.dumps(r) for r in records).encode()
    return json.dumps({"predictions": records}).encode()
