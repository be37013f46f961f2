"""Step Functions running real Glue job runs on localcloud: ``glue:startJobRun`` and ``glue:startJobRun.sync``.

From the Step Functions guide ("Manage AWS Glue Jobs with Step Functions"): the optimized integration inserts the
request's ``JobName`` into the response, which otherwise holds only ``JobRunId``; ``.sync`` waits for the run and
returns it. A failed run fails the task with ``States.TaskFailed`` and the run as cause. Results are rendered as
the Java SDK does: members in alphabetical order, timestamps in epoch milliseconds (as in the GetJobRun output AWS
shows for a Glue ``.sync`` execution).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sfn_helpers import ensure_role, history, run, unique, wait_done, wait_for

TRUST_GLUE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}]}

SCRIPT = '''
import sys
import time

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
mode = args.get("--MODE", "ok")
if mode == "fail":
    raise ValueError("bad input: column 'Churn?' is missing")
if mode == "slow":
    time.sleep(120)
print("done", args.get("--JOB_RUN_ID"))
'''


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions")


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-glue-tests-role")


@pytest.fixture(scope="module")
def job(aws: Any) -> str:
    """A Python-shell Glue job whose ``--MODE`` argument makes it succeed, fail or hang."""
    s3, glue = aws("s3"), aws("glue")
    bucket = unique("sfn-glue-scripts")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="job.py", Body=SCRIPT.encode())
    glue_role = ensure_role(aws("iam"), "sfn-glue-tests-job-role", TRUST_GLUE)
    name = unique("sfn-glue-job")
    glue.create_job(Name=name, Role=glue_role, ExecutionProperty={"MaxConcurrentRuns": 5},
                    Command={"Name": "pythonshell", "ScriptLocation": f"s3://{bucket}/job.py",
                             "PythonVersion": "3.9"}, MaxCapacity=0.0625)
    return name


def _start(job: str, pattern: str = ".sync", mode: str = "ok") -> dict[str, Any]:
    return {"StartAt": "Run", "States": {"Run": {
        "Type": "Task", "Resource": f"arn:aws:states:::glue:startJobRun{pattern}",
        "Parameters": {"JobName": job, "Arguments": {"--MODE": mode}}, "End": True}}}


def test_sync_returns_the_finished_run(sfn: Any, role: str, job: str) -> None:
    described = run(sfn, role, _start(job))
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["JobName"] == job and output["JobRunState"] == "SUCCEEDED"
    assert output["Arguments"]["--MODE"] == "ok"
    assert isinstance(output["StartedOn"], int) and isinstance(output["CompletedOn"], int)
    assert output["CompletedOn"] >= output["StartedOn"] > 1_600_000_000_000  # epoch millis
    assert list(output) == sorted(output)
    types = [e["type"] for e in described["history"]]
    assert types[types.index("TaskStarted") + 1] == "TaskSubmitted"
    submitted = [e for e in described["history"] if e["type"] == "TaskSubmitted"][0]["taskSubmittedEventDetails"]
    assert json.loads(submitted["output"])["JobRunId"] == output["Id"]
    assert (submitted["resourceType"], submitted["resource"]) == ("glue", "startJobRun.sync")


def test_request_response_returns_the_run_id_and_job_name(sfn: Any, role: str, job: str, aws: Any) -> None:
    described = run(sfn, role, _start(job, pattern=""))
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert list(output) == ["JobName", "JobRunId", "SdkHttpMetadata", "SdkResponseMetadata"]
    assert output["JobName"] == job
    glue = aws("glue")
    wait_for(lambda: glue.get_job_run(JobName=job, RunId=output["JobRunId"])["JobRun"]["JobRunState"]
             in ("SUCCEEDED", "FAILED"))


def test_failed_run_fails_the_task_with_the_run_as_cause(sfn: Any, role: str, job: str) -> None:
    described = run(sfn, role, _start(job, mode="fail"))
    assert (described["status"], described["error"]) == ("FAILED", "States.TaskFailed")
    cause = json.loads(described["cause"])
    assert cause["JobRunState"] == "FAILED" and cause["JobName"] == job
    assert "ValueError" in cause["ErrorMessage"] and "Churn?" in cause["ErrorMessage"]


def test_missing_job_is_a_glue_error(sfn: Any, role: str) -> None:
    described = run(sfn, role, _start(unique("no-such-job")))
    assert (described["status"], described["error"]) == ("FAILED", "Glue.EntityNotFoundException")
    assert "(Service: AWSGlue; Status Code: 400; Error Code: EntityNotFoundException" in described["cause"]


def test_stopping_the_execution_stops_the_run(sfn: Any, role: str, job: str, aws: Any) -> None:
    arn = sfn.create_state_machine(name=unique("sfn-glue-stop"), definition=json.dumps(_start(job, mode="slow")),
                                   roleArn=role)["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=arn)

    def submitted() -> str | None:
        for event in history(sfn, started["executionArn"]):
            if event["type"] == "TaskSubmitted":
                return json.loads(event["taskSubmittedEventDetails"]["output"])["JobRunId"]
        return None

    run_id = wait_for(submitted)
    sfn.stop_execution(executionArn=started["executionArn"])
    assert wait_done(sfn, started["executionArn"])["status"] == "ABORTED"
    glue = aws("glue")
    state = wait_for(lambda: glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]["JobRunState"]
                     if glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]["JobRunState"] in ("STOPPED",)
                     else None)
    assert state == "STOPPED"
