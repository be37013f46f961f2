"""Hyperparameter tuning jobs: CreateHyperParameterTuningJob, DescribeHyperParameterTuningJob,
ListHyperParameterTuningJobs, StopHyperParameterTuningJob and ListTrainingJobsForHyperParameterTuningJob (the
requests; :mod:`.tuning_check` checks them, :mod:`.tuning_run` runs the jobs, :mod:`.tuning_search` chooses
the values).

Errors recorded from AWS: an unknown tuning job is ``ResourceNotFound`` "Amazon SageMaker can't find a tuning job
called <name>. Type another name." (github aws/amazon-sagemaker-examples issue #1540; the SageMaker operator for
Kubernetes matches the prefix for Describe and Stop); a name in use is ``ResourceInUse`` "A hyperparameter tuning
job with the name, <name>, already exists. Choose a different name." (aws/amazon-sagemaker-examples issue #2440);
stopping a tuning job that is not running is a ``ValidationException`` (the SDK's ``Session.stop_tuning_job``
takes that code for "already stopped or not running"). Lists default to ``SortBy`` Name, ``SortOrder``
Ascending and 10 results (ListHyperParameterTuningJobs, ListTrainingJobsForHyperParameterTuningJob).

Warm start ("Run a Warm Start Hyperparameter Tuning Job"): up to 5 parents, each ended, with the same objective
metric and hyperparameter types, one training job definition, Random or Bayesian search; the parents' results
are the Bayesian search's first observations, and ``IdenticalDataAndAlgorithm`` reports
``OverallBestTrainingJob`` over the parents' training jobs too. Not checked: the count of static plus tunable
hyperparameters and the limit of 10 changes between parent and child.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.core.arns import arn
from localcloud.errors import AWSError
from localcloud.services.sagemaker import tuning_check as checks
from localcloud.services.sagemaker.jobtable import JobTable
from localcloud.services.sagemaker.tagging import Tags, check
from localcloud.services.sagemaker.tuning_models import Definition, Trial, TuningJob, best_of
from localcloud.services.sagemaker.tuning_run import TrainingHost, TuningRunner
from localcloud.services.sagemaker.tuning_search import Observation, strategy
from localcloud.services.sagemaker.tuning_space import Space
from localcloud.services.sagemaker.validation import check_name, constraint, invalid, need, optional, page

NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"
TRIAL_SORTS = ("Name", "CreationTime", "Status", "FinalObjectiveMetricValue")


def _not_found(name: str) -> AWSError:
    return AWSError("ResourceNotFound", f"Amazon SageMaker can't find a tuning job called {name}. Type another name.")


class TuningJobs(JobTable):
    """The tuning jobs of one server (the backend's lock guards them)."""

    name_field, kind = "HyperParameterTuningJobName", "tuning"

    def __init__(self, host: TrainingHost, tags: Tags, check_role: Callable[[str, str, str, str], None],
                 workdir: Path, cores: int | None = None) -> None:
        self.host, self.lock, self.tags, self.check_role = host, host.lock, tags, check_role
        self.jobs: dict[str, TuningJob] = {}
        self.runner = TuningRunner(host, workdir, cores)

    def shutdown(self) -> None:
        self.runner.shutdown()

    # ------------------------------------------------------------------------------------------------ create
    def create(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        check(params.get("Tags") or [])
        name = check_name(params, "HyperParameterTuningJobName", NAME_PATTERN, max_len=32)
        config = copy.deepcopy(need(params, "HyperParameterTuningJobConfig", dict))
        search = checks.check_config(config)
        if params.get("Autotune"):
            raise invalid("localcloud does not implement Autotune; give the ranges, limits and strategy yourself.")
        definitions, requests = self._definitions(params, config, search)
        limits = config["ResourceLimits"]
        limits["MaxNumberOfTrainingJobs"] = checks.check_budget(search, [d.space for d in definitions], limits)
        config.setdefault("TrainingJobEarlyStoppingType", "Off")  # the SDK's attach() reads it unconditionally
        if config["TrainingJobEarlyStoppingType"] == "Auto" and len(definitions) > 1:
            raise invalid("Early stopping is available only when tuning a single training job definition.")
        parents = self._parents(params, definitions, search, limits["MaxNumberOfTrainingJobs"])
        job_arn = arn("sagemaker", region, f"hyper-parameter-tuning-job/{name.lower()}")
        taken = AWSError("ResourceInUse", f"A hyperparameter tuning job with the name, {name}, already exists. "
                                          "Choose a different name.")
        if name.lower() in self.jobs:
            raise taken
        for i, request in enumerate(requests):  # calls to IAM: outside the lock
            self.check_role(request["RoleArn"], "trainingJobDefinition.roleArn" if len(requests) == 1 else
                            f"trainingJobDefinitions.{i + 1}.member.roleArn", region, job_arn)
        echo = {k: copy.deepcopy(v) for k, v in params.items() if k != "HyperParameterTuningJobName"}
        echo["HyperParameterTuningJobConfig"] = config
        job = TuningJob(name=name, arn=job_arn, region=region, request=echo, definitions=definitions,
                        parallel=limits["MaxParallelTrainingJobs"], max_jobs=limits["MaxNumberOfTrainingJobs"])
        warm = (params.get("WarmStartConfig") or {}).get("WarmStartType")
        if warm == "IdenticalDataAndAlgorithm":
            job.parent_best = best_of([t for p in parents for t in p.trials])
        with self.lock:
            if name.lower() in self.jobs:
                raise taken
            self.jobs[name.lower()] = job
            self.tags.created(job_arn, params.get("Tags"))
        self.runner.start(job, lambda d: _observations(parents, d))
        return {"HyperParameterTuningJobArn": job_arn}

    def _definitions(self, params: dict[str, Any], config: dict[str, Any],
                     search: str) -> tuple[list[Definition], list[dict[str, Any]]]:
        single, many = params.get("TrainingJobDefinition"), params.get("TrainingJobDefinitions")
        if bool(single) == bool(many):
            raise invalid("Exactly one of TrainingJobDefinition or TrainingJobDefinitions must be specified.")
        if many is not None and (not isinstance(many, list) or not 1 <= len(many) <= 10):
            raise constraint(many, "trainingJobDefinitions", "have length less than or equal to 10 and greater "
                             "than or equal to 1")
        items = [single] if single else list(many or [])
        requests = [checks.check_definition(d, "trainingJobDefinition" if single else
                                            f"trainingJobDefinitions.{i + 1}.member") for i, d in enumerate(items)]
        if many:
            names = [r.get("DefinitionName") for r in requests]
            if not all(names) or len(set(names)) != len(names):
                raise invalid("Each of TrainingJobDefinitions needs a DefinitionName of its own.")
        seed = config.get("RandomSeed")
        definitions = []
        for i, request in enumerate(requests):
            member = "trainingJobDefinition" if single else f"trainingJobDefinitions.{i + 1}.member"
            goal = request.get("TuningObjective") if many and request.get("TuningObjective") else \
                config.get("HyperParameterTuningJobObjective")
            metric, maximize = checks.objective(goal, f"{member}.tuningObjective" if many else
                                                "hyperParameterTuningJobConfig.hyperParameterTuningJobObjective")
            space = checks.ranges_of(config, request, bool(many), member)
            checks.check_space(space, request, metric)
            definitions.append(Definition(request=request, metric=metric, maximize=maximize, space=space,
                                          search=strategy(search, space, maximize,
                                                          None if seed is None else seed + i)))
        return definitions, requests

    def _parents(self, params: dict[str, Any], definitions: list[Definition], search: str,
                 max_jobs: int) -> list[TuningJob]:
        config = optional(params, "WarmStartConfig", dict)
        if not config:
            return []
        checks.enum(config.get("WarmStartType"), "warmStartConfig.warmStartType",
                    ("IdenticalDataAndAlgorithm", "TransferLearning"))
        entries = config.get("ParentHyperParameterTuningJobs")
        if not isinstance(entries, list) or not 1 <= len(entries) <= 5:
            raise constraint(entries, "warmStartConfig.parentHyperParameterTuningJobs",
                             "have length less than or equal to 5 and greater than or equal to 1")
        if len(definitions) > 1 or search not in ("Random", "Bayesian"):
            raise invalid("Warm start is available for a single training job definition with Random or Bayesian "
                          "search.")
        parents = []
        with self.lock:
            for entry in entries:
                parent = self.jobs.get(str((entry or {}).get("HyperParameterTuningJobName", "")).lower())
                if parent is None:
                    raise invalid(f"The parent tuning job {(entry or {}).get('HyperParameterTuningJobName')} does "
                                  "not exist.")
                if not parent.done:
                    raise invalid(f"The parent tuning job {parent.name} is {parent.status}: all parent jobs must "
                                  "be Completed, Stopped or Failed before a warm start tuning job starts.")
                _compatible(parent, definitions[0])
                parents.append(parent)
        if sum(len(p.trials) for p in parents) + max_jobs > checks.MAX_JOBS[search]:
            raise AWSError("ResourceLimitExceeded", "The training jobs of the parent tuning jobs count against the "
                           f"limit of {checks.MAX_JOBS[search]} training jobs of a tuning job.")
        return parents

    # ------------------------------------------------------------------------------------------------ reads
    def _job(self, params: dict[str, Any]) -> TuningJob:
        name = check_name(params, "HyperParameterTuningJobName", NAME_PATTERN, max_len=32)
        job = self.jobs.get(name.lower())
        if job is None:
            raise _not_found(name)
        return job

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        sorts: dict[str, Callable[[TuningJob], Any]] = {"Name": lambda j: j.name.lower(),
                                                        "Status": lambda j: j.status,
                                                        "CreationTime": lambda j: j.created}
        with self.lock:
            rows, token = page(self.jobs.values(), {**params, "SortBy": params.get("SortBy") or "Name"},
                               sort_keys=sorts, default_order="Ascending", created=lambda j: j.created,
                               modified=lambda j: j.last_modified, name=lambda j: j.name,
                               status=lambda j: j.status)
            out: dict[str, Any] = {"HyperParameterTuningJobSummaries": [j.summary() for j in rows]}
        if token:
            out["NextToken"] = token
        return out

    def list_trials(self, params: dict[str, Any]) -> dict[str, Any]:
        sort_by = params.get("SortBy") or "Name"
        if sort_by not in TRIAL_SORTS:
            raise constraint(sort_by, "sortBy", f"satisfy enum value set: [{', '.join(TRIAL_SORTS)}]")
        with self.lock:
            trials = list(self._job(params).trials)
            if sort_by == "FinalObjectiveMetricValue":  # "any training jobs that did not return an objective
                trials = [t for t in trials if t.objective is not None]  # metric are not listed"
            sorts: dict[str, Callable[[Trial], Any]] = {
                "Name": lambda t: t.name.lower(), "CreationTime": lambda t: t.job.created,
                "Status": lambda t: t.job.status, "FinalObjectiveMetricValue": lambda t: t.objective}
            rows, token = page(trials, {k: v for k, v in params.items() if k != "SortBy"} | {"SortBy": sort_by},
                               sort_keys=sorts, default_order="Ascending", created=lambda t: t.job.created,
                               name=lambda t: t.name, status=lambda t: t.job.status)
            out: dict[str, Any] = {"TrainingJobSummaries": [t.summary() for t in rows]}
        if token:
            out["NextToken"] = token
        return out


def _compatible(parent: TuningJob, definition: Definition) -> None:
    """The warm start restrictions checked here: the same objective metric, the same type for each
    hyperparameter both jobs tune."""
    theirs = parent.definitions[0]
    if theirs.metric != definition.metric:
        raise invalid(f"The objective metric of a warm start tuning job ({definition.metric}) must be the same as "
                      f"its parent {parent.name}'s ({theirs.metric}).")
    kinds = {d.name: d.kind for d in theirs.space.dimensions}
    for d in definition.space.dimensions:
        if d.name in kinds and kinds[d.name] != d.kind:
            raise invalid(f"The type of hyperparameter {d.name} ({d.kind}) must not change from its parent "
                          f"{parent.name}'s ({kinds[d.name]}).")


def _observations(parents: list[TuningJob], definition: Definition) -> list[Observation]:
    """The parents' results as points of ``definition``'s space (those outside it are left out)."""
    found = []
    for parent in parents:
        for trial in parent.trials:
            if trial.objective is None:
                continue
            static = trial.definition.request.get("StaticHyperParameters") or {}
            values = {**static, **trial.tuned}
            point = {n: values[n] for n in definition.space.names if n in values}
            if len(point) == len(definition.space.names) and _inside(definition.space, point):
                found.append(Observation(point, trial.objective))
    return found


def _inside(space: Space, point: dict[str, str]) -> bool:
    for d in space.dimensions:
        if d.kind == "Categorical":
            if point[d.name] not in d.values:
                return False
            continue
        try:
            value = float(point[d.name])
        except ValueError:
            return False
        if not d.low <= value <= d.high:
            return False
    return True
