"""Faults inside the workflow, run through the project's own states (built offline by ``retrain.workflow`` with the
same Parameters, Retry and Choices the pipeline deploys) on the session's local cloud:

- code: a Glue script that raises, the model gate Lambda raising in Judge Model, a Lambda timing out -> the
  execution fails with the AWS error name and a cause naming the problem;
- faults: a Glue timeout, two executions at once on a job that allows one run, a killed training process;
- workflow: an invalid definition, a missing IAM role.

A Glue ``pythonshell`` job stands in for the Spark job where the script's content does not matter: the ETL state
only names the job and passes its arguments. A fragment that starts after Find Champion gets the champion that
state leaves on a first run (``rel_helpers.NO_CHAMPION``): the ETL state reads its ``Baseline``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from rel_helpers import (
    ROOT,
    execution_failure,
    failed_tasks,
    finish,
    fragment,
    offline_project,
    run_input,
    run_machine,
    unique,
    wait_for,
)

from retrain.errors import WorkflowError
from retrain.resources import lambda_zip
from retrain.workflow import check_definition

ETL = "Extract, Transform, Load"
TRAIN = "Train Model"
JUDGE = "Judge Model"


@pytest.fixture(scope="module")
def project(rel: dict[str, Any]) -> dict[str, Any]:
    params, layout, definition = offline_project(rel["s3"], {"project_name": unique("relwf")},
                                                 sagemaker_role=rel["roles"]["sagemaker"])
    # the ETL state's arguments point at the project's data: it must exist for the run to stage it
    rel["s3"].put_object(Bucket=layout.bucket, Key=layout.data_key, Body=b"State,Churn?\nKS,False.\n")
    return {"params": params, "layout": layout, "definition": definition}


def _names(project: dict[str, Any], **changes: str) -> dict[str, Any]:
    return run_input(project["params"], project["layout"], **changes)


def _script_job(rel: dict[str, Any], source: str, *, concurrent: int = 1, timeout: int = 5) -> str:
    name = unique("reljob")
    key = f"scripts/{name}.py"
    rel["s3"].put_object(Bucket=rel["bucket"], Key=key, Body=source.encode())
    rel["glue"].create_job(Name=name, Role=rel["roles"]["glue"], Timeout=timeout, GlueVersion="5.0",
                           ExecutionProperty={"MaxConcurrentRuns": concurrent},
                           Command={"Name": "pythonshell", "ScriptLocation": f"s3://{rel['bucket']}/{key}",
                                    "PythonVersion": "3.9"})
    return name


def _etl(project: dict[str, Any], *, retry: bool = True) -> dict[str, Any]:
    definition = fragment(project["definition"], ETL, [ETL])
    if not retry:
        definition["States"][ETL].pop("Retry")
    return definition


# ------------------------------------------------------------------------------------------------- code


def test_glue_script_exception_fails_the_workflow_with_the_scripts_error(rel: dict[str, Any],
                                                                          project: dict[str, Any]) -> None:
    job = _script_job(rel, "def split(rows):\n    raise KeyError(\"column 'Churn?' is missing\")\n\nsplit([])\n")
    out = run_machine(rel["stepfunctions"], rel["roles"]["states"], _etl(project), _names(project, GlueJobName=job))
    assert out["status"] == "FAILED"
    error, cause = execution_failure(out)
    assert error == "States.TaskFailed"
    run = json.loads(cause)
    assert run["JobRunState"] == "FAILED" and run["JobName"] == job
    assert "KeyError" in run["ErrorMessage"] and "column 'Churn?' is missing" in run["ErrorMessage"]
    assert len(failed_tasks(out["events"])) == 1, "a script that failed must not be retried"


@pytest.fixture(scope="module")
def gate_function(rel: dict[str, Any]) -> str:
    """The project's own model gate Lambda (code/model_gate.py)."""
    name = unique("rel-gate")
    rel["lambda"].create_function(FunctionName=name, Runtime="python3.12", Role=rel["roles"]["lambda"],
                                  Handler="model_gate.lambda_handler", Timeout=30,
                                  Code={"ZipFile": lambda_zip(ROOT / "code" / "model_gate.py")})
    return name


def test_lambda_exception_fails_the_workflow_with_its_error_type(rel: dict[str, Any], project: dict[str, Any],
                                                                 gate_function: str) -> None:
    """Judge Model asks the gate about a training job that does not exist: the function raises, and its exception
    class is the run's error, its message in the cause (recorded on AWS: localstack snapshot
    tests/aws/services/stepfunctions/v2/error_handling/test_task_service_lambda.snapshot.json
    test_raise_custom_exception, error "CustomException")."""
    definition = fragment(project["definition"], JUDGE, [JUDGE])
    names = _names(project, LambdaFunctionName=gate_function, TrainingJobName="relwf-no-such-job")
    out = run_machine(rel["stepfunctions"], rel["roles"]["states"], definition, names)
    error, cause = execution_failure(out)
    assert out["status"] == "FAILED" and error == "TrainingJobNotFound"
    assert "relwf-no-such-job" in json.loads(cause)["errorMessage"]
    assert len(failed_tasks(out["events"])) == 1, "a function error is not transient: no retry"


