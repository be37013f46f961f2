"""Glue scripts that use DynamicFrames run as Glue job runs: the awsglue shim's ``DynamicFrame`` and
``create_dynamic_frame``/``write_dynamic_frame`` on S3 ("DynamicFrame class", "DynamicFrameReader/Writer class",
"Format options for ETL inputs and outputs", "Connection types and options for ETL", AWS Glue developer guide)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": ["glue.amazonaws.com"]}, "Action": "sts:AssumeRole"}]})

# As AWS's retraining sample writes its Glue script: the awsglue imports (DynamicFrame among them), then Spark.
SAMPLE = """\
import sys
from awsglue.transforms import *
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext
from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.dynamicframe import DynamicFrame

args = getResolvedOptions(sys.argv, ["JOB_NAME", "S3_SOURCE", "S3_DEST", "TRAIN_KEY", "VAL_KEY"])
sc = SparkContext()
glueContext = GlueContext(sc)
spark = glueContext.spark_session
job = Job(glueContext)
job.init(args["JOB_NAME"], args)
frame = spark.read.load(args["S3_SOURCE"], format="csv", inferSchema=True, header=False)
train, validation = frame.randomSplit([0.7, 0.3], seed=1)
train.write.save(args["S3_DEST"] + args["TRAIN_KEY"], format="csv", mode="overwrite")
validation.write.save(args["S3_DEST"] + args["VAL_KEY"], format="csv", mode="overwrite")
job.commit()
"""

FRAMES = """\
import json, sys
import boto3
from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame
from awsglue.transforms import ApplyMapping, SelectFields
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

args = getResolvedOptions(sys.argv, ["JOB_NAME", "SOURCE", "DEST", "BUCKET"])
glue = GlueContext(SparkContext.getOrCreate())
bucket = args["BUCKET"]
people = glue.create_dynamic_frame.from_options(
    connection_type="s3", connection_options={"paths": [args["SOURCE"]]}, format="csv",
    format_options={"withHeader": True, "separator": ";"})
plain = glue.create_dynamic_frame.from_options(
    connection_type="s3", connection_options={"paths": [f"s3://{bucket}/dyf/plain/"]}, format="csv")
events = glue.create_dynamic_frame_from_options(
    "s3", {"paths": [f"s3://{bucket}/dyf/events.json"]}, format="json")
mapped = ApplyMapping.apply(frame=people, mappings=[("Name", "string", "name", "string"),
                                                     ("Age", "long", "age", "double"),
                                                     ("Missing", "string", "gone", "string")])
renamed = people.rename_field("City", "town").drop_fields(["Age"])
picked = SelectFields.apply(frame=people, paths=["Name", "nope"])
round_trip = DynamicFrame.fromDF(people.toDF().filter("Age > 30"), glue, "older")
summary = {
    "people": people.count(), "plain_columns": plain.toDF().columns, "plain_rows": plain.count(),
    "events": sorted(events.toDF().columns),
    "mapped": [(f.name, f.dataType.simpleString()) for f in mapped.toDF().schema.fields],
    "renamed": renamed.toDF().columns, "picked": picked.toDF().columns, "older": round_trip.count(),
    "errors": people.errorsCount(),
}
glue.write_dynamic_frame.from_options(frame=mapped, connection_type="s3",
                                      connection_options={"path": f"s3://{bucket}/dyf/out/csv/"}, format="csv")
round_trip.write("s3", {"path": f"s3://{bucket}/dyf/out/json"}, "json")
glue.write_dynamic_frame.from_options(frame=renamed, connection_type="s3",
                                      connection_options={"path": args["DEST"]}, format="parquet")
