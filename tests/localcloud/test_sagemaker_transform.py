"""SageMaker batch transform: input objects cut into requests to the model's own server, the answers assembled into
``<key>.out`` objects, DataProcessing filters and joins; the SDK's Transformer and the Step Functions SDK's
TransformStep run unchanged.

AWS behaviour relied on ("Use Batch Transform", "Associate Prediction Results with Input Records", "Use Your Own
Inference Code with Batch Transform", SageMaker developer guide; botocore model sagemaker/2017-07-24): SplitType
Line/None, BatchStrategy SingleRecord/MultiRecord, MaxPayloadInMB, AssembleWith Line/None, ``.out`` per input
object under the output path, a failed object gets no output while the others still do; defaults
MaxConcurrentTransforms=1, MaxPayloadInMB=6, MULTI_RECORD as a transform job's data log reports them (github
aws/amazon-sagemaker-examples issue 1620).
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from test_sagemaker_support import (
    SKLEARN_IMAGE,
    SKLEARN_TRAIN,
    XGB_IMAGE,
    channel,
    log_events,
    put,
    script_request,
    sdk_session,
    sklearn_model_env,
    sourcedir,
    synthetic,
    tarball,
    to_csv,
    unique,
    wait_job,
    wait_transform,
)

import xgb17
from localcloud.services.sagemaker import batching, dataproc

ARN = "arn:aws:sagemaker:us-east-1:123456789012"
RESOURCES = {"InstanceType": "ml.m5.large", "InstanceCount": 1}
#: one record is a 1-D array for the container's default input_fn, which scikit-learn refuses: scripts that serve
#: single records reshape it in their own predict_fn
ANY_ROWS = SKLEARN_TRAIN + """

def predict_fn(data, model):
    return model.predict(data.reshape(1, -1) if data.ndim == 1 else data)
"""


# --------------------------------------------------------------------------------------------------- units
@pytest.mark.parametrize(("path", "record", "expected"), [
    ("$", ["a", "b"], ["a", "b"]),
    ("$[1:]", ["id", "1", "2", "3"], ["1", "2", "3"]),
    ("$[1:2]", ["id", "1", "2", "3"], ["1", "2"]),  # "$[1:4] specifies the second through fifth columns"
    ("$[:1]", ["id", "1", "2"], ["id", "1"]),
    ("$[0,-1]", ["id", "1", "0.7"], ["id", "0.7"]),
    ("$[0,2:]", ["id", "x", "1", "2"], ["id", "1", "2"]),
    ("$[1]", ["id", "1"], "1"),
    ("$.features", {"id": 1, "features": [1, 2]}, [1, 2]),
    ("$['id','SageMakerOutput']", {"id": 1, "x": 2, "SageMakerOutput": 3}, {"id": 1, "SageMakerOutput": 3}),
    ("$.a.*", {"a": {"b": 1, "c": 2}}, [1, 2]),
])
def test_jsonpath_filters_select_as_the_guide_describes(path: str, record: Any, expected: Any) -> None:
    assert dataproc.apply(path, record) == expected


def test_unsupported_or_out_of_range_paths_fail_the_record() -> None:
    with pytest.raises(dataproc.DataProcessingError, match="only single range filters"):
        dataproc.apply("$[0:2,246:]", ["a"])
    with pytest.raises(dataproc.DataProcessingError, match="outside"):
        dataproc.apply("$[5]", ["a", "b"])


def test_joins_follow_the_formats() -> None:
    assert dataproc.join(["1", "2"], ["0.5"], csv_format=True) == ["1", "2", "0.5"]
    assert dataproc.join({"k": 1}, {"label": 1}, csv_format=False) == {"k": 1, "SageMakerOutput": {"label": 1}}
    assert dataproc.join([1, 2], [0], csv_format=False) == {"SageMakerInput": [1, 2], "SageMakerOutput": [0]}


def test_records_are_batched_within_the_payload_limit() -> None:
    records = batching.split(b"a\nb\n\nc", "Line")
    assert records == [b"a\n", b"b\n", b"c"]
    assert list(batching.batches(records, "SingleRecord", 6)) == [[b"a\n"], [b"b\n"], [b"c"]]
    assert list(batching.batches(records, "MultiRecord", 6)) == [records]
    big = [b"x" * (batching.MIB - 1), b"y\n", b"z\n"]
    assert [len(g) for g in batching.batches(big, "MultiRecord", 1)] == [1, 2]
    with pytest.raises(batching.PayloadTooLarge):
        list(batching.batches([b"x" * (batching.MIB + 1)], "MultiRecord", 1))
    assert batching.assemble([b"1\n2\n", b"3"], "Line") == b"1\n2\n3\n"
    assert batching.assemble([b"[1]", b"[2]"], "None") == b"[1][2]"


# --------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rows = synthetic(60, seed=11, features=4)
    raw = xgb17.train_model(rows[:, 1:], rows[:, 0], {"objective": "binary:logistic", "max_depth": 3}, 8)
    return {"rows": rows, "raw": raw}


@pytest.fixture(scope="module")
def xgb_model(sm, s3, bucket, role, data) -> str:
    uri = put(s3, bucket, "tr/xgb/model.tar.gz", tarball({"xgboost-model": data["raw"]}))
    name = unique("xgb")
    sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": uri})
    return name


@pytest.fixture(scope="module")
def sk_model(sm, s3, bucket, role, data) -> str:
    """A Scikit-learn model trained by a script-mode job, named as the SDK's SKLearnModel would be."""
    put(s3, bucket, "tr/sk/train/data.csv", to_csv(data["rows"]))
    source = put(s3, bucket, "tr/sk/source/sourcedir.tar.gz", sourcedir({"train.py": ANY_ROWS}))
    job = unique("sk")
    sm.create_training_job(**script_request(job, role, bucket, [channel("train", f"s3://{bucket}/tr/sk/train")],
                                            source))
    artifact = wait_job(sm, job)["ModelArtifacts"]["S3ModelArtifacts"]
    name = unique("skm")
    sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": artifact, "Environment": sklearn_model_env(source)})
    return name


