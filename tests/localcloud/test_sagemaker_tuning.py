"""SageMaker hyperparameter tuning jobs: real training jobs chosen by Random, Grid and Bayesian search, their
objective, early stopping, completion criteria, stop, failure, warm start, the SDK's HyperparameterTuner and the
Step Functions SDK's TuningStep.

AWS behaviour relied on: the botocore model ``sagemaker/2017-07-24`` (the five operations' shapes); the SageMaker
developer guide ("How Hyperparameter Tuning Works", "Define Hyperparameter Ranges", "Stop Training Jobs Early",
"Track and set completion criteria for your tuning job", "Run a Warm Start Hyperparameter Tuning Job", "Define
metrics and environment variables"); messages and names recorded from AWS as cited in
``lib/localcloud/services/sagemaker/tuning*.py``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_sagemaker_support import (
    SKLEARN_IMAGE,
    XGB_IMAGE,
    channel,
    job_log,
    put,
    sdk_session,
    sourcedir,
    synthetic,
    to_csv,
    unique,
    wait_for,
)

from localcloud.core.permissions import needs_of
from localcloud.services.sagemaker.tuning_run import TuningRunner
from localcloud.services.sagemaker.tuning_search import Observation, strategy
from localcloud.services.sagemaker.tuning_space import parse

STATIC = {"objective": "binary:logistic", "num_round": "4", "eval_metric": "error"}
RANGES = {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "6"}],
          "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5",
                                         "ScalingType": "Logarithmic"}]}
NAME = re.compile(r"^(?P<tuning>.+)-(?P<index>\d{3})-[0-9a-f]{8}$")

# prints its loss once an epoch: "good" improves quickly, "bad" stays high and is slow about it, any other
# quality ends at 0.5
EPOCHS = """
import argparse, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--quality")
args, _ = parser.parse_known_args()
losses = {"good": [1.0, 0.8, 0.6, 0.4], "bad": [5.0] * 40}.get(args.quality, [0.9, 0.5])
for epoch, loss in enumerate(losses):
    print(f"epoch={epoch} loss={loss}", flush=True)
    if args.quality == "bad":
        time.sleep(0.25)
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write(str(losses[-1]))
"""


def tuning_name(prefix: str = "tune") -> str:
    return unique(prefix)[:32]


@pytest.fixture(scope="module")
def data(s3: Any, bucket: str) -> list[dict[str, Any]]:
    rows = synthetic(400, seed=11)
    put(s3, bucket, "tuning/train/part-0.csv", to_csv(rows[:300]))
    put(s3, bucket, "tuning/validation/part-0.csv", to_csv(rows[300:]))
    return [channel("train", f"s3://{bucket}/tuning/train"), channel("validation", f"s3://{bucket}/tuning/validation")]


@pytest.fixture(scope="module")
def long_data(s3: Any, bucket: str) -> list[dict[str, Any]]:
    rows = synthetic(3000, seed=12, features=10)
    put(s3, bucket, "tuning-long/train/part-0.csv", to_csv(rows[:2500]))
    put(s3, bucket, "tuning-long/validation/part-0.csv", to_csv(rows[2500:]))
    return [channel("train", f"s3://{bucket}/tuning-long/train"),
            channel("validation", f"s3://{bucket}/tuning-long/validation")]


def definition(role: str, bucket: str, channels: list[dict[str, Any]], static: dict[str, str] | None = None,
               image: str = XGB_IMAGE, **extra: Any) -> dict[str, Any]:
    return {"AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"}, "RoleArn": role,
            "StaticHyperParameters": dict(STATIC if static is None else static), "InputDataConfig": channels,
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/tuning-output"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600}, **extra}


def config(strategy_name: str = "Random", jobs: int | None = 3, parallel: int = 2, ranges: dict | None = None,
           metric: str = "validation:auc", kind: str = "Maximize", **extra: Any) -> dict[str, Any]:
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": parallel}
    if jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = jobs
    return {"Strategy": strategy_name, "ResourceLimits": limits,
            "HyperParameterTuningJobObjective": {"Type": kind, "MetricName": metric},
            "ParameterRanges": RANGES if ranges is None else ranges, **extra}


def wait_tuning(sm: Any, name: str, timeout: float = 180.0) -> dict[str, Any]:
    return wait_for(sm.describe_hyper_parameter_tuning_job, "HyperParameterTuningJobStatus",
                    ("InProgress", "Stopping"), timeout, HyperParameterTuningJobName=name)


def trials(sm: Any, name: str, **kwargs: Any) -> list[dict[str, Any]]:
    return sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, MaxResults=100,
                                                                **kwargs)["TrainingJobSummaries"]


def error_of(call: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]


# --------------------------------------------------------------------------------------------------- searches


def test_scaled_ranges_stay_inside_and_round_trip() -> None:
    space = parse({"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "1000",
                                               "ScalingType": "Logarithmic"}],
                   "ContinuousParameterRanges": [
                       {"Name": "lr", "MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Logarithmic"},
                       {"Name": "momentum", "MinValue": "0.9", "MaxValue": "0.9999", "ScalingType": "ReverseLogarithmic"},
                       {"Name": "eta", "MinValue": "0", "MaxValue": "1", "ScalingType": "Auto"}],
                   "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}]})
    units = [i / 100 for i in range(101)]
    n = [int(space.dimensions[0].value(u)) for u in units]
    lr = [float(space.dimensions[1].value(u)) for u in units]
    momentum = [float(space.dimensions[2].value(u)) for u in units]
    assert min(n) == 1 and max(n) == 1000 and n == sorted(n)
    assert sum(1 for v in n if v < 32) > 40  # a log scale gives each decade the same share
    assert 1e-4 <= min(lr) and max(lr) <= 1 and sum(1 for v in lr if v < 0.01) == 50
    assert 0.9 <= min(momentum) and max(momentum) <= 0.9999 and sum(1 for v in momentum if v > 0.999) > 30
    assert space.dimensions[3].value(0.25) == "0.25"  # Auto searches linearly, as SageMaker first assumes
    for dim in space.dimensions:  # a value maps back to where it came from
        for u in (0.0, 0.3, 0.77, 1.0):
            assert dim.value(dim.unit(dim.value(u))) == dim.value(u)


def test_random_and_grid_searches() -> None:
    space = parse(RANGES)
    first = [strategy("Random", space, True, 7).propose([]) for _ in range(2)]
    assert first[0] == first[1]  # RandomSeed: the same seed, the same values
    grid = parse({"CategoricalParameterRanges": [{"Name": "a", "Values": ["1", "2"]},
                                                 {"Name": "b", "Values": ["x", "y", "z"]}]})
    search, seen = strategy("Grid", grid, True, None), []
    while (values := search.propose([Observation(v) for v in seen])) is not None:
        seen.append(values)
    assert len(seen) == 6 and {tuple(v.values()) for v in seen} == {(a, b) for a in "12" for b in "xyz"}
    finite = parse({"IntegerParameterRanges": [{"Name": "k", "MinValue": "1", "MaxValue": "4"}]})
    search, seen = strategy("Random", finite, True, 1), []
    while (values := search.propose([Observation(v) for v in seen])) is not None:
        seen.append(values)
    assert sorted(v["k"] for v in seen) == ["1", "2", "3", "4"]  # each point once, then none left


def test_bayesian_search_finds_the_optimum_sooner_than_random_search() -> None:
    space = parse({"ContinuousParameterRanges": [{"Name": "x", "MinValue": "-5", "MaxValue": "5"},
                                                 {"Name": "y", "MinValue": "-5", "MaxValue": "5"}],
                   "CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "b"]}]})

    def loss(v: dict[str, str]) -> float:
        return (float(v["x"]) - 1.3) ** 2 + (float(v["y"]) + 2.1) ** 2 + (0 if v["c"] == "b" else 3)

    def best(name: str, seed: int) -> float:
        search, history = strategy(name, space, False, seed), []
        for _ in range(15):
            values = search.propose(history)
            history.append(Observation(values, loss(values)))
        return min(o.objective for o in history)

    bayes, rand = sorted(best("Bayesian", s) for s in range(5)), sorted(best("Random", s) for s in range(5))
    assert bayes[2] < 0.5 < rand[2]
    assert best("Bayesian", 3) == best("Bayesian", 3)  # seeded: reproducible
    pending = strategy("Bayesian", space, False, 0)
    history = [Observation(v, loss(v)) for v in (pending.propose([]) for _ in range(4))]
    proposed = pending.propose(history + [Observation({"x": "1.3", "y": "-2.1", "c": "b"}, pending=True)])
    assert proposed != {"x": "1.3", "y": "-2.1", "c": "b"}


def test_at_most_one_training_job_per_core_runs_at_once() -> None:
    host = type("Host", (), {"lock": threading.RLock(), "training_jobs": {}})()
    job = type("Job", (), {"parallel": 10})()
    assert TuningRunner(host, None, cores=2).slots(job) == 2  # type: ignore[arg-type]
    job.parallel = 1
    assert TuningRunner(host, None, cores=8).slots(job) == 1  # type: ignore[arg-type]


def test_the_permissions_a_tuning_request_needs() -> None:
    """Service Authorization Reference: the four calls act on hyper-parameter-tuning-job*; creating one also
    needs iam:PassRole for the training jobs' roles and sagemaker:AddTags for its tags."""
    first, second = "arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/b"
    needs = needs_of("sagemaker", "CreateHyperParameterTuningJob", {
        "HyperParameterTuningJobName": "Tune-1", "Tags": [{"Key": "k", "Value": "v"}],
        "TrainingJobDefinitions": [{"RoleArn": first}, {"RoleArn": second}, {"RoleArn": first}]},
        "us-east-1", "123456789012")
    job = "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/tune-1"
    assert [(n.action, n.resource) for n in needs] == [
        ("sagemaker:CreateHyperParameterTuningJob", job), ("sagemaker:AddTags", job),
        ("iam:PassRole", first), ("iam:PassRole", second)]
    for operation in ("DescribeHyperParameterTuningJob", "StopHyperParameterTuningJob",
                      "ListTrainingJobsForHyperParameterTuningJob"):
        assert [(n.action, n.resource) for n in needs_of(
            "sagemaker", operation, {"HyperParameterTuningJobName": "Tune-1"}, "us-east-1", "123456789012")] == [
            (f"sagemaker:{operation}", job)]