boto3.client("s3").put_object(Bucket=bucket, Key="dyf/summary.json", Body=json.dumps(summary).encode())
"""


@pytest.fixture(scope="module")
def env(aws: Any) -> dict[str, Any]:
    s3, iam = aws("s3"), aws("iam")
    bucket = f"glue-dyf-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    role = iam.create_role(RoleName=f"GlueDyfRole-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=TRUST)
    return {"bucket": bucket, "role": role["Role"]["Arn"], "s3": s3, "glue": aws("glue")}


def _run(env: dict[str, Any], script: str, arguments: dict[str, str]) -> dict[str, Any]:
    glue, bucket = env["glue"], env["bucket"]
    name = f"dyf-{uuid.uuid4().hex[:8]}"
    env["s3"].put_object(Bucket=bucket, Key=f"code/{name}.py", Body=script.encode())
    glue.create_job(Name=name, Role=env["role"], GlueVersion="5.0", WorkerType="G.1X", NumberOfWorkers=2,
                    Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/code/{name}.py"})
    run_id = glue.start_job_run(JobName=name, Arguments=arguments)["JobRunId"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        if run["JobRunState"] not in ("STARTING", "RUNNING", "WAITING", "STOPPING"):
            return dict(run)
        time.sleep(0.1)
    raise AssertionError(f"{name} did not end")


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return sorted(o["Key"][len(prefix):] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


@pytest.mark.slow
def test_the_retraining_samples_glue_script_runs(env: dict[str, Any]) -> None:
    s3, bucket = env["s3"], env["bucket"]
    s3.put_object(Bucket=bucket, Key="sample/raw.csv", Body="".join(f"{i % 2},{i},{i * 2}\n" for i in range(50)))
    run = _run(env, SAMPLE, {"--S3_SOURCE": f"s3://{bucket}/sample/raw.csv", "--S3_DEST": f"s3://{bucket}/sample/",
                             "--TRAIN_KEY": "train/", "--VAL_KEY": "validation/"})
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert any(k.endswith(".csv") for k in _keys(s3, bucket, "sample/train/"))
    assert any(k.endswith(".csv") for k in _keys(s3, bucket, "sample/validation/"))


@pytest.mark.slow
def test_dynamic_frames_read_transform_and_write_on_s3(env: dict[str, Any]) -> None:
    s3, bucket = env["s3"], env["bucket"]
    s3.put_object(Bucket=bucket, Key="dyf/people.csv",
                  Body="Name;Age;City\nAda;36;London\nAlan;41;Wilmslow\nGrace;29;Arlington\n")
    s3.put_object(Bucket=bucket, Key="dyf/plain/part-0.csv", Body="1,2.5,x\n0,1.5,y\n")
    s3.put_object(Bucket=bucket, Key="dyf/events.json", Body='{"id": 1, "kind": "a"}\n{"id": 2, "kind": "b"}\n')
    run = _run(env, FRAMES, {"--SOURCE": f"s3://{bucket}/dyf/people.csv", "--DEST": f"s3://{bucket}/dyf/out/parquet/",
                             "--BUCKET": bucket})
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    summary = json.loads(s3.get_object(Bucket=bucket, Key="dyf/summary.json")["Body"].read())
    assert summary["people"] == 3 and summary["older"] == 2 and summary["errors"] == 0
    assert summary["plain_columns"] == ["col0", "col1", "col2"] and summary["plain_rows"] == 2  # no header: colN
    assert summary["events"] == ["id", "kind"]
    assert summary["mapped"] == [["name", "string"], ["age", "double"]]  # only mapped fields; missing source left out
    assert summary["renamed"] == ["Name", "town"] and summary["picked"] == ["Name"]
    csv_keys = _keys(s3, bucket, "dyf/out/csv/")
    assert csv_keys and all(k.endswith(".csv") for k in csv_keys)  # no _SUCCESS marker, no .crc
    text = "".join(s3.get_object(Bucket=bucket, Key="dyf/out/csv/" + k)["Body"].read().decode() for k in csv_keys)
    assert text.splitlines()[0] == "name,age"  # writeHeader defaults to true
    json_keys = _keys(s3, bucket, "dyf/out/json/")
    rows = [json.loads(line) for k in json_keys
            for line in s3.get_object(Bucket=bucket, Key="dyf/out/json/" + k)["Body"].read().decode().splitlines()]
    assert sorted(r["Name"] for r in rows) == ["Ada", "Alan"]
    parquet = _keys(s3, bucket, "dyf/out/parquet/")
    assert parquet and all(k.endswith(".parquet") for k in parquet)
    first = s3.get_object(Bucket=bucket, Key="dyf/out/parquet/" + parquet[0])["Body"].read()
    assert first[:4] == b"PAR1"
