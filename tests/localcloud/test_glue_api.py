"""Glue jobs on the wire: CRUD, defaults, pagination and AWS error codes (no Spark: nothing here runs a script)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

SCRIPT = "s3://glue-api-tests/none.py"


@pytest.fixture(autouse=True)
def no_prewarm(cloud: Any) -> Iterator[None]:
    """These tests create jobs but run none: keep the Spark worker from starting ahead of a run."""
    backend = cloud.app.backends["glue"]
    before = backend.prewarm_mode
    backend.prewarm_mode = "off"
    yield
    backend.prewarm_mode = before


@pytest.fixture()
def glue(aws: Any) -> Any:
    return aws("glue")


def name(prefix: str = "job") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def create(glue: Any, job: str, **extra: Any) -> None:
    params: dict[str, Any] = {"Name": job, "Role": "GlueRole", "Command": {"Name": "glueetl", "ScriptLocation": SCRIPT}}
    params.update(extra)
    assert glue.create_job(**params)["Name"] == job


def test_create_get_with_glue_defaults(glue: Any) -> None:
    job = name()
    create(glue, job, GlueVersion="5.0", WorkerType="G.1X", NumberOfWorkers=2,
           DefaultArguments={"--S3_SOURCE": "s3://b/in/"}, Description="churn ETL")
    got = glue.get_job(JobName=job)["Job"]
    assert got["Name"] == job and got["Role"] == "GlueRole" and got["Description"] == "churn ETL"
    assert got["Command"] == {"Name": "glueetl", "ScriptLocation": SCRIPT, "PythonVersion": "3"}
    assert got["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert got["Timeout"] == 480  # Glue 5.0 default
    assert got["MaxCapacity"] == 2.0 and got["AllocatedCapacity"] == 2  # 2 x G.1X = 2 DPU
    assert got["WorkerType"] == "G.1X" and got["NumberOfWorkers"] == 2 and got["GlueVersion"] == "5.0"
    assert got["DefaultArguments"] == {"--S3_SOURCE": "s3://b/in/"} and got["MaxRetries"] == 0
    assert got["CreatedOn"] == got["LastModifiedOn"]


def test_older_glue_versions_default_to_two_days(glue: Any) -> None:
    job = name()
    create(glue, job, GlueVersion="4.0", WorkerType="G.2X", NumberOfWorkers=3)
    got = glue.get_job(JobName=job)["Job"]
    assert got["Timeout"] == 2880 and got["MaxCapacity"] == 6.0


def test_duplicate_name_already_exists(glue: Any) -> None:
    job = name()
    create(glue, job)
    with pytest.raises(ClientError) as err:
        create(glue, job)
    assert code(err) == "AlreadyExistsException" and job in str(err.value)


def test_update_replaces_the_whole_definition(glue: Any) -> None:
    job = name()
    create(glue, job, Description="first", Timeout=30, DefaultArguments={"--A": "1"},
           ExecutionProperty={"MaxConcurrentRuns": 3})
    created = glue.get_job(JobName=job)["Job"]
    assert glue.update_job(JobName=job, JobUpdate={
        "Role": "OtherRole", "Command": {"Name": "glueetl", "ScriptLocation": "s3://b/other.py"}, "GlueVersion": "5.0",
    })["JobName"] == job
    got = glue.get_job(JobName=job)["Job"]
    assert got["Role"] == "OtherRole" and got["Command"]["ScriptLocation"] == "s3://b/other.py"
    assert "Description" not in got and got["DefaultArguments"] == {}  # left out of JobUpdate: removed
    assert got["Timeout"] == 480 and got["ExecutionProperty"] == {"MaxConcurrentRuns": 1}  # reset to defaults
    assert got["CreatedOn"] == created["CreatedOn"] and got["LastModifiedOn"] >= created["LastModifiedOn"]


def test_update_missing_job_is_entity_not_found(glue: Any) -> None:
    with pytest.raises(ClientError) as err:
        glue.update_job(JobName=name("missing"), JobUpdate={"Role": "R", "Command": {"Name": "glueetl"}})
    assert code(err) == "EntityNotFoundException"


def test_delete_then_get_is_entity_not_found_and_delete_is_idempotent(glue: Any) -> None:
    job = name()
    create(glue, job)
    assert glue.delete_job(JobName=job)["JobName"] == job
    with pytest.raises(ClientError) as err:
        glue.get_job(JobName=job)
    assert code(err) == "EntityNotFoundException" and f"Job with name: {job} not found" in str(err.value)
    assert glue.delete_job(JobName=job)["JobName"] == job  # AWS: no error for a job that is not there


def test_get_jobs_and_list_jobs_paginate(glue: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    jobs = sorted(name(f"page-{tag}") for _ in range(5))
    for job in jobs:
        create(glue, job, Tags={"suite": tag})
    listed: list[str] = []
    token: str | None = None
    while True:
        page = glue.list_jobs(MaxResults=2, Tags={"suite": tag}, **({"NextToken": token} if token else {}))
        assert len(page["JobNames"]) <= 2
        listed += page["JobNames"]
        token = page.get("NextToken")
        if not token:
            break
    assert listed == jobs
    every = [j["Name"] for page in glue.get_paginator("get_jobs").paginate(PaginationConfig={"PageSize": 3})
             for j in page["Jobs"]]
    assert set(jobs) <= set(every) and len(every) == len(set(every))
    with pytest.raises(ClientError) as err:
        glue.get_jobs(NextToken="not-a-token")
    assert code(err) == "InvalidInputException"


def test_batch_get_jobs_reports_missing(glue: Any) -> None:
    job = name()
    create(glue, job)
    out = glue.batch_get_jobs(JobNames=[job, "no-such-job-xyz"])
    assert [j["Name"] for j in out["Jobs"]] == [job] and out["JobsNotFound"] == ["no-such-job-xyz"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"WorkerType": "G.1X"}, "Worker Type and Number of Workers"),
        ({"WorkerType": "G.1X", "NumberOfWorkers": 2, "MaxCapacity": 2.0}, "Max Capacity"),
        ({"Command": {"Name": "sparkish", "ScriptLocation": SCRIPT}}, "sparkish"),
        ({"Timeout": 20000}, "10080"),
        ({"GlueVersion": "five"}, "GlueVersion"),
        ({"ExecutionProperty": {"MaxConcurrentRuns": 0}}, "MaxConcurrentRuns"),
    ],
)
def test_invalid_definitions_are_invalid_input(glue: Any, extra: dict[str, Any], needle: str) -> None:
    with pytest.raises(ClientError) as err:
        create(glue, name(), **extra)
    assert code(err) == "InvalidInputException" and needle in err.value.response["Error"]["Message"]


def test_server_validates_what_botocore_would(aws: Any) -> None:
    raw = aws("glue", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as err:
        raw.create_job(Name=name(), Role="", Command={"Name": "glueetl"})
    assert code(err) == "InvalidInputException" and "Role should not be null or empty" in str(err.value)
    with pytest.raises(ClientError) as err:
        raw.create_job(Name=name(), Role="R", Command={"Name": "glueetl"}, Timeout=0)
    assert code(err) == "InvalidInputException" and "Timeout" in str(err.value)
    with pytest.raises(ClientError) as err:
        raw.create_job(Name=name(), Role="R", Command={"Name": "glueetl"}, NumberOfWorkers="two", WorkerType="G.1X")
    assert code(err) == "InvalidInputException" and "NumberOfWorkers" in str(err.value)
    with pytest.raises(ClientError) as err:
        raw.get_job()
    assert code(err) == "InvalidInputException" and "JobName" in str(err.value)


def _raw(cloud: Any, target: str, body: bytes) -> requests.Response:
    headers = {
        "X-Amz-Target": f"AWSGlue.{target}",
        "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/glue/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    }
    return requests.post(cloud.endpoint_url + "/", data=body, headers=headers, timeout=10)


def test_malformed_requests_get_aws_errors(cloud: Any) -> None:
    resp = _raw(cloud, "GetJob", b"{not json")
    assert resp.status_code == 400 and resp.json()["__type"] == "SerializationException"
    resp = _raw(cloud, "CreateJobz", b"{}")
    assert resp.status_code == 400 and resp.json()["__type"] == "UnknownOperationException"
    resp = _raw(cloud, "StartJobRun", json.dumps({"JobName": 7}).encode())
    assert resp.status_code == 400 and resp.json()["__type"] == "InvalidInputException"


def test_start_run_of_missing_job(glue: Any) -> None:
    with pytest.raises(ClientError) as err:
        glue.start_job_run(JobName=name("missing"))
    assert code(err) == "EntityNotFoundException"


def test_get_job_run_errors(glue: Any) -> None:
    job = name()
    create(glue, job)
    with pytest.raises(ClientError) as err:
        glue.get_job_run(JobName=job, RunId="jr_" + "0" * 64)
    assert code(err) == "EntityNotFoundException"
    with pytest.raises(ClientError) as err:
        glue.get_job_runs(JobName=name("missing"))
    assert code(err) == "EntityNotFoundException"
    assert glue.get_job_runs(JobName=job)["JobRuns"] == []


def test_batch_stop_unknown_run_is_an_entry_in_errors(glue: Any) -> None:
    job = name()
    create(glue, job)
    out = glue.batch_stop_job_run(JobName=job, JobRunIds=["jr_nope"])
    assert out["SuccessfulSubmissions"] == []
    assert out["Errors"][0]["JobRunId"] == "jr_nope"
    assert out["Errors"][0]["ErrorDetail"]["ErrorCode"] == "EntityNotFoundException"
