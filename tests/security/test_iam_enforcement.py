"""localcloud's Step Functions can enforce the state machine role's policy (``--enforce-iam``): with the roles the
project writes (``retrain.iam``) the project's own states run; take a permission away, or step outside the
project's names, and the task fails with the service's access-denied error, as on AWS."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from rel_helpers import (  # noqa: E402
    LOCAL_PARAMS,
    execution_failure,
    fragment,
    offline_project,
    run_input,
    run_machine,
    tiny_model,
    unique,
)

from localcloud import LocalCloud, lifecycle  # noqa: E402
from retrain.config import load_params  # noqa: E402
from retrain.iam import ensure_project_roles  # noqa: E402

ACCOUNT = "123456789012"
ETL, SAVE, CONFIG, QUERY = "Extract, Transform, Load", "Create Model", "Create Endpoint Config", "Judge Model"
DENIED = "is not authorized to perform"


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An enforcing local cloud with the project's four roles, its ETL job and its bucket."""
    with LocalCloud(port=0, home=tmp_path_factory.mktemp("strict"), enforce_iam=True) as cloud:
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="test",
                                        aws_secret_access_key="test")
        c = {name: session.client(name, endpoint_url=cloud.endpoint_url)
             for name in ("s3", "iam", "glue", "stepfunctions", "sagemaker", "lambda")}
        project = unique("strict")
        bucket = f"{project}-{ACCOUNT}-us-east-1"
        c["s3"].create_bucket(Bucket=bucket)
        params = load_params(LOCAL_PARAMS, {"project_name": project})
        roles = ensure_project_roles(c["iam"], params, ACCOUNT, bucket, image_uri=None)
        params, layout, definition = offline_project(c["s3"], {"project_name": project},
                                                     sagemaker_role=roles["sagemaker"].arn)
        c["s3"].put_object(Bucket=bucket, Key=layout.data_key, Body=b"State,Churn?\nKS,False.\n")
        c["s3"].put_object(Bucket=bucket, Key=f"{project}/code/glue_etl.py", Body=b"print('ok')\n")
        c["glue"].create_job(Name=params.glue_job_name, Role=roles["glue"].arn, GlueVersion="5.0",
                             Command={"Name": "pythonshell", "PythonVersion": "3.9",
                                      "ScriptLocation": f"s3://{bucket}/{project}/code/glue_etl.py"})
        yield {"cloud": cloud, "c": c, "params": params, "layout": layout, "roles": roles, "definition": definition,
               "bucket": bucket, "sfn_role": roles["stepfunctions"].arn}


def _run(strict: dict[str, Any], start: str, keep: list[str], **names: Any) -> dict[str, Any]:
    execution_input = run_input(strict["params"], strict["layout"], **names)
    return run_machine(strict["c"]["stepfunctions"], strict["sfn_role"],
                       fragment(strict["definition"], start, keep), execution_input, limit=120)


def _without(strict: dict[str, Any], sid: str) -> Iterator[None]:
    """The Step Functions role without statement ``sid`` while the block runs."""
    iam, role = strict["c"]["iam"], strict["roles"]["stepfunctions"].name
    name = iam.list_role_policies(RoleName=role)["PolicyNames"][0]
    original = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    original = json.loads(original) if isinstance(original, str) else original
    reduced = {**original, "Statement": [s for s in original["Statement"] if s.get("Sid") != sid]}
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(reduced))
    time.sleep(1.1)  # the role's policies are cached for a second
    try:
        yield
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(original))
        time.sleep(1.1)


