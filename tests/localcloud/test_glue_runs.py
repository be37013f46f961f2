"""Glue job runs for real: the project's ETL script under local PySpark from S3 to S3, failures, stops, timeouts,
concurrency limits, retries and the warm Spark worker (one Spark start serves most of this module)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud import LocalCloud
from retrain.resources import ETL_MODULES

ROOT = Path(__file__).resolve().parents[2]
ETL = ROOT / "code" / "glue_etl.py"
FINAL = ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR")
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": ["glue.amazonaws.com"]}, "Action": "sts:AssumeRole"}]})

ECHO = """\
import json, os, sys
from pyspark.context import SparkContext
from awsglue.context import GlueContext
from awsglue.utils import getResolvedOptions
sc = SparkContext()
assert SparkContext.getOrCreate() is sc
spark = GlueContext(sc).spark_session
args = getResolvedOptions(sys.argv, ["JOB_NAME", "DEST"])
assert spark.range(5).count() == 5
os.makedirs(args["DEST"] + "echo", exist_ok=True)
with open(args["DEST"] + "echo/argv.json", "w") as fh:
    json.dump({"argv": sys.argv[1:], "pid": os.getpid(), "region": os.environ["AWS_REGION"]}, fh)
open(args["DEST"] + "echo/.argv.json.crc", "w").write("checksum")
sc.stop()  # a warm worker ignores this
sys.exit(0)
"""
RAISES = """\
import sys

def check(columns):
    raise ValueError(f"missing column 'Churn?' in {columns}")

check(sys.argv[1:3])
"""
EXIT = "import sys\nprint('leaving with 3')\nsys.exit(3)\n"
SLEEP = "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n"
DIES = "import os, signal\nprint('about to die', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n"
JVM_DIES = """\
import os, signal
from pyspark.context import SparkContext
sc = SparkContext.getOrCreate()
print("killing the JVM", flush=True)
os.kill(sc._gateway.proc.pid, signal.SIGKILL)
sc.parallelize([1, 2]).count()
"""
STATE = """\
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
assert spark.conf.get("spark.sql.shuffle.partitions") == "4", spark.conf.get("spark.sql.shuffle.partitions")
assert "leak" not in [t.name for t in spark.catalog.listTables()]
spark.range(3).createOrReplaceTempView("leak")
spark.conf.set("spark.sql.shuffle.partitions", "77")
spark.range(3).cache().count()
"""
FAILS = "raise RuntimeError('always fails')\n"
PYSHELL = """\
import json, sys
from awsglue.utils import getResolvedOptions
args = getResolvedOptions(sys.argv, ["DEST"])
with open(args["DEST"], "w") as fh:
    json.dump({"argv": sys.argv[1:], "spark": "pyspark" in sys.modules}, fh)
