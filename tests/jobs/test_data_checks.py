"""The Glue job on a dataset of its own schema (regression, multiclass), its data checks and drift against the
profile of the model in production, and a feature order that stays put across retrains."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from retrain.data import generate, write_csv
from retrain.deliveries import MULTICLASS_SCHEMA, REGRESSION_SCHEMA, generate_deliveries


def job_args(source: Path, dest: Path, *extra: str) -> list[str]:
    return ["--JOB_NAME", "etl", "--S3_SOURCE", str(source), "--S3_DEST", f"{dest}/", "--TRAIN_KEY", "train/",
            "--VAL_KEY", "validation/", *extra]


def lines(folder: Path) -> list[list[str]]:
    (part,) = sorted(folder.glob("part-*"))
    return [line.split(",") for line in part.read_text().splitlines()]


def outputs(dest: Path) -> tuple[dict[str, Any], list[list[str]]]:
    manifest = json.loads((dest / "features.json").read_text())
    return manifest, lines(dest / "train") + lines(dest / "validation")


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift(code_module: Callable[[str], Any]) -> None:
    checks = code_module("data_checks")
    assert checks.psi([0.25, 0.25, 0.5], [0.25, 0.25, 0.5]) == 0.0
    expected = (0.4 - 0.2) * math.log(0.4 / 0.2) + (0.6 - 0.8) * math.log(0.6 / 0.8)
    assert checks.psi([0.4, 0.6], [0.2, 0.8]) == pytest.approx(expected, abs=1e-6)
    assert checks.psi([0.0, 1.0], [0.5, 0.5]) > checks.psi([0.3, 0.7], [0.5, 0.5])  # empty bins are floored


def test_a_baseline_keeps_its_features_first_and_new_values_go_last(code_module: Callable[[str], Any]) -> None:
    features = code_module("etl_features")
    schema = features.Schema.parse(json.dumps({"label": "y", "task": "regression", "categorical": ["c"],
                                               "ids": ["id"]}))
    first = features.plan_features(schema, ["id", "c", "b", "y", "a"], {"c": ["x", "w"]})
    assert first.features == ["b", "a", "c_w", "c_x"] and first.vocab == {"c": ["w", "x"]}
    later = features.plan_features(schema, ["id", "a", "c", "new", "y", "b"], {"c": ["v", "x", "w"]},
                                   first.to_manifest())
    assert later.features == ["b", "a", "c_w", "c_x", "new", "c_v"]
    with pytest.raises(features.SchemaError, match="'b'.*the model in production was trained on them"):
        features.plan_features(schema, ["id", "a", "c", "y"], {}, first.to_manifest())
    with pytest.raises(features.SchemaError, match="positive"):
        features.Schema.parse(json.dumps({"label": "y", "task": "binary"}))


@pytest.mark.slow
def test_a_regression_dataset_of_its_own_schema(tmp_path: Path, run_etl: Callable[..., None]) -> None:
    data = generate_deliveries(400, 3)
    source = write_csv(data, tmp_path / "deliveries.csv")
    schema = json.dumps(REGRESSION_SCHEMA)
    with pytest.raises(ValueError, match="'traffic_index' has [0-9]+ rows? with a missing value"):
        run_etl(*job_args(source, tmp_path / "strict", "--SCHEMA", schema))
    run_etl(*job_args(source, tmp_path / "out", "--SCHEMA", schema, "--CHECKS",
                      json.dumps({"max_missing_share": 0.05})))
    manifest, rows = outputs(tmp_path / "out")
    assert manifest["task"] == "regression" and "order_id" not in manifest["features"]
    assert manifest["numeric"] == ["distance_km", "items", "hour", "traffic_index"]
    assert manifest["categorical"] == {"region": ["east", "north", "south", "west"], "vehicle": ["bike", "car", "van"],
                                       "rain": ["no", "yes"]}
    assert len(rows) == 400 and all(len(r) == len(manifest["features"]) + 1 for r in rows)
    labels = {f"{float(r[0]):.1f}" for r in rows}
    assert labels <= {f"{m:.1f}" for m in data["delivery_minutes"]}  # the label, as a number, first
    traffic = manifest["features"].index("traffic_index") + 1
    assert any(r[traffic] == "" for r in rows)  # a missing value stays empty: XGBoost reads it as missing


@pytest.mark.slow
def test_a_multiclass_label_becomes_the_class_index(tmp_path: Path, run_etl: Callable[..., None]) -> None:
    data = generate_deliveries(300, 4, missing_share=0.0)
    run_etl(*job_args(write_csv(data, tmp_path / "d.csv"), tmp_path / "out", "--SCHEMA", json.dumps(MULTICLASS_SCHEMA)))
    manifest, rows = outputs(tmp_path / "out")
    assert manifest["classes"] == ["early", "on_time", "late"] and "delivery_minutes" not in manifest["features"]
    counts = data["lateness"].map({"early": "0", "on_time": "1", "late": "2"}).value_counts().to_dict()
    assert {k: sum(1 for r in rows if r[0] == k) for k in counts} == counts


@pytest.mark.slow
def test_drift_from_the_production_models_data_stops_the_run(tmp_path: Path, run_etl: Callable[..., None]) -> None:
    run_etl(*job_args(write_csv(generate(2500, 1), tmp_path / "old.csv"), tmp_path / "champion"))
    same = generate(2500, 2)
    run_etl(*job_args(write_csv(same, tmp_path / "same.csv"), tmp_path / "ok", "--BASELINE", str(tmp_path / "champion")))
    report = json.loads((tmp_path / "ok" / "data_report.json").read_text())
    assert report["passed"] and report["baseline"] == str(tmp_path / "champion")
    assert set(report["drift"]) >= {"Day Mins", "State"} and max(report["drift"].values()) < 0.1
    shifted = same.copy()
    shifted["CustServ Calls"] = shifted["CustServ Calls"] + 3
    with pytest.raises(ValueError) as caught:
        run_etl(*job_args(write_csv(shifted, tmp_path / "shifted.csv"), tmp_path / "bad", "--BASELINE",
                          str(tmp_path / "champion")))
    assert type(caught.value).__name__ == "DataCheckFailed"
    assert "column 'CustServ Calls': PSI" in str(caught.value) and "Day Mins" not in str(caught.value)
    failed = [c for c in json.loads((tmp_path / "bad" / "data_report.json").read_text())["checks"] if not c["passed"]]
    assert [(c["check"], c["column"]) for c in failed] == [("drift", "CustServ Calls")] and failed[0]["value"] > 0.25