# --------------------------------------------------------------------------------------------------- requests


@pytest.mark.parametrize(("cfg", "message"), [
    (config("Grid", jobs=None), "categorical ranges only"),
    (config("Grid", jobs=3, ranges={"CategoricalParameterRanges": [{"Name": "max_depth", "Values": ["2", "3"]}]}),
     "must equal the number of distinct categorical combinations (2)"),
    (config(jobs=10, ranges={"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "3"}]}),
     "You don't have enough combinations of hyperparameter ranges. The total number of hyperparameter combinations "
     "for the provided ranges [3.0] must be equal or greater than the value of MaxNumberOfJobs, [10]. Provide "
     "additional ranges."),
    (config(ranges={"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0", "MaxValue": "1",
                                                   "ScalingType": "Logarithmic"}]}), "greater than 0"),
    (config(ranges={"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "9",
                                                "ScalingType": "ReverseLogarithmic"}]}), "only for continuous"),
    (config(ranges={"ContinuousParameterRanges": [{"Name": "subsample", "MinValue": "0.5", "MaxValue": "1",
                                                   "ScalingType": "ReverseLogarithmic"}]}), "0 <= x < 1.0"),
    (config(ranges={"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "6", "MaxValue": "2"}]}),
     "greater than its MaxValue"),
    (config(metric="validation:nonsense"), "A metric is required for this hyperparameter tuning job objective. "
                                           "Provide a metric in the metric definitions."),
    (config(ranges={"IntegerParameterRanges": [{"Name": "num_round", "MinValue": "2", "MaxValue": "9"}]}),
     "both static and tunable"),
    (config("Hyperband"), "does not implement the Hyperband strategy"),
    ({**config(), "HyperParameterTuningJobObjective": None}, "hyperParameterTuningJobObjective' failed to satisfy "
                                                             "constraint: Member must not be null"),
    (config(parallel=101), "at most 100 at a time"),
])
def test_requests_aws_refuses_are_refused(sm, role, bucket, data, cfg, message) -> None:
    error = error_of(sm.create_hyper_parameter_tuning_job, HyperParameterTuningJobName=tuning_name(),
                     HyperParameterTuningJobConfig={k: v for k, v in cfg.items() if v is not None},
                     TrainingJobDefinition=definition(role, bucket, data))
    assert error["Code"] in ("ValidationException", "ResourceLimitExceeded") and message in error["Message"]


