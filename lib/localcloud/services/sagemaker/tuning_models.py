"""Hyperparameter tuning jobs as the backend keeps them, and their API shapes (botocore model
``sagemaker/2017-07-24``: DescribeHyperParameterTuningJobResponse, HyperParameterTuningJobSummary,
HyperParameterTrainingJobSummary, TrainingJobStatusCounters, ObjectiveStatusCounters).

A trial is a training job of the backend; its status, times and failure are read from that job, so a tuning
job's counters always agree with DescribeTrainingJob. The objective of a trial is settled once its job ended:
the objective metric of ``FinalMetricDataList`` for a completed job, the last value its log showed for a stopped
one (SageMaker reads metrics off the algorithm's output: "Define metrics", SageMaker developer guide).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localcloud.core.jobs import utcnow
from localcloud.services.sagemaker.models import TrainingJob
from localcloud.services.sagemaker.tuning_search import Strategy
from localcloud.services.sagemaker.tuning_space import Space

TERMINAL = ("Completed", "Failed", "Stopped")
#: the hyperparameter SageMaker adds to every training job of a tuning job ("Hyperparameter tuning automatically
#: sends an additional hyperparameter _tuning_objective_metric", "Define metrics and environment variables";
#: the SDK's HyperparameterTuner.attach deletes it from DescribeHyperParameterTuningJob's StaticHyperParameters)
OBJECTIVE_HP = "_tuning_objective_metric"


def resource_config(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The ResourceConfig of a trial; with HyperParameterTuningResourceConfig, its first instance type (the one a
    ``Prioritized`` allocation tries first)."""
    if definition.get("ResourceConfig"):
        return dict(definition["ResourceConfig"])
    flexible = dict(definition.get("HyperParameterTuningResourceConfig") or {})
    first = (flexible.get("InstanceConfigs") or [{}])[0]
    out = {"InstanceType": flexible.get("InstanceType") or first.get("InstanceType", "ml.m5.large"),
           "InstanceCount": flexible.get("InstanceCount") or first.get("InstanceCount", 1),
           "VolumeSizeInGB": flexible.get("VolumeSizeInGB") or first.get("VolumeSizeInGB", 30)}
    if flexible.get("VolumeKmsKeyId"):
        out["VolumeKmsKeyId"] = flexible["VolumeKmsKeyId"]
    return out


@dataclass
class Definition:
    """One training job definition of a tuning job, with its objective, space and search."""

    request: dict[str, Any]
    metric: str
    maximize: bool
    space: Space
    search: Strategy

    @property
    def name(self) -> str | None:
        return self.request.get("DefinitionName")

    def shown(self) -> dict[str, Any]:
        """The definition as DescribeHyperParameterTuningJob returns it."""
        out = copy.deepcopy(self.request)
        out["StaticHyperParameters"] = {**(out.get("StaticHyperParameters") or {}), OBJECTIVE_HP: self.metric}
        flexible = out.get("HyperParameterTuningResourceConfig") or {}
        if "ResourceConfig" not in out and flexible and not flexible.get("InstanceConfigs"):
            # one instance type: also as ResourceConfig, which the SDK's HyperparameterTuner.attach() reads from
            # this response for a tuning job the SDK created with HyperParameterTuningResourceConfig (its
            # integration test test_tuning_lda attaches so on AWS)
            out["ResourceConfig"] = resource_config(out)
        return out


@dataclass
class Trial:
    """One training job a tuning job launched."""

    index: int
    job: TrainingJob
    definition: Definition
    tuned: dict[str, str]
    objective: float | None = None
    objective_status: str = "Pending"
    early_stopped: bool = False
    curve: list[float] = field(default_factory=list)  # the objective each time the log showed it
    log_offset: int = 0
    tuning_name: str = ""

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def ended(self) -> bool:
        return self.job.status in TERMINAL

    def summary(self) -> dict[str, Any]:
        """HyperParameterTrainingJobSummary."""
        job = self.job
        out: dict[str, Any] = {"TrainingJobName": job.name, "TrainingJobArn": job.arn, "TuningJobName":
                               self.tuning_name, "CreationTime": job.created, "TrainingJobStatus": job.status,
                               "TunedHyperParameters": dict(self.tuned), "ObjectiveStatus": self.objective_status}
        if self.definition.name:
            out["TrainingJobDefinitionName"] = self.definition.name
        if job.training_start:
            out["TrainingStartTime"] = job.training_start
        if job.training_end:
            out["TrainingEndTime"] = job.training_end
        if job.failure_reason:
            out["FailureReason"] = job.failure_reason
        if self.objective is not None:
            out["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": "Maximize" if self.definition.maximize else "Minimize",
                "MetricName": self.definition.metric, "Value": self.objective}
        return out


