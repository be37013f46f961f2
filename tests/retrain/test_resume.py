"""``retrain run --resume RUN`` through the real chain on localcloud (IAM enforced).

The failure is one the README documents: an endpoint of the project's endpoint name that someone else made stops
notebook 04 before anything is trained; notebook 05 then cleans up on the way out and, with no trigger on, deletes
the Glue job, the Lambda function and the state machine (notebooks 02 and 03 made them). Once the other endpoint is
gone, ``--resume`` keeps notebook 01 (its roles and bucket are still there: its executed notebook is not touched),
runs 02 and 03 again because what they built is gone, then 04 and 05, under the same run id and report folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chain_helpers import LOCAL_PARAMS, free_port, summary

from retrain.cli import main

pytestmark = pytest.mark.slow

PROJECT = "e2e-resume"
ENDPOINT = f"{PROJECT}-endpoint"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import localcloud

    port, home = free_port(), tmp_path_factory.mktemp("localcloud")
    url, _ = localcloud.ensure_running(port, home=home, enforce_iam=True)
    clients = {name: boto3.client(name, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                                  aws_secret_access_key="testing") for name in ("iam", "sagemaker")}
    yield {"port": port, "url": url, **clients}
    localcloud.stop(port, home=home)


def _someone_elses_endpoint(cloud: dict[str, Any]) -> None:
    role = cloud["iam"].create_role(RoleName="someone-elses-role",
                                    AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    sm = cloud["sagemaker"]
    sm.create_model(ModelName="someone-elses-model", ExecutionRoleArn=role,
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://someone-elses-bucket/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName="someone-elses-config", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "someone-elses-model", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="someone-elses-config")


@pytest.fixture(scope="module")
def failed(cloud: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _someone_elses_endpoint(cloud)
    out = tmp_path_factory.mktemp("resume") / "run"
    code = main(["run", "--params", str(LOCAL_PARAMS), "--out", str(out), "-p", f"project_name={PROJECT}",
                 "-p", f"localcloud_port={cloud['port']}"])
    files = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("0*.*")}
    return {"out": out, "code": code, "summary": summary(out), "files": files}


def test_the_run_fails_in_notebook_04(failed: dict[str, Any]) -> None:
    s = failed["summary"]
    assert failed["code"] == 1 and s["status"] == "failed"
    assert [n["status"] for n in s["notebooks"]] == ["ok", "ok", "ok", "failed", "ok"]
    assert "04_run_workflow.ipynb failed" in s["message"] and ENDPOINT in s["message"]


def test_resume_refuses_other_parameters(failed: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    run_id = failed["summary"]["run_id"]
    assert main(["run", "--resume", run_id, "--out", str(failed["out"]), "-p", "seed=7"]) == 2
    assert "drop -p" in capsys.readouterr().err
    assert main(["run", "--resume", run_id, "--out", str(failed["out"]), "--params", str(LOCAL_PARAMS)]) == 2
    assert main(["run", "--resume", "20200101-000000-beef", "--out", str(failed["out"].parent / "none")]) == 2
    assert "no resumable report of run 20200101-000000-beef" in capsys.readouterr().err
    assert summary(failed["out"]) == failed["summary"]  # nothing touched


def test_resume_continues_the_chain_and_keeps_what_still_stands(failed: dict[str, Any], cloud: dict[str, Any],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    sm, out = cloud["sagemaker"], failed["out"]
    sm.delete_endpoint(EndpointName=ENDPOINT)  # the other team removes theirs
    run_id = failed["summary"]["run_id"]
    code = main(["run", "--resume", run_id, "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    s = summary(out)
    assert s["run_id"] == run_id and s["status"] == "deployed"
    assert [n["status"] for n in s["notebooks"]] == ["ok"] * 5
    assert [n.get("resume") for n in s["notebooks"]] == ["kept", "resumed", "resumed", "resumed", "resumed"]
    resumed = s["resumes"][0]
    assert resumed["from"] == "02_create_resources" and resumed["kept"] == ["01_setup_roles"]
    assert f"glue job {PROJECT}-etl" in resumed["why"] and "04_run_workflow failed" in resumed["why"]
    assert resumed["workflow_run_id"] == run_id  # no execution had started: the run's own names are free
    assert "resuming run" in printed and "kept (not run again): 01_setup_roles" in printed
    for name in ("01_setup_roles.ipynb", "01_setup_roles.html"):  # the kept notebook is not executed again
        assert (out / name).stat().st_mtime_ns == failed["files"][name][0]
        assert (out / name).read_bytes() == failed["files"][name][1]
    assert (out / "02_create_resources.ipynb").stat().st_mtime_ns != failed["files"]["02_create_resources.ipynb"][0]
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"
    assert main(["run", "--resume", run_id, "--out", str(out)]) == 2  # deployed: nothing to resume
    assert "ended deployed" in capsys.readouterr().err