def test_a_script_objective_needs_a_metric_definition(sm, role, bucket, data) -> None:
    static = {"sagemaker_program": json.dumps("train.py"), "sagemaker_submit_directory": json.dumps("s3://b/c.tgz")}
    error = error_of(sm.create_hyper_parameter_tuning_job, HyperParameterTuningJobName=tuning_name(),
                     HyperParameterTuningJobConfig=config(metric="validation:auc"),
                     TrainingJobDefinition=definition(role, bucket, data, static, image=SKLEARN_IMAGE))
    assert error == {"Code": "ValidationException", "Message": "A metric is required for this hyperparameter tuning "
                     "job objective. Provide a metric in the metric definitions."}


def test_unknown_tuning_jobs_are_not_found(sm) -> None:
    for call in (sm.describe_hyper_parameter_tuning_job, sm.stop_hyper_parameter_tuning_job,
                 sm.list_training_jobs_for_hyper_parameter_tuning_job):
        error = error_of(call, HyperParameterTuningJobName="no-such-tuning-job")
        assert error == {"Code": "ResourceNotFound",
                         "Message": "Amazon SageMaker can't find a tuning job called no-such-tuning-job. Type another "
                                    "name."}
    error = error_of(sm.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName="x" * 33)
    assert "Member must have length less than or equal to 32" in error["Message"]


