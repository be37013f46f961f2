"""``retrain redrive RUN`` through the real pipeline on localcloud (IAM enforced): a retraining set up to run
unattended (``schedule``, so its clean-up keeps the state machine) fails at ``Create Model`` because an explicit
Deny on the state machine's role refuses ``sagemaker:CreateModel``; once the Deny is lifted, the redrive continues
from ``Create Model`` and deploys, without running the ETL job, the training or the evaluation again.

AWS facts relied on (botocore's ``stepfunctions`` 2016-11-23 model, RedriveExecution and DescribeExecutionOutput):
a redrive "continues the failed execution from the unsuccessful step and uses the same input ... doesn't rerun
these steps"; the history gets an ``ExecutionRedriven`` event and ``redriveCount`` counts the redrives; a
SUCCEEDED execution is ``NOT_REDRIVABLE`` with the reason "Execution is SUCCEEDED and cannot be redriven". An
explicit Deny overrides any Allow (IAM user guide, "Policy evaluation logic").
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
from retrain.execute import entered_state

pytestmark = pytest.mark.slow

PROJECT = "e2e-redrive"
ARGS = ["--params", str(LOCAL_PARAMS), "-p", f"project_name={PROJECT}", "-p", "schedule=rate(1 day)"]
DENY = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sagemaker:CreateModel",
                                                "Resource": "*"}]}
BEFORE_THE_FAILURE = ("Find Champion", "Extract, Transform, Load", "Train Model", "Judge Model", "Register Model")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import localcloud

    port, home = free_port(), tmp_path_factory.mktemp("localcloud")
    url, _ = localcloud.ensure_running(port, home=home, enforce_iam=True)
    clients = {name: boto3.client(name, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                                  aws_secret_access_key="testing") for name in ("iam", "stepfunctions", "sagemaker")}
    yield {"port": port, "url": url, **clients}
    localcloud.stop(port, home=home)


def _wait_for_execution(out: Path, proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            return str(state(out)["execution_arn"])
        except (OSError, ValueError, KeyError):
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.2)
    raise AssertionError("notebook 04 did not start its execution")


@pytest.fixture(scope="module")
def failed(cloud: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The whole chain; once notebook 04 started the execution (it is in its ETL job), a Deny lands on the
    state machine's role, so the execution fails at Create Model; notebook 05 cleans up and keeps the workflow."""
    out = tmp_path_factory.mktemp("redrive") / "run"
    proc = subprocess.Popen([sys.executable, "-m", "retrain.cli", "run", *ARGS, "--out", str(out),
                             "-p", f"localcloud_port={cloud['port']}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        arn = _wait_for_execution(out, proc)
        cloud["iam"].put_role_policy(RoleName=f"{PROJECT}-stepfunctions-role", PolicyName="deny-create-model",
                                     PolicyDocument=json.dumps(DENY))
        output = proc.communicate(timeout=600)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    return {"out": out, "arn": arn, "code": proc.returncode, "output": output, "run_id": state(out)["run_id"]}


def test_the_run_fails_at_create_model(failed: dict[str, Any], cloud: dict[str, Any]) -> None:
    assert failed["code"] == 1, failed["output"]
    described = cloud["stepfunctions"].describe_execution(executionArn=failed["arn"])
    assert described["status"] == "FAILED" and described["redriveStatus"] == "REDRIVABLE"
    assert summary(failed["out"])["status"] == "failed"


def test_redrive_continues_from_the_failed_state_and_deploys(failed: dict[str, Any], cloud: dict[str, Any],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    sfn = cloud["stepfunctions"]
    cloud["iam"].delete_role_policy(RoleName=f"{PROJECT}-stepfunctions-role", PolicyName="deny-create-model")
    code = main(["redrive", failed["run_id"], *ARGS, "--out", str(failed["out"]),
                 "-p", f"localcloud_port={cloud['port']}"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    described = sfn.describe_execution(executionArn=failed["arn"])
    assert described["status"] == "SUCCEEDED" and described["redriveCount"] == 1
    events = sfn.get_execution_history(executionArn=failed["arn"], maxResults=1000)["events"]
    redriven = [i for i, e in enumerate(events) if e["type"] == "ExecutionRedriven"]
    assert len(redriven) == 1
    assert events[redriven[0]]["executionRedrivenEventDetails"]["redriveCount"] == 1
    after = [name for name in (entered_state(e) for e in events[redriven[0]:]) if name]
    assert after[0] == "Create Model" and "Create Endpoint" in after
    assert not set(BEFORE_THE_FAILURE) & set(after)  # the states before the failure were not run again
    everything = [name for name in (entered_state(e) for e in events) if name]
    assert everything.count("Train Model") == 1 and everything.count("Create Model") == 2
    assert cloud["sagemaker"].describe_endpoint(EndpointName=f"{PROJECT}-endpoint")["EndpointStatus"] == "InService"
    assert "> Create Model" in printed and "> Train Model" not in printed  # live progress of the redrive only
    s = summary(failed["out"])
    assert s["status"] == "deployed" and s["execution"]["status"] == "SUCCEEDED"
    assert s["redrives"][0]["from_state"] == "Create Model" and "Train Model" in s["redrives"][0]["kept"]


def test_a_succeeded_run_or_an_unknown_one_is_refused(failed: dict[str, Any], cloud: dict[str, Any],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    port = ["-p", f"localcloud_port={cloud['port']}"]
    assert main(["redrive", failed["run_id"], *ARGS, *port]) == 2
    err = capsys.readouterr().err
    assert "Execution is SUCCEEDED and cannot be redriven" in err and "nothing to redrive" in err
    assert main(["redrive", "20200101-000000-dead", *ARGS, *port]) == 2
    assert "no execution of run 20200101-000000-dead" in capsys.readouterr().err