"""


@pytest.fixture(scope="module")
def env(aws: Any) -> dict[str, Any]:
    """A bucket holding the scripts and generated churn data, and a role Glue may assume."""
    from retrain.data import generate, write_csv

    s3, iam = aws("s3"), aws("iam")
    bucket = f"glue-runs-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    role = f"GlueRunsRole-{uuid.uuid4().hex[:6]}"
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    for key, text in {"etl.py": ETL.read_text(), "echo.py": ECHO, "raises.py": RAISES, "exit.py": EXIT,
                      "sleep.py": SLEEP, "dies.py": DIES, "fails.py": FAILS,
                      "pyshell.py": PYSHELL, "jvm_dies.py": JVM_DIES,
                      "state.py": STATE}.items():
        s3.put_object(Bucket=bucket, Key=f"code/{key}", Body=text.encode())
    for module in ETL_MODULES:  # the project's ETL imports its own modules (--extra-py-files)
        s3.put_object(Bucket=bucket, Key=f"code/{module}", Body=(ROOT / "code" / module).read_bytes())
    return {"bucket": bucket, "role": arn, "s3": s3, "generate": generate, "write_csv": write_csv}


@pytest.fixture(scope="module")
def churn(env: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("churn") / "customer-churn.csv"
    env["write_csv"](env["generate"](3333, 42), path)
    env["s3"].upload_file(str(path), env["bucket"], "raw/customer-churn.csv")
    return f"s3://{env['bucket']}/raw/customer-churn.csv"


def glue_service(cloud: Any) -> Any:
    return next(s for s in cloud.app.services if type(s).__name__ == "GlueAPI")


def workers(cloud: Any) -> list[dict[str, Any]]:
    return glue_service(cloud).health()["workers"]


def new_job(glue: Any, env: dict[str, Any], script: str, command: str = "glueetl", **extra: Any) -> str:
    name = f"{script.split('.')[0]}-{uuid.uuid4().hex[:8]}"
    if script == "etl.py":
        modules = ",".join(f"s3://{env['bucket']}/code/{m}" for m in ETL_MODULES)
        extra["DefaultArguments"] = {"--extra-py-files": modules, **extra.get("DefaultArguments", {})}
    glue.create_job(Name=name, Role=env["role"], GlueVersion="5.0",
                    Command={"Name": command, "ScriptLocation": f"s3://{env['bucket']}/code/{script}"},
                    **({"WorkerType": "G.1X", "NumberOfWorkers": 2} if command == "glueetl" else {}), **extra)
    return name


def wait(glue: Any, job: str, run_id: str, states: tuple[str, ...] = FINAL, limit: float = 300) -> dict[str, Any]:
    seen: list[str] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        run = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
        if not seen or seen[-1] != run["JobRunState"]:
            seen.append(run["JobRunState"])
        if run["JobRunState"] in states:
            run["seen"] = seen
            return dict(run)
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} of {job} still {seen[-1]} after {limit} s (states seen: {seen})")


def log_of(cloud: Any, run_id: str) -> str:
    return (Path(cloud.home) / "glue" / "runs" / run_id / "output.log").read_text()


def objects(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in found}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ------------------------------------------------------------------------------------------------ fast: no worker


def test_missing_role_fails_the_run_as_aws_does(aws: Any, env: dict[str, Any]) -> None:
    glue = aws("glue")
    job = f"norole-{uuid.uuid4().hex[:8]}"
    glue.create_job(Name=job, Role="arn:aws:iam::123456789012:role/NoSuchRole",
                    Command={"Name": "pythonshell", "ScriptLocation": f"s3://{env['bucket']}/code/echo.py"})
    run = wait(glue, job, glue.start_job_run(JobName=job)["JobRunId"])
    assert run["JobRunState"] == "FAILED"
    assert "Role arn:aws:iam::123456789012:role/NoSuchRole should be given assume role permissions for Glue" \
        in run["ErrorMessage"]


def test_role_that_does_not_trust_glue_fails(aws: Any, env: dict[str, Any]) -> None:
    glue, iam = aws("glue"), aws("iam")
    role = f"NotGlue-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    name = f"notglue-{uuid.uuid4().hex[:8]}"
    glue.create_job(Name=name, Role=role, Command={"Name": "pythonshell",
                                                   "ScriptLocation": f"s3://{env['bucket']}/code/echo.py"})
    run = wait(glue, name, glue.start_job_run(JobName=name)["JobRunId"])
    assert run["JobRunState"] == "FAILED" and f"Role {role} should be given assume role" in run["ErrorMessage"]


def test_missing_script_fails_clearly(aws: Any, env: dict[str, Any]) -> None:
    glue = aws("glue")
    name = f"noscript-{uuid.uuid4().hex[:8]}"
    glue.create_job(Name=name, Role=env["role"], Command={"Name": "pythonshell",
                                                          "ScriptLocation": f"s3://{env['bucket']}/code/absent.py"})
    run = wait(glue, name, glue.start_job_run(JobName=name)["JobRunId"])
    assert run["JobRunState"] == "FAILED"
    assert f"s3://{env['bucket']}/code/absent.py" in run["ErrorMessage"] and "NoSuchKey" in run["ErrorMessage"]


# ------------------------------------------------------------------------------------------------ python shell


@pytest.mark.slow
def test_concurrent_runs_limit_stop_and_terminal_errors(aws: Any, env: dict[str, Any]) -> None:
    glue = aws("glue")
    job = new_job(glue, env, "sleep.py", command="pythonshell")
    first = glue.start_job_run(JobName=job)["JobRunId"]
    with pytest.raises(ClientError) as err:
        glue.start_job_run(JobName=job)
    assert err.value.response["Error"]["Code"] == "ConcurrentRunsExceededException"
    assert f"Concurrent runs exceeded for {job}" in str(err.value)
    glue.update_job(JobName=job, JobUpdate={
        "Role": env["role"], "ExecutionProperty": {"MaxConcurrentRuns": 2},
        "Command": {"Name": "pythonshell", "ScriptLocation": f"s3://{env['bucket']}/code/sleep.py"}})
    second = glue.start_job_run(JobName=job)["JobRunId"]
    wait(glue, job, first, states=("RUNNING",))
    wait(glue, job, second, states=("RUNNING",))
    out = glue.batch_stop_job_run(JobName=job, JobRunIds=[first, second])
    assert sorted(s["JobRunId"] for s in out["SuccessfulSubmissions"]) == sorted([first, second])
    assert glue.get_job_run(JobName=job, RunId=first)["JobRun"]["JobRunState"] in ("STOPPING", "STOPPED")
    for run_id in (first, second):
        run = wait(glue, job, run_id)
        assert run["JobRunState"] == "STOPPED" and "ErrorMessage" not in run and run["CompletedOn"]
    again = glue.batch_stop_job_run(JobName=job, JobRunIds=[first])
    assert again["Errors"][0]["ErrorDetail"]["ErrorCode"] == "InvalidInputException"
    assert "STOPPED" in again["Errors"][0]["ErrorDetail"]["ErrorMessage"]
    assert [r["Id"] for r in glue.get_job_runs(JobName=job)["JobRuns"]] == [second, first]  # newest first


def test_job_run_queuing_waits_instead_of_failing(aws: Any, env: dict[str, Any]) -> None:
    """With JobRunQueuingEnabled, a run over MaxConcurrentRuns waits (WAITING, with StateDetail) and starts when
    the running one ends ("AWS Glue job run statuses"); the run's own setting wins over the job's (Glue API)."""
    glue = aws("glue")
    sleeper = new_job(glue, env, "sleep.py", command="pythonshell", JobRunQueuingEnabled=True)
    assert glue.get_job(JobName=sleeper)["Job"]["JobRunQueuingEnabled"] is True
    first = glue.start_job_run(JobName=sleeper)["JobRunId"]
    wait(glue, sleeper, first, states=("RUNNING",))
    queued = glue.start_job_run(JobName=sleeper)["JobRunId"]
    waiting = glue.get_job_run(JobName=sleeper, RunId=queued)["JobRun"]
    assert waiting["JobRunState"] == "WAITING" and waiting["JobRunQueuingEnabled"] is True
    assert "MaxConcurrentRuns" in waiting["StateDetail"]
    with pytest.raises(ClientError) as err:  # the run's own setting wins over the job's
        glue.start_job_run(JobName=sleeper, JobRunQueuingEnabled=False)
    assert err.value.response["Error"]["Code"] == "ConcurrentRunsExceededException"
    stopped = glue.batch_stop_job_run(JobName=sleeper, JobRunIds=[queued])  # stopping a waiting run: it never ran
    assert [s["JobRunId"] for s in stopped["SuccessfulSubmissions"]] == [queued]
    assert wait(glue, sleeper, queued)["JobRunState"] == "STOPPED"
    third = glue.start_job_run(JobName=sleeper)["JobRunId"]
    assert glue.get_job_run(JobName=sleeper, RunId=third)["JobRun"]["JobRunState"] == "WAITING"
    glue.batch_stop_job_run(JobName=sleeper, JobRunIds=[first])
    assert wait(glue, sleeper, first)["JobRunState"] == "STOPPED"
    seen = wait(glue, sleeper, third, states=("RUNNING",))
    assert seen["JobRunState"] == "RUNNING" and "StateDetail" not in seen
    glue.batch_stop_job_run(JobName=sleeper, JobRunIds=[third])
    wait(glue, sleeper, third)


@pytest.mark.slow
def test_timeout_ends_the_run(aws: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCLOUD_GLUE_TIMEOUT_SCALE", "1")  # 1 s per minute of Timeout
    glue = aws("glue")
    job = new_job(glue, env, "sleep.py", command="pythonshell", Timeout=5)
    run = wait(glue, job, glue.start_job_run(JobName=job, Timeout=1)["JobRunId"])
    assert run["JobRunState"] == "TIMEOUT" and run["Timeout"] == 1
    assert "timed out after 1 minutes" in run["ErrorMessage"]


@pytest.mark.slow
def test_failed_runs_are_retried_max_retries_times(aws: Any, env: dict[str, Any]) -> None:
    glue = aws("glue")
    job = new_job(glue, env, "fails.py", command="pythonshell", MaxRetries=1)
    first = glue.start_job_run(JobName=job)["JobRunId"]
    assert _appears(glue, job, f"{first}_attempt_1")
    retry = wait(glue, job, f"{first}_attempt_1")
    assert retry["JobRunState"] == "FAILED"
    assert retry["Attempt"] == 1 and retry["PreviousRunId"] == first
    original = glue.get_job_run(JobName=job, RunId=first)["JobRun"]
    assert original["JobRunState"] == "FAILED" and original["Attempt"] == 0
    assert original["ErrorMessage"].endswith("RuntimeError: always fails")
    assert len(glue.get_job_runs(JobName=job)["JobRuns"]) == 2


@pytest.mark.slow
def test_python_shell_job_and_retry_of_an_earlier_run(aws: Any, env: dict[str, Any]) -> None:
    glue, s3, bucket = aws("glue"), env["s3"], env["bucket"]
    job = new_job(glue, env, "pyshell.py", command="pythonshell")
    args = {"--DEST": f"s3://{bucket}/pyshell/result.json"}
    first = wait(glue, job, glue.start_job_run(JobName=job, Arguments=args)["JobRunId"])
    assert first["JobRunState"] == "SUCCEEDED", first.get("ErrorMessage")
    seen = json.loads(s3.get_object(Bucket=bucket, Key="pyshell/result.json")["Body"].read())
    assert seen["spark"] is False and seen["argv"][:2] == ["--DEST", seen["argv"][1]]
    assert seen["argv"][1].endswith(f"/{bucket}/pyshell/result.json")
    again = wait(glue, job, glue.start_job_run(JobName=job, JobRunId=first["Id"])["JobRunId"])
    assert again["JobRunState"] == "SUCCEEDED" and again["PreviousRunId"] == first["Id"]
    assert again["Arguments"] == args  # a retry of a run keeps that run's arguments


def _appears(glue: Any, job: str, run_id: str, limit: float = 120) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if any(r["Id"] == run_id for r in glue.get_job_runs(JobName=job)["JobRuns"]):
            return True
        time.sleep(0.2)
    return False


# ------------------------------------------------------------------------------------------------ Spark


@pytest.mark.slow
def test_etl_script_from_s3_to_s3(cloud: Any, aws: Any, env: dict[str, Any], churn: str) -> None:
    glue, s3, bucket = aws("glue"), env["s3"], env["bucket"]
    job = new_job(glue, env, "etl.py", DefaultArguments={"--S3_DEST": f"s3://{bucket}/wrong/"})
    args = {"--S3_SOURCE": churn, "--S3_DEST": f"s3://{bucket}/prepared/", "--TRAIN_KEY": "train/",
            "--VAL_KEY": "validation/"}
    run = wait(glue, job, glue.start_job_run(JobName=job, Arguments=args)["JobRunId"])
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert run["seen"][-1] == "SUCCEEDED" and set(run["seen"]) <= {"STARTING", "RUNNING", "SUCCEEDED"}
    assert run["Arguments"] == args and run["Attempt"] == 0 and run["GlueVersion"] == "5.0"
    assert run["WorkerType"] == "G.1X" and run["NumberOfWorkers"] == 2 and run["MaxCapacity"] == 2.0
    assert run["StartedOn"] <= run["CompletedOn"] and run["ExecutionTime"] >= 1 and run["Timeout"] == 480

    out = objects(s3, bucket, "prepared/")
    # no Hadoop checksum files, and no _SUCCESS marker (the job turns it off: the splits are training channels)
    assert not [k for k in out if k.endswith(".crc") or k.rsplit("/", 1)[-1].startswith("_")]
    assert "features.json" in out
    train = [k for k in out if k.startswith("train/part-") and k.endswith(".csv")]
    validation = [k for k in out if k.startswith("validation/part-") and k.endswith(".csv")]
    assert len(train) == 1 and len(validation) == 1
    rows = {name: list(csv.reader(io.StringIO(out[key].decode()))) for name, key in
            (("train", train[0]), ("validation", validation[0]))}
    features = json.loads(out["features.json"])
    assert features["train_rows"] == len(rows["train"]) and features["validation_rows"] == len(rows["validation"])
    assert len(rows["train"]) + len(rows["validation"]) == 3333 and 0.6 < len(rows["train"]) / 3333 < 0.8
    assert {r[0] for r in rows["train"]} == {"0", "1"} and len(rows["train"][0]) == len(features["features"]) + 1
    assert not objects(s3, bucket, "wrong/")  # the run's argument replaced the default
    assert f"worker pid {run_pid(cloud, run['Id'])}" in log_of(cloud, run["Id"])


def run_pid(cloud: Any, run_id: str) -> int:
    return int(cloud.app.backends["glue"].get_job_run("us-east-1", _job_of(cloud, run_id), run_id).worker_pid)


def _job_of(cloud: Any, run_id: str) -> str:
    backend = cloud.app.backends["glue"]
    return next(job for (_, job), runs in backend._runs.items() if any(r.id == run_id for r in runs))  # noqa: SLF001


@pytest.mark.slow
def test_second_run_reuses_the_warm_worker(cloud: Any, aws: Any, env: dict[str, Any], churn: str) -> None:
    glue, s3, bucket = aws("glue"), env["s3"], env["bucket"]
    job = new_job(glue, env, "etl.py")
    args = {"--S3_SOURCE": churn, "--S3_DEST": f"s3://{bucket}/again/", "--TRAIN_KEY": "train/",
            "--VAL_KEY": "validation/"}
    first = wait(glue, job, glue.start_job_run(JobName=job, Arguments=args)["JobRunId"])
    before = {w["pid"]: w["runs"] for w in workers(cloud)}
    old_parts = set(objects(s3, bucket, "again/train/"))
    second = wait(glue, job, glue.start_job_run(JobName=job, Arguments=args)["JobRunId"])
    assert first["JobRunState"] == second["JobRunState"] == "SUCCEEDED"
    pid = run_pid(cloud, second["Id"])
    assert pid == run_pid(cloud, first["Id"]) and pid in before
    assert {w["pid"]: w["runs"] for w in workers(cloud)}[pid] == before[pid] + 1
    assert f"worker pid {pid} (run #{before[pid] + 1} of worker" in log_of(cloud, second["Id"])
    new_parts = set(objects(s3, bucket, "again/train/"))
    assert len([k for k in new_parts if k.startswith("part-")]) == 1 and new_parts != old_parts  # overwrite synced


@pytest.mark.slow
def test_bad_input_fails_with_the_scripts_message(aws: Any, env: dict[str, Any]) -> None:
    glue, s3, bucket = aws("glue"), env["s3"], env["bucket"]
    s3.put_object(Bucket=bucket, Key="bad/no-label.csv", Body=b"State,Account Length\nKS,128\nOH,107\n")
    job = new_job(glue, env, "etl.py")
    run = wait(glue, job, glue.start_job_run(JobName=job, Arguments={
        "--S3_SOURCE": f"s3://{bucket}/bad/no-label.csv", "--S3_DEST": f"s3://{bucket}/bad-out/",
        "--TRAIN_KEY": "train/", "--VAL_KEY": "validation/"})["JobRunId"])
    assert run["JobRunState"] == "FAILED"
    message = run["ErrorMessage"]
    assert message.startswith("Error Category: UNCLASSIFIED_ERROR; Failed Line Number: ")
    assert "InputDataError: the input " in message and "'Churn?'" in message
    assert f"s3://{bucket}/bad/no-label.csv" in message and "/glue/runs/" not in message  # S3 path, not ours
    assert not objects(s3, bucket, "bad-out/")  # a failed run syncs nothing


@pytest.mark.slow
def test_script_exception_exit_codes_and_arguments(cloud: Any, aws: Any, env: dict[str, Any]) -> None:
    glue, s3, bucket = aws("glue"), env["s3"], env["bucket"]
    raises = new_job(glue, env, "raises.py")
    run = wait(glue, raises, glue.start_job_run(JobName=raises, Arguments={"--X": "1"})["JobRunId"])
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == ("Error Category: UNCLASSIFIED_ERROR; Failed Line Number: 4; "
                                   "ValueError: missing column 'Churn?' in ['--X', '1']")
    assert "Traceback" in log_of(cloud, run["Id"])

    exits = new_job(glue, env, "exit.py")
    run = wait(glue, exits, glue.start_job_run(JobName=exits)["JobRunId"])
    assert run["JobRunState"] == "FAILED" and run["ErrorMessage"].endswith("SystemExit: 3")
    assert "leaving with 3" in log_of(cloud, run["Id"])

    echo = new_job(glue, env, "echo.py", DefaultArguments={"--DEST": f"s3://{bucket}/default/", "--EXTRA": "default"},
                   NonOverridableArguments={"--FIXED": "job"})
    run = wait(glue, echo, glue.start_job_run(JobName=echo, Arguments={
        "--DEST": f"s3://{bucket}/echo-out/", "--FIXED": "run", "--JOB_NAME": "spoofed"})["JobRunId"])
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    out = objects(s3, bucket, "echo-out/")
    assert set(out) == {"echo/argv.json"}  # the .crc file stayed local
    seen = json.loads(out["echo/argv.json"])
    argv = seen["argv"]
    pairs = dict(zip(argv[::2], argv[1::2], strict=True))
    assert pairs["--JOB_NAME"] == echo and pairs["--JOB_RUN_ID"] == run["Id"] and pairs["--JOB_ID"].startswith("j_")
    assert pairs["--EXTRA"] == "default" and pairs["--FIXED"] == "job"
    assert pairs["--DEST"].endswith(f"/{bucket}/echo-out/") and not pairs["--DEST"].startswith("s3")
    assert seen["region"] == "us-east-1" and seen["pid"] == run_pid(cloud, run["Id"])
    again = wait(glue, echo, glue.start_job_run(JobName=echo)["JobRunId"])  # sc.stop() above did not stop Spark
    assert again["JobRunState"] == "SUCCEEDED" and run_pid(cloud, again["Id"]) == seen["pid"]


@pytest.mark.slow
def test_runs_in_one_worker_do_not_share_spark_state(cloud: Any, aws: Any, env: dict[str, Any]) -> None:
    glue = aws("glue")
    job = new_job(glue, env, "state.py")
    first = wait(glue, job, glue.start_job_run(JobName=job)["JobRunId"])
    second = wait(glue, job, glue.start_job_run(JobName=job)["JobRunId"])
    assert first["JobRunState"] == second["JobRunState"] == "SUCCEEDED", second.get("ErrorMessage")
    assert run_pid(cloud, first["Id"]) == run_pid(cloud, second["Id"])


@pytest.mark.slow
def test_worker_death_fails_the_run_and_the_next_run_gets_a_new_worker(
        cloud: Any, aws: Any, env: dict[str, Any]) -> None:
    glue = aws("glue")
    jvm = new_job(glue, env, "jvm_dies.py")
    run = wait(glue, jvm, glue.start_job_run(JobName=jvm)["JobRunId"])
    assert run["JobRunState"] == "FAILED" and "Failed Line Number: 6" in run["ErrorMessage"]
    assert "the Spark driver (JVM) died during the run" in run["ErrorMessage"]
    assert "killing the JVM" in log_of(cloud, run["Id"])
    jvm_worker = run_pid(cloud, run["Id"])
    assert not alive(jvm_worker)  # replaced

    dies = new_job(glue, env, "dies.py")
    run = wait(glue, dies, glue.start_job_run(JobName=dies)["JobRunId"])
    assert run["JobRunState"] == "FAILED"
    assert "SIGKILL" in run["ErrorMessage"] and "without a Python exception" in run["ErrorMessage"]
    assert "about to die" in run["ErrorMessage"]  # the tail of the run's output
    dead = run_pid(cloud, run["Id"])
    assert dead != jvm_worker and not alive(dead) and dead not in [w["pid"] for w in workers(cloud)]

    sleeper = new_job(glue, env, "sleep.py")
    run_id = glue.start_job_run(JobName=sleeper)["JobRunId"]
    wait(glue, sleeper, run_id, states=("RUNNING",))
    pid = run_pid(cloud, run_id)
    assert pid != dead
    glue.batch_stop_job_run(JobName=sleeper, JobRunIds=[run_id])
    assert wait(glue, sleeper, run_id)["JobRunState"] == "STOPPED"
    assert not alive(pid)  # a stopped run takes its worker (and JVM) down

    echo = new_job(glue, env, "echo.py", DefaultArguments={"--DEST": f"s3://{env['bucket']}/after-stop/"})
    run = wait(glue, echo, glue.start_job_run(JobName=echo)["JobRunId"])
    assert run["JobRunState"] == "SUCCEEDED" and run_pid(cloud, run["Id"]) not in (pid, dead)


@pytest.mark.slow
def test_shutdown_leaves_no_process(tmp_path: Path) -> None:
    import boto3

    with LocalCloud(port=0, home=tmp_path) as local:
        session = boto3.session.Session(region_name="us-east-1")
        s3, iam, glue = (session.client(s, endpoint_url=local.endpoint_url) for s in ("s3", "iam", "glue"))
        s3.create_bucket(Bucket="shutdown-test")
        s3.put_object(Bucket="shutdown-test", Key="s.py", Body=b"print('hi')\n")
        iam.create_role(RoleName="R", AssumeRolePolicyDocument=TRUST)
        glue.create_job(Name="j", Role="R", Command={"Name": "glueetl", "ScriptLocation": "s3://shutdown-test/s.py"})
        run = wait(glue, "j", glue.start_job_run(JobName="j")["JobRunId"])
        assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
        pid = glue_service(local).health()["workers"][0]["pid"]
        assert len(group(pid)) >= 2, group(pid)  # the worker and its JVM
    assert group(pid) == [] and not alive(pid)


def group(pgid: int) -> list[str]:
    """Live (non-zombie) processes of a process group, as ``ps`` lists them."""
    out = subprocess.run(["ps", "-o", "pid=,stat=,comm=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split() and not line.split()[1].startswith("Z")]