# --------------------------------------------------------------------------------------------------- runs


def test_a_random_tuning_job_trains_its_training_jobs_and_reports_the_best(sm, role, bucket, data) -> None:
    name = tuning_name()
    out = sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=config(RandomSeed=5),
        TrainingJobDefinition=definition(role, bucket, data), Tags=[{"Key": "team", "Value": "ml"}])
    assert out["HyperParameterTuningJobArn"] == \
        f"arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/{name}"
    tuning = wait_tuning(sm, name)
    assert tuning["HyperParameterTuningJobStatus"] == "Completed", tuning.get("FailureReason")
    assert tuning["TrainingJobStatusCounters"] == {"Completed": 3, "InProgress": 0, "RetryableError": 0,
                                                   "NonRetryableError": 0, "Stopped": 0}
    assert tuning["ObjectiveStatusCounters"] == {"Succeeded": 3, "Pending": 0, "Failed": 0}
    assert tuning["CreationTime"] <= tuning["LastModifiedTime"] and "HyperParameterTuningEndTime" in tuning
    assert tuning["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Off"
    assert tuning["TrainingJobDefinition"]["StaticHyperParameters"] == {**STATIC,
                                                                        "_tuning_objective_metric": "validation:auc"}
    listed = trials(sm, name)
    assert sorted(int(NAME.match(t["TrainingJobName"])["index"]) for t in listed) == [1, 2, 3]
    by_index = sorted(listed, key=lambda t: t["TrainingJobName"][-12:-9])
    # MaxParallelTrainingJobs 2: the third starts once one of the first two ended
    assert by_index[2]["CreationTime"] >= min(t["TrainingEndTime"] for t in by_index[:2])
    for trial in listed:
        assert NAME.match(trial["TrainingJobName"])["tuning"] == name and trial["TuningJobName"] == name
        job = sm.describe_training_job(TrainingJobName=trial["TrainingJobName"])
        tuned = trial["TunedHyperParameters"]
        assert job["TuningJobArn"] == out["HyperParameterTuningJobArn"]
        assert job["HyperParameters"] == {**STATIC, **tuned, "_tuning_objective_metric": "validation:auc"}
        assert 2 <= int(tuned["max_depth"]) <= 6 and 0.05 <= float(tuned["eta"]) <= 0.5
        final = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
        assert trial["FinalHyperParameterTuningJobObjectiveMetric"] == {
            "Type": "Maximize", "MetricName": "validation:auc", "Value": final["validation:auc"]}
        assert {"Key": "team", "Value": "ml"} in sm.list_tags(ResourceArn=trial["TrainingJobArn"])["Tags"]
    ranked = trials(sm, name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending")
    assert tuning["BestTrainingJob"]["TrainingJobName"] == ranked[0]["TrainingJobName"]
    assert tuning["BestTrainingJob"] == {k: v for k, v in ranked[0].items()}
    first = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, MaxResults=2)
    assert len(first["TrainingJobSummaries"]) == 2 and first["NextToken"]
    summaries = sm.list_hyper_parameter_tuning_jobs(NameContains=name)["HyperParameterTuningJobSummaries"]
    assert [(s["HyperParameterTuningJobName"], s["Strategy"], s["HyperParameterTuningJobStatus"],
             s["ResourceLimits"]) for s in summaries] == [(name, "Random", "Completed",
                                                           {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2})]
    taken = error_of(sm.create_hyper_parameter_tuning_job, HyperParameterTuningJobName=name,
                     HyperParameterTuningJobConfig=config(), TrainingJobDefinition=definition(role, bucket, data))
    assert taken == {"Code": "ResourceInUse", "Message": f"A hyperparameter tuning job with the name, {name}, "
                                                         "already exists. Choose a different name."}


def test_a_grid_search_runs_every_combination_once(sm, role, bucket, data) -> None:
    name = tuning_name("grid")
    grid = {"CategoricalParameterRanges": [{"Name": "max_depth", "Values": ["2", "4"]},
                                           {"Name": "eta", "Values": ["0.1", "0.3"]}]}
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name,
                                         HyperParameterTuningJobConfig=config("Grid", jobs=None, ranges=grid),
                                         TrainingJobDefinition=definition(role, bucket, data))
    tuning = wait_tuning(sm, name)
    assert tuning["HyperParameterTuningJobStatus"] == "Completed", tuning.get("FailureReason")
    assert tuning["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 4  # inferred
    combos = sorted((t["TunedHyperParameters"]["max_depth"], t["TunedHyperParameters"]["eta"])
                    for t in trials(sm, name))
    assert combos == [("2", "0.1"), ("2", "0.3"), ("4", "0.1"), ("4", "0.3")]


def test_stopping_a_tuning_job_stops_its_training_jobs(cloud, sm, role, bucket, long_data) -> None:
    name = tuning_name("stop")
    static = {"objective": "binary:logistic", "num_round": "1000000", "max_depth": "6"}
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig=config(jobs=4, ranges={"ContinuousParameterRanges": RANGES[
            "ContinuousParameterRanges"]}),
        TrainingJobDefinition=definition(role, bucket, long_data, static))

    def training() -> bool:  # both running, a few rounds into their logs
        listed = trials(sm, name)
        return len(listed) == 2 and all((cloud.home / "sagemaker" / "training" / t["TrainingJobName"] /
                                         "algorithm.log").is_file() and "validation-auc" in job_log(
            cloud, t["TrainingJobName"]) for t in listed)

    deadline = time.monotonic() + 60
    while not training():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
        "HyperParameterTuningJobStatus"] in ("Stopping", "Stopped")
    tuning = wait_tuning(sm, name)
    assert tuning["HyperParameterTuningJobStatus"] == "Stopped"
    assert tuning["TrainingJobStatusCounters"]["Stopped"] == 2 and tuning["TrainingJobStatusCounters"][
        "InProgress"] == 0
    assert [t["TrainingJobStatus"] for t in trials(sm, name)] == ["Stopped", "Stopped"]  # none started after
    # a stopped job's objective is the last value its log showed
    assert tuning["ObjectiveStatusCounters"]["Succeeded"] == 2 and "BestTrainingJob" in tuning
    again = error_of(sm.stop_hyper_parameter_tuning_job, HyperParameterTuningJobName=name)
    assert again["Code"] == "ValidationException"


