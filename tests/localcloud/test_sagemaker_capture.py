"""SageMaker data capture through the API: an endpoint config's DataCaptureConfig makes the endpoint write what it
samples to S3 in SageMaker's layout and record format ("Capture data from real-time endpoint", "View Captured
Data"), for the production variant and for a shadow variant ("Create a shadow test": Data Capture logs "requests
and responses of your production and shadow variants")."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from test_sagemaker_support import XGB_IMAGE, put, tarball, to_csv, unique, wait_endpoint

import xgb17

ROWS = np.array([[0.5, -1.0, 0.25, 1.5, -0.5, 0.0], [-0.5, 1.0, 0.0, -1.5, 0.5, 0.25]])
#: the documented key: {DestinationS3Uri}/{endpoint-name}/{variant-name}/yyyy/mm/dd/hh/filename.jsonl, the file
#: named mm-ss-mmm-<uuid>.jsonl as in a capture upload's S3 event
KEY = re.compile(r"^capture/(?P<endpoint>[^/]+)/(?P<variant>[^/]+)/(\d{4})/(\d\d)/(\d\d)/(\d\d)/"
                 r"\d\d-\d\d-\d{3}-[0-9a-f-]{36}\.jsonl$")


@pytest.fixture(scope="module")
def artifacts(s3: Any, bucket: str) -> dict[str, str]:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 6)).round(3)
    out = {}
    for key, sign in (("prod", 1.0), ("shadow", -1.0)):
        y = (sign * (X[:, 0] - X[:, 3]) > 0).astype(float)
        raw = xgb17.train_model(X, y, {"objective": "binary:logistic", "max_depth": 2}, 5)
        out[key] = put(s3, bucket, f"capture-models/{key}/model.tar.gz", tarball({"xgboost-model": raw}))
    return out


def _model(sm: Any, role: str, data: str) -> str:
    name = unique("model")
    sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={"Image": XGB_IMAGE,
                                                                             "ModelDataUrl": data})
    return name


def _capture(bucket: str, **extra: Any) -> dict[str, Any]:
    return {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": f"s3://{bucket}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}], **extra}


def _records(s3: Any, bucket: str, endpoint: str) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{endpoint}/").get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
        for line in body.splitlines():
            match = KEY.match(item["Key"])
            assert match, item["Key"]
            out.setdefault(match["variant"], []).append((item["Key"], json.loads(line)))
    return out


def test_production_and_shadow_answers_are_captured_in_sagemakers_layout(cloud, sm, rt, s3, bucket, role,
                                                                          artifacts) -> None:
    config = unique("config")
    variant = {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": _model(sm, role, artifacts["prod"]),
                             **variant}],
        ShadowProductionVariants=[{"VariantName": "Shadow", "ModelName": _model(sm, role, artifacts["shadow"]),
                                   **variant}],
        DataCaptureConfig=_capture(bucket, CaptureContentTypeHeader={"CsvContentTypes": ["text/csv"]}))
    name = unique("endpoint")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    described = wait_endpoint(sm, name)
    assert described["DataCaptureConfig"] == {
        "EnableCapture": True, "CaptureStatus": "Started", "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{bucket}/capture", "KmsKeyId": ""}
    before = datetime.now(UTC).replace(microsecond=0)
    answers = {}
    for i, row in enumerate(ROWS):
        response = rt.invoke_endpoint(EndpointName=name, Body=to_csv(row[None, :]), ContentType="text/csv",
                                      InferenceId=f"row-{i}")
        answers[f"row-{i}"] = response["Body"].read().decode()
    backend = cloud.app.backends["sagemaker"]
    for _ in range(50):  # the shadow's copies run off the request thread
        backend.capture.flush()
        found = _records(s3, bucket, name)
        if len(found.get("Shadow", [])) == len(ROWS):
            break
        time.sleep(0.1)
    assert sorted(found) == ["AllTraffic", "Shadow"]
    for variant_name, records in found.items():
        assert len(records) == len(ROWS)
        for key, record in records:
            assert set(record) == {"captureData", "eventMetadata", "eventVersion"} and record["eventVersion"] == "0"
            meta = record["eventMetadata"]
            assert re.fullmatch(r"[0-9a-f-]{36}", meta["eventId"])
            when = datetime.strptime(meta["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            assert before - timedelta(seconds=1) <= when <= datetime.now(UTC)
            assert key.split("/")[3:7] == when.strftime("%Y/%m/%d/%H").split("/")
            given, answered = record["captureData"]["endpointInput"], record["captureData"]["endpointOutput"]
            assert given["mode"] == "INPUT" and given["encoding"] == "CSV" and given["observedContentType"] == \
                "text/csv"
            assert given["data"] == to_csv(ROWS[int(meta["inferenceId"][4:])][None, :])
            assert answered["mode"] == "OUTPUT" and answered["encoding"] == "CSV"
            if variant_name == "AllTraffic":
                assert answered["data"] == answers[meta["inferenceId"]]  # what the caller got
    prod = {r["eventMetadata"]["inferenceId"]: float(r["captureData"]["endpointOutput"]["data"])
            for _, r in found["AllTraffic"]}
    shadow = {r["eventMetadata"]["inferenceId"]: float(r["captureData"]["endpointOutput"]["data"])
              for _, r in found["Shadow"]}
    assert prod.keys() == shadow.keys() and prod != shadow  # the shadow answered too, differently
    sm.delete_endpoint(EndpointName=name)


def test_unlisted_content_types_are_base64_and_sampling_and_modes_apply(cloud, sm, rt, s3, bucket, role,
                                                                         artifacts) -> None:
    config = unique("config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": _model(sm, role, artifacts["prod"]),
                             "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        DataCaptureConfig=_capture(bucket, CaptureOptions=[{"CaptureMode": "Input"}]))
    name = unique("endpoint")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    wait_endpoint(sm, name)
    payload = to_csv(ROWS[:1])
    rt.invoke_endpoint(EndpointName=name, Body=payload, ContentType="text/csv")
    cloud.app.backends["sagemaker"].capture.flush()
    (_, record), = _records(s3, bucket, name)["AllTraffic"]
    # no CaptureContentTypeHeader: "SageMaker AI will by default base64 encode" (CaptureContentTypeHeader)
    given = record["captureData"]["endpointInput"]
    assert given["encoding"] == "BASE64" and base64.b64decode(given["data"]).decode() == payload
    assert "endpointOutput" not in record["captureData"]  # CaptureMode Input only
    assert "inferenceId" not in record["eventMetadata"]
    sm.delete_endpoint(EndpointName=name)

    off = unique("config")
    sm.create_endpoint_config(
        EndpointConfigName=off,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": _model(sm, role, artifacts["prod"]),
                             "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        DataCaptureConfig=_capture(bucket, InitialSamplingPercentage=0))
    name = unique("endpoint")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=off)
    wait_endpoint(sm, name)
    for _ in range(5):
        rt.invoke_endpoint(EndpointName=name, Body=payload, ContentType="text/csv")
    cloud.app.backends["sagemaker"].capture.flush()
    assert _records(s3, bucket, name) == {}  # 0% sampled
    sm.delete_endpoint(EndpointName=name)


@pytest.mark.parametrize("change, member", [
    ({"InitialSamplingPercentage": 101}, "initialSamplingPercentage"),
    ({"DestinationS3Uri": "bucket/capture"}, "destinationS3Uri"),
    ({"CaptureOptions": [{"CaptureMode": "Both"}]}, "captureMode"),
])
def test_capture_configs_are_checked(sm, role, bucket, artifacts, change, member) -> None:
    with pytest.raises(ClientError) as info:
        sm.create_endpoint_config(
            EndpointConfigName=unique("config"),
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": _model(sm, role, artifacts["prod"]),
                                 "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
            DataCaptureConfig=_capture(bucket, **change))
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert member in info.value.response["Error"]["Message"]


def test_what_is_buffered_is_written_before_the_server_stops(tmp_path) -> None:
    """A record still buffered when the server stops is written while S3 still answers (then kept by the
    persisted state), not lost with the process."""
    import boto3
    from test_sagemaker_support import trust_for

    from localcloud import lifecycle
    from localcloud.server import free_port

    port, home = free_port(), tmp_path / "home"
    url, started = lifecycle.ensure_running(port, home=home, persist=True)
    assert started

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=url, region_name="us-east-1")

    try:
        s3, sm = client("s3"), client("sagemaker")
        s3.create_bucket(Bucket="capture-stop")
        rng = np.random.default_rng(1)
        X = rng.normal(size=(50, 6))
        raw = xgb17.train_model(X, (X[:, 0] > 0).astype(float), {"objective": "binary:logistic"}, 2)
        data = put(s3, "capture-stop", "m/model.tar.gz", tarball({"xgboost-model": raw}))
        role = client("iam").create_role(RoleName="capture-stop",
                                         AssumeRolePolicyDocument=trust_for("sagemaker.amazonaws.com"))["Role"]["Arn"]
        sm.create_model(ModelName="m", ExecutionRoleArn=role, PrimaryContainer={"Image": XGB_IMAGE,
                                                                                "ModelDataUrl": data})
        sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
            DataCaptureConfig=_capture("capture-stop"))
        sm.create_endpoint(EndpointName="e", EndpointConfigName="c")
        wait_endpoint(sm, "e")
        client("sagemaker-runtime").invoke_endpoint(EndpointName="e", Body=to_csv(ROWS[:1]), ContentType="text/csv")
        sm.delete_endpoint(EndpointName="e")
        assert "Contents" not in s3.list_objects_v2(Bucket="capture-stop", Prefix="capture/")  # still buffered
        assert lifecycle.stop(port, home=home)
        url, started = lifecycle.ensure_running(port, home=home, persist=True)
        assert started
        found = client("s3").list_objects_v2(Bucket="capture-stop", Prefix="capture/e/AllTraffic/")["Contents"]
        assert len(found) == 1 and KEY.match(found[0]["Key"])
    finally:
        lifecycle.stop(port, home=home)
