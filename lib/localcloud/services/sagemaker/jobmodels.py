"""Processing and transform jobs as the backend keeps them, and their API shapes (Describe*/List* members of the
botocore model ``sagemaker/2017-07-24``: DescribeProcessingJobResponse, ProcessingJobSummary,
DescribeTransformJobResponse, TransformJobSummary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localcloud.core.jobs import utcnow

#: fields of CreateProcessingJob echoed by DescribeProcessingJob as sent
PROCESSING_ECHO = ("ProcessingInputs", "ProcessingOutputConfig", "ProcessingResources", "StoppingCondition",
                   "AppSpecification", "Environment", "NetworkConfig", "RoleArn", "ExperimentConfig")
#: fields of CreateTransformJob echoed by DescribeTransformJob as sent
TRANSFORM_ECHO = ("ModelName", "MaxConcurrentTransforms", "ModelClientConfig", "MaxPayloadInMB", "BatchStrategy",
                  "Environment", "TransformInput", "TransformOutput", "DataCaptureConfig", "TransformResources",
                  "DataProcessing", "ExperimentConfig")
TERMINAL = ("Completed", "Failed", "Stopped")
#: DescribeProcessingJob's ExitMessage and FailureReason hold at most 1 KB
MESSAGE_LIMIT = 1024


@dataclass
class Job:
    """What processing and transform jobs share: a status without secondary statuses, start and end times."""

    name: str
    arn: str
    region: str
    request: dict[str, Any]
    created: datetime = field(default_factory=utcnow)
    last_modified: datetime = field(default_factory=utcnow)
    status: str = "InProgress"
    failure_reason: str | None = None
    started: datetime | None = None
    ended: datetime | None = None
    stop_requested: bool = False

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def move(self, status: str, reason: str | None = None) -> None:
        now = utcnow()
        self.status = status
        if reason is not None:
            self.failure_reason = reason[:MESSAGE_LIMIT]
        if status in TERMINAL:
            self.ended = now
        self.last_modified = now


@dataclass
class ProcessingJob(Job):
    exit_message: str | None = None

    @property
    def max_runtime(self) -> int:
        return int((self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ProcessingJobName": self.name, "ProcessingJobArn": self.arn,
                               "ProcessingJobStatus": self.status, "CreationTime": self.created,
                               "LastModifiedTime": self.last_modified}
        out.update({k: self.request[k] for k in PROCESSING_ECHO if k in self.request})
        if self.exit_message is not None:
            out["ExitMessage"] = self.exit_message
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        if self.started:
            out["ProcessingStartTime"] = self.started
        if self.ended:
            out["ProcessingEndTime"] = self.ended
        return out

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ProcessingJobName": self.name, "ProcessingJobArn": self.arn,
                               "CreationTime": self.created, "LastModifiedTime": self.last_modified,
                               "ProcessingJobStatus": self.status}
        if self.ended:
            out["ProcessingEndTime"] = self.ended
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        if self.exit_message is not None:
            out["ExitMessage"] = self.exit_message
        return out


@dataclass
class TransformJob(Job):
    #: the model as it was when the job was created (a model deleted meanwhile still serves the job)
    model: Any = field(default=None, repr=False, compare=False)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"TransformJobName": self.name, "TransformJobArn": self.arn,
                               "TransformJobStatus": self.status, "CreationTime": self.created}
        out.update({k: self.request[k] for k in TRANSFORM_ECHO if k in self.request})
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        if self.started:
            out["TransformStartTime"] = self.started
        if self.ended:
            out["TransformEndTime"] = self.ended
        return out

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"TransformJobName": self.name, "TransformJobArn": self.arn,
                               "CreationTime": self.created, "LastModifiedTime": self.last_modified,
                               "TransformJobStatus": self.status}
        if self.ended:
            out["TransformEndTime"] = self.ended
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        return out
