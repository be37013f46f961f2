"""The whole chain, notebooks 01 -> 05 through `retrain run`, on the local cloud.

One local cloud (a background process on a free port) serves the runs in order: the first deploys and creates
the endpoint, the second updates it, the third has an impossible threshold and is rejected with exit code 3,
leaving the endpoint untouched. Their reports are checked for content and for offline HTML, and looked at in a
real browser (headless Chromium, network off).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chain_helpers import LOCAL_PARAMS, chromium, count_colour, free_port, screenshot, state, summary

from retrain.cli import main
from retrain.graph import COLOURS
from retrain.reports import remote_references

pytestmark = pytest.mark.slow

PROJECT = ["-p", "project_name=e2e-churn", "-p", "endpoint_name=e2e-churn-ep"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import localcloud

    port = free_port()
    home = tmp_path_factory.mktemp("localcloud")
    # IAM enforced: every call a role makes (tasks, the Glue job's S3, training and hosting transfers, the Lambda
    # handler) is checked against the policies notebook 01 writes, so a policy too tight fails here as on AWS
    url, started = localcloud.ensure_running(port, home=home, enforce_iam=True)
    assert started and localcloud.health(port)["enforce_iam"] is True
    sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    yield {"port": port, "url": url, "sagemaker": sm}
    localcloud.stop(port, home=home)


def retrain_run(cloud: dict[str, Any], out: Path, *extra: str) -> int:
    return main(["run", "--params", str(LOCAL_PARAMS), "--out", str(out), *PROJECT,
                 "-p", f"localcloud_port={cloud['port']}", *extra])


@pytest.fixture(scope="module")
def runs(cloud: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("runs")
    sm = cloud["sagemaker"]
    result: dict[str, Any] = {}
    result["first_code"] = retrain_run(cloud, base / "first")
    result["first"] = base / "first"
    result["after_first"] = sm.describe_endpoint(EndpointName="e2e-churn-ep")
    result["second_code"] = retrain_run(cloud, base / "second")
    result["second"] = base / "second"
    result["after_second"] = sm.describe_endpoint(EndpointName="e2e-churn-ep")
    result["reject_code"] = retrain_run(cloud, base / "reject", "-p", "accuracy_threshold=1")
    result["reject"] = base / "reject"
    result["after_reject"] = sm.describe_endpoint(EndpointName="e2e-churn-ep")
    return result


def test_first_run_deploys_and_creates_the_endpoint(runs: dict[str, Any]) -> None:
    assert runs["first_code"] == 0
    s = summary(runs["first"])
    assert s["status"] == "deployed" and s["target"] == "local"
    floor = s["gate"]["floor"]
    assert floor["metric"] == "validation:error" and floor["passed"] is True and s["gate"]["decision"] == "deploy"
    assert 0 < floor["value"] <= 0.1 and floor["max"] == 0.1
    assert s["endpoint"]["name"] == "e2e-churn-ep" and s["endpoint"]["action"] == "created"
    assert s["endpoint"]["smoke_test"]["rows"] == 200 and s["endpoint"]["smoke_test"]["accuracy"] >= 0.85
    assert s["execution"]["status"] == "SUCCEEDED" and s["execution"]["arn"].startswith("arn:aws:states:")
    assert s["execution"]["duration_s"] > 0
    assert [n["status"] for n in s["notebooks"]] == ["ok"] * 5
    assert all(n["html"] and (runs["first"] / n["html"]).is_file() for n in s["notebooks"])
    assert s["versions"]["stepfunctions"] == "2.3.0" and "git_commit" in s
    run_id = state(runs["first"])["run_id"]
    assert s["data"]["DataPrefix"].endswith(f"/e2e-churn/runs/{run_id}/")  # each run's data under its own prefix
    assert runs["after_first"]["EndpointStatus"] == "InService"


def test_second_run_updates_the_endpoint(runs: dict[str, Any]) -> None:
    assert runs["second_code"] == 0
    s = summary(runs["second"])
    assert s["status"] == "deployed" and s["endpoint"]["action"] == "updated"
    assert runs["after_second"]["EndpointConfigName"] != runs["after_first"]["EndpointConfigName"]
    assert runs["after_second"]["EndpointConfigName"] == state(runs["second"])["execution_input"]["EndpointConfigName"]
    # clean-up of the second run kept what serves and, for `retrain rollback`, the first run's config (the last
    # rollback_configs_kept = 1 deployed run before it)
    cleanup = state(runs["second"])["cleanup"]
    first = f"endpoint config {runs['after_first']['EndpointConfigName']}"
    assert first in cleanup["remaining"] and cleanup["why"][first].startswith("rollback_configs_kept: 1")
    assert cleanup["unexpected"] == []


def test_every_notebook_used_the_one_validated_set(runs: dict[str, Any]) -> None:
    """The runner validates the parameters once and hands every notebook the saved set (no overrides to parse
    again); the summary records that very set."""
    import json

    import nbformat

    out = runs["reject"]
    saved = json.loads((out / "params.json").read_text())
    s = summary(out)
    assert saved["validated_params"] == s["params"]
    assert s["params"]["accuracy_threshold"] == 1 and s["params"]["state_file"] == str(out / "state.json")
    for entry in s["notebooks"]:
        if entry["status"] == "skipped":
            continue
        notebook = nbformat.read(str(out / f"{entry['name']}.ipynb"), as_version=4)
        injected = next(c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", []))
        assert f"params_file = {str(out / 'params.json')!r}" in injected.source.replace('"', "'")
        assert "overrides = {}" in injected.source


def test_runs_are_reproducible(runs: dict[str, Any]) -> None:
    first, second = summary(runs["first"]), summary(runs["second"])
    assert first["gate"]["floor"]["value"] == second["gate"]["floor"]["value"]
    assert first["gate"]["candidate"] == second["gate"]["candidate"] == second["gate"]["champion"]
    assert first["endpoint"]["smoke_test"] == second["endpoint"]["smoke_test"]


def test_impossible_threshold_is_rejected_and_the_endpoint_untouched(runs: dict[str, Any]) -> None:
    assert runs["reject_code"] == 3
    s = summary(runs["reject"])
    assert s["status"] == "rejected"
    floor = s["gate"]["floor"]
    assert floor["passed"] is False and floor["max"] == 0.0 and floor["value"] > 0 and s["gate"]["decision"] == "reject"
    assert s["endpoint"]["action"] == "none" and s["endpoint"]["smoke_test"] is None
    assert s["execution"]["status"] == "FAILED"
    assert "does not clear the floor: validation:error" in s["message"] and f"{floor['value']:.4g}" in s["message"]
    assert runs["after_reject"]["EndpointConfigName"] == runs["after_second"]["EndpointConfigName"]
    assert [n["status"] for n in s["notebooks"]] == ["ok"] * 5
    visited = state(runs["reject"])["execution"]["visited"]
    assert visited[-1] == "Model Rejected" and "Create Endpoint Config" not in visited


def test_clean_up_alone_can_remove_everything(runs: dict[str, Any], cloud: dict[str, Any], tmp_path: Path) -> None:
    # Notebook 05 on its own (a fresh run state), keeping nothing: endpoint, configs, models, roles, data go.
    out = tmp_path / "teardown"
    assert retrain_run(cloud, out, "--only", "05", "-p", "keep_endpoint=false", "-p", "keep_roles=false",
                       "-p", "keep_data=false") == 0
    cleanup = state(out)["cleanup"]
    assert cleanup["unexpected"] == []
    # SageMaker keeps training jobs; the project's log groups expire after log_retention_days
    assert {r.split(" ", 2)[0] + " " + r.split(" ", 2)[1] for r in cleanup["remaining"]} <= {
        "training job", "processing job", "log group"}
    assert "endpoint e2e-churn-ep" in cleanup["deleted"]
    sm = cloud["sagemaker"]
    assert sm.list_endpoints(NameContains="e2e-churn")["Endpoints"] == []
    assert sm.list_models(NameContains="e2e-churn")["Models"] == []
    assert sm.list_endpoint_configs(NameContains="e2e-churn")["EndpointConfigs"] == []


def test_reports_are_offline(runs: dict[str, Any]) -> None:
    pages = [p for key in ("first", "second", "reject") for p in runs[key].glob("*.html")]
    assert len(pages) == 18
    for page in pages:
        assert remote_references(page.read_text(encoding="utf-8")) == [], page.name
        # every image has alternative text of its own (nbconvert puts a placeholder on those without)
        assert "No description has been provided for this image" not in page.read_text(encoding="utf-8"), page.name
    run_page = (runs["first"] / "04_run_workflow.html").read_text()
    # the face-off (no champion on a first run: the new model's metrics alone), confusion, ROC, importance
    assert run_page.count('<img alt="') == 4 and 'alt="Confusion matrix of 200 held-back rows' in run_page
    assert 'alt="The new model&#39;s metrics on 200 held-back rows; no model was in production' in run_page \
        or "alt=\"The new model's metrics on 200 held-back rows; no model was in production" in run_page
    index = (runs["first"] / "index.html").read_text()
    assert "<svg" in index and index.count("data:image/png;base64,") == 4


def test_a_failing_notebook_stops_the_chain_and_names_the_cell(cloud: dict[str, Any], tmp_path: Path) -> None:
    # 02 alone, with a fresh run state: it needs the roles notebook 01 records.
    assert retrain_run(cloud, tmp_path / "out", "--only", "02") == 1
    s = summary(tmp_path / "out")
    assert s["status"] == "failed"
    assert "02_create_resources.ipynb failed in cell" in s["message"] and "StateError" in s["message"]
    assert "run 01_setup_roles first" in s["message"]
    assert [n["status"] for n in s["notebooks"]] == ["skipped", "failed", "skipped", "skipped", "skipped"]
    assert (tmp_path / "out" / "02_create_resources.html").is_file() and (tmp_path / "out" / "index.html").is_file()


def test_the_runner_stops_only_the_cloud_it_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import localcloud

    monkeypatch.setenv("LOCALCLOUD_HOME", str(tmp_path / "home"))
    port = free_port()
    code = main(["run", "--params", str(LOCAL_PARAMS), "--out", str(tmp_path / "out"), "--only", "01",
                 "-p", f"localcloud_port={port}", "-p", "project_name=e2e-start"])
    assert code == 0 and summary(tmp_path / "out")["status"] == "partial"
    assert localcloud.health(port) is None  # it started one, and stopped it
    assert (tmp_path / "home" / str(port)).is_dir()  # where LOCALCLOUD_HOME said


def test_reports_seen_in_a_browser(runs: dict[str, Any], tmp_path: Path) -> None:
    exe = chromium()
    if not exe:
        pytest.skip("chromium could not be installed (apt-get failed)")
    green, yellow = COLOURS["succeeded"][0], COLOURS["caught"][0]
    shot = tmp_path / "index.png"
    screenshot(exe, runs["first"] / "index.html", shot, height=5000)
    assert count_colour(shot, green) > 5000, "the coloured workflow graph is not drawn"
    assert count_colour(shot, yellow) > 500, "the caught endpoint check is not drawn"
    assert count_colour(shot, "#e8710a") > 3000, "the feature importance plot is not drawn"
    assert count_colour(shot, "#1a73e8", tolerance=6) > 200, "the ROC curve is not drawn"
    nb = tmp_path / "nb04.png"
    screenshot(exe, runs["first"] / "04_run_workflow.html", nb, height=20000)
    assert count_colour(nb, green) > 5000 and count_colour(nb, "#e8710a") > 3000
    rejected = tmp_path / "rejected.png"
    screenshot(exe, runs["reject"] / "index.html", rejected)
    assert count_colour(rejected, COLOURS["failed"][0]) > 1000, "the rejected run's Fail state is not red"


def test_an_interrupted_run_stops_its_execution_and_cleans_up(cloud: dict[str, Any], tmp_path: Path) -> None:
    """Ctrl-C while the workflow runs: the clean-up notebook still runs on the way out, stops the execution (so it
    cannot create an endpoint afterwards) and deletes what the parameters do not keep; exit code 130."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "retrain.cli", "run", "--params", str(LOCAL_PARAMS), "--out",
                             str(out), "-p", "project_name=e2e-stop", "-p", "keep_endpoint=false",
                             "-p", f"localcloud_port={cloud['port']}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and '"execution_arn"' not in _text(out / "state.json"):
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.2)
        time.sleep(1.0)  # the execution is running its ETL job
        os.kill(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=240)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    s = summary(out)
    assert s["status"] == "interrupted" and s["message"] == "interrupted during 04_run_workflow"
    assert [n["status"] for n in s["notebooks"]] == ["ok", "ok", "ok", "interrupted", "ok"]
    arn = state(out)["execution_arn"]
    assert s["cleanup"]["stopped"] == [arn] and s["cleanup"]["unexpected"] == []
    assert f"stopped execution {arn}" in output and "remains: training job" not in output.split("INTERRUPTED")[0]
    sfn = boto3.client("stepfunctions", endpoint_url=cloud["url"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert cloud["sagemaker"].list_endpoints(NameContains="e2e-stop")["Endpoints"] == []


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
