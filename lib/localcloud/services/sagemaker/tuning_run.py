"""One hyperparameter tuning job at work: it launches training jobs, reads their objective, stops early the ones
that will not do better, and decides when the tuning job has ended.

What AWS documents and this follows:

* every training job is a real one of the backend, named ``<tuning job>-<3 digit index>-<8 hex digits>`` as AWS
  names them (``ChurnPrediction-TuningJob-020-20eee831``, ``sagemaker-soln-dfd-c-220805-0846-014-f4010610`` in
  notebook outputs of github aws/amazon-sagemaker-examples), with the definition's static hyperparameters, the
  chosen values and ``_tuning_objective_metric``, and the tuning job's tags ("Tags that you specify for the tuning
  job are also added to all training jobs that the tuning job launches", CreateHyperParameterTuningJob);
* at most ``MaxParallelTrainingJobs`` run at once — here also at most one per core of this machine, since each
  trial is a process and AWS would give each its own instance; the others wait their turn;
* ``TrainingJobEarlyStoppingType`` ``Auto`` ("How Early Stopping Works", SageMaker developer guide): each time a
  running job's log shows its objective metric (one value per epoch: the built-in XGBoost prints one per round),
  the running average of every finished job up to that epoch is taken, and the job is stopped when its value is
  worse than the median of those averages;
* completion ("Track and set completion criteria"): ``MaxNumberOfTrainingJobs``, ``TargetObjectiveMetricValue``
  (stop once a job reached it), ``MaxNumberOfTrainingJobsNotImproving`` (jobs not improving the best by 1% or
  more), ``MaxRuntimeInSeconds``; a tuning job stopped by a criterion ends ``Completed`` (when a criterion ends it,
  the jobs still running are stopped; whether AWS lets them finish instead could not be confirmed).
  ``CompleteOnConvergence`` is accepted but never fires: AMT's convergence test is not public;
* failure: "No training job succeeded after 5 attempts. Please take a look at the training job failures to get
  more details." (the FailureReason of a failed tuning job, github aws/amazon-sagemaker-examples issues #2436 and
  #2437); with fewer than 5 training jobs in all, the same words with their number.
"""

from __future__ import annotations

import logging
import os
import re
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from localcloud.core.jobs import Workers, utcnow
from localcloud.errors import AWSError
from localcloud.services.sagemaker.models import TrainingJob
from localcloud.services.sagemaker.training import LOG_FILE
from localcloud.services.sagemaker.tuning_check import builtin_metrics
from localcloud.services.sagemaker.tuning_models import (
    OBJECTIVE_HP,
    Definition,
    Trial,
    TuningJob,
    best_of,
    resource_config,
)
from localcloud.services.sagemaker.tuning_search import Observation

LOG = logging.getLogger(__name__)

POLL_SECONDS = 0.05
FAILED_ATTEMPTS = 5
IMPROVEMENT = 0.01  # "fail to improve model performance by 1% or greater" (BestObjectiveNotImproving)
#: the fields of a training job definition a training job takes as they are
PASSED = ("RoleArn", "InputDataConfig", "OutputDataConfig", "VpcConfig", "StoppingCondition",
          "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
          "CheckpointConfig", "RetryStrategy", "Environment")
NO_SUCCESS = ("No training job succeeded after {n} attempts. Please take a look at the training job failures to get "
              "more details.")


class TrainingHost(Protocol):
    """What the tuning runner needs of the SageMaker backend."""

    lock: threading.RLock
    training_jobs: dict[str, TrainingJob]

    def create_training_job(self, params: dict[str, Any], region: str,
                            tuning_job_arn: str | None = None) -> dict[str, Any]: ...

    def stop_training_job(self, params: dict[str, Any]) -> dict[str, Any]: ...


def trial_request(job: TuningJob, definition: Definition, index: int, values: dict[str, str]) -> dict[str, Any]:
    """The CreateTrainingJob request of a tuning job's ``index``-th training job."""
    d = definition.request
    spec = {k: v for k, v in d["AlgorithmSpecification"].items()
            if k in ("TrainingImage", "AlgorithmName", "TrainingInputMode", "MetricDefinitions")}
    params: dict[str, Any] = {
        "TrainingJobName": f"{job.name}-{index:03d}-{uuid.uuid4().hex[:8]}",
        "AlgorithmSpecification": spec,
        "HyperParameters": {**d["StaticHyperParameters"], **values, OBJECTIVE_HP: definition.metric},
        "ResourceConfig": resource_config(d),
        **{k: d[k] for k in PASSED if k in d},
    }
    if job.request.get("Tags"):
        params["Tags"] = job.request["Tags"]
    return params


