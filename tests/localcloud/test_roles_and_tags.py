"""Roles and tags as the services use them: tag APIs of SageMaker, Glue and Lambda; which trust policies each
service can assume (Step Functions and SageMaker send aws:SourceAccount, Glue and Lambda document no such key);
and, with IAM enforced, the calls a Lambda handler and a training job make with their roles."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from test_sagemaker_support import (
    XGB_IMAGE,
    channel,
    put,
    synthetic,
    to_csv,
    training_request,
    unique,
    wait_job,
)

from localcloud import LocalCloud

ACCOUNT = "123456789012"
ROOT = Path(__file__).resolve().parents[2]


def trust(service: str, *, source_account: bool = False) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if source_account:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def handler_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", source)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------------ tags


def test_sagemaker_tags_from_creation_add_list_delete(aws: Any) -> None:
    sm = aws("sagemaker")
    role = aws("iam").create_role(RoleName=unique("tag-role"), AssumeRolePolicyDocument=trust(
        "sagemaker.amazonaws.com"))["Role"]["Arn"]
    name = unique("tagged")
    arn = sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={"Image": XGB_IMAGE},
                          Tags=[{"Key": "retrain:project", "Value": "p"}])["ModelArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "retrain:project", "Value": "p"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}, {"Key": "retrain:project", "Value": "q"}])
    assert {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]} == {"retrain:project": "q",
                                                                                      "team": "ml"}
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "retrain:project", "Value": "q"}]
    with pytest.raises(ClientError) as err:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "aws:reserved", "Value": "x"}])
    assert err.value.response["Error"]["Code"] == "ValidationException"
    sm.delete_model(ModelName=name)
    with pytest.raises(ClientError):
        sm.list_tags(ResourceArn=arn)


def test_glue_and_lambda_tags(aws: Any) -> None:
    glue, lam, s3 = aws("glue"), aws("lambda"), aws("s3")
    bucket = unique("tags")
    s3.create_bucket(Bucket=bucket)
    glue_role = aws("iam").create_role(RoleName=unique("g"), AssumeRolePolicyDocument=trust("glue.amazonaws.com"))
    job = unique("job")
    glue.create_job(Name=job, Role=glue_role["Role"]["Arn"], Tags={"retrain:project": "p"},
                    Command={"Name": "pythonshell", "ScriptLocation": f"s3://{bucket}/x.py"})
    job_arn = f"arn:aws:glue:us-east-1:{ACCOUNT}:job/{job}"
    assert glue.get_tags(ResourceArn=job_arn)["Tags"] == {"retrain:project": "p"}
    glue.tag_resource(ResourceArn=job_arn, TagsToAdd={"team": "ml"})
    glue.untag_resource(ResourceArn=job_arn, TagsToRemove=["retrain:project"])
    assert glue.get_tags(ResourceArn=job_arn)["Tags"] == {"team": "ml"}
    with pytest.raises(ClientError) as err:
        glue.get_tags(ResourceArn=f"arn:aws:glue:us-east-1:{ACCOUNT}:job/ghost")
    assert err.value.response["Error"]["Code"] == "EntityNotFoundException"

    role = aws("iam").create_role(RoleName=unique("l"), AssumeRolePolicyDocument=trust("lambda.amazonaws.com"))
    fn = lam.create_function(FunctionName=unique("fn"), Role=role["Role"]["Arn"], Runtime="python3.12",
                             Handler="handler.run", Code={"ZipFile": handler_zip("def run(e, c):\n    return 1\n")},
                             Tags={"retrain:project": "p"})
    assert lam.list_tags(Resource=fn["FunctionArn"])["Tags"] == {"retrain:project": "p"}
    lam.tag_resource(Resource=fn["FunctionArn"], Tags={"team": "ml"})
    lam.untag_resource(Resource=fn["FunctionArn"], TagKeys=["team"])
    assert lam.list_tags(Resource=fn["FunctionArn"])["Tags"] == {"retrain:project": "p"}


# ------------------------------------------------------------------------------------------------------ trust


def test_trust_conditions_count_only_where_the_service_sends_the_key(aws: Any) -> None:
    iam, lam, sm, s3 = aws("iam"), aws("lambda"), aws("sagemaker"), aws("s3")
    # Lambda documents no aws:SourceAccount for execution roles: a trust policy requiring it is not met
    conditioned = iam.create_role(RoleName=unique("lc"), AssumeRolePolicyDocument=trust(
        "lambda.amazonaws.com", source_account=True))["Role"]["Arn"]
    with pytest.raises(ClientError) as err:
        lam.create_function(FunctionName=unique("fn"), Role=conditioned, Runtime="python3.12", Handler="handler.run",
                            Code={"ZipFile": handler_zip("def run(e, c):\n    return 1\n")})
    assert err.value.response["Error"]["Message"] == "The role defined for the function cannot be assumed by Lambda."
    # SageMaker sends it (its confused-deputy guide): the same condition for sagemaker.amazonaws.com is met
    bucket = unique("trust")
    s3.create_bucket(Bucket=bucket)
    ok = iam.create_role(RoleName=unique("sc"), AssumeRolePolicyDocument=trust(
        "sagemaker.amazonaws.com", source_account=True))["Role"]["Arn"]
    name = unique("job")
    sm.create_training_job(**training_request(name, ok, bucket, [channel("train", f"s3://{bucket}/none")],
                                              {"num_round": "1"}))
    wrong = iam.create_role(RoleName=unique("sw"), AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "sagemaker.amazonaws.com"},
                                                "Condition": {"StringEquals": {"aws:SourceAccount": "999999999999"}}}]
    }))["Role"]["Arn"]
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**training_request(unique("job"), wrong, bucket, [channel("train", "s3://x/y")]))
    assert err.value.response["Error"]["Message"].startswith(f"Could not assume role {wrong}.")
    wait_job(sm, name)


# ------------------------------------------------------------------------------------------------------ sessions


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with LocalCloud(port=0, home=tmp_path_factory.mktemp("strict-roles"), enforce_iam=True) as cloud:
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        yield {name: session.client(name, endpoint_url=cloud.endpoint_url)
               for name in ("s3", "iam", "lambda", "sagemaker")}


def _role(c: dict[str, Any], service: str, statements: list[dict[str, Any]]) -> tuple[str, str]:
    name = unique("role")
    arn = c["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=trust(service))["Role"]["Arn"]
    c["iam"].put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    return name, arn


def test_a_lambda_handler_calls_with_its_role(strict: dict[str, Any]) -> None:
    source = ("import boto3\n"
              "def run(event, context):\n"
              "    return boto3.client('sagemaker').describe_training_job(TrainingJobName='nope')\n")
    name, role = _role(strict, "lambda.amazonaws.com", [{"Effect": "Allow", "Action": "logs:PutLogEvents",
                                                         "Resource": "*"}])
    fn = unique("fn")
    strict["lambda"].create_function(FunctionName=fn, Role=role, Runtime="python3.12", Handler="handler.run",
                                     Code={"ZipFile": handler_zip(source)})
    out = strict["lambda"].invoke(FunctionName=fn, Payload=b"{}")
    error = json.loads(out["Payload"].read())
    assert out["FunctionError"] == "Unhandled" and error["errorType"] == "ClientError"
    assert (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{fn} is not authorized to perform: "
            f"sagemaker:DescribeTrainingJob on resource: arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/nope"
            ) in error["errorMessage"]
    strict["iam"].put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sagemaker:DescribeTrainingJob",
                                                "Resource": "*"}]}))
    time.sleep(1.1)  # role policies are read again after a second
    error = json.loads(strict["lambda"].invoke(FunctionName=fn, Payload=b"{}")["Payload"].read())
    assert "Requested resource not found" in error["errorMessage"]  # allowed now: SageMaker's own answer


def test_a_training_job_reads_and_writes_with_its_role(strict: dict[str, Any]) -> None:
    c = strict
    bucket = unique("roles")
    c["s3"].create_bucket(Bucket=bucket)
    put(c["s3"], bucket, "p/train/data.csv", to_csv(synthetic(100, seed=3)))
    read_only = [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
                 {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/p/train/*"}]
    _, reader = _role(c, "sagemaker.amazonaws.com", read_only)
    request = training_request(unique("job"), reader, bucket, [channel("train", f"s3://{bucket}/p/train")],
                               {"num_round": "2", "objective": "binary:logistic"})
    c["sagemaker"].create_training_job(**request)
    job = wait_job(c["sagemaker"], request["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Failed"
    assert "is not authorized to perform: s3:PutObject" in job["FailureReason"]  # the model upload
    _, writer = _role(c, "sagemaker.amazonaws.com", read_only + [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/output/*"}])
    request = training_request(unique("job"), writer, bucket, [channel("train", f"s3://{bucket}/p/train")],
                               {"num_round": "2", "objective": "binary:logistic"})
    c["sagemaker"].create_training_job(**request)
    assert wait_job(c["sagemaker"], request["TrainingJobName"])["TrainingJobStatus"] == "Completed"
