"""AWS Lambda (python3.12, boto3 only): the model gate of the retraining workflow.

The actions, chosen by the event's ``Action``:

- ``FindChampion`` (``{"EndpointName": ..., "ModelPackageGroupName": ...}``): the model the endpoint serves now and
  the registry's model package it was made from (its artifact and the data prefix of the run that trained it), or
  ``{"exists": false}`` when nothing of this project serves yet. See :func:`find_champion`.
- ``JudgeModel``: the training job's metrics against the floor, then the evaluation job's comparison of the
  candidate with the champion on the same held-back rows; the decision, its reason and the registry approval status
  to record. See :func:`judge_model`.
- ``LookUpCache`` / ``StoreInCache``: the workflow's step cache (``step_cache.py``, in the same zip).
- ``RecordRun``: how the run ended (deployed, rejected, failed), written as the run's ``record.json`` next to its
  data, so that a run a schedule or new data started, with no notebook 04, is in ``retrain history``. See
  :func:`record_run`.
- no ``Action`` (the first version's event): the training job's final metrics, below.

Event: ``{"TrainingJobName": "...", "RequiredMetrics": ["validation:error"]}`` (RequiredMetrics optional).
Result::

    {"TrainingJobName": "...", "TrainingJobStatus": "Completed",
     "ModelArtifacts": "s3://.../model.tar.gz" or null,
     "metrics": {"validationError": 0.04, "trainError": 0.03},
     "trainingMetrics": [{"MetricName": "validation:error", "Value": 0.04, "Timestamp": "2026-...+00:00"}, ...]}

``trainingMetrics`` lists the required metrics first, in the order asked for, then the others as SageMaker reports
them, so ``trainingMetrics[0]`` is the first required metric. Errors raise exceptions whose class names Step
Functions sees as ``errorType``: ``TrainingJobNotFound``, ``TrainingJobNotCompleted``, ``MetricNotFound``,
``InvalidEvent``, ``EvaluationNotFound``.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
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


class EvaluationNotFound(TrainingStatusError):
    """The evaluation job's output cannot be read, or lacks the gate's metric."""


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
    """Run the event's ``Action`` (see the module's docstring)."""
    action = event.get("Action") if isinstance(event, dict) else None
    if action == "FindChampion":
        return find_champion(event)
    if action == "JudgeModel":
        return judge_model(event)
    if action in ("LookUpCache", "StoreInCache"):
        import step_cache  # the step cache, shipped in the same zip (imported only when asked for)

        return step_cache.look_up(event) if action == "LookUpCache" else step_cache.store(event)
    if action == "RecordRun":
        return record_run(event)
    if action is not None:
        raise InvalidEvent(f"unknown Action {action!r}: expected FindChampion, JudgeModel, LookUpCache, "
                           "StoreInCache, RecordRun or none")
    return training_status(event)


def training_status(event: dict[str, Any]) -> dict[str, Any]:
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


# -- the champion -------------------------------------------------------------------------------------------

def _missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    text = str(error.get("Message", "")).lower()
    return error.get("Code") in ("ValidationException", "ResourceNotFound") and (
        "could not find" in text or "not found" in text or "does not exist" in text)


def _package_of(model: dict[str, Any]) -> str | None:
    containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
    return next((c.get("ModelPackageName") for c in containers if c.get("ModelPackageName")), None)


def find_champion(event: dict[str, Any]) -> dict[str, Any]:
    """The model the endpoint serves now, when it was made from a package of the project's model group.

    A missing endpoint (a first run) or one serving a model not made from the group's packages has no champion:
    the floor alone then decides.
    """
    endpoint, group = event.get("EndpointName"), event.get("ModelPackageGroupName")
    if not isinstance(endpoint, str) or not isinstance(group, str):
        raise InvalidEvent(f"FindChampion needs EndpointName and ModelPackageGroupName, got {event!r}")
    sm = boto3.client("sagemaker")
    none = {"exists": False, "Baseline": "none", "reason": ""}
    try:
        config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        variant = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
        model = sm.describe_model(ModelName=variant["ModelName"])
    except ClientError as exc:
        if _missing(exc):
            return {**none, "reason": f"no model serves on endpoint {endpoint} yet"}
        raise
    package_arn = _package_of(model)
    if not package_arn or f":model-package/{group.lower()}/" not in package_arn.lower():
        return {**none, "reason": f"the model on endpoint {endpoint} ({variant['ModelName']}) was not made from a "
                                  f"package of {group}"}
    package = sm.describe_model_package(ModelPackageName=package_arn)
    properties = package.get("CustomerMetadataProperties") or {}
    container = package["InferenceSpecification"]["Containers"][0]
    return {"exists": True, "ModelPackageArn": package_arn, "ModelName": variant["ModelName"],
            "ModelDataUrl": container["ModelDataUrl"], "RunId": properties.get("run_id", ""),
            "DataPrefix": properties.get("data_prefix", ""), "Baseline": properties.get("data_prefix") or "none",
            "FeaturesUri": properties.get("data_prefix", "") + "features.json",
            "reason": f"endpoint {endpoint} serves {package_arn}"}


# -- the judgement ------------------------------------------------------------------------------------------

def _read_json(uri: str) -> dict[str, Any]:
    import json

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        raise EvaluationNotFound(f"cannot read the evaluation {uri}: {exc}") from None
    return json.loads(body)


def _floor(metrics: dict[str, float], floor: dict[str, Any]) -> tuple[bool, str]:
    """Whether the training metric clears the absolute floor (``{"metric", "max"}`` or ``{"metric", "min"}``)."""
    name = floor["metric"]
    value = metrics[name]
    if "max" in floor:
        return value <= floor["max"], f"{name} {value:.4g} {'<=' if value <= floor['max'] else '>'} {floor['max']:.4g}"
    return value >= floor["min"], f"{name} {value:.4g} {'>=' if value >= floor['min'] else '<'} {floor['min']:.4g}"


def _beats(gate: dict[str, Any], evaluation: dict[str, Any]) -> tuple[bool, dict[str, Any], str]:
    """Whether the candidate beats the champion on the gate's metric by the required margins."""
    metric = gate["metric"]
    candidate = evaluation["candidate"]["metrics"].get(metric)
    if candidate is None:
        raise EvaluationNotFound(f"the evaluation has no {metric!r} for the candidate (it has "
                                 f"{sorted(evaluation['candidate']['metrics'])}); choose another gate metric")
    found: dict[str, Any] = {"metric": metric, "candidate": candidate, "rows": evaluation.get("rows")}
    if not evaluation.get("champion"):
        return True, found, f"no model in production to beat ({metric} {candidate:.4g})"
    comparison = evaluation["comparison"][metric]
    found.update(champion=evaluation["champion"]["metrics"][metric], absolute=comparison["absolute"],
                 relative=comparison["relative"])
    needs = []
    if comparison["absolute"] < gate.get("min_absolute_improvement", 0.0):
        needs.append(f"an absolute gain of {gate['min_absolute_improvement']:g}")
    relative_needed = gate.get("min_relative_improvement")
    if relative_needed is not None and (comparison["relative"] is None or comparison["relative"] < relative_needed):
        needs.append(f"a relative gain of {relative_needed:g}")
    text = (f"{metric} {candidate:.4g} vs {found['champion']:.4g} for the model in production "
            f"(gain {comparison['absolute']:+.4g} on {found['rows']} held-back rows)")
    if needs:
        return False, found, f"{text}: it needed {' and '.join(needs)}"
    return True, found, text