def metric_pattern(definition: Definition) -> re.Pattern[str] | None:
    """How the objective shows in a training job's log: its MetricDefinitions regex, or the built-in XGBoost's
    (``.*\\[[0-9]+\\].*#011validation-auc:(\\S+)``, ``algorithm_mode/metrics.py`` of the 1.7-1 container)."""
    spec = definition.request["AlgorithmSpecification"]
    for item in spec.get("MetricDefinitions") or []:
        if item.get("Name") == definition.metric:
            try:
                return re.compile(str(item["Regex"]))
            except re.error:
                return None
    if definition.metric in builtin_metrics(spec, definition.request["StaticHyperParameters"]):
        channel, name = definition.metric.split(":", 1)
        return re.compile(rf".*\[[0-9]+\].*#011{re.escape(channel)}-{re.escape(name)}:(\S+)")
    return None


def worse(value: float, than: float, maximize: bool) -> bool:
    return value < than if maximize else value > than


class TuningRunner:
    """Runs tuning jobs, each on a thread of its own; ``host.lock`` guards the jobs it changes."""

    def __init__(self, host: TrainingHost, workdir: Path, cores: int | None = None) -> None:
        self.host = host
        self.lock = host.lock
        self.workdir = workdir
        self.cores = cores or os.cpu_count() or 1
        self.workers = Workers()

    def start(self, job: TuningJob, history: Callable[[Definition], list[Observation]]) -> None:
        self.workers.start(f"tuning-{job.name}", lambda: self._run(job, history))

    def shutdown(self) -> None:
        self.workers.shutdown(timeout=10)

    def slots(self, job: TuningJob) -> int:
        """How many of the job's training jobs run at once: MaxParallelTrainingJobs, at most one per core."""
        return max(1, min(job.parallel, self.cores))

    def _run(self, job: TuningJob, history: Callable[[Definition], list[Observation]]) -> None:
        try:
            self._loop(job, history)
        except _Ended:
            pass
        except Exception as exc:  # never leave a tuning job InProgress
            LOG.exception("tuning job %s failed unexpectedly", job.name)
            self._end(job, "Failed", f"InternalServerError: {type(exc).__name__}: {exc}")

    def _loop(self, job: TuningJob, history: Callable[[Definition], list[Observation]]) -> None:
        exhausted: set[int] = set()
        while not self.workers.stopping.is_set():
            self._settle(job)
            if job.stop_requested:
                return self._end(job, "Stopped")
            if job.config.get("TrainingJobEarlyStoppingType") == "Auto":
                self._early_stop(job)
            verdict = self._verdict(job)
            if verdict is not None:
                return self._end(job, *verdict)
            running = sum(1 for t in job.trials if not t.ended)
            while running < self.slots(job) and self._may_launch(job, exhausted):
                if not self._launch(job, history, exhausted):
                    break
                running += 1
            if running == 0 and not self._may_launch(job, exhausted):
                return self._end(job, *(self._failure(job, final=True) or ("Completed",)))
            time.sleep(POLL_SECONDS)
        self._end(job, "Failed", "InternalServerError: localcloud shut down while the tuning job was running.")

    @staticmethod
    def _may_launch(job: TuningJob, exhausted: set[int]) -> bool:
        """Whether another training job may start: the budget allows, values are left, and either one job
        succeeded or fewer than the attempts after which the tuning job fails were made."""
        return len(job.trials) < job.max_jobs and len(exhausted) < len(job.definitions) and (
            len(job.trials) < FAILED_ATTEMPTS or any(t.job.status == "Completed" for t in job.trials))

    def _launch(self, job: TuningJob, history: Callable[[Definition], list[Observation]],
                exhausted: set[int]) -> bool:
        """Start the next training job (False when no definition has values left to try)."""
        for offset in range(len(job.definitions)):
            position = (len(job.trials) + offset) % len(job.definitions)
            if position in exhausted:
                continue
            definition = job.definitions[position]
            with self.lock:
                observed = history(definition) + [
                    Observation(t.tuned, t.objective, pending=not t.ended) for t in job.trials
                    if t.definition is definition]
            values = definition.search.propose(observed)
            if values is None:
                exhausted.add(position)
                continue
            params = trial_request(job, definition, len(job.trials) + 1, values)
            try:
                self.host.create_training_job(params, job.region, tuning_job_arn=job.arn)
            except AWSError as exc:
                self._end(job, "Failed", f"{exc.code}: {exc.message}")
                raise _Ended from None
            with self.lock:
                trial = Trial(index=len(job.trials) + 1, job=self.host.training_jobs[params["TrainingJobName"]
                                                                                    .lower()],
                              definition=definition, tuned=values, tuning_name=job.name)
                job.trials.append(trial)
                job.last_modified = utcnow()
            LOG.info("tuning job %s: started %s with %s", job.name, trial.name, values)
            return True
        return False

    # ------------------------------------------------------------------------------------------------ results
    def _read_curve(self, trial: Trial) -> list[float]:
        """The objective values the trial's log showed since last read (appended to its curve)."""
        pattern = metric_pattern(trial.definition)
        path = self.workdir / trial.name / LOG_FILE
        if pattern is None or not path.is_file():
            return []
        with path.open("rb") as handle:
            handle.seek(trial.log_offset)
            data = handle.read()
        complete = data[:data.rfind(b"\n") + 1]  # a line still being written waits for its end
        trial.log_offset += len(complete)
        found = []
        for line in complete.decode(errors="replace").splitlines():
            match = pattern.search(line.replace("\t", "#011"))
            if match:
                try:
                    found.append(float(match.group(1) if match.groups() else match.group(0)))
                except (ValueError, IndexError):
                    continue
        trial.curve.extend(found)
        return found

    def _settle(self, job: TuningJob) -> None:
        """Give every training job that ended its objective (in the order they ended)."""
        ended = [t for t in job.trials if t.ended and t.objective_status == "Pending"]
        for trial in sorted(ended, key=lambda t: t.job.training_end or t.job.last_modified):
            self._read_curve(trial)
            value: float | None = None
            if trial.job.status == "Completed":
                value = next((float(m["Value"]) for m in trial.job.metrics
                              if m["MetricName"] == trial.definition.metric), None)
            elif trial.job.status == "Stopped" and trial.curve:
                value = trial.curve[-1]
            with self.lock:
                before = best_of([t for t in job.trials if t.definition.metric == trial.definition.metric])
                trial.objective = value
                trial.objective_status = "Succeeded" if value is not None else "Failed"
                if value is not None:
                    self._count_improvement(job, trial, before)
                job.last_modified = utcnow()

    @staticmethod
    def _count_improvement(job: TuningJob, trial: Trial, before: Trial | None) -> None:
        """TuningJobCompletionDetails.NumberOfTrainingJobsObjectiveNotImproving: jobs in a row that did not improve
        the best objective by 1% or more."""
        assert trial.objective is not None
        if before is None or before.objective is None:
            job.not_improving = 0
            return
        gain = trial.objective - before.objective if trial.definition.maximize else before.objective - trial.objective
        job.not_improving = 0 if gain >= IMPROVEMENT * abs(before.objective) and gain > 0 else job.not_improving + 1

    def _early_stop(self, job: TuningJob) -> None:
        """The median stopping rule of "How Early Stopping Works" on every running training job."""
        finished = [t for t in job.trials if t.ended and t.curve]
        for trial in [t for t in job.trials if t.job.status == "InProgress" and not t.early_stopped]:
            start = len(trial.curve)
            for epoch, value in enumerate(self._read_curve(trial), start):
                averages = [statistics.fmean(t.curve[:epoch + 1]) for t in finished
                            if t.definition is trial.definition and len(t.curve) > epoch]
                if averages and worse(value, statistics.median(averages), trial.definition.maximize):
                    LOG.info("tuning job %s: stopping %s early at epoch %d (%s)", job.name, trial.name, epoch, value)
                    trial.early_stopped = True
                    self._stop_trial(trial)
                    break

    def _stop_trial(self, trial: Trial) -> None:
        try:
            self.host.stop_training_job({"TrainingJobName": trial.name})
        except AWSError:  # it ended meanwhile
            pass

    # ------------------------------------------------------------------------------------------------ the end
    def _failure(self, job: TuningJob, final: bool = False) -> tuple[str, str] | None:
        failed = sum(1 for t in job.trials if t.job.status == "Failed")
        if any(t.job.status == "Completed" for t in job.trials):
            return None
        if failed >= FAILED_ATTEMPTS or (final and failed):
            return "Failed", NO_SUCCESS.format(n=failed)
        return None

    def _verdict(self, job: TuningJob) -> tuple[str, ...] | None:
        """Whether the tuning job ends now (a failure, or a completion criterion met)."""
        failure = self._failure(job)
        if failure:
            return failure
        criteria = job.config.get("TuningJobCompletionCriteria") or {}
        target = criteria.get("TargetObjectiveMetricValue")
        best = best_of(job.trials)
        if target is not None and best is not None and best.objective is not None and \
                not worse(best.objective, float(target), best.definition.maximize):
            return ("Completed",)
        patience = (criteria.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
        if patience and job.not_improving >= patience:
            return ("Completed",)
        limit = (job.config.get("ResourceLimits") or {}).get("MaxRuntimeInSeconds")
        if limit and (utcnow() - job.created).total_seconds() > limit:
            return ("Completed",)
        return None

    def _end(self, job: TuningJob, status: str, reason: str | None = None) -> None:
        """Stop the training jobs still running, wait for them to end, then end the tuning job."""
        for trial in [t for t in job.trials if not t.ended]:
            self._stop_trial(trial)
        while any(not t.ended for t in job.trials) and not self.workers.stopping.wait(POLL_SECONDS):
            pass
        self._settle(job)
        with self.lock:
            if not job.done:
                job.move(status, reason)
        LOG.info("tuning job %s: %s%s", job.name, status, f" ({reason})" if reason else "")


class _Ended(Exception):
    """A tuning job ended while launching (already recorded)."""
