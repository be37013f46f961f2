"""The command line: bad parameters exit 2 with a message naming the key; `retrain check` prints the params."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from retrain.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_run_with_bad_parameter_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["run", "--params", str(ROOT / "params" / "local.yaml"), "-p", "accuracy_threshold=1.5",
                 "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "accuracy_threshold=1.5" in err and "(0, 1]" in err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_run_with_unknown_key_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-p", "endpoint_nme=x"]) == 2
    assert "Did you mean 'endpoint_name'" in capsys.readouterr().err


def test_check_prints_resolved_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--params", str(ROOT / "params" / "aws.yaml"), "-p", "hyperparameters.eta=0.3"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["target"] == "aws" and printed["hyperparameters"]["eta"] == 0.3
    assert main(["check", "--params", str(ROOT / "params" / "nope.yaml")]) == 2