def test_training_jobs_that_all_fail_fail_the_tuning_job_after_five(sm, role, bucket, data) -> None:
    name = tuning_name("fail")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=config(jobs=8),
        TrainingJobDefinition=definition(role, bucket, data, {**STATIC, "objective": "reg:nonsense"}))
    tuning = wait_tuning(sm, name)
    assert tuning["HyperParameterTuningJobStatus"] == "Failed"
    assert tuning["FailureReason"] == ("No training job succeeded after 5 attempts. Please take a look at the "
                                       "training job failures to get more details.")
    assert tuning["TrainingJobStatusCounters"]["NonRetryableError"] == 5  # the algorithm refused: a client error
    assert tuning["ObjectiveStatusCounters"] == {"Succeeded": 0, "Pending": 0, "Failed": 5}
    assert "BestTrainingJob" not in tuning
    assert all(t["FailureReason"].startswith("ClientError") for t in trials(sm, name))


def _script_definition(s3: Any, role: str, bucket: str, data: list[dict[str, Any]]) -> dict[str, Any]:
    source = put(s3, bucket, "tuning-code/sourcedir.tar.gz", sourcedir({"train.py": EPOCHS}))
    static = {"sagemaker_program": json.dumps("train.py"), "sagemaker_submit_directory": json.dumps(source),
              "sagemaker_region": json.dumps("us-east-1")}
    spec_extra = {"MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}]}
    out = definition(role, bucket, data[:1], static, image=SKLEARN_IMAGE)
    out["AlgorithmSpecification"].update(spec_extra)
    return out


def test_early_stopping_auto_stops_a_training_job_worse_than_the_median(sm, s3, role, bucket, data) -> None:
    name = tuning_name("early")
    qualities = {"CategoricalParameterRanges": [{"Name": "quality", "Values": ["good", "bad"]}]}
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig=config("Grid", jobs=None, parallel=1, ranges=qualities, metric="loss",
                                             kind="Minimize", TrainingJobEarlyStoppingType="Auto"),
        TrainingJobDefinition=_script_definition(s3, role, bucket, data))
    tuning = wait_tuning(sm, name)
    assert tuning["HyperParameterTuningJobStatus"] == "Completed", tuning.get("FailureReason")
    listed = {t["TunedHyperParameters"]["quality"]: t for t in trials(sm, name)}
    assert listed["good"]["TrainingJobStatus"] == "Completed"
    assert listed["good"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == pytest.approx(0.4)
    # its first loss (5.0) is worse than the median of the finished job's running average at epoch 0 (1.0)
    bad = listed["bad"]
    assert bad["TrainingJobStatus"] == "Stopped"
    assert bad["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 5.0
    assert (bad["TrainingEndTime"] - bad["TrainingStartTime"]).total_seconds() < 8  # not its 40 slow epochs
    assert tuning["BestTrainingJob"]["TrainingJobName"] == listed["good"]["TrainingJobName"]
    assert tuning["TrainingJobStatusCounters"]["Stopped"] == 1


def test_a_target_objective_value_completes_the_tuning_job(sm, s3, role, bucket, data) -> None:
    name = tuning_name("target")
    qualities = {"CategoricalParameterRanges": [{"Name": "quality", "Values": ["good", "bad", "worse"]}]}
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig=config("Grid", jobs=None, parallel=1, ranges=qualities, metric="loss",
                                             kind="Minimize",
                                             TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 0.5}),
        TrainingJobDefinition=_script_definition(s3, role, bucket, data))
    tuning = wait_tuning(sm, name)
    assert tuning["HyperParameterTuningJobStatus"] == "Completed"
    assert [t["TunedHyperParameters"]["quality"] for t in trials(sm, name)] == ["good"]  # 0.4 <= 0.5: done
    assert tuning["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 3


def test_jobs_not_improving_the_best_complete_the_tuning_job(sm, s3, role, bucket, data) -> None:
    name = tuning_name("patience")
    qualities = {"CategoricalParameterRanges": [{"Name": "quality", "Values": ["good", "a", "b", "c", "d"]}]}
    criteria = {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}}
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig=config("Grid", jobs=None, parallel=1, ranges=qualities, metric="loss",
                                             kind="Minimize", TuningJobCompletionCriteria=criteria),
        TrainingJobDefinition=_script_definition(s3, role, bucket, data))
    tuning = wait_tuning(sm, name)
    assert tuning["HyperParameterTuningJobStatus"] == "Completed"
    # 0.5 after 0.4, three times: the fifth job never starts
    assert sorted(t["TunedHyperParameters"]["quality"] for t in trials(sm, name)) == ["a", "b", "c", "good"]
    assert tuning["TuningJobCompletionDetails"] == {"NumberOfTrainingJobsObjectiveNotImproving": 3}


