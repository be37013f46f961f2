"""SageMaker: the optimized integration's actions (``arn:aws:states:::sagemaker:<action>[.sync]``).

The actions AWS offers: createEndpoint, createEndpointConfig, createHyperParameterTuningJob(.sync),
createLabelingJob(.sync), createModel, createProcessingJob(.sync), createTrainingJob(.sync),
createTransformJob(.sync), updateEndpoint. Request/response calls return the API response with the SDK metadata;
``.sync`` polls the Describe call and returns its response (timestamps in epoch millis). A job that ends Failed or
Stopped fails the task with ``States.TaskFailed`` and the description as JSON cause; a stopped execution stops the
job. Service errors are ``SageMaker.<modeled exception>`` (``SageMaker.ResourceNotFoundException``) or
``SageMaker.AmazonSageMakerException`` (validation errors and everything else undeclared).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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

ERRORS = ErrorNaming(prefix="SageMaker", base="AmazonSageMakerException", sdk_service="AmazonSageMaker")


@dataclass(frozen=True)
class JobKind:
    """How to follow one kind of SageMaker job for ``.sync``."""

    name_field: str  # request field naming the job
    describe: str
    status_field: str
    stop: str
    done: frozenset[str] = frozenset({"Completed"})
    failed: frozenset[str] = frozenset({"Failed", "Stopped"})


JOBS: dict[str, JobKind] = {
    "createTrainingJob": JobKind("TrainingJobName", "DescribeTrainingJob", "TrainingJobStatus", "StopTrainingJob"),
    "createTransformJob": JobKind("TransformJobName", "DescribeTransformJob", "TransformJobStatus",
                                  "StopTransformJob"),
    "createProcessingJob": JobKind("ProcessingJobName", "DescribeProcessingJob", "ProcessingJobStatus",
                                   "StopProcessingJob"),
    "createHyperParameterTuningJob": JobKind("HyperParameterTuningJobName", "DescribeHyperParameterTuningJob",
                                             "HyperParameterTuningJobStatus", "StopHyperParameterTuningJob"),
    "createLabelingJob": JobKind("LabelingJobName", "DescribeLabelingJob", "LabelingJobStatus", "StopLabelingJob"),
}
#: actions with only the request/response pattern
SIMPLE = ("createEndpoint", "createEndpointConfig", "createModel", "updateEndpoint")
ACTIONS = (*SIMPLE, *JOBS)


def run(call: Call) -> Any:
    """Any SageMaker optimized action."""
    client = call.client("sagemaker")
    create = operation_model(client, call.action)
    assert create is not None
    response = call_api(call, client, create, call.parameters, ERRORS)
    started = request_response(response, create)
    kind = JOBS.get(call.action)
    if kind is None or call.pattern != "sync":
        return started
    record_submitted(call, started)
    name = call.parameters.get(kind.name_field)
    describe_op = operation_model(client, kind.describe)
    stop_op = operation_model(client, kind.stop)
    assert describe_op is not None and stop_op is not None

    def describe() -> dict[str, Any]:
        return call_api(call, client, describe_op, {kind.name_field: name}, ERRORS)

    def stop() -> None:
        call_api(call, client, stop_op, {kind.name_field: name}, ERRORS)

    final = poll(call, describe, lambda d: d.get(kind.status_field) in kind.done | kind.failed, stop)
    if final is None:
        return None
    rendered = render_java_v1(final, describe_op.output_shape)
    if final.get(kind.status_field) in kind.failed:
        raise job_failed(rendered)
    return rendered
