"""The synthetic churn data: schema, realism, churn drivers, determinism, the committed file, model quality."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.data import COLUMNS, RATES, STATES, generate, main, write_csv
from retrain.errors import ParamsError

REPO = Path(__file__).resolve().parents[2]
HEADER = (
    "State,Account Length,Area Code,Phone,Int'l Plan,VMail Plan,VMail Message,Day Mins,Day Calls,Day Charge,"
    "Eve Mins,Eve Calls,Eve Charge,Night Mins,Night Calls,Night Charge,Intl Mins,Intl Calls,Intl Charge,"
    "CustServ Calls,Churn?"
)
US_STATES_AND_DC = set(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH "
    "OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split()
)
PERIODS = {"Day": 0.17, "Eve": 0.085, "Night": 0.045, "Intl": 0.27}


@pytest.fixture(scope="module")
def default() -> pd.DataFrame:
    return generate(3333, 42)


@pytest.fixture(scope="module")
def default_csv(tmp_path_factory: pytest.TempPathFactory, default: pd.DataFrame) -> Path:
    return write_csv(default, tmp_path_factory.mktemp("data") / "churn.csv")


def test_header_and_row_count(default: pd.DataFrame, default_csv: Path) -> None:
    lines = default_csv.read_text().splitlines()
    assert lines[0] == HEADER
    assert list(default.columns) == list(COLUMNS) == HEADER.split(",")
    assert len(lines) == 3334 and len(default) == 3333
    assert all(line.count(",") == 20 for line in lines)
    assert len(generate(17, 1)) == 17


def test_states_area_codes_phones_and_plans(default: pd.DataFrame) -> None:
    assert set(STATES) == US_STATES_AND_DC and len(STATES) == 51
    assert set(default["State"]) == US_STATES_AND_DC  # every state and DC present
    assert set(default["Area Code"]) == {408, 415, 510}
    assert default["Phone"].map(lambda p: re.fullmatch(r"\d{3}-\d{4}", p) is not None).all()
    assert set(default["Int'l Plan"]) == set(default["VMail Plan"]) == {"yes", "no"}
    no_vmail = default["VMail Plan"] == "no"
    assert (default.loc[no_vmail, "VMail Message"] == 0).all()
    assert (default.loc[~no_vmail, "VMail Message"] > 0).all()
    assert set(default["Churn?"]) == {"True.", "False."}


def test_usage_is_plausible(default: pd.DataFrame) -> None:
    for period in PERIODS:
        assert (default[f"{period} Mins"] >= 0).all() and (default[f"{period} Calls"] >= 0).all()
    assert 150 < default["Day Mins"].mean() < 210 and default["Day Mins"].max() < 400
    assert 1 <= default["Account Length"].min() and default["Account Length"].max() <= 250
    assert 1.0 < default["CustServ Calls"].mean() < 2.2


def test_charges_are_minutes_times_the_period_rate(default: pd.DataFrame, default_csv: Path) -> None:
    assert RATES == PERIODS
    for period, rate in PERIODS.items():
        expected = default[f"{period} Mins"] * rate
        assert np.abs(default[f"{period} Charge"] - expected).max() <= 0.005 + 1e-9, period
    text = pd.read_csv(default_csv, dtype=str)
    for period in PERIODS:
        assert text[f"{period} Mins"].str.fullmatch(r"\d+\.\d").all()
        assert text[f"{period} Charge"].str.fullmatch(r"\d+\.\d\d").all()


@pytest.mark.parametrize("rows, seed", [(3333, 42), (1000, 7), (20000, 3)])
def test_churn_rate_is_14_to_15_percent(rows: int, seed: int) -> None:
    rate = (generate(rows, seed)["Churn?"] == "True.").mean()
    assert 0.14 <= rate <= 0.15


def test_churn_follows_day_minutes_service_calls_and_the_international_plan() -> None:
    df = generate(50000, 5)
    churn = df["Churn?"] == "True."
    overall = churn.mean()
    assert churn[df["Day Mins"] > 270].mean() > 3 * overall
    assert churn[df["CustServ Calls"] >= 4].mean() > 2.5 * overall
    assert churn[df["Int'l Plan"] == "yes"].mean() > 2 * overall
    quiet = (df["Day Mins"] < 200) & (df["CustServ Calls"] < 4) & (df["Int'l Plan"] == "no")
    assert 0 < churn[quiet].mean() < overall / 3  # some noise, far below the drivers


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = write_csv(generate(500, 9), tmp_path / "a.csv").read_bytes()
    b = write_csv(generate(500, 9), tmp_path / "b.csv").read_bytes()
    c = write_csv(generate(500, 10), tmp_path / "c.csv").read_bytes()
    assert a == b
    assert a != c


def test_streamed_chunks_write_the_same_bytes(tmp_path: Path) -> None:
    df = generate(1234, 4)
    whole = write_csv(df, tmp_path / "whole.csv").read_bytes()
    chunked = write_csv(df, tmp_path / "chunked.csv", chunk_rows=100).read_bytes()
    assert whole == chunked
    assert pd.read_csv(tmp_path / "chunked.csv").shape == (1234, 21)


def test_command_line_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "churn.csv"
    assert main(["--rows", "250", "--seed", "3", "--out", str(out)]) == 0
    assert out.read_bytes() == write_csv(generate(250, 3), tmp_path / "ref.csv").read_bytes()


def test_rows_must_be_positive() -> None:
    with pytest.raises(ParamsError, match="rows must be at least 1"):
        generate(0, 1)


def test_committed_file_is_the_default_generation(default_csv: Path) -> None:
    committed = REPO / "data" / "customer-churn.csv"
    assert committed.read_bytes() == default_csv.read_bytes(), "regenerate it: python -m retrain.data"


@pytest.mark.slow
def test_project_hyperparameters_reach_a_low_but_nonzero_validation_error(default: pd.DataFrame) -> None:
    import xgboost as xgb

    features = default.drop(
        columns=["Phone", "Day Charge", "Eve Charge", "Night Charge", "Intl Charge", "Churn?"]
    )
    features = pd.get_dummies(
        features, columns=["State", "Area Code", "Int'l Plan", "VMail Plan"], dtype=float
    )
    label = (default["Churn?"] == "True.").astype(int).to_numpy()
    in_train = np.random.default_rng(0).random(len(default)) < 0.7
    x = features.to_numpy(dtype=float)
    train = xgb.DMatrix(x[in_train], label[in_train])
    validation = xgb.DMatrix(x[~in_train], label[~in_train])
    params = {
        "max_depth": 5, "eta": 0.2, "gamma": 4, "min_child_weight": 6, "subsample": 0.8,
        "objective": "binary:logistic", "eval_metric": "error", "verbosity": 0,
    }  # fmt: skip
    history: dict[str, dict[str, list[float]]] = {}
    xgb.train(
        params, train, 100, evals=[(validation, "validation")], evals_result=history, verbose_eval=False
    )
    error = history["validation"]["error"][-1]
    assert 0.02 <= error <= 0.08
