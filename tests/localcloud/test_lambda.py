"""Lambda control plane: create/get/update/list/delete, name and ARN forms, and the AWS errors of each."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import urllib.error
import urllib.request
import uuid
import zipfile

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
TRUST_LAMBDA = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
HANDLER = "def handler(event, context):\n    return {'echo': event}\n"


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buf.getvalue()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def role(aws) -> str:
    return aws("iam").create_role(RoleName=unique("lambda-crud"), AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"]["Arn"]


@pytest.fixture(scope="module")
def lam(aws):
    return aws("lambda")


@pytest.fixture()
def function(lam, role):
    """A fresh function; yields its name."""
    name = unique("fn")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": HANDLER})})
    return name


def test_create_returns_the_aws_configuration(lam, role) -> None:
    package = make_zip({"app.py": HANDLER})
    name = unique("create")
    config = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                                 Code={"ZipFile": package}, Description="d", MemorySize=256,
                                 Environment={"Variables": {"STAGE": "test"}}, Tags={"team": "ml"})
    assert config["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert config["FunctionName"] == name
    assert config["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert config["CodeSize"] == len(package)
    assert (config["State"], config["LastUpdateStatus"], config["Version"]) == ("Active", "Successful", "$LATEST")
    assert (config["Timeout"], config["MemorySize"], config["Runtime"]) == (3, 256, "python3.12")
    assert config["Environment"] == {"Variables": {"STAGE": "test"}}
    assert config["Role"] == role and config["Handler"] == "app.handler" and config["PackageType"] == "Zip"
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    assert lam.get_function(FunctionName=name)["Tags"] == {"team": "ml"}


def test_get_function_by_name_arn_and_partial_arn(lam, function) -> None:
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}"
    for ident in (function, arn, f"{ACCOUNT}:function:{function}", f"{function}:$LATEST", f"{arn}:$LATEST"):
        assert lam.get_function_configuration(FunctionName=ident)["FunctionArn"] == arn
    got = lam.get_function(FunctionName=arn)
    assert got["Configuration"]["FunctionName"] == function
    assert got["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(got["Code"]["Location"]) as resp:  # the package itself, as AWS hands it out
        package = resp.read()
    assert hashlib.sha256(package).digest() == base64.b64decode(got["Configuration"]["CodeSha256"])
    assert zipfile.ZipFile(io.BytesIO(package)).read("app.py").decode() == HANDLER


def test_existing_name_is_a_conflict(lam, role, function) -> None:
    with pytest.raises(ClientError) as err:
        lam.create_function(FunctionName=function, Runtime="python3.11", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": HANDLER})})
    assert error_of(err) == ("ResourceConflictException", f"Function already exist: {function}", 409)


def test_missing_function_is_not_found_everywhere(lam) -> None:
    """Invoke names the $LATEST it would have run, the other operations the function (recorded on AWS: localstack
    snapshots tests/aws/services/lambda_/test_lambda.snapshot.json, test_invoke_exceptions, and
    test_lambda_api.snapshot.json, test_ops_on_nonexisting_fn)."""
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:nope-{uuid.uuid4().hex[:6]}"
    name = arn.rsplit(":", 1)[1]
    calls = [
        (lambda: lam.get_function(FunctionName=name), arn),
        (lambda: lam.get_function_configuration(FunctionName=arn), arn),
        (lambda: lam.invoke(FunctionName=name, Payload=b"{}"), f"{arn}:$LATEST"),
        (lambda: lam.update_function_configuration(FunctionName=name, Timeout=5), arn),
        (lambda: lam.update_function_code(FunctionName=name, ZipFile=make_zip({"a.py": ""})), arn),
        (lambda: lam.delete_function(FunctionName=name), arn),
    ]
    for call, named in calls:
        with pytest.raises(ClientError) as err:
            call()
        assert error_of(err) == ("ResourceNotFoundException", f"Function not found: {named}", 404)


def test_unknown_qualifier_is_not_found(lam, function) -> None:
    with pytest.raises(ClientError) as err:
        lam.get_function(FunctionName=function, Qualifier="1")
    code, message, status = error_of(err)
    assert (code, status) == ("ResourceNotFoundException", 404) and message.endswith(f"function:{function}:1")


def test_only_python_runtimes(lam, role) -> None:
    with pytest.raises(ClientError) as err:
        lam.create_function(FunctionName=unique("node"), Runtime="nodejs20.x", Role=role, Handler="index.handler",
                            Code={"ZipFile": make_zip({"index.js": ""})})
    code, message, status = error_of(err)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "nodejs20.x" in message and "python3.11" in message and "python3.12" in message


def test_role_must_exist_and_trust_lambda(aws, lam) -> None:
    other = aws("iam").create_role(RoleName=unique("not-lambda"), AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    for role_arn in (f"arn:aws:iam::{ACCOUNT}:role/{unique('absent')}", other):
        with pytest.raises(ClientError) as err:
            lam.create_function(FunctionName=unique("norole"), Runtime="python3.11", Role=role_arn,
                                Handler="app.handler", Code={"ZipFile": make_zip({"app.py": HANDLER})})
        assert error_of(err) == ("InvalidParameterValueException",
                                 "The role defined for the function cannot be assumed by Lambda.", 400)


def test_code_from_s3(aws, lam, role) -> None:
    s3 = aws("s3")
    bucket = unique("lambda-code")
    s3.create_bucket(Bucket=bucket)
    package = make_zip({"pkg/app.py": HANDLER, "pkg/__init__.py": ""})
    s3.put_object(Bucket=bucket, Key="fn.zip", Body=package)
    name = unique("s3code")
    config = lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="pkg.app.handler",
                                 Code={"S3Bucket": bucket, "S3Key": "fn.zip"})
    assert config["CodeSize"] == len(package)
    out = lam.invoke(FunctionName=name, Payload=b'{"x": 1}')
    assert json.loads(out["Payload"].read()) == {"echo": {"x": 1}}
    with pytest.raises(ClientError) as err:
        lam.create_function(FunctionName=unique("s3missing"), Runtime="python3.11", Role=role,
                            Handler="app.handler", Code={"S3Bucket": bucket, "S3Key": "absent.zip"})
    code, message, _ = error_of(err)
    assert code == "InvalidParameterValueException" and "S3 Error Code: NoSuchKey" in message


def test_bad_packages_and_settings_are_rejected(lam, role) -> None:
    base = {"Runtime": "python3.11", "Role": role, "Handler": "app.handler"}
    cases = [
        ({"Code": {"ZipFile": b"not a zip"}}, "InvalidParameterValueException", "Could not unzip"),
        ({"Code": {}}, "InvalidParameterValueException", "provide a source for function code"),
        ({"Code": {"ZipFile": make_zip({"app.py": HANDLER})}, "Environment": {"Variables": {"AWS_REGION": "x"}}},
         "InvalidParameterValueException", "Reserved keys used in this request: AWS_REGION"),
        ({"Code": {"ZipFile": make_zip({"app.py": HANDLER})}, "Environment": {"Variables": {"BIG": "x" * 5000}}},
         "InvalidParameterValueException", "exceeded the 4KB limit"),
        ({"Code": {"ZipFile": make_zip({"../evil.py": ""})}}, "InvalidParameterValueException", "outside"),
    ]
    for extra, code, fragment in cases:
        with pytest.raises(ClientError) as err:
            lam.create_function(FunctionName=unique("bad"), **{**base, **extra})
        got_code, message, _ = error_of(err)
        assert got_code == code and fragment in message, (extra, message)


def test_update_configuration_and_code(lam, role, function) -> None:
    before = lam.get_function_configuration(FunctionName=function)
    after = lam.update_function_configuration(FunctionName=function, Timeout=30, MemorySize=512, Description="x",
                                              Environment={"Variables": {"MODE": "b"}})
    assert (after["Timeout"], after["MemorySize"], after["Description"]) == (30, 512, "x")
    assert after["Environment"] == {"Variables": {"MODE": "b"}}
    assert after["RevisionId"] != before["RevisionId"] and after["LastUpdateStatus"] == "Successful"
    lam.get_waiter("function_updated_v2").wait(FunctionName=function, WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    with pytest.raises(ClientError) as err:
        lam.update_function_configuration(FunctionName=function, Timeout=4, RevisionId=before["RevisionId"])
    assert error_of(err)[0] == "PreconditionFailedException"
    package = make_zip({"app.py": "def handler(e, c):\n    return 'v2'\n"})
    updated = lam.update_function_code(FunctionName=function, ZipFile=package)
    assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert updated["Timeout"] == 30  # configuration kept
    with pytest.raises(ClientError) as err:
        lam.update_function_configuration(FunctionName=function, Runtime="java21")
    assert error_of(err)[0] == "InvalidParameterValueException"


def test_list_functions_pages_with_marker(lam, role) -> None:
    prefix = unique("list")
    names = {f"{prefix}-{i}" for i in range(5)}
    for name in names:
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": HANDLER})})
    seen: list[str] = []
    kwargs: dict[str, object] = {"MaxItems": 2}
    while True:
        page = lam.list_functions(**kwargs)
        assert len(page["Functions"]) <= 2
        seen.extend(f["FunctionName"] for f in page["Functions"])
        if "NextMarker" not in page:
            break
        kwargs["Marker"] = page["NextMarker"]
    assert names <= set(seen) and len(seen) == len(set(seen))
    paginated = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate() for f in p["Functions"]]
    assert names <= set(paginated)


def test_delete(lam, function, cloud) -> None:
    home = cloud.home / "lambda" / "us-east-1" / function
    lam.invoke(FunctionName=function, Payload=b"{}")
    assert home.is_dir()
    with pytest.raises(ClientError) as err:
        lam.delete_function(FunctionName=function, Qualifier="$LATEST")
    assert error_of(err)[0] == "InvalidParameterValueException"
    assert lam.delete_function(FunctionName=function)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        lam.get_function(FunctionName=function)
    assert error_of(err)[0] == "ResourceNotFoundException"
    assert not home.exists()
    assert function not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]


def test_server_side_validation(aws, role) -> None:
    """What botocore would catch client-side still gets a clear AWS error from the server."""
    raw = aws("lambda", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as err:
        raw.create_function(FunctionName=unique("v"), Role=role, Code={"ZipFile": b"x"})  # no Runtime/Handler
    assert "Runtime and Handler are mandatory" in error_of(err)[1]
    with pytest.raises(ClientError) as err:
        raw.create_function(FunctionName="bad name!", Runtime="python3.11", Role=role, Handler="a.b",
                            Code={"ZipFile": make_zip({"a.py": ""})})
    assert error_of(err)[0] == "ValidationException"
    with pytest.raises(ClientError) as err:
        raw.create_function(FunctionName=unique("t"), Runtime="python3.11", Role=role, Handler="a.b", Timeout=0,
                            Code={"ZipFile": make_zip({"a.py": ""})})
    assert error_of(err)[0] == "ValidationException" and "timeout" in error_of(err)[1]


def _raw(cloud, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], dict[str, object]]:
    request = urllib.request.Request(cloud.endpoint_url + path, data=body or None, method=method, headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request, "
                         "SignedHeaders=host, Signature=0",
        "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


def test_malformed_raw_requests_get_aws_errors(cloud) -> None:
    status, headers, body = _raw(cloud, "POST", "/2015-03-31/functions", b"{not json")
    assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert "Could not parse request body" in str(body["message"])
    status, headers, body = _raw(cloud, "GET", "/2015-03-31/nothing-here")
    assert status == 404 and headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert "CreateFunction" in str(body["message"])
    status, headers, body = _raw(cloud, "GET", "/2015-03-31/functions/nope-raw/configuration")
    assert status == 404 and headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert body["Type"] == "User" and "Function not found" in str(body["Message"])
    status, headers, _ = _raw(cloud, "GET", "/2015-03-31/functions?MaxItems=abc")
    assert status == 400 and headers["x-amzn-ErrorType"] == "ValidationException"


def test_health_reports_lambda(cloud, function) -> None:
    with urllib.request.urlopen(cloud.endpoint_url + "/_localcloud/health") as resp:
        info = json.loads(resp.read())
    assert info["services"]["Lambda"]["status"] == "running"
    assert info["services"]["Lambda"]["functions"] >= 1
