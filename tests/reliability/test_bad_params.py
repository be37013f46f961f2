"""Bad parameters through `retrain run`: exit code 2 and one clear line naming the bad key, before any cloud is
touched (no local cloud started, no report folder, nothing listening on the port).

Every case is a real `retrain run` subprocess; they run side by side (each with its own timeout) to keep the
suite quick on two cores.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from rel_helpers import ANSWER_WITHIN_S, LOCAL_PARAMS, RETRAIN, ROOT, free_port, port_open, retrain_env

DATA = ROOT / "data" / "customer-churn.csv"


def _params(**changes: Any) -> str:
    data = yaml.safe_load(LOCAL_PARAMS.read_text())
    data["data_path"] = str(DATA)
    for key, value in changes.items():
        if key.startswith("hp_"):
            data["hyperparameters"][key[3:]] = value
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


# name -> (params file text or None for a missing file, extra CLI arguments, what stderr must say)
CASES: dict[str, tuple[str | None, list[str], list[str]]] = {
    "unknown key": (_params(acuracy_threshold=0.95), [],
                    ["unknown parameter 'acuracy_threshold'", "Did you mean 'accuracy_threshold'?"]),
    "wrong type": (_params(accuracy_threshold="high"), [], ["accuracy_threshold must be a number", "'high'"]),
    "wrong type of a flag": (_params(keep_endpoint="yes please"), [], ["keep_endpoint must be true or false"]),
    "missing data file": (_params(data_path="/nonexistent/churn.csv"), [],
                          ["data_path='/nonexistent/churn.csv' does not exist"]),
    "threshold out of range": (_params(accuracy_threshold=1.5), [],
                               ["accuracy_threshold=1.5", "must be in (0, 1]"]),
    "threshold out of range (override)": (_params(), ["-p", "accuracy_threshold=-0.2"],
                                          ["accuracy_threshold=-0.2", "must be in (0, 1]"]),
    "bad hyperparameter value": (_params(hp_max_depth=-1), [], ["hyperparameters.max_depth=-1 is too small"]),
    "bad hyperparameter (override)": (_params(), ["-p", "hyperparameters.subsample=1.5"],
                                      ["hyperparameters.subsample=1.5 is too large"]),
    "unknown hyperparameter": (_params(hp_etaa=0.3), [],
                               ["unknown hyperparameter 'hyperparameters.etaa'", "Did you mean 'eta'?"]),
    "gate metric not computed": (_params(), ["-p", "hyperparameters.eval_metric=auc"],
                                 ["eval_metric='auc' must include 'error'"]),
    "malformed YAML": ("target: local\nregion: [us-east-1\nproject_name: x\n", [], ["malformed YAML"]),
    "not a mapping": ("- target\n- local\n", [], ["expected a mapping of key: value"]),
    "unknown target": (_params(target="azure"), [], ["target='azure' is not one of: local, aws"]),
    "override without =": (_params(), ["-p", "accuracy_threshold"], ["is not of the form key=value"]),
    "missing parameter file": (None, [], ["does not exist", "--params"]),
}


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run every case (two at a time) and keep what a user would see."""
    base = tmp_path_factory.mktemp("bad-params")

    def one(name: str) -> dict[str, Any]:
        text, extra, _ = CASES[name]
        folder = base / name.replace(" ", "-").replace("(", "").replace(")", "")
        folder.mkdir()
        params = folder / "params.yaml"
        if text is not None:
            params.write_text(text)
        port = free_port()
        home = folder / "localcloud-home"
        out = folder / "report"
        try:
            proc = subprocess.run(
                [*RETRAIN, "run", "--params", str(params), "--out", str(out), *extra, "-p", f"localcloud_port={port}"],
                cwd=folder, env=retrain_env(LOCALCLOUD_HOME=str(home)), capture_output=True, text=True,
                timeout=ANSWER_WITHIN_S, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return {"timeout": True}
        return {"timeout": False, "code": proc.returncode, "stderr": proc.stderr, "stdout": proc.stdout,
                "out_exists": out.exists(), "home_exists": home.exists(), "port_open": port_open(port)}

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(one, CASES), strict=True))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_parameters_exit_2_before_any_cloud(answers: dict[str, dict[str, Any]], case: str) -> None:
    seen = answers[case]
    assert not seen["timeout"], f"no answer within {ANSWER_WITHIN_S} s"
    assert seen["code"] == 2, seen
    assert seen["stderr"].startswith("error: "), seen["stderr"]
    assert "Traceback" not in seen["stderr"], "a bad parameter must not print a traceback"
    for needle in CASES[case][2]:
        assert needle in seen["stderr"], f"{needle!r} not in {seen['stderr']!r}"
    # nothing half-done: no report folder, no local cloud state, nothing listening on the port
    assert not seen["out_exists"] and not seen["home_exists"] and not seen["port_open"]


def test_check_command_agrees(tmp_path: Path) -> None:
    """`retrain check` validates the same way (exit 2, same message) without running anything."""
    params = tmp_path / "params.yaml"
    params.write_text(_params(accuracy_threshold=0))
    proc = subprocess.run([*RETRAIN, "check", "--params", str(params)], cwd=tmp_path, env=retrain_env(),
                          capture_output=True, text=True, timeout=ANSWER_WITHIN_S)
    assert proc.returncode == 2 and "accuracy_threshold=0.0 must be in (0, 1]" in proc.stderr