def test_several_training_job_definitions_take_turns(sm, role, bucket, data) -> None:
    name = tuning_name("multi")
    shallow = {**definition(role, bucket, data), "DefinitionName": "shallow",
               "TuningObjective": {"Type": "Minimize", "MetricName": "validation:error"},
               "HyperParameterRanges": {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1",
                                                                    "MaxValue": "2"}]}}
    deep = {**shallow, "DefinitionName": "deep",
            "HyperParameterRanges": {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "5",
                                                                 "MaxValue": "8"}]}}
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={"Strategy": "Random", "ResourceLimits": {"MaxNumberOfTrainingJobs": 4,
                                                                                "MaxParallelTrainingJobs": 2}},
        TrainingJobDefinitions=[shallow, deep])
    tuning = wait_tuning(sm, name)
    assert tuning["HyperParameterTuningJobStatus"] == "Completed", tuning.get("FailureReason")
    assert [d["DefinitionName"] for d in tuning["TrainingJobDefinitions"]] == ["shallow", "deep"]
    assert "TrainingJobDefinition" not in tuning
    per_definition: dict[str, list[int]] = {}
    for trial in trials(sm, name):
        per_definition.setdefault(trial["TrainingJobDefinitionName"], []).append(
            int(trial["TunedHyperParameters"]["max_depth"]))
    assert sorted(per_definition) == ["deep", "shallow"] and len(per_definition["deep"]) == 2
    assert all(d <= 2 for d in per_definition["shallow"]) and all(d >= 5 for d in per_definition["deep"])
    assert tuning["BestTrainingJob"]["TrainingJobDefinitionName"] in ("shallow", "deep")


