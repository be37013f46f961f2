"""Processing jobs: CreateProcessingJob, DescribeProcessingJob, StopProcessingJob, ListProcessingJobs (the
request checks; the jobs themselves run in :mod:`.processing_run`).

Shapes and limits are the botocore model's (``sagemaker/2017-07-24``: CreateProcessingJobRequest, ProcessingInput,
ProcessingS3Input, ProcessingOutput, AppSpecification, ProcessingStoppingCondition): at most 10 inputs and 10
outputs, ``LocalPath`` "must begin with ``/opt/ml/processing/``", up to 100 ``Environment`` entries whose names
match ``[a-zA-Z_][a-zA-Z0-9_]*``, ``MaxRuntimeInSeconds`` from 1 to 777600, ``ContainerEntrypoint`` and
``ContainerArguments`` of 1 to 100 strings.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from localcloud.core.arns import arn
from localcloud.errors import AWSError
from localcloud.services.sagemaker.jobmodels import ProcessingJob
from localcloud.services.sagemaker.jobtable import JobTable
from localcloud.services.sagemaker.processing_run import ProcessingRunner
from localcloud.services.sagemaker.tagging import Tags, check
from localcloud.services.sagemaker.validation import check_name, constraint, invalid, need, optional, page

ENV_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
LOCAL_PREFIX = "/opt/ml/processing/"
MAX_RUNTIME = 777600


def _sort_keys() -> dict[str, Callable[[Any], Any]]:
    return {"Name": lambda j: j.name.lower(), "CreationTime": lambda j: j.created, "Status": lambda j: j.status}


def _check_io(params: dict[str, Any]) -> None:
    inputs = optional(params, "ProcessingInputs", list) or []
    outputs = (optional(params, "ProcessingOutputConfig", dict) or {}).get("Outputs") or []
    for member, items, name_key in (("processingInputs", inputs, "InputName"),
                                    ("processingOutputConfig.outputs", outputs, "OutputName")):
        if len(items) > 10:
            raise constraint(items, member, "have length less than or equal to 10")
        names = [str(i.get(name_key, "")) for i in items if isinstance(i, dict)]
        if len(names) != len(items) or not all(names):
            raise invalid(f"Each of {member} needs a {name_key}.")
        if len(set(names)) != len(names):
            raise invalid(f"{name_key} values must be unique; found duplicates in {names}.")
    for item in inputs:
        source = item.get("S3Input")
        if source is not None and not item.get("AppManaged"):
            _local_path(source, f"processing input {item['InputName']}")
            need(source, "S3Uri")
            need(source, "S3DataType")
    for item in outputs:
        target = item.get("S3Output")
        if target is not None and not item.get("AppManaged"):
            _local_path(target, f"processing output {item['OutputName']}")
            need(target, "S3Uri")
            need(target, "S3UploadMode")


def _local_path(source: dict[str, Any], what: str) -> None:
    path = source.get("LocalPath")
    if not isinstance(path, str) or not path.startswith(LOCAL_PREFIX):
        raise invalid(f"LocalPath of {what} must be an absolute path under {LOCAL_PREFIX} (got {path!r}).")


def _check_app(params: dict[str, Any]) -> None:
    app = need(params, "AppSpecification", dict)
    need(app, "ImageUri")
    for key in ("ContainerEntrypoint", "ContainerArguments"):
        value = optional(app, key, list)
        if value is not None and not 1 <= len(value) <= 100:
            raise constraint(value, f"appSpecification.{key[0].lower()}{key[1:]}",
                             "have length less than or equal to 100 and greater than or equal to 1")
    env = optional(params, "Environment", dict) or {}
    if len(env) > 100:
        raise constraint(env, "environment", "have length less than or equal to 100")
    for key in env:
        if not ENV_NAME.fullmatch(str(key)):
            raise constraint(key, "environment", f"satisfy regular expression pattern: {ENV_NAME.pattern}")
    stopping = optional(params, "StoppingCondition", dict)
    if stopping is not None:
        seconds = stopping.get("MaxRuntimeInSeconds")
        if not isinstance(seconds, int) or not 1 <= seconds <= MAX_RUNTIME:
            raise constraint(seconds, "stoppingCondition.maxRuntimeInSeconds",
                             f"have value less than or equal to {MAX_RUNTIME} and greater than or equal to 1")


class ProcessingJobs(JobTable):
    """The processing jobs of one server (the backend's lock guards them)."""

    name_field, kind = "ProcessingJobName", "processing"

    def __init__(self, runner: ProcessingRunner, lock: threading.RLock, tags: Tags,
                 check_role: Callable[[str, str, str, str], None]) -> None:
        self.runner, self.lock, self.tags, self.check_role = runner, lock, tags, check_role
        self.jobs: dict[str, ProcessingJob] = {}

    def create(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        check(params.get("Tags") or [])
        name = check_name(params, "ProcessingJobName")
        role = need(params, "RoleArn")
        cluster = need(need(params, "ProcessingResources", dict), "ClusterConfig", dict)
        for key in ("InstanceCount", "InstanceType", "VolumeSizeInGB"):
            need(cluster, key, (int, str))
        _check_app(params)
        _check_io(params)
        job_arn = arn("sagemaker", region, f"processing-job/{name.lower()}")
        taken = AWSError("ResourceInUse", f"Job name must be unique within an AWS account and region, and a job "
                                          f"with this name already exists ({job_arn})")
        if name.lower() in self.jobs:
            raise taken
        self.check_role(role, "roleArn", region, job_arn)  # a call to IAM: outside the lock
        job = ProcessingJob(name=name, arn=job_arn, region=region,
                            request={k: v for k, v in params.items() if k != "ProcessingJobName"})
        with self.lock:
            if name.lower() in self.jobs:
                raise taken
            self.jobs[name.lower()] = job
            self.tags.created(job_arn, params.get("Tags"))
        self.runner.start(job)
        return {"ProcessingJobArn": job_arn}

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            rows, token = page(self.jobs.values(), params, sort_keys=_sort_keys(), default_order="Ascending",
                               created=lambda j: j.created, modified=lambda j: j.last_modified,
                               name=lambda j: j.name, status=lambda j: j.status)
            out: dict[str, Any] = {"ProcessingJobSummaries": [j.summary() for j in rows]}
        if token:
            out["NextToken"] = token
        return out
