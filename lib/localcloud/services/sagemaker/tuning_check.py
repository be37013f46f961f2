"""The checks CreateHyperParameterTuningJob makes before a tuning job exists, and the definitions it runs.

Shapes, enums and limits are the botocore model's (``sagemaker/2017-07-24``: CreateHyperParameterTuningJobRequest,
HyperParameterTuningJobConfig, ResourceLimits, HyperParameterTrainingJobDefinition); the rules the guide states
are cited where they are applied. Messages recorded from AWS:

* "You don't have enough combinations of hyperparameter ranges. The total number of hyperparameter combinations
  for the provided ranges [3.0] must be equal or greater than the value of MaxNumberOfJobs, [10]. Provide
  additional ranges." (a ValidationException of CreateHyperParameterTuningJob quoted in github
  aws/amazon-sagemaker-operator-for-k8s issue #123);
* "A metric is required for this hyperparameter tuning job objective. Provide a metric in the metric
  definitions." (ValidationException, github aws/amazon-sagemaker-examples issue #1207, aws/sagemaker-python-sdk
  issue #3932). The built-in XGBoost's own metrics need no definition ("Use a built-in algorithm for training":
  "metrics are already defined for you"): the ``validation:*`` names its container accepts as
  ``_tuning_objective_metric`` (``algorithm_mode/metrics.py`` of github aws/sagemaker-xgboost-container).

Other messages follow AWS's one-field form where the model gives the rule; their exact AWS wording for the
rules the guide states could not be confirmed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from localcloud.errors import AWSError
from localcloud.images.builtin_xgboost import hyperparameters as xgb_hps
from localcloud.services.sagemaker import containers
from localcloud.services.sagemaker.tuning_models import OBJECTIVE_HP
from localcloud.services.sagemaker.tuning_space import Space, parse
from localcloud.services.sagemaker.validation import constraint, invalid, need, optional

STRATEGIES = ("Bayesian", "Random", "Hyperband", "Grid")
#: training jobs per tuning job that no quota increase lifts ("Resource Limits for Automatic Model Tuning")
MAX_JOBS = {"Bayesian": 750, "Grid": 750, "Random": 10000}
MAX_PARALLEL = 100
MAX_HYPERPARAMETERS = 100  # static + tunable ("Define Hyperparameter Ranges")
MAX_ENVIRONMENT = 48
RUNTIME_RANGE = (120, 15768000)
NOT_ENOUGH = ("You don't have enough combinations of hyperparameter ranges. The total number of hyperparameter "
              "combinations for the provided ranges [{found}] must be equal or greater than the value of "
              "MaxNumberOfJobs, [{wanted}]. Provide additional ranges.")
NO_METRIC = ("A metric is required for this hyperparameter tuning job objective. Provide a metric in the metric "
             "definitions.")


def enum(value: Any, member: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise constraint(value, member, f"satisfy enum value set: [{', '.join(allowed)}]")
    return str(value)


def integer(params: Mapping[str, Any], key: str, member: str, low: int, high: int | None = None,
            required: bool = False) -> int | None:
    value = params.get(key)
    if value is None:
        if required:
            raise constraint(None, member, "not be null")
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        rule = f"have value greater than or equal to {low}" if high is None else \
            f"have value less than or equal to {high} and greater than or equal to {low}"
        raise constraint(value, member, rule)
    return value


def check_config(config: dict[str, Any]) -> str:
    """The tuning configuration's own fields (ranges and objectives are checked with the definitions)."""
    member = "hyperParameterTuningJobConfig"
    strategy = enum(config.get("Strategy"), f"{member}.strategy", STRATEGIES)
    if strategy == "Hyperband":
        raise invalid("localcloud does not implement the Hyperband strategy (it stops and resumes training jobs "
                      "by epoch from their intermediate metrics); use Bayesian, Random or Grid.")
    if config.get("StrategyConfig"):
        raise invalid("StrategyConfig should be provided only if Hyperband is selected as the strategy.")
    limits = need(config, "ResourceLimits", dict)
    integer(limits, "MaxParallelTrainingJobs", f"{member}.resourceLimits.maxParallelTrainingJobs", 1,
            required=True)
    integer(limits, "MaxNumberOfTrainingJobs", f"{member}.resourceLimits.maxNumberOfTrainingJobs", 1,
            required=strategy != "Grid")
    integer(limits, "MaxRuntimeInSeconds", f"{member}.resourceLimits.maxRuntimeInSeconds", *RUNTIME_RANGE)
    if limits["MaxParallelTrainingJobs"] > MAX_PARALLEL or (limits.get("MaxNumberOfTrainingJobs") or 0) > \
            MAX_JOBS[strategy]:
        raise AWSError("ResourceLimitExceeded", f"A {strategy} tuning job runs at most {MAX_JOBS[strategy]} "
                       f"training jobs, at most {MAX_PARALLEL} at a time.")
    enum(config.get("TrainingJobEarlyStoppingType", "Off"), f"{member}.trainingJobEarlyStoppingType",
         ("Off", "Auto"))
    integer(config, "RandomSeed", f"{member}.randomSeed", 0)
    criteria = optional(config, "TuningJobCompletionCriteria", dict) or {}
    integer(optional(criteria, "BestObjectiveNotImproving", dict) or {}, "MaxNumberOfTrainingJobsNotImproving",
            f"{member}.tuningJobCompletionCriteria.bestObjectiveNotImproving.maxNumberOfTrainingJobsNotImproving",
            3)
    converge = optional(criteria, "ConvergenceDetected", dict) or {}
    if "CompleteOnConvergence" in converge:
        enum(converge["CompleteOnConvergence"],
             f"{member}.tuningJobCompletionCriteria.convergenceDetected.completeOnConvergence",
             ("Disabled", "Enabled"))
    target = criteria.get("TargetObjectiveMetricValue")
    if target is not None and (isinstance(target, bool) or not isinstance(target, int | float)):
        raise constraint(target, f"{member}.tuningJobCompletionCriteria.targetObjectiveMetricValue", "be a number")
    return strategy