def _transform(sm: Any, model: str, source_uri: str, output_uri: str, *, content_type: str = "text/csv",
               split: str | None = "Line", accept: str | None = "text/csv", assemble: str | None = "Line",
               **extra: Any) -> dict[str, Any]:
    name = unique("tj")
    source: dict[str, Any] = {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source_uri}},
                              "ContentType": content_type}
    if split:
        source["SplitType"] = split
    output: dict[str, Any] = {"S3OutputPath": output_uri}
    if accept:
        output["Accept"] = accept
    if assemble:
        output["AssembleWith"] = assemble
    sm.create_transform_job(TransformJobName=name, ModelName=model, TransformInput=source, TransformOutput=output,
                            TransformResources=RESOURCES, **extra)
    return wait_transform(sm, name)


def _get(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


# --------------------------------------------------------------------------------------------------- jobs
def test_xgboost_scores_every_object_into_its_out_file(aws, sm, s3, bucket, xgb_model, data) -> None:
    features = data["rows"][:, 1:]
    put(s3, bucket, "tr/in1/a.csv", to_csv(features[:20]))
    put(s3, bucket, "tr/in1/sub/b.csv", to_csv(features[20:25]))
    job = _transform(sm, xgb_model, f"s3://{bucket}/tr/in1", f"s3://{bucket}/tr/out1/")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformInput"]["SplitType"] == "Line" and job["ModelName"] == xgb_model
    assert job["TransformStartTime"] <= job["TransformEndTime"]
    assert job["TransformJobArn"] == f"{ARN}:transform-job/{job['TransformJobName'].lower()}"
    assert sorted(_keys(s3, bucket, "tr/out1/")) == ["tr/out1/a.csv.out", "tr/out1/sub/b.csv.out"]
    scores = np.array([float(v) for v in _get(s3, bucket, "tr/out1/a.csv.out").decode().splitlines()])
    assert float(np.max(np.abs(scores - xgb17.predict(data["raw"], features[:20])))) <= 1e-6
    streams = log_events(aws, "/aws/sagemaker/TransformJobs", f"{job['TransformJobName']}/")
    data_log = next(v for k, v in streams.items() if k.endswith("/data-log"))
    assert data_log[0].endswith("[sagemaker logs]: MaxConcurrentTransforms=1, MaxPayloadInMB=6, "
                                "BatchStrategy=MULTI_RECORD")


def test_single_records_whole_objects_and_gzip_give_the_same_scores(sm, s3, bucket, xgb_model, data) -> None:
    text = to_csv(data["rows"][:12, 1:]).encode()
    put(s3, bucket, "tr/in2/a.csv", text)
    put(s3, bucket, "tr/gz2/a.csv", gzip.compress(text))
    multi = _transform(sm, xgb_model, f"s3://{bucket}/tr/in2", f"s3://{bucket}/tr/out2/multi")
    single = _transform(sm, xgb_model, f"s3://{bucket}/tr/in2", f"s3://{bucket}/tr/out2/single",
                        BatchStrategy="SingleRecord", MaxPayloadInMB=1, MaxConcurrentTransforms=1)
    whole = _transform(sm, xgb_model, f"s3://{bucket}/tr/in2", f"s3://{bucket}/tr/out2/whole", split=None,
                       assemble=None)
    assert {j["TransformJobStatus"] for j in (multi, single, whole)} == {"Completed"}
    assert single["BatchStrategy"] == "SingleRecord" and single["MaxPayloadInMB"] == 1
    out = {k: _get(s3, bucket, f"tr/out2/{k}/a.csv.out") for k in ("multi", "single", "whole")}
    assert out["multi"] == out["single"] == out["whole"] and len(out["multi"].splitlines()) == 12
    name = unique("tj")
    sm.create_transform_job(TransformJobName=name, ModelName=xgb_model, TransformResources=RESOURCES,
                            TransformInput={"DataSource": {"S3DataSource": {
                                "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/tr/gz2"}},
                                "ContentType": "text/csv", "SplitType": "Line", "CompressionType": "Gzip"},
                            TransformOutput={"S3OutputPath": f"s3://{bucket}/tr/out2/gz", "AssembleWith": "Line"})
    assert wait_transform(sm, name)["TransformJobStatus"] == "Completed"
    assert _get(s3, bucket, "tr/out2/gz/a.csv.out") == out["multi"]


def test_assemble_with_none_concatenates_the_answers(sm, s3, bucket, sk_model, data) -> None:
    put(s3, bucket, "tr/in3/a.csv", to_csv(data["rows"][:3, 1:]))
    common = {"accept": "application/json", "BatchStrategy": "SingleRecord"}
    raw = _transform(sm, sk_model, f"s3://{bucket}/tr/in3", f"s3://{bucket}/tr/out3/none", assemble=None, **common)
    lines = _transform(sm, sk_model, f"s3://{bucket}/tr/in3", f"s3://{bucket}/tr/out3/line", **common)
    assert raw["TransformJobStatus"] == lines["TransformJobStatus"] == "Completed", raw.get("FailureReason")
    expected = [int(v) for v in data["rows"][:3, 0]]  # the model fits this easy data
    glued = _get(s3, bucket, "tr/out3/none/a.csv.out").decode()
    assert glued == "".join(json.dumps([float(v)]) for v in expected)  # one JSON answer after the other
    assert _get(s3, bucket, "tr/out3/line/a.csv.out").decode().splitlines() == [json.dumps([float(v)])
                                                                              for v in expected]


def test_csv_input_filter_join_and_output_filter(sm, s3, bucket, xgb_model, data) -> None:
    features = data["rows"][:6, 1:]
    put(s3, bucket, "tr/in4/ids.csv", "".join(f"id{i}," + ",".join(f"{v:g}" for v in row) + "\n"
                                             for i, row in enumerate(features)))
    job = _transform(sm, xgb_model, f"s3://{bucket}/tr/in4", f"s3://{bucket}/tr/out4",
                     DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"})
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    rows = [line.split(",") for line in _get(s3, bucket, "tr/out4/ids.csv.out").decode().splitlines()]
    assert [r[0] for r in rows] == [f"id{i}" for i in range(6)]
    scores = np.array([float(r[1]) for r in rows])
    assert float(np.max(np.abs(scores - xgb17.predict(data["raw"], features)))) <= 1e-6


def test_json_lines_are_joined_under_sagemaker_output(sm, s3, bucket, sk_model, data) -> None:
    records = [{"id": i, "features": [float(v) for v in row]} for i, row in enumerate(data["rows"][:3, 1:])]
    put(s3, bucket, "tr/in5/r.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    job = _transform(sm, sk_model, f"s3://{bucket}/tr/in5", f"s3://{bucket}/tr/out5",
                     content_type="application/json", accept="application/json", BatchStrategy="SingleRecord",
                     DataProcessing={"InputFilter": "$.features", "JoinSource": "Input"})
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    joined = [json.loads(line) for line in _get(s3, bucket, "tr/out5/r.jsonl.out").decode().splitlines()]
    assert [j["id"] for j in joined] == [0, 1, 2] and all(j["features"] for j in joined)
    assert [j["SageMakerOutput"] for j in joined] == [[float(v)] for v in data["rows"][:3, 0]]


def test_a_failed_object_fails_the_job_and_the_others_are_written(aws, sm, s3, bucket, xgb_model, data) -> None:
    put(s3, bucket, "tr/in6/good.csv", to_csv(data["rows"][:4, 1:]))
    put(s3, bucket, "tr/in6/zbad.csv", "not,a,number\n")
    job = _transform(sm, xgb_model, f"s3://{bucket}/tr/in6", f"s3://{bucket}/tr/out6")
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"] == "ClientError: See job logs for more information"
    assert _keys(s3, bucket, "tr/out6") == ["tr/out6/good.csv.out"]
    streams = log_events(aws, "/aws/sagemaker/TransformJobs", f"{job['TransformJobName']}/")
    data_log = "\n".join(next(v for k, v in streams.items() if k.endswith("/data-log")))
    assert f"{bucket}/tr/in6/zbad.csv: ClientError: 415" in data_log
    put(s3, bucket, "tr/in7/big.csv", "1," * (600 * 1024) + "1\n")  # one 1.2 MB record over a 1 MB limit
    job = _transform(sm, xgb_model, f"s3://{bucket}/tr/in7", f"s3://{bucket}/tr/out7", MaxPayloadInMB=1)
    assert job["TransformJobStatus"] == "Failed" and job["FailureReason"].startswith("ClientError")


def test_a_stopped_job_stores_no_output(sm, s3, bucket, role, sk_model, data) -> None:
    slow = ANY_ROWS.replace("def predict_fn(data, model):\n", "def predict_fn(data, model):\n    __import__('time')"
                                                               ".sleep(0.2)\n")
    source = put(s3, bucket, "tr/slow/sourcedir.tar.gz", sourcedir({"train.py": slow}))
    artifact = sm.describe_model(ModelName=sk_model)["PrimaryContainer"]["ModelDataUrl"]
    model = unique("slow")
    sm.create_model(ModelName=model, ExecutionRoleArn=role, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": artifact, "Environment": sklearn_model_env(source)})
    put(s3, bucket, "tr/in8/a.csv", to_csv(data["rows"][:, 1:]))
    name = unique("tj")
    sm.create_transform_job(TransformJobName=name, ModelName=model, BatchStrategy="SingleRecord",
                            TransformInput={"DataSource": {"S3DataSource": {
                                "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/tr/in8"}},
                                "ContentType": "text/csv", "SplitType": "Line"},
                            TransformOutput={"S3OutputPath": f"s3://{bucket}/tr/out8"}, TransformResources=RESOURCES)
    time.sleep(2.0)  # some records scored
    sm.stop_transform_job(TransformJobName=name)
    job = wait_transform(sm, name)
    assert job["TransformJobStatus"] == "Stopped"
    assert _keys(s3, bucket, "tr/out8") == []


def test_requests_are_checked_as_the_api_model_says(sm, bucket, xgb_model) -> None:
    def create(**change: Any) -> dict[str, Any]:
        request = {"TransformJobName": unique("tj"), "ModelName": xgb_model, "TransformResources": RESOURCES,
                   "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                      "S3Uri": f"s3://{bucket}/nothing"}}},
                   "TransformOutput": {"S3OutputPath": f"s3://{bucket}/o"}, **change}
        with pytest.raises(ClientError) as err:
            sm.create_transform_job(**request)
        return err.value.response["Error"]

    ghost = unique("ghost")
    assert create(ModelName=ghost)["Message"] == f'Could not find model "{ARN}:model/{ghost}".'
    assert "enum value set: [MultiRecord, SingleRecord]" in create(BatchStrategy="Every")["Message"]
    assert "less than or equal to 100" in create(MaxPayloadInMB=101)["Message"]
    assert "must not exceed 100 MB" in create(MaxPayloadInMB=60, MaxConcurrentTransforms=2)["Message"]
    with pytest.raises(ClientError) as err:
        sm.describe_transform_job(TransformJobName=ghost)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    name = unique("tj")
    request = {"TransformJobName": name, "ModelName": xgb_model, "TransformResources": RESOURCES,
               "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                  "S3Uri": f"s3://{bucket}/nothing"}}},
               "TransformOutput": {"S3OutputPath": f"s3://{bucket}/o"}}
    sm.create_transform_job(**request)
    with pytest.raises(ClientError) as err:
        sm.create_transform_job(**request)
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    job = wait_transform(sm, name)
    assert job["TransformJobStatus"] == "Failed" and "No S3 objects found" in job["FailureReason"]
    listed = sm.list_transform_jobs(NameContains=name)["TransformJobSummaries"]
    assert [(s["TransformJobName"], s["TransformJobStatus"]) for s in listed] == [(name, "Failed")]


# --------------------------------------------------------------------------------------------------- SDKs
@pytest.mark.slow
def test_the_sdk_transformer_and_the_transform_step_run_unchanged(cloud, aws, s3, bucket, xgb_model, data,
                                                                  monkeypatch) -> None:
    from sagemaker.transformer import Transformer
    from sfn_helpers import ensure_role, wait_done
    from stepfunctions.steps import Chain, TransformStep
    from stepfunctions.workflow import Workflow

    session = sdk_session(cloud, bucket, monkeypatch)
    put(s3, bucket, "tr/sdk/in/a.csv", to_csv(data["rows"][:5, 1:]))
    transformer = Transformer(xgb_model, instance_count=1, instance_type="ml.m5.large", accept="text/csv",
                              assemble_with="Line", output_path=f"s3://{bucket}/tr/sdk/out",
                              sagemaker_session=session)
    transformer.transform(f"s3://{bucket}/tr/sdk/in", content_type="text/csv", split_type="Line", logs=False)
    job = session.describe_transform_job(transformer.latest_transform_job.job_name)
    assert job["TransformJobStatus"] == "Completed"
    expected = _get(s3, bucket, "tr/sdk/out/a.csv.out")
    assert len(expected.splitlines()) == 5
    name = unique("sfn-tj")
    step = TransformStep("Score", transformer=transformer, job_name=name, model_name=xgb_model,
                         data=f"s3://{bucket}/tr/sdk/in", content_type="text/csv", split_type="Line")
    sfn = aws("stepfunctions")
    workflow = Workflow(unique("tj-flow"), Chain([step]), ensure_role(aws("iam"), "sfn-sagemaker-tests-role"),
                        client=sfn)
    workflow.create()
    execution = workflow.execute()
    described = wait_done(sfn, execution.execution_arn)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = execution.get_output()
    assert output["TransformJobStatus"] == "Completed" and output["TransformJobName"] == name
    assert _get(s3, bucket, "tr/sdk/out/a.csv.out") == expected
