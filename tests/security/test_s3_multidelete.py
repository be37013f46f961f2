"""S3 DeleteObjects under IAM enforcement answers as AWS does: 200, the objects the role may delete deleted, each
refused one listed under ``Errors`` with Code ``AccessDenied`` (recorded on AWS: github.com/boto/boto issue 3586,
github.com/boto/boto3 issue 2884; botocore's s3 model, DeleteObjects ``Errors``) — not a 403 for the whole
request, which a client that checks only for an exception would have seen locally and never on AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud import LocalCloud
from localcloud.core import multidelete

BUCKET = "multidelete-bucket"


@pytest.fixture(scope="module")
def s3s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An enforcing cloud; ``user``: S3 for the user, ``role``: S3 for a role that may delete anything but
    ``keep/``."""
    with LocalCloud(port=0, home=tmp_path_factory.mktemp("multidelete"), enforce_iam=True) as cloud:
        user = boto3.Session(region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        iam = user.client("iam", endpoint_url=cloud.endpoint_url)
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "lambda.amazonaws.com"}}]}
        arn = iam.create_role(RoleName="deleter", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName="deleter", PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{BUCKET}/keep/*"}]}))
        creds = cloud.app.ctx.sessions.issue(arn, "deleting")
        role = boto3.Session(region_name="us-east-1", aws_access_key_id=creds.access_key,
                             aws_secret_access_key=creds.secret_key, aws_session_token=creds.token)
        s3 = user.client("s3", endpoint_url=cloud.endpoint_url)
        s3.create_bucket(Bucket=BUCKET)
        yield {"user": s3, "role": role.client("s3", endpoint_url=cloud.endpoint_url), "arn": arn}


def _put(s3: Any, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")


def _keys(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_the_refused_objects_are_errors_of_a_200_and_the_others_are_deleted(s3s: dict[str, Any]) -> None:
    user, role = s3s["user"], s3s["role"]
    _put(user, "go/a.csv", "keep/b & c.csv", "go/d.csv")
    answer = role.delete_objects(Bucket=BUCKET, Delete={"Objects": [
        {"Key": "go/a.csv"}, {"Key": "keep/b & c.csv"}, {"Key": "go/d.csv"}]})
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sorted(d["Key"] for d in answer["Deleted"]) == ["go/a.csv", "go/d.csv"]
    [error] = answer["Errors"]
    assert (error["Key"], error["Code"]) == ("keep/b & c.csv", "AccessDenied")
    assert error["Message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/deleter/deleting is not authorized to perform: "
        f"s3:DeleteObject on resource: arn:aws:s3:::{BUCKET}/keep/b & c.csv with an explicit deny in an "
        "identity-based policy")
    assert _keys(user) == {"keep/b & c.csv"}


def test_quiet_mode_lists_the_refused_and_all_refused_is_still_a_200(s3s: dict[str, Any]) -> None:
    user, role = s3s["user"], s3s["role"]
    _put(user, "go/e.csv", "keep/f.csv")
    quiet = role.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "go/e.csv"}, {"Key": "keep/f.csv"}],
                                                       "Quiet": True})
    # "In quiet mode the response includes only keys where the delete action encountered an error" (boto3's
    # reference, delete_objects; moto 5.2.5 alone lists the deleted ones too)
    assert "Deleted" not in quiet and [e["Key"] for e in quiet["Errors"]] == ["keep/f.csv"]
    assert "go/e.csv" not in _keys(user)
    every = role.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "keep/f.csv"}]})
    assert every["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [(e["Key"], e["Code"]) for e in every["Errors"]] == [("keep/f.csv", "AccessDenied")]
    assert "keep/f.csv" in _keys(user)


def test_a_single_delete_that_is_refused_is_still_a_403(s3s: dict[str, Any]) -> None:
    _put(s3s["user"], "keep/g.csv")
    with pytest.raises(ClientError) as err:
        s3s["role"].delete_object(Bucket=BUCKET, Key="keep/g.csv")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_request_bodies_are_read_and_rewritten_as_xml() -> None:
    body = (b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a &amp; b</Key></Object>'
            b"<Object><Key>c</Key><VersionId>v1</VersionId></Object><Quiet>true</Quiet></Delete>")
    assert multidelete.keys_of(body) == ["a & b", "c"]
    assert multidelete.objects_of(body) == [("a & b", None), ("c", "v1")]
    rest = multidelete.without(body, {"a & b"})
    assert multidelete.objects_of(rest) == [("c", "v1")] and rest.endswith(b"<Quiet>true</Quiet></Delete>")
    merged = multidelete.merged(b'<DeleteResult xmlns="x"/>', [("a & b", None, "no <way>")])
    assert merged == (b'<DeleteResult xmlns="x"><Error><Key>a &amp; b</Key><Code>AccessDenied</Code>'
                      b"<Message>no &lt;way&gt;</Message></Error></DeleteResult>")


def test_the_gate_reads_keys_as_xml_not_as_urls() -> None:
    from localcloud.core.permissions import s3_operation

    found = s3_operation("POST", f"/{BUCKET}", {"delete": ""}, {},
                         b"<Delete><Object><Key>100%25 &amp; more</Key></Object></Delete>")
    assert found == ("DeleteObjects", {"Bucket": BUCKET, "Keys": ["100%25 & more"]})


def test_a_glue_job_whose_output_delete_is_refused_fails(s3s: dict[str, Any], tmp_path: Any) -> None:
    """A Glue script that overwrites its output with a role that may not delete the old files fails (the S3
    connector fails a bulk delete that lists errors) instead of leaving them beside the new ones unsaid."""
    from localcloud.services.glue.staging import Staging, StagingError

    _put(s3s["user"], "keep/out/part-old.csv")
    staging = Staging(s3s["role"], tmp_path / "s3")
    out = staging.stage({"--OUT": f"s3://{BUCKET}/keep/out/"})["--OUT"]
    (tmp_path / "s3" / BUCKET / "keep" / "out" / "part-old.csv").unlink()  # what Spark's overwrite does
    assert out.endswith("/keep/out/")
    with pytest.raises(StagingError, match=r"cannot delete s3://multidelete-bucket/keep/out/part-old.csv \(1 of 1 "
                                           r"objects refused\): AccessDenied: User: arn:aws:sts::"):
        staging.sync_back()


def test_a_quiet_answer_lists_nothing_deleted_without_enforcement_too(aws: Any) -> None:
    s3 = aws("s3")
    s3.create_bucket(Bucket="quiet-multidelete")
    s3.put_object(Bucket="quiet-multidelete", Key="a", Body=b"x")
    s3.put_object(Bucket="quiet-multidelete", Key="b", Body=b"x")
    quiet = s3.delete_objects(Bucket="quiet-multidelete", Delete={"Objects": [{"Key": "a"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    verbose = s3.delete_objects(Bucket="quiet-multidelete", Delete={"Objects": [{"Key": "b"}]})
    assert [d["Key"] for d in verbose["Deleted"]] == ["b"]
    assert "Contents" not in s3.list_objects_v2(Bucket="quiet-multidelete")