def test_lambda_timeout_fails_the_workflow_with_sandbox_timedout(rel: dict[str, Any],
                                                                project: dict[str, Any]) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("slow.py", "import time\n\ndef handler(event, context):\n    time.sleep(30)\n")
    name = unique("rel-slow")
    rel["lambda"].create_function(FunctionName=name, Runtime="python3.12", Role=rel["roles"]["lambda"],
                                  Handler="slow.handler", Timeout=1, Code={"ZipFile": buffer.getvalue()})
    definition = fragment(project["definition"], JUDGE, [JUDGE])
    out = run_machine(rel["stepfunctions"], rel["roles"]["states"], definition,
                      _names(project, LambdaFunctionName=name))
    error, cause = execution_failure(out)
    assert out["status"] == "FAILED" and error == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in json.loads(cause)["errorMessage"]


# ------------------------------------------------------------------------------------------------- faults


def test_glue_timeout_fails_the_workflow(rel: dict[str, Any], project: dict[str, Any],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCLOUD_GLUE_TIMEOUT_SCALE", "2")  # a job Timeout minute lasts 2 s here
    job = _script_job(rel, "import time\nprint('working', flush=True)\ntime.sleep(120)\n", timeout=1)
    began = time.monotonic()
    out = run_machine(rel["stepfunctions"], rel["roles"]["states"], _etl(project), _names(project, GlueJobName=job))
    assert time.monotonic() - began < 60
    error, cause = execution_failure(out)
    run = json.loads(cause)
    assert error == "States.TaskFailed" and run["JobRunState"] == "TIMEOUT"
    assert "timed out after 1 minutes" in run["ErrorMessage"]


def test_two_executions_at_once_wait_for_the_glue_job_per_the_retry(rel: dict[str, Any],
                                                                     project: dict[str, Any]) -> None:
    """A job that allows one run at a time: the second execution's ETL gets ConcurrentRunsExceeded, which the
    project's Retry treats as transient, so it waits and runs after the first -- both executions succeed."""
    sfn = rel["stepfunctions"]
    job = _script_job(rel, "import time\ntime.sleep(4)\nprint('done')\n", concurrent=1)
    machine = sfn.create_state_machine(name=unique("rel-twice"), definition=json.dumps(_etl(project)),
                                       roleArn=rel["roles"]["states"])["stateMachineArn"]
    arns = [sfn.start_execution(stateMachineArn=machine, input=json.dumps(_names(project, GlueJobName=job)))
            ["executionArn"] for _ in range(2)]
    outs = [finish(sfn, arn, limit=120) for arn in arns]
    assert [o["status"] for o in outs] == ["SUCCEEDED", "SUCCEEDED"]
    refused = [d for o in outs for d in failed_tasks(o["events"])]
    assert [d["error"] for d in refused] and {d["error"] for d in refused} == {"Glue.ConcurrentRunsExceededException"}
    runs = sorted(rel["glue"].get_job_runs(JobName=job)["JobRuns"], key=lambda r: r["StartedOn"])
    assert [r["JobRunState"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert runs[0]["CompletedOn"] <= runs[1]["StartedOn"], "the job ran twice at once"


def test_without_the_retry_the_second_execution_fails_with_the_glue_error(rel: dict[str, Any],
                                                                           project: dict[str, Any]) -> None:
    sfn = rel["stepfunctions"]
    job = _script_job(rel, "import time\ntime.sleep(4)\n", concurrent=1)
    machine = sfn.create_state_machine(name=unique("rel-once"), definition=json.dumps(_etl(project, retry=False)),
                                       roleArn=rel["roles"]["states"])["stateMachineArn"]
    first = sfn.start_execution(stateMachineArn=machine, input=json.dumps(_names(project, GlueJobName=job)))
    wait_for(lambda: rel["glue"].get_job_runs(JobName=job)["JobRuns"], limit=60, what="the first run")
    second = sfn.start_execution(stateMachineArn=machine, input=json.dumps(_names(project, GlueJobName=job)))
    out = finish(sfn, second["executionArn"])
    error, cause = execution_failure(out)
    assert error == "Glue.ConcurrentRunsExceededException" and job in cause
    assert finish(sfn, first["executionArn"])["status"] == "SUCCEEDED"


def _training_data(rel: dict[str, Any], layout: Any, names: dict[str, Any]) -> None:
    """Prepared splits where the run's training job reads them (its own ``TrainUri``/``ValidationUri``)."""
    import numpy as np

    rng = np.random.default_rng(3)
    for uri, rows in ((names["TrainUri"], 3000), (names["ValidationUri"], 300)):
        x = rng.normal(size=(rows, 12))
        y = (x[:, 0] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
        text = "\n".join(",".join([str(label), *(f"{v:.4f}" for v in row)]) for label, row in zip(y, x, strict=True))
        key = uri.split("/", 3)[3] + "part-0.csv"
        rel["s3"].put_object(Bucket=layout.bucket, Key=key, Body=(text + "\n").encode())


def _sagemaker_backend(cloud: Any) -> Any:
    return cloud.app.backends["sagemaker"]


@pytest.mark.slow  # trains
def test_a_killed_training_process_fails_the_job_and_the_workflow(cloud: Any, rel: dict[str, Any]) -> None:
    params, layout, definition = offline_project(
        rel["s3"], {"project_name": unique("relkill"), "hyperparameters.num_round": 1000000},
        sagemaker_role=rel["roles"]["sagemaker"])
    names = run_input(params, layout)
    _training_data(rel, layout, names)
    sfn = rel["stepfunctions"]
    machine = sfn.create_state_machine(name=unique("rel-train"), definition=json.dumps(fragment(definition, TRAIN,
                                                                                               [TRAIN])),
                                       roleArn=rel["roles"]["states"])["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=machine, input=json.dumps(names))
    running = _sagemaker_backend(cloud).runner.running
    job = names["TrainingJobName"]
    process = wait_for(lambda: running.get(job), limit=120, every=0.05, what="the training process")
    wait_for(lambda: rel["sagemaker"].describe_training_job(TrainingJobName=job)["SecondaryStatus"] == "Training",
             limit=120, what="training to begin")
    os.kill(process.pid, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    out = finish(sfn, started["executionArn"], limit=60)
    error, cause = execution_failure(out)
    assert error == "States.TaskFailed"
    described = json.loads(cause)
    assert described["TrainingJobStatus"] == "Failed"
    assert "the training process was killed by SIGKILL" in described["FailureReason"]
    job_now = rel["sagemaker"].describe_training_job(TrainingJobName=job)
    assert job_now["TrainingJobStatus"] == "Failed" and "SIGKILL" in job_now["FailureReason"]


# ------------------------------------------------------------------------------------------------- workflow


def test_invalid_definition_is_refused_listing_every_problem(rel: dict[str, Any], project: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(project["definition"]))
    broken["States"][TRAIN]["Next"] = "Nowhere"
    broken["States"][JUDGE].pop("Resource")
    with pytest.raises(WorkflowError) as linted:  # the project lints before it sends (notebook 03)
        check_definition(broken)
    assert "Nowhere" in str(linted.value) and "problems" in str(linted.value)
    with pytest.raises(ClientError) as caught:  # and the service refuses it on its own
        rel["stepfunctions"].create_state_machine(name=unique("rel-broken"), definition=json.dumps(broken),
                                                  roleArn=rel["roles"]["states"])
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidDefinition"
    assert "Nowhere" in error["Message"] and "Resource" in error["Message"]


def test_missing_state_machine_role_is_a_clear_error(rel: dict[str, Any], project: dict[str, Any]) -> None:
    role = "arn:aws:iam::123456789012:role/relwf-no-such-role"
    with pytest.raises(ClientError) as caught:
        rel["stepfunctions"].create_state_machine(name=unique("rel-norole"),
                                                  definition=json.dumps(project["definition"]), roleArn=role)
    error = caught.value.response["Error"]
    assert error["Code"] == "AccessDeniedException" and role in error["Message"]


def test_missing_glue_role_fails_the_etl_with_the_role_named(rel: dict[str, Any], project: dict[str, Any]) -> None:
    job = unique("rel-norole")
    role = "arn:aws:iam::123456789012:role/relwf-no-glue-role"
    rel["glue"].create_job(Name=job, Role=role, GlueVersion="5.0",
                           Command={"Name": "pythonshell", "ScriptLocation": f"s3://{rel['bucket']}/none.py"})
    out = run_machine(rel["stepfunctions"], rel["roles"]["states"], _etl(project), _names(project, GlueJobName=job))
    error, cause = execution_failure(out)
    assert error == "States.TaskFailed"
    assert role in json.loads(cause)["ErrorMessage"]


def test_the_server_answers_while_executions_fail(cloud: Any, rel: dict[str, Any]) -> None:
    """After every fault above the server is still healthy and serving."""
    import requests

    health = requests.get(cloud.endpoint_url + "/_localcloud/health", timeout=30).json()
    assert health["status"] == "running"
    assert rel["stepfunctions"].list_state_machines()["stateMachines"]


def test_fragment_keeps_the_projects_retry(project: dict[str, Any]) -> None:
    """The fragments these tests run are the project's states, Retry included."""
    etl = _etl(project)["States"][ETL]
    assert etl["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    assert "Glue.ConcurrentRunsExceededException" in etl["Retry"][0]["ErrorEquals"]
