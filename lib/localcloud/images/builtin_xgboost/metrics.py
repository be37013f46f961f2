"""The metrics the container computes itself (``metrics/custom_metrics.py``), passed to xgboost as ``feval``.

xgboost 1.7 hands a ``feval`` the raw margins (``output_margin`` is set for the deprecated ``feval``), so class
labels come from the margin's sign (binary) or its argmax (multi-class), as the container's
``margin_to_class_label`` does; the scores are scikit-learn's, as in the container.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _labels(preds: np.ndarray) -> np.ndarray:
    if preds.ndim == 2:
        return np.argmax(preds, axis=-1)
    return (preds > 0.0).astype(int)


def _classification(score: Callable[[np.ndarray, np.ndarray], float]) -> Callable[[np.ndarray, Any], float]:
    def metric(preds: np.ndarray, dmatrix: Any) -> float:
        if preds.size == 0:
            return 0.0
        return float(score(dmatrix.get_label(), _labels(preds)))

    return metric


def _regression(score: Callable[[np.ndarray, np.ndarray], float]) -> Callable[[np.ndarray, Any], float]:
    return lambda preds, dmatrix: float(score(dmatrix.get_label(), preds))


def _table() -> dict[str, Callable[[np.ndarray, Any], float]]:
    from sklearn import metrics as m

    return {
        "accuracy": _classification(m.accuracy_score),
        "balanced_accuracy": _classification(m.balanced_accuracy_score),
        "f1": _classification(lambda y, p: m.f1_score(y, p, average="macro")),
        "f1_binary": _classification(lambda y, p: m.f1_score(y, p, average="binary")),
        "f1_macro": _classification(lambda y, p: m.f1_score(y, p, average="macro")),
        "mse": _regression(m.mean_squared_error),
        "rmse": _regression(lambda y, p: m.mean_squared_error(y, p, squared=False)),
        "mae": _regression(m.mean_absolute_error),
        "precision": _classification(m.precision_score),
        "precision_macro": _classification(lambda y, p: m.precision_score(y, p, average="macro")),
        "precision_micro": _classification(lambda y, p: m.precision_score(y, p, average="micro")),
        "r2": _regression(m.r2_score),
        "recall": _classification(m.recall_score),
        "recall_macro": _classification(lambda y, p: m.recall_score(y, p, average="macro")),
        "recall_micro": _classification(lambda y, p: m.recall_score(y, p, average="micro")),
    }


def feval(names: list[str]) -> Callable[[np.ndarray, Any], list[tuple[str, float]]]:
    """A ``feval`` computing ``names`` (in that order) as the container's ``configure_feval`` does."""
    table = _table()
    chosen = [(name, table[name]) for name in names]

    def evaluate(preds: np.ndarray, dmatrix: Any) -> list[tuple[str, float]]:
        return [(name, metric(preds, dmatrix)) for name, metric in chosen]

    return evaluate