def judge_model(event: dict[str, Any]) -> dict[str, Any]:
    """Floor first (the training job's validation metric), then the champion/challenger comparison.

    The result carries ``decision`` (``deploy`` or ``reject``), a ``reason`` for people, and the registry's
    ``approval_status`` for this model: Approved (deployed automatically), PendingManualApproval (a person
    decides) or Rejected.
    """
    for key in ("TrainingJobName", "EvaluationUri", "Gate", "Floor"):
        if key not in event:
            raise InvalidEvent(f"JudgeModel needs {key}, got {sorted(event)}")
    status = training_status({"TrainingJobName": event["TrainingJobName"],
                              "RequiredMetrics": [event["Floor"]["metric"]]})
    named = {m["MetricName"]: m["Value"] for m in status["trainingMetrics"]}
    floor_ok, floor_text = _floor(named, event["Floor"])
    uri = event["EvaluationUri"]
    evaluation = _read_json(uri if uri.endswith(".json") else uri.rstrip("/") + "/evaluation.json")
    beats, gate, gate_text = _beats(event["Gate"], evaluation)
    deploy = floor_ok and beats
    if not floor_ok:
        reason = f"the model does not clear the floor: {floor_text}"
    elif not beats:
        reason = f"the model does not beat the model in production: {gate_text}"
    else:
        reason = f"{floor_text}; {gate_text}"
    manual = event.get("Approval") == "manual"
    return {**status, "decision": "deploy" if deploy else "reject", "reason": reason,
            "approval_status": ("PendingManualApproval" if manual else "Approved") if deploy else "Rejected",
            "floor": {**event["Floor"], "value": named[event["Floor"]["metric"]], "passed": floor_ok},
            "gate": {**gate, "passed": beats},
            "evaluation": {"rows": evaluation.get("rows"), "candidate": evaluation["candidate"]["metrics"],
                           "champion": (evaluation.get("champion") or {}).get("metrics")}}


