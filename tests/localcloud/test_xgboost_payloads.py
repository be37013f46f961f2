"""The model server's vectorised reading and writing give the container's own answers, to the last digit.

``xgb_serving_reference.py`` runs in the XGBoost image's environment (xgboost 1.7.4, numpy 1.24.1, as in the 1.7-1
container) with the container's serving code copied as it is (github aws/sagemaker-xgboost-container, branch
``1.7-1``: ``encoder.csv_to_dmatrix``, ``serve_utils``, ``serve.invocations``; sagemaker-containers'
``array_to_csv``) and compares it with localcloud's model server on real models trained there: status and body
of each answer, the arrays each CSV or libsvm reader builds (bit for bit, errors by type and text), and the
written scores.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from localcloud import images

ROOT = Path(__file__).resolve().parents[2]
ROW = "0.5,-1.25,3,0.001,2,7.5"

#: name → body, content type, accept
CASES: dict[str, tuple[str, str, str]] = {
    "one-row": (ROW, "text/csv", "text/csv"),
    "rows-json": (f"{ROW}\n1,2,3,4,5,6\n-0.5,0,0,0,0,1e-3", "text/csv", "application/json"),
    "padded-lines": (f"\n {ROW}\n{ROW}\n\n", "text/csv", "text/csv"),
    "crlf": (f"{ROW}\r\n{ROW}\r\n", "text/csv", "text/csv"),
    "empty-cells": (",1,,2,,\n1,,,,,\n,,,,,", "text/csv", "text/csv"),
    "blank-line-inside": (f"{ROW}\n\n{ROW}", "text/csv", "text/csv"),
    "single-column-blank-line": ("1\n\n2", "text/csv", "text/csv"),
    "nan-and-inf-words": ("nan,NaN,-nan,1,2,3\nInfinity,-inf,1,2,3,4", "text/csv", "text/csv"),
    "past-float32": ("1e39,0,0,0,0,0", "text/csv", "text/csv"),
    "spaces-after-commas": ("1, 2, 3, 4, 5, 6", "text/csv", "text/csv"),
    "underscore-digits": ("1_000,2,3,4,5,6", "text/csv", "text/csv"),
    "quoted": ('"1",2,3,4,5,6', "text/csv", "text/csv"),
    "semicolons": ("1;2;3;4;5;6\n0;0;0;0;0;0", "text/csv", "text/csv"),
    "tabs": ("1\t2\t3\t4\t5\t6", "text/csv", "text/csv"),
    "ragged": ("1,2,3,4,5,6\n1,2", "text/csv", "text/csv"),
    "fewer-columns": ("1,2,3\n4,5,6", "text/csv", "text/csv"),
    "more-columns": ("1,2,3,4,5,6,7", "text/csv", "text/csv"),
    "letters": ("1,2,abc,4,5,6", "text/csv", "text/csv"),
    "long-digits": ("0.1234567890123456789,123456789012345678901234567890,4.9e-324,1e-50,-0,00012",
                    "text/csv", "text/csv"),
    "arabic-digits": ("١,2,3,4,5,6", "text/csv", "text/csv"),
    "libsvm-labelled": ("1 0:0.5 1:-1.25 2:3\n0 3:1 5:2.5", "text/libsvm", "text/csv"),
    "libsvm-unlabelled-json": ("0:0.5 1:-1.25\n2:3 4:nan", "text/x-libsvm", "application/json"),
    "libsvm-odd-tokens": ("1 +1:2 01:3 2:4:5\n0  3:1", "text/libsvm", "text/csv"),
    "libsvm-bad-value": ("1 0:x", "text/libsvm", "text/csv"),
    "libsvm-index-past-int64": ("1 99999999999999999999:1 0:2", "text/libsvm", "text/csv"),
}


@pytest.fixture(scope="module")
def compared() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        spec, out = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec.write_text(json.dumps({"cases": CASES, "fuzz": 3000}))
        done = subprocess.run([images.python(images.XGBOOST), str(Path(__file__).with_name("xgb_serving_reference.py")),
                               str(spec), str(out)], capture_output=True, text=True, timeout=600,
                              env={"PYTHONPATH": str(ROOT / "lib"), "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(out.read_text())


def test_the_reference_runs_the_containers_libraries(compared: dict[str, Any]) -> None:
    assert compared["versions"] == {"xgboost": "1.7.4", "numpy": "1.24.1"}


@pytest.mark.parametrize("model", ["binary", "softprob", "regression", "dart", "ensemble"])
@pytest.mark.parametrize("case", list(CASES))
def test_answers_are_the_containers(compared: dict[str, Any], model: str, case: str) -> None:
    both = compared["invocations"][f"{model}/{case}"]
    assert both["localcloud"] == both["container"]


def test_the_answers_cover_scores_and_errors(compared: dict[str, Any]) -> None:
    """The cases above reach every branch: scores, and the container's 400 and 415 answers."""
    statuses = {both["container"][0] for both in compared["invocations"].values()}
    assert statuses == {200, 400, 415}
    one = compared["invocations"]["binary/one-row"]["container"]
    assert one[0] == 200 and one[1].endswith("\n") and len(one[1].split("\n")) == 2


def test_random_bodies_read_as_the_container_reads_them(compared: dict[str, Any]) -> None:
    parsers = compared["parsers"]
    assert parsers["count"] == 0, parsers["differences"]
    # and enough of them took the fast routes to have tested them
    assert parsers["csv_fast"] > 300 and parsers["libsvm_fast"] > 300


def test_random_scores_are_written_as_the_container_writes_them(compared: dict[str, Any]) -> None:
    answers = compared["answers"]
    assert answers["count"] == 0, answers["differences"]


def test_the_delimiter_is_the_one_csv_sniffer_finds(compared: dict[str, Any]) -> None:
    sniffer = compared["sniffer"]
    assert sniffer["count"] == 0, sniffer["differences"]
