"""The workflow's step cache (part of the model gate's AWS Lambda function, python3.12, boto3 only).

Two actions, reached through ``model_gate.lambda_handler``:

- ``LookUpCache`` (``{"Step": "etl" | "training", "CacheUri": "s3://<bucket>/<project>/cache/", "Run": {...},
  "Inputs": {...}}``): computes the step's key from its inputs and looks for ``<CacheUri><step>/<key>.json``.
  Result: ``{"Hit": bool, "Key": "sha256:...", "ReusedRun": run id or null, "Run": {...}, "Reason": "..."}``;
  on a hit ``Run`` is the given one with the reused run's outputs in place of this run's (its data locations
  for the ETL step, its training job's name for the training step), so every later state reads them as before.
- ``StoreInCache`` (``{"Step", "CacheUri", "Key", "Run", ...}``): after the step SUCCEEDED, remembers which run
  made the outputs of that key. A failed step never reaches this state, so it is never reused.

The keys follow SageMaker Pipelines' step caching ("Caching pipeline steps", SageMaker developer guide: a step is
reused when the attributes that define it are the same as those of an earlier successful run; a training step's
are AlgorithmSpecification, Environment, HyperParameters, InputDataConfig, ...):

- ETL: the SHA-256 of the data object's content (an S3 ETag is the MD5 of the content only for an object made by
  one PutObject, not for multipart uploads: S3 API reference, "Common Response Headers"), of each piece of ETL
  code as uploaded, and the job's
  arguments that say how to split (everything but the run's own output prefix and the drift baseline);
- training: the ETL key (the same key means the same splits: the job is seeded) and the training request's
  defining fields (image, hyperparameters, channels, instances).

An entry is a hit only while what it points at still exists (clean-up with ``keep_data: false`` deletes data): a
dangling entry is a miss, not a failure.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

VERSION = 1
STEPS = ("etl", "training")
#: what a cache hit of each step puts in ``Run`` (the names notebook 03's later states read)
OUTPUTS = {"etl": ("DataPrefix", "FeaturesUri", "TrainUri", "ValidationUri"), "training": ("TrainingJobName",)}
_CHUNK = 1 << 20
#: Whether an object is there is asked by listing with its key as the prefix, never by GetObject/HeadObject: for a
#: missing key those answer 404 only to a caller allowed s3:ListBucket and 403 Access Denied to others (botocore's
#: s3 model, GetObject's documentation), so a listing is the one answer that does not depend on that; the
#: function's role may list only the cache, the runs' data and the model artifacts (retrain.policies.lambda_policy)


class CacheEventError(Exception):
    """The event lacks a field the action needs (Step Functions sees the class name as ``errorType``)."""


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _digest(value: Any) -> str:
    """``sha256:<hex>`` of ``value`` as canonical JSON (sorted keys, no spaces): the same value, the same digest."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def object_sha256(s3: Any, uri: str) -> str:
    """``sha256:<hex>`` of the content of the object at ``uri``, read in chunks."""
    bucket, key = _split(uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    sha = hashlib.sha256()
    for chunk in iter(lambda: body.read(_CHUNK), b""):
        sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def etl_key(s3: Any, inputs: dict[str, Any]) -> str:
    """The ETL step's key: the data's content, the code's content, the arguments that decide the splits."""
    return _digest({"version": VERSION, "step": "etl", "data": object_sha256(s3, inputs["Data"]),
                    "code": {uri: object_sha256(s3, uri) for uri in sorted(inputs["Code"])},
                    "arguments": inputs["Arguments"]})


def training_key(inputs: dict[str, Any]) -> str:
    """The training step's key: the ETL key of its data and the training request's defining fields."""
    return _digest({"version": VERSION, "step": "training", "etl": inputs["Etl"], "request": inputs["Training"]})


def entry_uri(cache_uri: str, step: str, key: str) -> str:
    return f"{cache_uri.rstrip('/')}/{step}/{key.removeprefix('sha256:')}.json"


def _exists(s3: Any, uri: str) -> bool:
    """An object at ``uri``, or at least one object under it when it ends with ``/``. ListObjectsV2 returns a general
    purpose bucket's keys in lexicographical order (botocore's s3 model, ListObjectsV2's documentation), so the key
    itself, when there, comes first."""
    bucket, key = _split(uri)
    found = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    return bool(found) and (key.endswith("/") or found[0]["Key"] == key)


def _read(s3: Any, uri: str) -> dict[str, Any] | None:
    """The JSON document at ``uri``; None when there is none."""
    if not _exists(s3, uri):
        return None
    bucket, key = _split(uri)
    return dict(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def _missing_output(s3: Any, step: str, entry: dict[str, Any]) -> str | None:
    """What of the entry's outputs is gone (None: all there)."""
    outputs = entry.get("Outputs") or {}
    if step == "etl":
        wanted = [outputs["FeaturesUri"], outputs["DataPrefix"] + "profile.json", outputs["TrainUri"],
                  outputs["ValidationUri"]]
        return next((uri for uri in wanted if not _exists(s3, uri)), None)
    name = outputs["TrainingJobName"]
    try:
        job = boto3.client("sagemaker").describe_training_job(TrainingJobName=name)
    except ClientError as exc:
        return f"training job {name} ({exc.response.get('Error', {}).get('Message', exc)})"
    if job.get("TrainingJobStatus") != "Completed":
        return f"training job {name} ({job.get('TrainingJobStatus')})"
    artifact = job.get("ModelArtifacts", {}).get("S3ModelArtifacts") or ""
    return None if artifact and _exists(s3, artifact) else f"model artifact {artifact or 'of ' + name}"


def _need(event: dict[str, Any], *keys: str) -> None:
    missing = [k for k in keys if k not in event]
    if missing or event.get("Step") not in STEPS:
        raise CacheEventError(f"{event.get('Action')} needs Step (one of {STEPS}) and {', '.join(keys)}; "
                              f"got {sorted(event)} with Step {event.get('Step')!r}")


def look_up(event: dict[str, Any]) -> dict[str, Any]:
    """The step's key and, when an earlier run made its outputs and they are all still there, that run."""
    _need(event, "CacheUri", "Run", "Inputs")
    s3, step, run = boto3.client("s3"), event["Step"], dict(event["Run"])
    key = etl_key(s3, event["Inputs"]) if step == "etl" else training_key(event["Inputs"])
    uri = entry_uri(event["CacheUri"], step, key)
    miss = {"Hit": False, "Key": key, "ReusedRun": None, "Run": run, "Entry": uri}
    entry = _read(s3, uri)
    if entry is None:
        return {**miss, "Reason": f"no earlier run with this key ({uri})"}
    gone = _missing_output(s3, step, entry)
    if gone:
        return {**miss, "Reason": f"run {entry.get('RunId')} made these outputs but {gone} no longer exists"}
    return {"Hit": True, "Key": key, "ReusedRun": entry.get("RunId"), "Run": {**run, **entry["Outputs"]},
            "Entry": uri, "StoredAt": entry.get("StoredAt"),
            "Reason": f"reusing the {step} outputs of run {entry.get('RunId')} (same inputs, key {key[7:19]}...)"}


def store(event: dict[str, Any]) -> dict[str, Any]:
    """Remember that this run made the step's outputs for ``Key`` (called after the step succeeded)."""
    _need(event, "CacheUri", "Run", "Key")
    step, run = event["Step"], event["Run"]
    entry = {"Step": step, "Key": event["Key"], "RunId": run.get("RunId"),
             "Outputs": {name: run[name] for name in OUTPUTS[step]},
             "StoredAt": datetime.now(UTC).isoformat(timespec="seconds")}
    uri = entry_uri(event["CacheUri"], step, event["Key"])
    bucket, key = _split(uri)
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(entry, indent=2).encode(),
                                  ContentType="application/json")
    return {"Stored": uri, "Key": event["Key"], "RunId": entry["RunId"]}
