"""Scoring a model on rows it never trained on: encode raw rows as the ETL job did, and the metrics a gate compares.

This module stands alone (the standard library and numpy): the evaluation job of the workflow runs it inside
SageMaker's XGBoost 1.7-1 container (``code/evaluate.py`` imports it), and the notebooks use it too, so the rows a
champion and a challenger are judged on are encoded one way only.

Encoding follows a model's ``features.json`` (written by the Glue job): a numeric feature is the column's value
(NaN when empty or unreadable: XGBoost treats it as missing), a one-hot feature ``<column>_<value>`` is 1 when the
column holds that value, the label is mapped with ``label_values`` (binary), ``classes`` (multiclass) or read as a
number (regression). Prepared rows (no header, label first) are taken as they are.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import numpy as np

#: metrics where a larger value is better; the others (logloss, rmse, mae, error) are better when smaller
HIGHER_IS_BETTER = frozenset({"auc", "accuracy", "f1", "precision", "recall", "r2"})
METRICS = {"binary": ("auc", "accuracy", "f1", "precision", "recall", "logloss"),
           "multiclass": ("accuracy", "f1", "logloss"),
           "regression": ("rmse", "mae", "r2")}


class EvaluationError(ValueError):
    """Rows that cannot be encoded for a model, or a metric that cannot be computed; the message says which."""


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _one_hot_source(feature: str, manifest: dict[str, Any]) -> tuple[str, str] | None:
    for column, values in (manifest.get("categorical") or {}).items():
        for value in values:
            if feature == f"{column}_{value}":
                return column, value
    return None


def encode_rows(data: bytes, manifest: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` for the rows in ``data`` (raw CSV with a header, or prepared), encoded for the model of
    ``manifest`` (its ``features.json``)."""
    features = list(manifest["features"])
    text = data.decode("utf-8")
    if manifest.get("input_format") == "prepared":
        rows = [r for r in csv.reader(io.StringIO(text)) if r]
        values = np.array([[_number(v) for v in r] for r in rows], dtype=float)
        if values.ndim != 2 or values.shape[1] != len(features) + 1:
            raise EvaluationError(f"held-back rows have {values.shape[1] - 1 if values.ndim == 2 else 0} features "
                                  f"but the model has {len(features)}")
        return values[:, 1:], values[:, 0]
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    header = [c.strip() for c in (reader.fieldnames or [])]
    out = np.zeros((len(rows), len(features)), dtype=float)
    for j, feature in enumerate(features):
        if feature in (manifest.get("numeric") or []) or feature in header and _one_hot_source(feature, manifest) is None:
            if feature not in header:
                raise EvaluationError(f"the held-back rows have no column {feature!r}, a feature of the model")
            out[:, j] = [_number(r[feature]) for r in rows]
            continue
        source = _one_hot_source(feature, manifest)
        if source is None or source[0] not in header:
            raise EvaluationError(f"feature {feature!r} of features.json matches no column of the held-back rows")
        out[:, j] = [1.0 if r[source[0]] == source[1] else 0.0 for r in rows]
    return out, labels(rows, manifest)


def labels(rows: list[dict[str, str]], manifest: dict[str, Any]) -> np.ndarray:
    """The label of each raw row as the model was trained on it (0/1, a class index, a number)."""
    label, task = manifest["label"], manifest.get("task", "binary")
    if task == "regression":
        values = [_number(r.get(label, "")) for r in rows]
    elif task == "multiclass":
        classes = list(manifest["classes"])
        values = [float(classes.index(r[label])) if r.get(label) in classes else math.nan for r in rows]
    else:
        mapping = manifest["label_values"]
        values = [float(mapping[r[label]]) if r.get(label) in mapping else math.nan for r in rows]
    out = np.array(values, dtype=float)
    if np.isnan(out).any():
        bad = sorted({r.get(label, "") for r, v in zip(rows, out, strict=True) if math.isnan(v)})[:5]
        raise EvaluationError(f"held-back rows have label values the model does not know: {bad}")
    return out


# -- metrics --------------------------------------------------------------------------------------------------

def confusion_matrix(labels_: np.ndarray, scores: np.ndarray, cutoff: float = 0.5) -> np.ndarray:
    """2x2 counts ``[[TN, FP], [FN, TP]]`` (rows: truth 0/1, columns: predicted 0/1)."""
    truth = np.asarray(labels_, dtype=int)
    predicted = (np.asarray(scores) > cutoff).astype(int)
    cm = np.zeros((2, 2), dtype=int)
    np.add.at(cm, (truth, predicted), 1)
    return cm


def roc_curve(labels_: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(fpr, tpr, auc)``: the ROC curve over every distinct score, and the area under it (trapezoids)."""
    truth = np.asarray(labels_, dtype=int)
    scores = np.asarray(scores, dtype=float)
    positives, negatives = int(truth.sum()), int((1 - truth).sum())
    if positives == 0 or negatives == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]), float("nan")
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], truth[order]
    distinct = np.r_[np.where(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0.0, tps / positives]
    fpr = np.r_[0.0, fps / negatives]
    area = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 renamed it; the container has numpy 1.24
    return fpr, tpr, float(area(tpr, fpr))


def _binary(truth: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    cm = confusion_matrix(truth, scores)
    (tn, fp), (fn, tp) = cm.tolist()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    p = np.clip(scores, 1e-15, 1 - 1e-15)
    return {"auc": roc_curve(truth, scores)[2], "accuracy": (tp + tn) / len(truth), "precision": precision,
            "recall": recall, "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "logloss": float(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p)))}


def _multiclass(truth: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    if scores.ndim == 1:  # multi:softmax gives the class; multi:softprob a row of probabilities
        predicted, logloss = scores.astype(int), float("nan")
    else:
        predicted = scores.argmax(axis=1)
        picked = np.clip(scores[np.arange(len(truth)), truth.astype(int)], 1e-15, 1.0)
        logloss = float(-np.mean(np.log(picked)))
    f1s = []
    for k in np.unique(truth.astype(int)):
        tp = float(np.sum((predicted == k) & (truth == k)))
        fp, fn = float(np.sum((predicted == k) & (truth != k))), float(np.sum((predicted != k) & (truth == k)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return {"accuracy": float(np.mean(predicted == truth)), "f1": float(np.mean(f1s)), "logloss": logloss}


def _regression(truth: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    errors = scores - truth
    total = float(np.sum((truth - truth.mean()) ** 2))
    return {"rmse": float(np.sqrt(np.mean(errors ** 2))), "mae": float(np.mean(np.abs(errors))),
            "r2": 1.0 - float(np.sum(errors ** 2)) / total if total else float("nan")}


def metrics(task: str, truth: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Every metric of :data:`METRICS` for ``task`` (binary: ``scores`` are P(class 1) and the cut-off is 0.5)."""
    if len(truth) == 0:
        raise EvaluationError("there are no held-back rows to evaluate on")
    scores, truth = np.asarray(scores, dtype=float), np.asarray(truth, dtype=float)
    found = {"binary": _binary, "multiclass": _multiclass, "regression": _regression}[task](truth, scores)
    return {k: round(float(v), 6) if math.isfinite(v) else None for k, v in found.items()}


def improvement(metric: str, candidate: float, champion: float) -> tuple[float, float | None]:
    """``(absolute, relative)`` improvement of ``candidate`` over ``champion`` on ``metric`` (positive: better)."""
    gain = candidate - champion if metric in HIGHER_IS_BETTER else champion - candidate
    return gain, (gain / abs(champion) if champion else None)