def objective(value: Any, member: str) -> tuple[str, bool]:
    """(metric name, maximise) of a HyperParameterTuningJobObjective."""
    if not isinstance(value, dict):
        raise constraint(None, member, "not be null")
    kind = enum(value.get("Type"), f"{member}.type", ("Maximize", "Minimize"))
    metric = value.get("MetricName")
    if not isinstance(metric, str) or not 1 <= len(metric) <= 255:
        raise constraint(metric, f"{member}.metricName", "have length less than or equal to 255 and greater "
                         "than or equal to 1")
    return metric, kind == "Maximize"


def builtin_metrics(spec: Mapping[str, Any], static: Mapping[str, Any]) -> tuple[str, ...]:
    """The objective metrics the algorithm defines itself (the built-in XGBoost's ``validation:*``)."""
    try:
        runtime = containers.for_training(spec.get("TrainingImage"), spec.get("AlgorithmName"),
                                          "sagemaker_program" in static)
    except containers.UnsupportedImage:
        return ()
    return xgb_hps.SPECS[OBJECTIVE_HP].choices if runtime.kind == "xgboost" else ()


def builtin_definitions(spec: Mapping[str, Any], static: Mapping[str, Any]) -> list[dict[str, str]]:
    """The built-in XGBoost's MetricDefinitions, as DescribeTrainingJob shows them for its jobs (``train:mae``:
    ``.*\\[[0-9]+\\].*#011train-mae:([-+]?[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*``, quoted from a
    DescribeTrainingJob response in github aws/sagemaker-xgboost-container issue #121); the SDK's
    HyperparameterTuner.attach() reads them from DescribeHyperParameterTuningJob."""
    if not builtin_metrics(spec, static):
        return []
    number = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
    return [{"Name": f"{channel}:{metric}", "Regex": rf".*\[[0-9]+\].*#011{channel}-{metric}:{number}.*"}
            for channel in ("train", "validation")
            for metric in sorted(set(xgb_hps.NATIVE_METRICS + xgb_hps.CUSTOM_METRICS))]