# -- the run's record ---------------------------------------------------------------------------------------

def started_by(trigger: Any) -> str:
    """What started the execution: ``retrain run`` (it passes ``RunId``: no ``Trigger``), new data (an S3
    ``Object Created`` event), or the schedule (EventBridge Scheduler's input ``{}``)."""
    if trigger is None:
        return "retrain run"
    if isinstance(trigger, dict) and trigger.get("source") == "aws.s3":
        return "new data"
    return "schedule"


def _data_object(trigger: Any) -> dict[str, Any] | None:
    detail = trigger.get("detail") if isinstance(trigger, dict) else None
    if not isinstance(detail, dict):
        return None
    obj, bucket = detail.get("object") or {}, detail.get("bucket") or {}
    return {"bucket": bucket.get("name"), "key": obj.get("key"), "etag": obj.get("etag"), "size": obj.get("size")}


def _gate(judged: dict[str, Any], package: str | None) -> dict[str, Any] | None:
    """The judge's result in the shape notebook 04 records (retrain.execute.ExecutionReport.gate)."""
    if not judged:
        return None
    gate = judged.get("gate") or {}
    return {"decision": judged.get("decision"), "reason": judged.get("reason"), "floor": judged.get("floor"),
            "metric": gate.get("metric"), "candidate": gate.get("candidate"), "champion": gate.get("champion"),
            "absolute": gate.get("absolute"), "relative": gate.get("relative"), "rows": gate.get("rows"),
            "passed": judged.get("decision") == "deploy", "approval_status": judged.get("approval_status"),
            "model_package": package}


def record_run(event: dict[str, Any]) -> dict[str, Any]:
    """Write the record of the run whose state data is ``event["State"]`` to ``event["RecordUri"]``.

    Event: ``Status`` (deployed, rejected, failed), ``Execution`` (``$$.Execution.Id``), ``RecordUri``, ``State``
    (the whole state data: ``Run``, ``Trigger`` when a schedule or an S3 event started it, ``Judgement``,
    ``Registered``, ``Failure`` (a caught error), ...) and what the workflow was built with (``Target``,
    ``ParamsDigest``, ``GitCommit``). Parts the run never reached are null. Notebook 04, when it ran the execution,
    overwrites this record afterwards with its richer one.
    """
    import json

    state = event.get("State") or {}
    if not isinstance(state, dict) or not isinstance(event.get("RecordUri"), str):
        raise InvalidEvent("RecordRun needs RecordUri and the state data as State")
    run = state.get("Run") or {}
    judged = ((state.get("Judgement") or {}).get("Payload")) or {}
    package = (state.get("Registered") or {}).get("ModelPackageArn")
    failure = state.get("Failure") or {}
    status = event.get("Status")
    record = {
        "run_id": run.get("RunId"), "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "recorded_by": "workflow", "started_by": started_by(state.get("Trigger")),
        "target": event.get("Target"), "status": status, "execution": event.get("Execution"),
        "data_sha256": None, "data_object": _data_object(state.get("Trigger")),
        "params_digest": event.get("ParamsDigest"), "git_commit": event.get("GitCommit"),
        "gate": _gate(judged, package), "training_metrics": judged.get("metrics"),
        "error": failure.get("Error"), "cause": failure.get("Cause"),
        "data_prefix": run.get("DataPrefix"),
        "endpoint_config": run.get("EndpointConfigName") if status == "deployed" else None,
    }
    bucket, _, key = event["RecordUri"].removeprefix("s3://").partition("/")
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(record, indent=2).encode(),
                                  ContentType="application/json")
    LOG.info("recorded run %s (%s) at %s", record["run_id"], status, event["RecordUri"])
    return {"RecordUri": event["RecordUri"], "status": status, "started_by": record["started_by"]}