def test_a_warm_start_tuning_job_learns_from_its_parent(sm, role, bucket, data) -> None:
    parent, child = tuning_name("parent"), tuning_name("child")
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=parent,
                                         HyperParameterTuningJobConfig=config(jobs=3, RandomSeed=1),
                                         TrainingJobDefinition=definition(role, bucket, data))
    warm = {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
            "WarmStartType": "IdenticalDataAndAlgorithm"}
    early = error_of(sm.create_hyper_parameter_tuning_job, HyperParameterTuningJobName=child,
                     HyperParameterTuningJobConfig=config("Bayesian", jobs=1),
                     TrainingJobDefinition=definition(role, bucket, data), WarmStartConfig=warm)
    assert early["Code"] == "ValidationException" and "must be Completed, Stopped or Failed" in early["Message"]
    parent_best = wait_tuning(sm, parent)["BestTrainingJob"]
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=child,
                                         HyperParameterTuningJobConfig=config("Bayesian", jobs=1),
                                         TrainingJobDefinition=definition(role, bucket, data), WarmStartConfig=warm)
    tuning = wait_tuning(sm, child)
    assert tuning["HyperParameterTuningJobStatus"] == "Completed" and tuning["WarmStartConfig"] == warm
    own = tuning["BestTrainingJob"]
    value = {t["TrainingJobName"]: t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
             for t in (own, parent_best)}
    assert tuning["OverallBestTrainingJob"]["TrainingJobName"] == max(value, key=value.get)
    other = config("Bayesian", jobs=1, metric="validation:error", kind="Minimize")
    mismatch = error_of(sm.create_hyper_parameter_tuning_job, HyperParameterTuningJobName=tuning_name(),
                        HyperParameterTuningJobConfig=other, TrainingJobDefinition=definition(role, bucket, data),
                        WarmStartConfig=warm)
    assert "must be the same as its parent" in mismatch["Message"]