def _approved_package(c: dict[str, Any], params: Any, model_url: str) -> str:
    """An Approved version in the project's group (Create Model deploys only a registered, approved model)."""
    sm = c["sagemaker"]
    try:
        sm.create_model_package_group(ModelPackageGroupName=params.model_package_group_name)
    except sm.exceptions.ClientError:
        pass  # the group exists from an earlier test
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    return sm.create_model_package(
        ModelPackageGroupName=params.model_package_group_name, ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": image, "ModelDataUrl": model_url}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]


def test_the_projects_policy_allows_its_own_states(strict: dict[str, Any]) -> None:
    assert strict["cloud"].app.health()["enforce_iam"] is True
    out = _run(strict, ETL, [ETL])
    assert out["status"] == "SUCCEEDED", out["events"][-1]


def test_a_missing_permission_fails_the_task_with_access_denied(strict: dict[str, Any]) -> None:
    for _ in _without(strict, "RunTheEtlJob"):
        out = _run(strict, ETL, [ETL])
    error, cause = execution_failure(out)
    job_arn = f"arn:aws:glue:us-east-1:{ACCOUNT}:job/{strict['params'].glue_job_name}"
    assert error == "Glue.AccessDeniedException"
    assert f"{DENIED}: glue:StartJobRun on resource: {job_arn}" in cause
    assert "because no identity-based policy allows the glue:StartJobRun action" in cause
    assert f"assumed-role/{strict['roles']['stepfunctions'].name}/" in cause
    assert "Error Code: AccessDeniedException" in cause


def test_a_name_outside_the_projects_prefix_is_denied(strict: dict[str, Any]) -> None:
    out = _run(strict, CONFIG, [CONFIG], EndpointConfigName="someone-elses-config")
    error, cause = execution_failure(out)
    assert error == "SageMaker.AmazonSageMakerException"
    assert (f"{DENIED}: sagemaker:CreateEndpointConfig on resource: "
            f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint-config/someone-elses-config") in cause
    assert "Service: AmazonSageMaker; Status Code: 400; Error Code: AccessDeniedException" in cause


def test_passing_a_role_the_policy_does_not_name_is_denied(strict: dict[str, Any]) -> None:
    c, params = strict["c"], strict["params"]
    archive, _, _ = tiny_model(1, 2)
    key = f"{params.project_name}/output/model.tar.gz"
    c["s3"].put_object(Bucket=strict["bucket"], Key=key, Body=archive)
    artifacts = {"Registered": {"ModelPackageArn": _approved_package(c, params, f"s3://{strict['bucket']}/{key}")}}
    ok = _run(strict, SAVE, [SAVE], **artifacts)
    assert ok["status"] == "SUCCEEDED", ok["events"][-1]
    other = c["iam"].create_role(RoleName=unique("other-sagemaker"), AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service":
                                                 "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    definition = json.loads(json.dumps(strict["definition"]))
    definition["States"][SAVE]["Parameters"]["ExecutionRoleArn"] = other["Role"]["Arn"]
    out = run_machine(c["stepfunctions"], strict["sfn_role"], fragment(definition, SAVE, [SAVE]),
                      run_input(params, strict["layout"], **artifacts), limit=120)
    error, cause = execution_failure(out)
    assert error == "SageMaker.AmazonSageMakerException"
    assert f"{DENIED}: iam:PassRole on resource: {other['Role']['Arn']}" in cause


def test_lambda_without_permission_is_a_403_access_denied(strict: dict[str, Any]) -> None:
    # AWS names this Lambda.AWSLambdaException, which the project retries as transient (AWS's own advice for
    # Lambda tasks): without its Retry the test sees the first denial at once.
    definition = fragment(strict["definition"], QUERY, [QUERY])
    definition["States"][QUERY].pop("Retry")
    for _ in _without(strict, "InvokeTheModelGate"):
        out = run_machine(strict["c"]["stepfunctions"], strict["sfn_role"], definition,
                          run_input(strict["params"], strict["layout"]), limit=120)
    error, cause = execution_failure(out)
    function = strict["params"].lambda_function_name
    assert error == "Lambda.AWSLambdaException"
    assert f"{DENIED}: lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}" \
        in cause
    assert "Status Code: 403; Error Code: AccessDeniedException" in cause


def test_an_explicit_deny_wins(strict: dict[str, Any]) -> None:
    iam, role = strict["c"]["iam"], strict["roles"]["stepfunctions"].name
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "glue:*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=role, PolicyName="deny-glue", PolicyDocument=json.dumps(deny))
    time.sleep(1.1)
    try:
        out = _run(strict, ETL, [ETL])
    finally:
        iam.delete_role_policy(RoleName=role, PolicyName="deny-glue")
        time.sleep(1.1)
    error, cause = execution_failure(out)
    assert error == "Glue.AccessDeniedException" and "with an explicit deny in an identity-based policy" in cause


def test_enforcement_is_off_unless_asked_for(cloud: Any, tmp_path: Path) -> None:
    assert cloud.app.health()["enforce_iam"] is False  # the session's cloud: every other test runs unchecked
    port = LocalCloud(port=0).port
    url, started = lifecycle.ensure_running(port, home=tmp_path, enforce_iam=True)
    try:
        assert started and lifecycle.health(port)["enforce_iam"] is True  # type: ignore[index]
    finally:
        lifecycle.stop(port, home=tmp_path)


CHECK = ["Check Endpoint", "Endpoint Missing?", "Wait to Check Again", "Note Endpoint Check Failed",
         "Record Endpoint Check Failed", "Endpoint Check Failed", "Create Endpoint"]


def test_a_denied_endpoint_check_fails_the_run_instead_of_creating(strict: dict[str, Any]) -> None:
    # DescribeEndpoint denied is SageMaker.SageMakerException like a missing endpoint: the cause tells them apart
    definition = fragment(strict["definition"], "Check Endpoint", CHECK)
    for _ in _without(strict, "CheckTheEndpoint"):
        out = run_machine(strict["c"]["stepfunctions"], strict["sfn_role"], definition,
                          run_input(strict["params"], strict["layout"]), limit=60)
    error, cause = execution_failure(out)
    assert error == "EndpointCheckFailed"
    assert f"{DENIED}: sagemaker:DescribeEndpoint" in cause and "Could not find endpoint" not in cause
    visited = [e["stateEnteredEventDetails"]["name"] for e in out["events"] if e["type"].endswith("StateEntered")]
    assert "Create Endpoint" not in visited


def test_only_an_endpoint_carrying_the_projects_tag_is_updated(strict: dict[str, Any]) -> None:
    c, params, bucket = strict["c"], strict["params"], strict["bucket"]
    archive, _, _ = tiny_model(3, 2)
    key = f"{params.project_name}/output/own/model.tar.gz"
    c["s3"].put_object(Bucket=bucket, Key=key, Body=archive)
    names = run_input(params, strict["layout"])
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    c["sagemaker"].create_model(ModelName=names["ModelName"], ExecutionRoleArn=strict["roles"]["sagemaker"].arn,
                                PrimaryContainer={"Image": image, "ModelDataUrl": f"s3://{bucket}/{key}"},
                                Tags=[{"Key": "retrain:project", "Value": params.project_name}])
    variant = [{"VariantName": "AllTraffic", "ModelName": names["ModelName"], "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large"}]
    c["sagemaker"].create_endpoint_config(EndpointConfigName=names["EndpointConfigName"], ProductionVariants=variant,
                                          Tags=[{"Key": "retrain:project", "Value": params.project_name}])
    # someone else's endpoint of the project's endpoint name: no tag
    c["sagemaker"].create_endpoint(EndpointName=names["EndpointName"], EndpointConfigName=names["EndpointConfigName"])
    deadline = time.monotonic() + 60
    while c["sagemaker"].describe_endpoint(EndpointName=names["EndpointName"])["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, "the endpoint did not come into service"
        time.sleep(0.2)
    definition = fragment(strict["definition"], "Update Endpoint", ["Update Endpoint"])
    definition["States"]["Update Endpoint"].pop("Retry")
    out = run_machine(c["stepfunctions"], strict["sfn_role"], definition, names, limit=60)
    error, cause = execution_failure(out)
    # Update Endpoint is an AWS SDK integration (it sends a DeploymentConfig): an error SageMaker's model does not
    # name is the SDK's base class, SageMaker.SageMakerException (recorded for unmodelled errors on AWS: localstack
    # tests/aws/services/stepfunctions/v2/services/test_aws_sdk.snapshot.json)
    assert error == "SageMaker.SageMakerException"
    assert f"{DENIED}: sagemaker:UpdateEndpoint on resource: arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/" in cause
    arn = c["sagemaker"].describe_endpoint(EndpointName=names["EndpointName"])["EndpointArn"]
    c["sagemaker"].add_tags(ResourceArn=arn, Tags=[{"Key": "retrain:project", "Value": params.project_name}])
    time.sleep(1.1)
    ok = run_machine(c["stepfunctions"], strict["sfn_role"], definition, names, limit=60)
    assert ok["status"] == "SUCCEEDED", ok["events"][-1]
    c["sagemaker"].delete_endpoint(EndpointName=names["EndpointName"])
