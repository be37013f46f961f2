"""S3 locations as each service takes them: SageMaker's S3 fields accept ``s3://`` URIs and S3's HTTPS URLs (their
botocore pattern is ``(https|s3)://([^/]+)/?(.*)``), in both addressing styles of the Amazon S3 user guide ("Methods
for accessing a bucket"); a Glue job's paths are Hadoop paths (``s3://``, ``s3a://``)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from test_sagemaker_support import channel, put, synthetic, to_csv, training_request, unique, wait_job

from localcloud.core import s3uri
from localcloud.services.glue.staging import parse_s3
from localcloud.services.sagemaker.s3io import TransferError, split_uri

FORMS = {
    "s3://my-bucket/data/train/": ("my-bucket", "data/train/"),
    "s3://my-bucket": ("my-bucket", ""),
    "s3://my-bucket/": ("my-bucket", ""),
    "https://s3-us-west-2.amazonaws.com/my-bucket/data/train.csv": ("my-bucket", "data/train.csv"),
    "https://s3.us-west-2.amazonaws.com/my-bucket/data/": ("my-bucket", "data/"),
    "https://s3.amazonaws.com/my-bucket/data/x.csv": ("my-bucket", "data/x.csv"),
    "https://s3.dualstack.eu-west-1.amazonaws.com/my-bucket/k": ("my-bucket", "k"),
    "https://my-bucket.s3.amazonaws.com/data/x.csv": ("my-bucket", "data/x.csv"),
    "https://my-bucket.s3.us-east-1.amazonaws.com/data/": ("my-bucket", "data/"),
    "https://my.dotted.bucket.s3-eu-west-1.amazonaws.com/a/b": ("my.dotted.bucket", "a/b"),
    "https://my-bucket.s3.cn-north-1.amazonaws.com.cn/a": ("my-bucket", "a"),
    "https://my-bucket.s3.amazonaws.com/with%20space/x%2By.csv": ("my-bucket", "with space/x+y.csv"),
}
NOT_S3 = [
    "https://example.com/my-bucket/key",  # an HTTPS URL that is not S3's
    "https://my-bucket.s3.amazonaws.com/key?X-Amz-Signature=abc",  # a presigned URL is not a location
    "http://s3.amazonaws.com/my-bucket/key",  # the pattern says https
    "ftp://my-bucket/key",
    "my-bucket/key",
]


@pytest.mark.parametrize("uri", list(FORMS))
def test_sagemaker_s3_fields_take_every_form(uri: str) -> None:
    pattern = botocore.session.get_session().get_service_model("sagemaker").shape_for("S3Uri").metadata["pattern"]
    assert pattern == "(https|s3)://([^/]+)/?(.*)"
    assert split_uri(uri) == FORMS[uri]
    assert s3uri.to_s3(uri) == f"s3://{FORMS[uri][0]}/{FORMS[uri][1]}"


@pytest.mark.parametrize("uri", NOT_S3)
def test_other_urls_are_not_s3_locations(uri: str) -> None:
    assert s3uri.parse(uri, https=True) is None
    with pytest.raises(TransferError, match="is not an S3 location"):
        split_uri(uri)


def test_glue_paths_are_hadoop_paths() -> None:
    assert parse_s3("s3://b/in/") == ("b", "in/")
    assert parse_s3("s3a://b/in/data.csv") == ("b", "in/data.csv")
    assert parse_s3("https://b.s3.amazonaws.com/in/") is None  # only text to a Spark script


def test_training_reads_and_writes_https_locations(sm: Any, s3: Any, bucket: str, role: str) -> None:
    put(s3, bucket, "https-forms/train/part-0.csv", to_csv(synthetic(120, seed=4)))
    put(s3, bucket, "https-forms/validation/part-0.csv", to_csv(synthetic(60, seed=5)))
    name = unique("https-forms")
    channels = [channel("train", f"https://s3-us-east-1.amazonaws.com/{bucket}/https-forms/train/"),
                channel("validation", f"https://{bucket}.s3.amazonaws.com/https-forms/validation")]
    request = training_request(name, role, bucket, channels, {"num_round": "3", "objective": "binary:logistic"})
    request["OutputDataConfig"] = {"S3OutputPath": f"https://s3.us-east-1.amazonaws.com/{bucket}/https-out"}
    sm.create_training_job(**request)
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert split_uri(artifact) == (bucket, f"https-out/{name}/output/model.tar.gz")
    assert s3.head_object(Bucket=bucket, Key=f"https-out/{name}/output/model.tar.gz")["ContentLength"] > 0