# --------------------------------------------------------------------------------------------------- SDKs


@pytest.mark.slow
def test_the_sdk_hyperparameter_tuner_tunes_the_builtin_xgboost(cloud, aws, bucket, role, data, monkeypatch) -> None:
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter

    session = sdk_session(cloud, bucket, monkeypatch)
    estimator = Estimator(image_uri=XGB_IMAGE, role=role, instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{bucket}/sdk-tuning", sagemaker_session=session)
    estimator.set_hyperparameters(objective="binary:logistic", num_round=4)
    tuner = HyperparameterTuner(estimator, "validation:auc",
                                {"max_depth": IntegerParameter(2, 6), "eta": ContinuousParameter(0.05, 0.5)},
                                max_jobs=4, max_parallel_jobs=2, base_tuning_job_name="sdk-xgb")
    tuner.fit({name: TrainingInput(c["DataSource"]["S3DataSource"]["S3Uri"], content_type="text/csv")
               for name, c in ((c["ChannelName"], c) for c in data)})  # Bayesian, waits, as by default
    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
    assert tuner.best_training_job() == described["BestTrainingJob"]["TrainingJobName"]
    frame = tuner.analytics().dataframe()
    assert len(frame) == 4 and frame["FinalObjectiveValue"].max() == \
        described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    attached = HyperparameterTuner.attach(tuner.latest_tuning_job.name, sagemaker_session=session)
    assert attached.max_jobs == 4 and attached.estimator.hyperparameters()["objective"] == "binary:logistic"


@pytest.mark.slow
def test_the_step_functions_sdk_tuning_step_runs_the_tuning_job(cloud, aws, bucket, role, data,
                                                                monkeypatch) -> None:
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.tuner import HyperparameterTuner, IntegerParameter
    from sfn_helpers import ensure_role, history, wait_done
    from stepfunctions.steps import Chain, TuningStep
    from stepfunctions.workflow import Workflow

    session = sdk_session(cloud, bucket, monkeypatch)
    estimator = Estimator(image_uri=XGB_IMAGE, role=role, instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{bucket}/sfn-tuning", sagemaker_session=session)
    estimator.set_hyperparameters(objective="binary:logistic", num_round=4)
    tuner = HyperparameterTuner(estimator, "validation:error", {"max_depth": IntegerParameter(2, 6)},
                                objective_type="Minimize", strategy="Random", max_jobs=2, max_parallel_jobs=2)
    name = tuning_name("sfn")
    step = TuningStep("Tune", tuner=tuner, job_name=name,
                      data={c["ChannelName"]: TrainingInput(c["DataSource"]["S3DataSource"]["S3Uri"],
                                                            content_type="text/csv") for c in data})
    sfn = aws("stepfunctions")
    workflow = Workflow(unique("tune-flow"), Chain([step]), ensure_role(aws("iam"), "sfn-sagemaker-tests-role"),
                        client=sfn)
    workflow.create()
    execution = workflow.execute()
    described = wait_done(sfn, execution.execution_arn, limit=180)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = execution.get_output()
    assert output["HyperParameterTuningJobName"] == name and output["HyperParameterTuningJobStatus"] == "Completed"
    assert output["BestTrainingJob"]["TrainingJobName"].startswith(f"{name}-")
    assert isinstance(output["CreationTime"], int)  # the optimized integration's epoch milliseconds
    assert "TaskSubmitted" in [e["type"] for e in history(sfn, execution.execution_arn)]
