"""Held-back rows encoded as the ETL job encodes training rows, and the metrics a champion/challenger gate reads."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retrain.evaluation import (
    EvaluationError,
    encode_rows,
    improvement,
    metrics,
    roc_curve,
)

MANIFEST = {
    "label": "y", "task": "binary", "label_values": {"yes": 1, "no": 0},
    "numeric": ["age", "income"], "categorical": {"city": ["paris", "rome"]},
    "features": ["age", "income", "city_paris", "city_rome"], "input_format": "raw",
}  # fmt: skip
ROWS = b"id,city,age,income,y\n1,rome,30,1000,yes\n2,paris,,2000,no\n3,oslo,41,abc,no\n"


def test_raw_rows_follow_the_models_feature_plan() -> None:
    X, y = encode_rows(ROWS, MANIFEST)
    assert y.tolist() == [1.0, 0.0, 0.0]
    assert X[0].tolist() == [30.0, 1000.0, 0.0, 1.0]
    assert math.isnan(X[1][0]) and X[1][1:].tolist() == [2000.0, 1.0, 0.0]  # empty: missing, as XGBoost reads it
    assert math.isnan(X[2][1]) and X[2][2:].tolist() == [0.0, 0.0]  # an unknown city is all zeros
    later = {**MANIFEST, "features": ["income", "age", "city_paris", "city_rome"]}  # another model's own order
    assert encode_rows(ROWS, later)[0][0].tolist() == [1000.0, 30.0, 0.0, 1.0]


def test_rows_that_do_not_fit_the_model_are_named() -> None:
    with pytest.raises(EvaluationError, match="label values the model does not know: \\['maybe'\\]"):
        encode_rows(ROWS.replace(b"yes", b"maybe"), MANIFEST)
    with pytest.raises(EvaluationError, match="no column 'income'"):
        encode_rows(b"city,age,y\nrome,3,yes\n", MANIFEST)
    prepared = {**MANIFEST, "input_format": "prepared"}
    X, y = encode_rows(b"1,30,1000,0,1\n0,41,3,1,0\n", prepared)
    assert y.tolist() == [1.0, 0.0] and X.shape == (2, 4)
    with pytest.raises(EvaluationError, match="3 features but the model has 4"):
        encode_rows(b"1,30,1000,0\n", prepared)


def test_multiclass_and_regression_labels() -> None:
    classes = {**MANIFEST, "task": "multiclass", "classes": ["no", "yes"]}
    assert encode_rows(ROWS, classes)[1].tolist() == [1.0, 0.0, 0.0]
    numbers = {**MANIFEST, "task": "regression", "label": "income"}
    with pytest.raises(EvaluationError, match="\\['abc'\\]"):
        encode_rows(ROWS, numbers)


def test_binary_metrics() -> None:
    truth = np.array([1, 1, 0, 0, 1, 0])
    scores = np.array([0.9, 0.4, 0.3, 0.6, 0.8, 0.1])
    found = metrics("binary", truth, scores)
    # predicted 1: rows 0, 3, 4 -> TP 2, FP 1, FN 1, TN 2
    assert found["accuracy"] == pytest.approx(4 / 6) and found["precision"] == pytest.approx(2 / 3)
    assert found["recall"] == pytest.approx(2 / 3) and found["f1"] == pytest.approx(2 / 3)
    pairs = [(p > n) + 0.5 * (p == n) for p in scores[truth == 1] for n in scores[truth == 0]]
    assert found["auc"] == pytest.approx(np.mean(pairs))
    expected = -np.mean(truth * np.log(scores) + (1 - truth) * np.log(1 - scores))
    assert found["logloss"] == pytest.approx(expected, abs=1e-6)
    assert roc_curve(truth, scores)[2] == pytest.approx(found["auc"])


def test_multiclass_and_regression_metrics() -> None:
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    found = metrics("multiclass", np.array([0, 1, 2, 1]), probabilities)
    assert found["accuracy"] == 0.75
    assert found["logloss"] == pytest.approx(-np.mean(np.log([0.7, 0.8, 0.5, 0.3])), abs=1e-6)
    assert found["f1"] == pytest.approx(np.mean([2 / 3, 2 / 3, 1.0]))
    reg = metrics("regression", np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 5.0]))
    assert reg["rmse"] == pytest.approx(math.sqrt(5 / 3)) and reg["mae"] == pytest.approx(1.0)
    assert reg["r2"] == pytest.approx(1 - 5 / 2)
    with pytest.raises(EvaluationError, match="no held-back rows"):
        metrics("binary", np.array([]), np.array([]))


def test_improvement_knows_which_way_is_better() -> None:
    assert improvement("auc", 0.92, 0.90) == (pytest.approx(0.02), pytest.approx(0.02 / 0.90))
    assert improvement("logloss", 0.30, 0.40) == (pytest.approx(0.10), pytest.approx(0.25))
    assert improvement("rmse", 5.0, 4.0)[0] == pytest.approx(-1.0)
    assert improvement("accuracy", 0.5, 0.0) == (0.5, None)