def better(a: Trial, b: Trial | None) -> bool:
    """Whether ``a``'s objective beats ``b``'s (an earlier trial keeps a tie)."""
    if a.objective is None:
        return False
    if b is None or b.objective is None:
        return True
    return a.objective > b.objective if a.definition.maximize else a.objective < b.objective


def best_of(trials: list[Trial]) -> Trial | None:
    best: Trial | None = None
    for trial in trials:
        if trial.objective_status == "Succeeded" and better(trial, best):
            best = trial
    return best


@dataclass
class TuningJob:
    """A hyperparameter tuning job; ``request`` holds the create parameters as the describe call echoes them."""

    name: str
    arn: str
    region: str
    request: dict[str, Any]
    definitions: list[Definition]
    parallel: int
    max_jobs: int
    created: datetime = field(default_factory=utcnow)
    last_modified: datetime = field(default_factory=utcnow)
    status: str = "InProgress"
    ended: datetime | None = None
    failure_reason: str | None = None
    trials: list[Trial] = field(default_factory=list)
    stop_requested: bool = False
    not_improving: int = 0
    parent_best: Trial | None = None  # the best trial of the warm start parents (IdenticalDataAndAlgorithm)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def config(self) -> dict[str, Any]:
        return self.request["HyperParameterTuningJobConfig"]

    def move(self, status: str, reason: str | None = None) -> None:
        now = utcnow()
        self.status, self.last_modified = status, now
        if reason:
            self.failure_reason = reason[:1024]
        if status in TERMINAL:
            self.ended = now

    def counters(self) -> tuple[dict[str, int], dict[str, int]]:
        """TrainingJobStatusCounters and ObjectiveStatusCounters. A failed job is retryable only when it failed
        for an internal error ("A failed training job can be retried only if it failed because an internal
        service error occurred", "View the Status of the Training Jobs", SageMaker developer guide)."""
        jobs = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
        objectives = {"Succeeded": 0, "Pending": 0, "Failed": 0}
        for trial in self.trials:
            status = trial.job.status
            if status == "Failed":
                internal = (trial.job.failure_reason or "").startswith("InternalServerError")
                jobs["RetryableError" if internal else "NonRetryableError"] += 1
            else:
                jobs["InProgress" if status in ("InProgress", "Stopping") else status] += 1
            objectives[trial.objective_status] += 1
        return jobs, objectives

    def describe(self) -> dict[str, Any]:
        jobs, objectives = self.counters()
        out: dict[str, Any] = {
            "HyperParameterTuningJobName": self.name, "HyperParameterTuningJobArn": self.arn,
            "HyperParameterTuningJobConfig": copy.deepcopy(self.config),
            "HyperParameterTuningJobStatus": self.status, "CreationTime": self.created,
            "LastModifiedTime": self.last_modified, "TrainingJobStatusCounters": jobs,
            "ObjectiveStatusCounters": objectives,
            "TuningJobCompletionDetails": {"NumberOfTrainingJobsObjectiveNotImproving": self.not_improving},
            "ConsumedResources": {"RuntimeInSeconds": int(((self.ended or utcnow()) - self.created)
                                                          .total_seconds())},
        }
        if "TrainingJobDefinitions" in self.request:
            out["TrainingJobDefinitions"] = [d.shown() for d in self.definitions]
        else:
            out["TrainingJobDefinition"] = self.definitions[0].shown()
        for key in ("WarmStartConfig", "Autotune"):
            if key in self.request:
                out[key] = copy.deepcopy(self.request[key])
        if self.ended:
            out["HyperParameterTuningEndTime"] = self.ended
        best = best_of(self.trials)
        if best is not None:
            out["BestTrainingJob"] = best.summary()
        if self.request.get("WarmStartConfig", {}).get("WarmStartType") == "IdenticalDataAndAlgorithm":
            overall: Trial | None = None
            for candidate in (best, self.parent_best):
                if candidate is not None and better(candidate, overall):
                    overall = candidate
            if overall is not None:
                out["OverallBestTrainingJob"] = overall.summary()
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        return out

    def summary(self) -> dict[str, Any]:
        jobs, objectives = self.counters()
        out: dict[str, Any] = {
            "HyperParameterTuningJobName": self.name, "HyperParameterTuningJobArn": self.arn,
            "HyperParameterTuningJobStatus": self.status, "Strategy": self.config["Strategy"],
            "CreationTime": self.created, "LastModifiedTime": self.last_modified,
            "TrainingJobStatusCounters": jobs, "ObjectiveStatusCounters": objectives,
            "ResourceLimits": copy.deepcopy(self.config["ResourceLimits"]),
        }
        if self.ended:
            out["HyperParameterTuningEndTime"] = self.ended
        return out
