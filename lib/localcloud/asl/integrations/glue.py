"""Glue: ``arn:aws:states:::glue:startJobRun`` (request/response) and ``glue:startJobRun.sync`` (run a job).

As the Step Functions guide says for the optimized Glue integration, the ``JobName`` of the request is inserted
into the response (which otherwise holds only ``JobRunId``). ``.sync`` polls GetJobRun and returns the job run
(plus ``JobName``); a run that ends FAILED, TIMEOUT or ERROR fails the task with ``States.TaskFailed`` and the job
run as JSON cause; a stopped execution stops the run (BatchStopJobRun).
"""

from __future__ import annotations

import logging
from typing import Any

from localcloud.asl.integrations.base import (
    Call,
    ErrorNaming,
    call_api,
    job_failed,
    operation_model,
    poll,
    record_submitted,
    render_java_v1,
    request_response,
)

LOG = logging.getLogger(__name__)

ERRORS = ErrorNaming(prefix="Glue", base="AWSGlueException", sdk_service="AWSGlue")
TERMINAL = {"SUCCEEDED", "STOPPED", "FAILED", "TIMEOUT", "ERROR"}
ABNORMAL = {"FAILED", "TIMEOUT", "ERROR"}


def start_job_run(call: Call) -> Any:
    """``glue:startJobRun`` and ``glue:startJobRun.sync``."""
    client = call.client("glue")
    start = operation_model(client, "StartJobRun")
    get = operation_model(client, "GetJobRun")
    assert start is not None and get is not None
    response = call_api(call, client, start, call.parameters, ERRORS)
    job_name = call.parameters.get("JobName") if isinstance(call.parameters, dict) else None
    response = dict(response)
    response["JobName"] = job_name
    started = request_response(response, start)
    if call.pattern not in ("sync", "sync:2"):
        return started
    run_id = response["JobRunId"]
    record_submitted(call, started)

    def describe() -> dict[str, Any]:
        return call_api(call, client, get, {"JobName": job_name, "RunId": run_id}, ERRORS)["JobRun"]

    def stop() -> None:
        call_api(call, client, operation_model(client, "BatchStopJobRun"),  # type: ignore[arg-type]
                 {"JobName": job_name, "JobRunIds": [run_id]}, ERRORS)

    run = poll(call, describe, lambda r: r.get("JobRunState") in TERMINAL, stop)
    if run is None:
        return None
    run = dict(run)
    run["JobName"] = job_name
    shape = get.output_shape.members["JobRun"] if get.output_shape is not None else None
    rendered = render_java_v1(run, shape)
    if run.get("JobRunState") in ABNORMAL:
        raise job_failed(rendered)
    return rendered
