"""Batch transform jobs: CreateTransformJob, DescribeTransformJob, StopTransformJob, ListTransformJobs (the request
checks; the jobs run in :mod:`.transform_run`).

Limits are the botocore model's (``sagemaker/2017-07-24``): ``BatchStrategy`` ``MultiRecord``/``SingleRecord``,
``SplitType`` ``None``/``Line``/``RecordIO``/``TFRecord``, ``AssembleWith`` ``None``/``Line``, ``JoinSource``
``Input``/``None``, JSONPath filters of at most 63 characters, up to 16 ``Environment`` entries; "The value of
MaxPayloadInMB cannot be greater than 100 MB. If you specify the MaxConcurrentTransforms parameter, the value of
(MaxConcurrentTransforms * MaxPayloadInMB) also cannot exceed 100 MB". The model must exist when the job is
created (``Could not find model "<arn>".``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from localcloud.core.arns import arn
from localcloud.errors import AWSError
from localcloud.services.sagemaker.jobmodels import TransformJob
from localcloud.services.sagemaker.jobtable import JobTable
from localcloud.services.sagemaker.models import Model
from localcloud.services.sagemaker.tagging import Tags, check
from localcloud.services.sagemaker.transform_run import TransformRunner
from localcloud.services.sagemaker.validation import check_name, constraint, invalid, need, optional, page

ENUMS = {
    ("BatchStrategy", "batchStrategy"): ("MultiRecord", "SingleRecord"),
    ("SplitType", "transformInput.splitType"): ("None", "Line", "RecordIO", "TFRecord"),
    ("AssembleWith", "transformOutput.assembleWith"): ("None", "Line"),
    ("JoinSource", "dataProcessing.joinSource"): ("Input", "None"),
    ("CompressionType", "transformInput.compressionType"): ("None", "Gzip"),
}
MAX_PAYLOAD_MB = 100


def _enum(params: dict[str, Any], key: str, member: str) -> None:
    value = params.get(key)
    allowed = ENUMS[(key, member)]
    if value is not None and value not in allowed:
        raise constraint(value, member, f"satisfy enum value set: [{', '.join(allowed)}]")


def _check(params: dict[str, Any]) -> None:
    source = need(params, "TransformInput", dict)
    s3 = need(need(source, "DataSource", dict), "S3DataSource", dict)
    need(s3, "S3Uri")
    need(s3, "S3DataType")
    output = need(params, "TransformOutput", dict)
    need(output, "S3OutputPath")
    resources = need(params, "TransformResources", dict)
    need(resources, "InstanceType")
    need(resources, "InstanceCount", int)
    processing = optional(params, "DataProcessing", dict) or {}
    _enum(params, "BatchStrategy", "batchStrategy")
    _enum(source, "SplitType", "transformInput.splitType")
    _enum(source, "CompressionType", "transformInput.compressionType")
    _enum(output, "AssembleWith", "transformOutput.assembleWith")
    _enum(processing, "JoinSource", "dataProcessing.joinSource")
    for key in ("InputFilter", "OutputFilter"):
        value = processing.get(key)
        if value is not None and len(str(value)) > 63:
            raise constraint(value, f"dataProcessing.{key[0].lower()}{key[1:]}",
                             "have length less than or equal to 63")
    payload, concurrent = params.get("MaxPayloadInMB"), params.get("MaxConcurrentTransforms")
    if payload is not None and not 0 <= int(payload) <= MAX_PAYLOAD_MB:
        raise constraint(payload, "maxPayloadInMB", f"have value less than or equal to {MAX_PAYLOAD_MB}")
    if payload and concurrent and int(payload) * int(concurrent) > MAX_PAYLOAD_MB:
        raise invalid(f"MaxConcurrentTransforms * MaxPayloadInMB ({concurrent} * {payload}) must not exceed "
                      f"{MAX_PAYLOAD_MB} MB.")
    env = optional(params, "Environment", dict) or {}
    if len(env) > 16:
        raise constraint(env, "environment", "have length less than or equal to 16")


class TransformJobs(JobTable):
    """The transform jobs of one server (the backend's lock guards them)."""

    name_field, kind = "TransformJobName", "transform"

    def __init__(self, runner: TransformRunner, lock: threading.RLock, tags: Tags,
                 model: Callable[[str, str], Model]) -> None:
        self.runner, self.lock, self.tags, self.model = runner, lock, tags, model
        self.jobs: dict[str, TransformJob] = {}

    def create(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        check(params.get("Tags") or [])
        name = check_name(params, "TransformJobName")
        model_name = check_name(params, "ModelName", r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?")
        _check(params)
        job_arn = arn("sagemaker", region, f"transform-job/{name.lower()}")
        with self.lock:
            if name.lower() in self.jobs:
                raise AWSError("ResourceInUse", f"Job name must be unique within an AWS account and region, and a "
                                                f"job with this name already exists ({job_arn})")
            model = self.model(model_name, region)
            job = TransformJob(name=name, arn=job_arn, region=region, model=model,
                               request={k: v for k, v in params.items() if k != "TransformJobName"})
            self.jobs[name.lower()] = job
            self.tags.created(job_arn, params.get("Tags"))
        self.runner.start(job)
        return {"TransformJobArn": job_arn}

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            keys = {"Name": lambda j: j.name.lower(), "CreationTime": lambda j: j.created,
                    "Status": lambda j: j.status}
            rows, token = page(self.jobs.values(), params, sort_keys=keys, default_order="Descending",
                               created=lambda j: j.created, modified=lambda j: j.last_modified,
                               name=lambda j: j.name, status=lambda j: j.status)
            out: dict[str, Any] = {"TransformJobSummaries": [j.summary() for j in rows]}
        if token:
            out["NextToken"] = token
        return out
