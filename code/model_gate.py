"""AWS Lambda (python3.12, boto3 only): report the final metrics of a SageMaker training job.

Event: ``{"TrainingJobName": "...", "RequiredMetrics": ["validation:error"]}`` (RequiredMetrics optional).
Result::

    {"TrainingJobName": "...", "TrainingJobStatus": "Completed",
     "ModelArtifacts": "s3://.../model.tar.gz" or null,
     "metrics": {"validationError": 0.04, "trainError": 0.03},
     "trainingMetrics": [{"MetricName": "validation:error", "Value": 0.04, "Timestamp": "2026-...+00:00"}, ...]}

``trainingMetrics`` lists the required metrics first, in the order asked for, then the others as SageMaker reports
them, so ``trainingMetrics[0]`` is the first required metric. Errors raise exceptions whose class names Step
Functions sees as ``errorType``: ``TrainingJobNotFound``, ``TrainingJobNotCompleted``, ``MetricNotFound``,
``InvalidEvent``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

DEFAULT_REQUIRED_METRICS = ["validation:error"]


class TrainingStatusError(Exception):
    """Base of the errors this function raises."""


class InvalidEvent(TrainingStatusError):
    """The event lacks ``TrainingJobName`` or has a malformed ``RequiredMetrics``."""


class TrainingJobNotFound(TrainingStatusError):
    """No training job has the name in the event."""


class TrainingJobNotCompleted(TrainingStatusError):
    """The training job exists but its status is not ``Completed``."""


class MetricNotFound(TrainingStatusError):
    """A required metric is not among the job's final metrics."""


def camel_case(metric_name: str) -> str:
    """``validation:error`` -> ``validationError``, ``train:ndcg@5`` -> ``trainNdcg5``."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", metric_name) if w]
    if not words:
        return metric_name
    return words[0][:1].lower() + words[0][1:] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def _required_metrics(event: dict[str, Any]) -> list[str]:
    required = event.get("RequiredMetrics", DEFAULT_REQUIRED_METRICS)
    if required is None:
        return list(DEFAULT_REQUIRED_METRICS)
    if isinstance(required, str):
        return [required]
    if not isinstance(required, list) or not all(isinstance(m, str) for m in required):
        raise InvalidEvent(
            f"RequiredMetrics must be a list of metric names such as ['validation:error'], got {required!r}"
        )
    return list(required)


def _describe(client: Any, name: str) -> dict[str, Any]:
    try:
        return client.describe_training_job(TrainingJobName=name)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        message = str(error.get("Message", ""))
        lowered = message.lower()
        if error.get("Code") in ("ResourceNotFound", "ValidationException") and (
            "not found" in lowered or "could not find" in lowered or "does not exist" in lowered
        ):
            raise TrainingJobNotFound(
                f"training job {name!r} does not exist ({message}); check the TrainingJobName passed to this function"
            ) from None
        raise


def _timestamp(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Describe the training job named in ``event`` and return its status, artifact and final metrics."""
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("TrainingJobName"), str)
        or not event["TrainingJobName"]
    ):
        raise InvalidEvent(f'the event must carry "TrainingJobName" (a non-empty string), got {event!r}')
    name = event["TrainingJobName"]
    required = _required_metrics(event)
    job = _describe(boto3.client("sagemaker"), name)

    status = job.get("TrainingJobStatus")
    if status != "Completed":
        reason = job.get("FailureReason")
        raise TrainingJobNotCompleted(
            f"training job {name!r} is {status}, not Completed"
            + (f": {reason}" if reason else "")
            + "; wait for it to complete (or fix the failure) before reading its metrics"
        )

    reported = job.get("FinalMetricDataList") or []
    by_name = {m["MetricName"]: m for m in reported}
    missing = [m for m in required if m not in by_name]
    if missing:
        available = ", ".join(sorted(by_name)) or "none"
        raise MetricNotFound(
            f"training job {name!r} reported no {', '.join(missing)} metric (available: {available}); "
            "set the objective/eval_metric hyperparameters so it is emitted, or change RequiredMetrics"
        )

    ordered = [by_name[m] for m in dict.fromkeys(required)] + [
        m for m in reported if m["MetricName"] not in required
    ]
    training_metrics = [
        {
            "MetricName": m["MetricName"],
            "Value": float(m["Value"]),
            "Timestamp": _timestamp(m.get("Timestamp")),
        }
        for m in ordered
    ]
    result = {
        "TrainingJobName": name,
        "TrainingJobStatus": status,
        "ModelArtifacts": (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
        "metrics": {camel_case(m["MetricName"]): m["Value"] for m in training_metrics},
        "trainingMetrics": training_metrics,
    }
    LOG.info("training job %s: %s", name, result["metrics"])
    return result
