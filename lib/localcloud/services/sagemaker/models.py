"""SageMaker resources as the backend keeps them, and their API shapes (Describe*/List* members)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localcloud.core.jobs import utcnow

#: fields of CreateTrainingJob echoed by DescribeTrainingJob as sent
TRAINING_ECHO = (
    "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig",
    "VpcConfig", "StoppingCondition", "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining", "CheckpointConfig", "DebugHookConfig", "ExperimentConfig",
    "DebugRuleConfigurations", "TensorBoardOutputConfig", "ProfilerConfig", "ProfilerRuleConfigurations",
    "Environment", "RetryStrategy", "RemoteDebugConfig", "InfraCheckConfig",
)  # fmt: skip
MODEL_ECHO = ("PrimaryContainer", "Containers", "InferenceExecutionConfig", "ExecutionRoleArn", "VpcConfig",
              "EnableNetworkIsolation")
CONFIG_ECHO = ("ProductionVariants", "DataCaptureConfig", "KmsKeyId", "AsyncInferenceConfig", "ExplainerConfig",
               "ShadowProductionVariants", "ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation")
DEFAULT_MAX_RUNTIME = 86400


@dataclass
class Transition:
    """One entry of ``SecondaryStatusTransitions``."""

    status: str
    start: datetime
    message: str
    end: datetime | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Status": self.status, "StartTime": self.start, "StatusMessage": self.message}
        if self.end is not None:
            out["EndTime"] = self.end
        return out


@dataclass
class TrainingJob:
    """A training job; ``request`` holds the CreateTrainingJob parameters as sent."""

    name: str
    arn: str
    region: str
    request: dict[str, Any]
    created: datetime = field(default_factory=utcnow)
    status: str = "InProgress"
    secondary: str = "Starting"
    transitions: list[Transition] = field(default_factory=list)
    failure_reason: str | None = None
    training_start: datetime | None = None
    training_end: datetime | None = None
    last_modified: datetime = field(default_factory=utcnow)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    model_artifacts: str | None = None
    stop_requested: bool = False
    tuning_job_arn: str | None = None  # the hyperparameter tuning job that launched it

    def __post_init__(self) -> None:
        self.request.setdefault("StoppingCondition", {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME})
        if not self.transitions:
            self.transitions.append(Transition("Starting", self.created, "Launching requested ML instances"))

    @property
    def done(self) -> bool:
        return self.status in ("Completed", "Failed", "Stopped")

    @property
    def max_runtime(self) -> int:
        return int((self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or DEFAULT_MAX_RUNTIME)

    def move(self, secondary: str, message: str, status: str | None = None) -> None:
        """Enter a secondary status (closing the previous one); a terminal one closes itself too."""
        now = utcnow()
        if self.transitions and self.transitions[-1].end is None:
            self.transitions[-1].end = now
        entry = Transition(secondary, now, message)
        if secondary in ("Completed", "Failed", "Stopped", "MaxRuntimeExceeded"):
            entry.end = now
        self.transitions.append(entry)
        self.secondary = secondary
        if status:
            self.status = status
        self.last_modified = now

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary,
            "CreationTime": self.created,
            "LastModifiedTime": self.last_modified,
            "SecondaryStatusTransitions": [t.to_api() for t in self.transitions],
        }
        if self.model_artifacts:
            out["ModelArtifacts"] = {"S3ModelArtifacts": self.model_artifacts}
        if self.tuning_job_arn:
            out["TuningJobArn"] = self.tuning_job_arn
        for key in TRAINING_ECHO:
            if key in self.request:
                out[key] = self.request[key]
        out.setdefault("HyperParameters", {})
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        if self.training_start:
            out["TrainingStartTime"] = self.training_start
        if self.training_end:
            out["TrainingEndTime"] = self.training_end
            if self.training_start:
                seconds = max(1, round((self.training_end - self.training_start).total_seconds()))
                out["TrainingTimeInSeconds"] = seconds
                out["BillableTimeInSeconds"] = seconds
        if self.metrics:
            out["FinalMetricDataList"] = [dict(m) for m in self.metrics]
        if "DebugHookConfig" in self.request or "DebugRuleConfigurations" in self.request:
            out["DebugRuleEvaluationStatuses"] = []
        if "ProfilerConfig" in self.request:
            out["ProfilingStatus"] = "Disabled" if self.request["ProfilerConfig"].get("DisableProfiler") \
                else "Enabled"
        return out

    def summary(self) -> dict[str, Any]:
        out = {"TrainingJobName": self.name, "TrainingJobArn": self.arn, "CreationTime": self.created,
               "LastModifiedTime": self.last_modified, "TrainingJobStatus": self.status,
               "SecondaryStatus": self.secondary}
        if self.training_end:
            out["TrainingEndTime"] = self.training_end
        return out


@dataclass
class Model:
    """A model; ``resolved`` holds the containers it runs when a container names a model package."""

    name: str
    arn: str
    request: dict[str, Any]
    created: datetime = field(default_factory=utcnow)
    resolved: list[dict[str, Any]] | None = None

    @property
    def containers(self) -> list[dict[str, Any]]:
        if self.resolved is not None:
            return list(self.resolved)
        primary = self.request.get("PrimaryContainer")
        return [primary] if primary else list(self.request.get("Containers") or [])

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ModelName": self.name, "ModelArn": self.arn, "CreationTime": self.created}
        out.update({k: self.request[k] for k in MODEL_ECHO if k in self.request})
        return out

    def summary(self) -> dict[str, Any]:
        return {"ModelName": self.name, "ModelArn": self.arn, "CreationTime": self.created}


@dataclass
class EndpointConfig:
    name: str
    arn: str
    request: dict[str, Any]
    created: datetime = field(default_factory=utcnow)

    @property
    def variants(self) -> list[dict[str, Any]]:
        return list(self.request.get("ProductionVariants") or [])

    @property
    def shadow_variants(self) -> list[dict[str, Any]]:
        return list(self.request.get("ShadowProductionVariants") or [])

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"EndpointConfigName": self.name, "EndpointConfigArn": self.arn,
                               "CreationTime": self.created}
        out.update({k: self.request[k] for k in CONFIG_ECHO if k in self.request})
        return out

    def summary(self) -> dict[str, Any]:
        return {"EndpointConfigName": self.name, "EndpointConfigArn": self.arn, "CreationTime": self.created}


def resolved_image(image: str) -> str:
    """A stable digest-pinned image reference, as SageMaker reports in ``DeployedImages``."""
    repo = image.split("@", 1)[0].rsplit(":", 1)[0] if "/" in image else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def variant_summaries(config: EndpointConfig, images: dict[str, list[str]], when: datetime,
                      pending: bool = False, shadow: bool = False) -> list[dict[str, Any]]:
    """``ProductionVariants`` of DescribeEndpoint (or of ``PendingDeploymentSummary`` when ``pending``); with
    ``shadow``, its ``ShadowProductionVariants``."""
    out = []
    for variant in (config.shadow_variants if shadow else config.variants):
        name = variant["VariantName"]
        weight = float(variant.get("InitialVariantWeight", 1.0))
        count = int(variant.get("InitialInstanceCount", 1))
        item: dict[str, Any] = {
            "VariantName": name,
            "DeployedImages": [{"SpecifiedImage": i, "ResolvedImage": resolved_image(i), "ResolutionTime": when}
                               for i in images.get(name, [])],
            "CurrentWeight": 0.0 if pending else weight,
            "DesiredWeight": weight,
            "CurrentInstanceCount": 0 if pending else count,
            "DesiredInstanceCount": count,
        }
        if pending:
            item["InstanceType"] = variant.get("InstanceType", "ml.m5.large")
            # "Launching X instance(s)." (EventBridge, "Endpoint deployment state change")
            item["VariantStatus"] = [{"Status": "Creating", "StatusMessage": f"Launching {count} instance(s).",
                                      "StartTime": when}]
        out.append(item)
    return out


@dataclass
class Endpoint:
    """An endpoint; ``generation`` changes on every deployment so a stale background load can tell it lost."""

    name: str
    arn: str
    config_name: str
    created: datetime = field(default_factory=utcnow)
    last_modified: datetime = field(default_factory=utcnow)
    status: str = "Creating"
    failure_reason: str | None = None
    variants: list[dict[str, Any]] = field(default_factory=list)
    shadow_variants: list[dict[str, Any]] = field(default_factory=list)
    pending: dict[str, Any] | None = None
    deployment_config: dict[str, Any] | None = None
    #: DescribeEndpoint's DataCaptureConfig: the summary of the capture of the config in service
    data_capture: dict[str, Any] | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    generation: int = 0

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "EndpointConfigName": self.config_name,
            "EndpointStatus": self.status,
            "CreationTime": self.created,
            "LastModifiedTime": self.last_modified,
        }
        if self.variants:
            out["ProductionVariants"] = self.variants
        if self.shadow_variants:
            out["ShadowProductionVariants"] = self.shadow_variants
        if self.data_capture:
            out["DataCaptureConfig"] = self.data_capture
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        if self.pending:
            out["PendingDeploymentSummary"] = self.pending
        if self.deployment_config:
            out["LastDeploymentConfig"] = self.deployment_config
        return out

    def summary(self) -> dict[str, Any]:
        return {"EndpointName": self.name, "EndpointArn": self.arn, "CreationTime": self.created,
                "LastModifiedTime": self.last_modified, "EndpointStatus": self.status}
