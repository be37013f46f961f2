"""CloudWatch Logs written by the services, read back with the Logs API as on AWS.

Names as each service's guide gives them: SageMaker training ``/aws/sagemaker/TrainingJobs``, one stream per
instance whose name begins with the job name (SageMaker developer guide, "Amazon SageMaker algorithms produce
Amazon CloudWatch logs"; the SDK reads ``<job>/`` streams); Lambda ``/aws/lambda/<function>``, one stream per
execution environment named ``YYYY/MM/DD/[$LATEST]<id>`` with START/END/REPORT lines per invocation (Lambda operator
guide, "How CloudWatch structures logs"); Glue ``/aws-glue/jobs/output`` (the script's stdout/stderr) and
``/aws-glue/jobs/error`` (the GlueLogger's messages), stream ``<JobRunId>`` ("Logging for AWS Glue jobs").
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_lambda import HANDLER, TRUST_LAMBDA, make_zip
from test_sagemaker_support import channel, put, synthetic, to_csv, training_request, unique, wait_job

from localcloud.core.logs import LogShipper, _batches, syslog_escape


def events(logs: Any, group: str, stream: str) -> list[str]:
    out = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    return [e["message"] for e in out["events"]]


def _events_so_far(logs: Any, group: str, stream: str) -> list[str]:
    try:
        return events(logs, group, stream)
    except ClientError:  # not created yet
        return []


def streams(logs: Any, group: str, prefix: str = "") -> list[str]:
    found = logs.describe_log_streams(logGroupName=group, orderBy="LogStreamName",
                                      **({"logStreamNamePrefix": prefix} if prefix else {}))
    return [s["logStreamName"] for s in found["logStreams"]]


# ------------------------------------------------------------------------------------------------ the shipper


def test_batches_keep_within_put_log_events_limits() -> None:
    # PutLogEvents (botocore model): at most 10,000 events and 1,048,576 bytes counting 26 bytes per event
    many = [(1, "x")] * 10_001
    assert [len(b) for b in _batches(many)] == [10_000, 1]
    big = [(1, "y" * 500_000)] * 3
    assert [len(b) for b in _batches(big)] == [2, 1]


def test_shipper_creates_the_group_and_stream_and_follows_a_file(cloud: Any, aws: Any, tmp_path: Path) -> None:
    logs = aws("logs")
    shipper = LogShipper(cloud.endpoint_url, interval=0.02)
    group, stream = f"/test/{uuid.uuid4().hex[:8]}", "a/b-1"
    shipper.put("us-east-1", group, stream, ["first", "", "second"])
    path = tmp_path / "out.log"
    path.write_text("line 1\nline 2\npart")
    follower = shipper.follow("us-east-1", group, stream, path)
    # followed lines arrive while the file is still being written
    assert _eventually(lambda: "line 2" in _events_so_far(logs, group, stream), limit=5)
    with open(path, "a") as out:
        out.write("ial line\nlast without newline")
    shipper.unfollow(follower)
    shipper.close()
    assert events(logs, group, stream) == ["first", "second", "line 1", "line 2", "partial line",
                                           "last without newline"]
    stamps = [e["timestamp"] for e in logs.get_log_events(logGroupName=group, logStreamName=stream,
                                                           startFromHead=True)["events"]]
    assert stamps == sorted(stamps)


def test_a_deleted_group_is_made_again_on_the_next_write(cloud: Any, aws: Any) -> None:
    logs = aws("logs")
    shipper = LogShipper(cloud.endpoint_url, interval=0.02)
    group = f"/test/{uuid.uuid4().hex[:8]}"
    shipper.put("us-east-1", group, "s", ["before"])
    assert shipper.flush()
    logs.delete_log_group(logGroupName=group)  # a clean-up between two invocations
    shipper.put("us-east-1", group, "s", ["after"])
    shipper.close()
    assert events(logs, group, "s") == ["after"]


def test_syslog_escape_writes_control_characters_as_octal() -> None:
    assert syslog_escape("[0]\ttrain-logloss:0.5\x1b") == "[0]#011train-logloss:0.5#033"


# ------------------------------------------------------------------------------------------------ SageMaker


def test_training_job_writes_its_stream(aws: Any, sm: Any, s3: Any, bucket: str, role: str) -> None:
    put(s3, bucket, "logs/train/part-0.csv", to_csv(synthetic(200, seed=3)))
    name = unique("logs-job")
    sm.create_training_job(**training_request(name, role, bucket, [channel("train", f"s3://{bucket}/logs/train")],
                                              {"num_round": "3", "objective": "binary:logistic"}))
    assert wait_job(sm, name)["TrainingJobStatus"] == "Completed"
    logs = aws("logs")
    found = streams(logs, "/aws/sagemaker/TrainingJobs", name + "/")
    assert len(found) == 1 and re.fullmatch(rf"{name}/algo-1-\d{{10}}", found[0]), found
    lines = events(logs, "/aws/sagemaker/TrainingJobs", found[0])
    assert any("Train matrix has 200 rows" in line for line in lines), lines
    # the tab xgboost prints is #011 in the stream: the container's metric regexes match ".*\[[0-9]+\].*#011..."
    assert any(re.fullmatch(r"\[2\]#011train-logloss:\d\.\d+", line) for line in lines), lines
    filtered = logs.filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name,
                                      filterPattern="rows")["events"]
    assert filtered and all("rows" in e["message"] for e in filtered)


def test_a_job_failing_before_the_algorithm_logs_its_reason(aws: Any, sm: Any, bucket: str, role: str) -> None:
    name = unique("logs-fail")
    sm.create_training_job(**training_request(name, role, bucket, [channel("train", f"s3://{bucket}/none/")],
                                              {"num_round": "3", "eta": "7"}))
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == "Failed"
    logs = aws("logs")
    (stream,) = streams(logs, "/aws/sagemaker/TrainingJobs", name + "/")
    assert any("Hyperparameter eta" in line for line in events(logs, "/aws/sagemaker/TrainingJobs", stream))


# ------------------------------------------------------------------------------------------------ Lambda


def test_lambda_invocations_write_start_end_report(aws: Any) -> None:
    lam, logs = aws("lambda"), aws("logs")
    role = aws("iam").create_role(RoleName=unique("logs-fn"), AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"]["Arn"]
    name = unique("logs-fn")
    code = HANDLER.replace("    return", "    print('handling', event)\n    return")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": code})})
    for n in range(2):
        assert json.loads(lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}))["Payload"].read())
    group = f"/aws/lambda/{name}"

    def ready() -> list[str]:
        found = streams(logs, group) if logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] else []
        return found if found and len(events(logs, group, found[0])) >= 8 else []

    found = _eventually(ready)
    assert len(found) == 1  # one warm environment served both invocations
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", found[0]), found
    lines = events(logs, group, found[0])
    assert lines[0].startswith("INIT_START Runtime Version: python3.12")
    kinds = [line.split(" ")[0] for line in lines if line.split(" ")[0] in ("START", "END", "REPORT")]
    assert kinds == ["START", "END", "REPORT", "START", "END", "REPORT"]
    assert "handling {'n': 0}" in lines and "handling {'n': 1}" in lines
    assert any(line.startswith("REPORT RequestId:") and "Billed Duration:" in line for line in lines)


def _eventually(check: Any, limit: float = 20.0) -> Any:
    deadline = time.monotonic() + limit
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------------ Glue

GLUE_SCRIPT = """\
import sys
from awsglue.context import GlueContext
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext
glue_context = GlueContext(SparkContext.getOrCreate())
args = getResolvedOptions(sys.argv, ["JOB_NAME"])
print("rows:", glue_context.spark_session.range(4).count())
print("to stderr", file=sys.stderr)
glue_context.get_logger().info("from the glue logger")
"""
GLUE_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.mark.slow
def test_glue_run_writes_output_and_error_streams(aws: Any, s3: Any, bucket: str) -> None:
    glue, logs = aws("glue"), aws("logs")
    put(s3, bucket, "logs/glue.py", GLUE_SCRIPT)
    role = aws("iam").create_role(RoleName=unique("logs-glue"), AssumeRolePolicyDocument=GLUE_TRUST)["Role"]["Arn"]
    job = unique("logs-glue")
    glue.create_job(Name=job, Role=role, GlueVersion="5.0", WorkerType="G.1X", NumberOfWorkers=2,
                    Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/logs/glue.py"})
    run_id = glue.start_job_run(JobName=job)["JobRunId"]
    state = _eventually(lambda: glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]["JobRunState"]
                        in ("SUCCEEDED", "FAILED", "ERROR", "TIMEOUT"), limit=300)
    assert state
    run = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    output = events(logs, "/aws-glue/jobs/output", run_id)
    assert "rows: 4" in output and "to stderr" in output
    assert not any("from the glue logger" in line for line in output)
    error = events(logs, "/aws-glue/jobs/error", run_id)
    assert any(line.endswith("INFO GlueLogger: from the glue logger") for line in error), error
    assert error[-1] == "[localcloud] run ended SUCCEEDED"
