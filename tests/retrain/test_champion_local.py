"""Champion/challenger, the registry, approval, data checks and run history, through `retrain run` on one local
cloud (IAM enforced, as in test_chain_local.py).

The runs, in order, on one project:
1. the first run, a deliberately weak model (two stumps) under a low floor: no champion, the floor alone decides;
   version 1 of the group is Approved and deployed;
2. a challenger with the project's hyperparameters that must beat it by 0.01 AUC: it wins and replaces it;
3. a challenger that must beat that champion by 0.05 AUC (the same data and seed give the same model, a tie): it is
   registered Rejected, exit code 3, the endpoint keeps serving the champion;
4. new data that drifted: the data checks stop the run before training, exit code 4, nothing trained;
5. ``approval: manual``, approved with ``retrain approve``: deployed;
6. ``approval: manual``, rejected with ``retrain reject --reason``: exit 3, the endpoint untouched;
7. ``approval: manual`` and nobody decides: the wait times out, exit 3;
then ``retrain history`` and ``retrain compare`` over them. A second dataset (regression) runs on its own project.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chain_helpers import LOCAL_PARAMS, free_port, state, summary

from retrain.cli import main

pytestmark = pytest.mark.slow

ROOT = LOCAL_PARAMS.parents[1]
PROJECT = "e2e-champ"
GROUP = f"{PROJECT}-models"
NAMES = ["-p", f"project_name={PROJECT}", "-p", "endpoint_name=e2e-champ-ep"]
#: two depth-1 trees: a weak model that a 0.5 accuracy floor still lets through
WEAK = ["-p", "accuracy_threshold=0.5", "-p", "hyperparameters.num_round=2", "-p", "hyperparameters.max_depth=1"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import localcloud

    port = free_port()
    home = tmp_path_factory.mktemp("localcloud")
    url, started = localcloud.ensure_running(port, home=home, enforce_iam=True)
    assert started
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
    yield {"port": port, "url": url, "sagemaker": session.client("sagemaker", endpoint_url=url),
           "stepfunctions": session.client("stepfunctions", endpoint_url=url)}
    localcloud.stop(port, home=home)


def _args(cloud: dict[str, Any], *extra: str) -> list[str]:
    return ["--params", str(LOCAL_PARAMS), *NAMES, "-p", f"localcloud_port={cloud['port']}", *extra]


def retrain_run(cloud: dict[str, Any], out: Path, *extra: str) -> int:
    return main(["run", "--out", str(out), *_args(cloud, *extra)])


def _serving(cloud: dict[str, Any]) -> str:
    return cloud["sagemaker"].describe_endpoint(EndpointName="e2e-champ-ep")["EndpointConfigName"]


def _packages(cloud: dict[str, Any]) -> list[dict[str, Any]]:
    listed = cloud["sagemaker"].list_model_packages(ModelPackageGroupName=GROUP, SortBy="CreationTime",
                                                    SortOrder="Ascending")["ModelPackageSummaryList"]
    return [cloud["sagemaker"].describe_model_package(ModelPackageName=p["ModelPackageArn"]) for p in listed]


def _drifted(out: Path) -> Path:
    """The churn data with day minutes half as long again: a shift the drift check (PSI) must see."""
    import pandas as pd

    data = pd.read_csv(ROOT / "data" / "customer-churn.csv", dtype=str, keep_default_na=False)
    data["Day Mins"] = (data["Day Mins"].astype(float) * 1.5).round(1).astype(str)
    path = out / "drifted.csv"
    out.mkdir(parents=True, exist_ok=True)
    data.to_csv(path, index=False, lineterminator="\n")
    return path


def _manual_run(cloud: dict[str, Any], out: Path, decide: list[str] | None, *extra: str) -> dict[str, Any]:
    """A run with ``approval: manual`` in a child process; once its model waits in the registry, ``decide`` (the
    ``retrain approve|reject`` arguments after the run id) is run, or nothing when it is None."""
    proc = subprocess.Popen([sys.executable, "-m", "retrain.cli", "run", "--out", str(out),
                             *_args(cloud, "-p", "approval=manual", "-p", "approval_poll_seconds=1", *extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        waited = None
        if decide is not None:
            deadline = time.monotonic() + 300
            while waited is None and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()[0]
                waiting = [p for p in _packages(cloud) if p["ModelApprovalStatus"] == "PendingManualApproval"]
                waited = waiting[0] if waiting else None
                time.sleep(0.5)
            assert waited, "no model waited for approval"
            run_id = state(out)["run_id"]
            assert waited["CustomerMetadataProperties"]["run_id"] == run_id
            assert main([decide[0], run_id, *decide[1:], *_args(cloud)]) == 0
        output = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    return {"code": proc.returncode, "output": output, "waited": waited}


@pytest.fixture(scope="module")
def runs(cloud: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("champion")
    r: dict[str, Any] = {"base": base}
    r["first_code"] = retrain_run(cloud, base / "first", *WEAK)
    r["serving_first"] = _serving(cloud)
    r["win_code"] = retrain_run(cloud, base / "win", "-p", "min_absolute_improvement=0.01")
    r["serving_win"] = _serving(cloud)
    r["lose_code"] = retrain_run(cloud, base / "lose", "-p", "min_absolute_improvement=0.05")
    r["serving_lose"] = _serving(cloud)
    r["drift_code"] = retrain_run(cloud, base / "drift", "-p", f"data_path={_drifted(base / 'data')}")
    r["serving_drift"] = _serving(cloud)
    r["approve"] = _manual_run(cloud, base / "approve", ["approve"])
    r["serving_approve"] = _serving(cloud)
    r["reject"] = _manual_run(cloud, base / "reject", ["reject", "--reason", "scores look too good to be true"])
    r["serving_reject"] = _serving(cloud)
    r["timeout"] = _manual_run(cloud, base / "timeout", None, "-p", "approval_timeout_seconds=2")
    r["serving_timeout"] = _serving(cloud)
    r["packages"] = _packages(cloud)
    return r


def test_the_first_run_has_no_champion_and_the_floor_decides(runs: dict[str, Any]) -> None:
    assert runs["first_code"] == 0
    s = summary(runs["base"] / "first")
    gate = s["gate"]
    assert s["status"] == "deployed" and gate["decision"] == "deploy" and gate["champion"] is None
    assert gate["floor"] == {"metric": "validation:error", "max": 0.5, "passed": True, "value": gate["floor"]["value"]}
    assert 0 < gate["floor"]["value"] <= 0.5 and gate["metric"] == "auc" and 0.5 < gate["candidate"] <= 1
    assert "no model in production" in gate["reason"]
    first = runs["packages"][0]
    assert first["ModelApprovalStatus"] == "Approved" and gate["model_package"] == first["ModelPackageArn"]
    assert first["CustomerMetadataProperties"]["run_id"] == state(runs["base"] / "first")["run_id"]
    assert first["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith("/evaluation/evaluation.json")
    visited = state(runs["base"] / "first")["execution"]["visited"]
    assert "Evaluate Candidate" in visited and "Evaluate Both" not in visited


def test_a_challenger_that_beats_the_champion_by_the_margin_replaces_it(runs: dict[str, Any]) -> None:
    assert runs["win_code"] == 0
    s = summary(runs["base"] / "win")
    gate, first = s["gate"], summary(runs["base"] / "first")["gate"]
    assert s["status"] == "deployed" and gate["decision"] == "deploy" and s["endpoint"]["action"] == "updated"
    # the champion is the first run's model, scored again on this run's held-back rows
    assert gate["champion"] is not None and gate["candidate"] > gate["champion"] + 0.01
    assert gate["absolute"] == pytest.approx(gate["candidate"] - gate["champion"], abs=1e-4)
    assert gate["candidate"] > first["candidate"]
    assert runs["packages"][1]["ModelApprovalStatus"] == "Approved"
    assert runs["serving_win"] != runs["serving_first"]
    assert s["evaluation"]["champion"] and s["evaluation"]["rows"] == gate["rows"]


def test_a_challenger_that_does_not_beat_the_champion_is_registered_rejected(runs: dict[str, Any]) -> None:
    assert runs["lose_code"] == 3
    s = summary(runs["base"] / "lose")
    gate = s["gate"]
    assert s["status"] == "rejected" and gate["decision"] == "reject"
    # both scored on the same held-back rows: the same data and seed give the same model, a tie
    assert gate["champion"] == pytest.approx(gate["candidate"]) and gate["absolute"] == pytest.approx(0.0)
    assert "0.05" in gate["reason"] and f"{gate['candidate']:.4f}"[:5] in s["message"]
    assert runs["packages"][2]["ModelApprovalStatus"] == "Rejected"
    assert runs["serving_lose"] == runs["serving_win"]
    visited = state(runs["base"] / "lose")["execution"]["visited"]
    assert "Evaluate Both" in visited and visited[-1] == "Model Rejected" and "Create Model" not in visited
    assert s["evaluation"]["champion"] and s["evaluation"]["rows"] == gate["rows"]


def test_drifted_data_stops_the_run_before_training(runs: dict[str, Any], cloud: dict[str, Any]) -> None:
    assert runs["drift_code"] == 4
    s = summary(runs["base"] / "drift")
    assert s["status"] == "data_check_failed"
    assert "drift" in s["message"].lower() and "Day Mins" in s["message"]
    visited = state(runs["base"] / "drift")["execution"]["visited"]
    assert "Train Model" not in visited
    assert runs["serving_drift"] == runs["serving_win"]
    run_id = state(runs["base"] / "drift")["run_id"]
    jobs = cloud["sagemaker"].list_training_jobs(NameContains=run_id)["TrainingJobSummaries"]
    assert jobs == []


def test_a_reviewer_approves_with_retrain_approve(runs: dict[str, Any]) -> None:
    run = runs["approve"]
    assert run["code"] == 0, run["output"]
    s = summary(runs["base"] / "approve")
    assert s["status"] == "deployed" and s["endpoint"]["action"] == "updated"
    assert runs["serving_approve"] != runs["serving_win"]
    package = next(p for p in runs["packages"] if p["ModelPackageArn"] == run["waited"]["ModelPackageArn"])
    assert package["ModelApprovalStatus"] == "Approved"


def test_a_reviewer_rejects_with_a_reason(runs: dict[str, Any]) -> None:
    run = runs["reject"]
    assert run["code"] == 3, run["output"]
    s = summary(runs["base"] / "reject")
    assert s["status"] == "rejected_by_reviewer"
    assert s["message"] == "a reviewer rejected the model: scores look too good to be true"
    assert runs["serving_reject"] == runs["serving_approve"]
    package = next(p for p in runs["packages"] if p["ModelPackageArn"] == run["waited"]["ModelPackageArn"])
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == "scores look too good to be true"


def test_nobody_deciding_times_out(runs: dict[str, Any]) -> None:
    run = runs["timeout"]
    assert run["code"] == 3, run["output"]
    s = summary(runs["base"] / "timeout")
    assert s["status"] == "approval_timed_out"
    assert s["message"] == "nobody approved or rejected the model within 2 s"
    assert runs["serving_timeout"] == runs["serving_approve"]
    # the workflow closes the question: the version cannot be approved later by mistake
    last = runs["packages"][-1]
    assert last["ModelApprovalStatus"] == "Rejected"
    assert last["ApprovalDescription"] == "no decision within 2 s: rejected by the workflow"


def test_history_lists_every_recorded_run(runs: dict[str, Any], cloud: dict[str, Any],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--json", *_args(cloud)]) == 0
    records = json.loads(capsys.readouterr().out)
    by_run = {r["run_id"]: r for r in records}
    for name, status in (("first", "deployed"), ("win", "deployed"), ("lose", "rejected"), ("approve", "deployed"),
                         ("reject", "rejected_by_reviewer"), ("timeout", "approval_timed_out")):
        record = by_run[state(runs["base"] / name)["run_id"]]
        assert record["status"] == status, name
        assert record["data_sha256"].startswith("sha256:") and record["params_digest"].startswith("sha256:")
    win, lose = (by_run[state(runs["base"] / n)["run_id"]] for n in ("win", "lose"))
    assert win["data_sha256"] == lose["data_sha256"]
    assert win["params_digest"] != lose["params_digest"]  # the gate's margin is a parameter of the run
    assert win["endpoint_config"] == runs["serving_win"] and lose["endpoint_config"] is None
    assert main(["history", *_args(cloud)]) == 0
    table = capsys.readouterr().out
    assert all(state(runs["base"] / n)["run_id"] in table for n in ("first", "lose", "approve"))


def test_compare_shows_two_runs_side_by_side(runs: dict[str, Any], cloud: dict[str, Any],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    a, b = (state(runs["base"] / n)["run_id"] for n in ("first", "win"))
    assert main(["compare", a, b, *_args(cloud)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == f"{a} -> {b}"
    assert "data: the same; parameters: different" in text
    auc = next(line for line in text.splitlines() if line.strip().startswith("auc"))
    assert auc.rstrip().endswith("better)")
    assert "feature importance (gain), largest moves:" in text


def test_the_report_shows_the_face_off_the_trend_and_the_previous_run(runs: dict[str, Any]) -> None:
    index = (runs["base"] / "lose" / "index.html").read_text(encoding="utf-8")
    assert "<h2>Champion and challenger</h2>" in index and "against the model in production" in index
    assert "<h2>The gate's metric over runs</h2>" in index
    previous = state(runs["base"] / "win")["run_id"]
    assert f"<a href='../{previous}/index.html'>{previous}</a>" in index
    s = summary(runs["base"] / "lose")
    assert [t["run"] for t in s["trend"]][-2:] == [previous, s["run_id"]]
    assert (runs["base"] / "lose" / "artifacts" / "face_off.png").is_file()


def test_a_second_dataset_trains_a_regression(cloud: dict[str, Any], tmp_path: Path) -> None:
    """data/deliveries.csv with params/deliveries.yaml: a schema of its own, reg:squarederror, the rmse floor."""
    out = tmp_path / "deliveries"
    code = main(["run", "--params", str(ROOT / "params" / "deliveries.yaml"), "--out", str(out),
                 "-p", f"localcloud_port={cloud['port']}", "-p", "project_name=e2e-deliv"])
    s = summary(out)
    assert code == 0, s.get("message")
    gate = s["gate"]
    assert gate["floor"]["metric"] == "validation:rmse" and gate["floor"]["value"] <= 8.0
    assert gate["metric"] == "rmse" and s["endpoint"]["smoke_test"]["rmse"] == pytest.approx(gate["candidate"],
                                                                                             abs=1e-3)
    assert set(s["evaluation"]["candidate"]) == {"rmse", "mae", "r2"} and s["evaluation"]["candidate"]["r2"] > 0.8
