"""A clean-up whose identity may not delete everything: each delete that is refused leaves that resource listed as
unexpected with the service's error, and every other step still runs, so nothing else is left behind because of
it (the run then exits 1 and names what remains).

The refusals are real: a local cloud that enforces IAM (``--enforce-iam``) checks the clean-up's requests,
signed with a role session's credentials, against that role's policy, as AWS checks a user's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud import LocalCloud
from retrain.cleanup import clean_up
from retrain.config import load_params
from retrain.resources import bucket_name
from retrain.session import Cloud
from retrain.state import RunState

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ACCOUNT = "123456789012"
PROJECT = "cu-denied"


def _role(iam: Any, name: str, service: str, tags: list[dict[str, str]] | None = None) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": f"{service}.amazonaws.com"}}]}
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                               Tags=tags or [])["Role"]["Arn"])


@pytest.fixture(scope="module")
def denied(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A project's resources, then the clean-up run by a role that may do everything but delete an endpoint
    config or an object."""
    home = tmp_path_factory.mktemp("denied")
    with LocalCloud(port=0, home=home / "cloud", enforce_iam=True) as cloud:
        user = boto3.Session(region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")

        def c(service: str) -> Any:
            return user.client(service, endpoint_url=cloud.endpoint_url)

        params = load_params(ROOT / "params" / "local.yaml", [f"project_name={PROJECT}", "keep_endpoint=false",
                                                               "keep_data=false", "keep_roles=false"])
        tags = [{"Key": k, "Value": v} for k, v in params.tags.items()]
        bucket = bucket_name(PROJECT, ACCOUNT, params.region)
        s3, sm, iam = c("s3"), c("sagemaker"), c("iam")
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
        for key in ("data/churn.csv", "runs/r1/train.csv", "runs/r1/model.tar.gz"):
            s3.put_object(Bucket=bucket, Key=f"{PROJECT}/{key}", Body=b"x")
        glue_role = _role(iam, params.role_name("glue"), "glue", tags)
        model_role = _role(iam, params.role_name("sagemaker"), "sagemaker", tags)
        sm.create_model(ModelName=f"{PROJECT}-r1-model", ExecutionRoleArn=model_role,
                        PrimaryContainer={"Image": IMAGE}, Tags=tags)
        sm.create_endpoint_config(EndpointConfigName=f"{PROJECT}-r1-config", Tags=tags, ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": f"{PROJECT}-r1-model", "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}])
        c("glue").create_job(Name=params.glue_job_name, Role=glue_role, GlueVersion="5.0", Tags=params.tags,
                             Command={"Name": "pythonshell", "PythonVersion": "3.9",
                                      "ScriptLocation": f"s3://{bucket}/{PROJECT}/code/glue_etl.py"})
        cleaner = _role(iam, "cleaner-role", "sagemaker")
        iam.put_role_policy(RoleName="cleaner-role", PolicyName="all-but", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": ["sagemaker:DeleteEndpointConfig", "s3:DeleteObject"],
                 "Resource": "*"}]}))
        creds = cloud.app.ctx.sessions.issue(cleaner, "clean-up")
        session = boto3.Session(region_name="us-east-1", aws_access_key_id=creds.access_key,
                                aws_secret_access_key=creds.secret_key, aws_session_token=creds.token)
        report = clean_up(Cloud(params, session, endpoint_url=cloud.endpoint_url), params,
                          RunState(home / "state.json", {"bucket": bucket}))
        left = {
            "configs": [x["EndpointConfigName"] for x in sm.list_endpoint_configs()["EndpointConfigs"]],
            "models": [x["ModelName"] for x in sm.list_models()["Models"]],
            "jobs": c("glue").list_jobs()["JobNames"],
            "roles": [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(PROJECT)],
            "objects": [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])],
        }
        return {"report": report, "left": left, "bucket": bucket, "params": params}


def test_a_refused_delete_is_listed_as_unexpected_with_the_services_error(denied: dict[str, Any]) -> None:
    report, config = denied["report"], f"{PROJECT}-r1-config"
    assert denied["left"]["configs"] == [config]
    unexpected = [f"{r.kind} {r.name}" for r in report.unexpected]
    assert f"endpoint config {config}" in unexpected
    assert "AccessDenied" in report.errors[f"endpoint config {config}"]
    assert "sagemaker:DeleteEndpointConfig" in report.errors[f"endpoint config {config}"]
    assert len(unexpected) == len(set(unexpected)), unexpected  # listed once, not again by what_remains


def test_every_later_step_still_runs(denied: dict[str, Any]) -> None:
    # the model (the step that refused the config goes on), the Glue job (next step), the roles (last step)
    left, params = denied["left"], denied["params"]
    assert left["models"] == [] and left["jobs"] == [] and left["roles"] == []
    deleted = {f"{r.kind} {r.name}" for r in denied["report"].deleted}
    assert {f"model {PROJECT}-r1-model", f"glue job {params.glue_job_name}",
            f"iam role {params.role_name('glue')}", f"iam role {params.role_name('sagemaker')}"} <= deleted


def test_objects_that_could_not_be_deleted_remain_listed_with_the_error(denied: dict[str, Any]) -> None:
    report, bucket = denied["report"], denied["bucket"]
    assert len(denied["left"]["objects"]) == 3  # and so the bucket stays too
    where = f"s3://{bucket}/{PROJECT}/"
    assert "AccessDenied" in report.errors[f"s3 objects {where}"]
    assert f"s3 objects {where} (3)" in {f"{r.kind} {r.name}" for r in report.unexpected}
    why = {f"{r.kind} {r.name}": r.reason for r in report.remaining}
    assert why[f"bucket {bucket}"] == "holds this project's objects listed above"
    assert not any(r.kind == "s3 objects" for r in report.deleted)
