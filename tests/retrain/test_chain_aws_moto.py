"""`params/aws.yaml` checked end to end without AWS: notebooks 01, 02, 03 and 05 with `target: aws` against a
plain moto server, reached the way AWS users reach a custom endpoint (``AWS_ENDPOINT_URL``).

Notebook 04 needs real training and hosting, which moto only pretends; the local-cloud chain covers it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from chain_helpers import AWS_PARAMS, free_port, state, summary

from retrain.cli import main
from retrain.reports import remote_references

pytestmark = pytest.mark.slow


@pytest.fixture()
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)  # the notebooks' kernels inherit it
    try:
        yield url
    finally:
        server.stop()


def client(url: str, service: str):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")


def test_aws_params_run_notebooks_01_to_03_and_05_on_moto(moto_endpoint: str, tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    code = main(["run", "--params", str(AWS_PARAMS), "--out", str(keep), "--only", "01,02,03,05",
                 "-p", "iam_propagation_seconds=0"])
    assert code == 0
    s = summary(keep)
    assert s["target"] == "aws" and s["status"] == "partial"
    assert [n["status"] for n in s["notebooks"]] == ["ok", "ok", "ok", "skipped", "ok"]
    st = state(keep)
    assert st["bucket"] == "retrain-churn-123456789012-us-east-1"  # <project>-<account from STS>-<region>
    assert set(st["roles"]) == {"stepfunctions", "glue", "lambda", "sagemaker"}
    assert st["state_machine_action"] == "created"
    # aws.yaml keeps roles and data, deletes the endpoint (none here), the job, the function, the state machine
    assert st["cleanup"]["unexpected"] == []
    remaining = st["cleanup"]["remaining"]
    assert "iam role retrain-churn-stepfunctions-role" in remaining
    assert any(r.startswith("s3 objects s3://retrain-churn-123456789012-us-east-1/retrain-churn/") for r in remaining)
    deleted = st["cleanup"]["deleted"]
    assert {"state machine retrain-churn-retrain", "glue job retrain-churn-etl",
            "lambda function retrain-churn-model-gate"} <= set(deleted)
    iam = client(moto_endpoint, "iam")
    policy = iam.get_role_policy(RoleName="retrain-churn-glue-role", PolicyName="etl-access")["PolicyDocument"]
    assert any("retrain-churn-123456789012-us-east-1/retrain-churn/runs/*" in str(st_["Resource"])
               for st_ in policy["Statement"])
    keys = {o["Key"] for o in client(moto_endpoint, "s3").list_objects_v2(
        Bucket=st["bucket"], Prefix="retrain-churn/")["Contents"]}
    assert {"retrain-churn/data/customer-churn.csv", "retrain-churn/holdout/holdout.csv",
            "retrain-churn/code/glue_etl.py", "retrain-churn/code/model_gate.zip"} <= keys
    for page in keep.glob("*.html"):
        assert remote_references(page.read_text(encoding="utf-8")) == [], page.name

    # A second pass that keeps nothing: the roles (created or brought up to date) and data go too.
    gone = tmp_path / "gone"
    # moto (the stand-in for AWS here) has no DeleteModelPackageGroup (moto 5.2.5 answers 500; AWS has it, and
    # localcloud's registry deletes groups: tests/localcloud/test_sagemaker_registry.py): the clean-up lists the
    # group as left behind, with the error, deletes everything else, and the run says so (exit 1)
    assert main(["run", "--params", str(AWS_PARAMS), "--out", str(gone), "--only", "01,02,03,05",
                 "-p", "iam_propagation_seconds=0", "-p", "keep_roles=false", "-p", "keep_data=false"]) == 1
    st = state(gone)
    group = "model package group retrain-churn-models"
    assert st["cleanup"]["unexpected"] == [group] and "DeleteModelPackageGroup" in st["cleanup"]["errors"][group]
    assert "left behind" in summary(gone)["message"] and "DeleteModelPackageGroup" in summary(gone)["message"]
    # apart from it, only the project's own log groups remain, expiring after log_retention_days
    assert st["cleanup"]["remaining"] == [group, "log group /aws/lambda/retrain-churn-model-gate",
                                          "log group /aws/sagemaker/Endpoints/retrain-churn-endpoint"]
    logs = client(moto_endpoint, "logs")
    # the project's log groups (this moto server shares its account with the session's in-process clouds)
    groups = [g for g in logs.describe_log_groups()["logGroups"] if "retrain-churn" in g["logGroupName"]]
    assert {g["logGroupName"]: g.get("retentionInDays") for g in groups} == {
        "/aws/lambda/retrain-churn-model-gate": 30, "/aws/sagemaker/Endpoints/retrain-churn-endpoint": 30}
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("retrain-churn-")]
    assert "retrain-churn-123456789012-us-east-1" not in {
        b["Name"] for b in client(moto_endpoint, "s3").list_buckets()["Buckets"]}