def check_definition(definition: Any, member: str) -> dict[str, Any]:
    """A HyperParameterTrainingJobDefinition's required fields and limits (the role is checked by the caller)."""
    if not isinstance(definition, dict):
        raise constraint(None, member, "not be null")
    spec = need(definition, "AlgorithmSpecification", dict)
    enum(spec.get("TrainingInputMode"), f"{member}.algorithmSpecification.trainingInputMode",
         ("Pipe", "File", "FastFile"))
    if bool(spec.get("TrainingImage")) == bool(spec.get("AlgorithmName")):
        raise invalid("Exactly one of TrainingImage or AlgorithmName must be specified in AlgorithmSpecification.")
    for item in optional(spec, "MetricDefinitions", list) or []:
        if not isinstance(item, dict) or not item.get("Name") or not item.get("Regex"):
            raise invalid("Each of MetricDefinitions needs a Name and a Regex.")
    need(definition, "RoleArn")
    need(need(definition, "OutputDataConfig", dict), "S3OutputPath")
    need(definition, "StoppingCondition", dict)
    if not definition.get("ResourceConfig") and not definition.get("HyperParameterTuningResourceConfig"):
        raise invalid("Either ResourceConfig or HyperParameterTuningResourceConfig must be specified in the "
                      "training job definition.")
    channels = optional(definition, "InputDataConfig", list) or []
    names = [c.get("ChannelName") for c in channels if isinstance(c, dict)]
    if len(names) != len(channels) or len(set(names)) != len(names) or not all(names):
        raise invalid("InputDataConfig channels need unique, non-empty ChannelName values.")
    static = optional(definition, "StaticHyperParameters", dict) or {}
    if OBJECTIVE_HP in static:
        raise invalid(f"The hyperparameter {OBJECTIVE_HP} is reserved for the tuning job's objective metric.")
    if len(optional(definition, "Environment", dict) or {}) > MAX_ENVIRONMENT:
        raise constraint(definition["Environment"], f"{member}.environment",
                         f"have length less than or equal to {MAX_ENVIRONMENT}")
    stopping = definition["StoppingCondition"]
    if definition.get("EnableManagedSpotTraining"):
        wait, runtime = stopping.get("MaxWaitTimeInSeconds"), stopping.get("MaxRuntimeInSeconds", 86400)
        if not wait or wait < runtime:
            raise invalid("Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal to "
                          "MaxRuntimeInSeconds")
    out = copy.deepcopy(definition)
    out["StaticHyperParameters"] = {str(k): str(v) for k, v in static.items()}
    if not spec.get("MetricDefinitions") and (builtin := builtin_definitions(spec, out["StaticHyperParameters"])):
        out["AlgorithmSpecification"]["MetricDefinitions"] = builtin
    return out


def check_space(space: Space, definition: dict[str, Any], metric: str) -> None:
    """The ranges against the static hyperparameters, and the objective against the metrics there are."""
    static = definition["StaticHyperParameters"]
    both = sorted(set(static) & set(space.names))
    if both:
        raise invalid(f"Hyperparameters {both} are both static and tunable; give each either a range or a value.")
    if len(static) + len(space.names) > MAX_HYPERPARAMETERS:
        raise invalid(f"A training job definition has at most {MAX_HYPERPARAMETERS} hyperparameters, static and "
                      f"tunable together; it has {len(static) + len(space.names)}.")
    spec = definition["AlgorithmSpecification"]
    defined = {str(m.get("Name")) for m in spec.get("MetricDefinitions") or []}
    if metric not in defined and metric not in builtin_metrics(spec, static):
        raise invalid(NO_METRIC)


def check_budget(strategy: str, spaces: list[Space], limits: dict[str, Any]) -> int:
    """The number of training jobs the tuning job runs (a grid's is inferred: "the total number of distinct
    categorical combinations", "How Hyperparameter Tuning Works")."""
    combinations = sum(s.combinations for s in spaces)
    wanted = limits.get("MaxNumberOfTrainingJobs")
    if strategy == "Grid":
        if any(d.kind != "Categorical" for s in spaces for d in s.dimensions) or not any(s.names for s in spaces):
            raise invalid("A Grid search takes categorical ranges only: \"Only categorical parameters are supported "
                          "when using the grid search strategy\".")
        if combinations > MAX_JOBS["Grid"]:
            raise AWSError("ResourceLimitExceeded", f"A Grid tuning job runs at most {MAX_JOBS['Grid']} training "
                           f"jobs; its ranges have {int(combinations)} combinations.")
        if wanted is not None and wanted != combinations:
            raise invalid(f"MaxNumberOfTrainingJobs ({wanted}) of a Grid search must equal the number of distinct "
                          f"categorical combinations ({int(combinations)}).")
        return int(combinations)
    if combinations != math.inf and combinations < wanted:
        raise invalid(NOT_ENOUGH.format(found=float(combinations), wanted=wanted))
    return int(wanted)


def ranges_of(config: dict[str, Any], definition: dict[str, Any], many: bool, member: str) -> Space:
    if many and definition.get("HyperParameterRanges") is not None:
        return parse(definition["HyperParameterRanges"], f"{member}.hyperParameterRanges")
    return parse(config.get("ParameterRanges"), "hyperParameterTuningJobConfig.parameterRanges")
