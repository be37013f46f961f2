"""Reuse instead of repeat, end to end: `retrain run` three times on one local cloud (IAM enforced), counting what
really ran through the APIs (Glue GetJobRuns, SageMaker ListTrainingJobs). Notebooks 01-04 only: clean-up
(05) deletes the Glue job, and its runs with it, which would leave nothing to count.

1. ``cache: true``, a first run: the ETL job and the training job run, and are remembered;
2. the same data and parameters: both are cache hits — no Glue run, no training job — and the same model deploys;
3. other hyperparameters: the ETL job is a hit, the training job runs (the path from an ETL hit to a training miss).

A changed data file, changed ETL code or split settings, and an entry whose outputs were deleted are misses: those
are tested against the step cache itself (tests/jobs/test_step_cache.py), which is what decides them. With
``cache: false`` notebook 03 builds no lookup at all (tests/retrain/test_cache.py), and every other chain test runs
that way, both steps each time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chain_helpers import LOCAL_PARAMS, free_port, state, summary

from retrain.cli import main

pytestmark = pytest.mark.slow

PROJECT = "cache-churn"
ENDPOINT = "cache-churn-ep"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import localcloud

    port = free_port()
    home = tmp_path_factory.mktemp("localcloud")
    url, started = localcloud.ensure_running(port, home=home, enforce_iam=True)  # the cache's IAM checked too
    assert started

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    yield {"port": port, "client": client}
    localcloud.stop(port, home=home)


def counts(cloud: dict[str, Any]) -> tuple[int, int]:
    """How many Glue job runs and training jobs the project has now."""
    runs = cloud["client"]("glue").get_job_runs(JobName=f"{PROJECT}-etl")["JobRuns"]
    jobs = cloud["client"]("sagemaker").list_training_jobs(NameContains=PROJECT, MaxResults=100)
    return len(runs), len(jobs["TrainingJobSummaries"])


def served_model_data(cloud: dict[str, Any]) -> str:
    """The model artifact the endpoint serves (through its config, model and the model's package)."""
    sm = cloud["client"]("sagemaker")
    config = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    model = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]["ModelName"]
    package = sm.describe_model(ModelName=model)["Containers"][0]["ModelPackageName"]
    return str(sm.describe_model_package(ModelPackageName=package)["InferenceSpecification"]["Containers"][0]
               ["ModelDataUrl"])


@pytest.fixture(scope="module")
def runs(cloud: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("runs")
    out: dict[str, Any] = {}
    for name, extra in (("first", ["-p", "cache=true"]), ("same", ["-p", "cache=true"]),
                        ("hyper", ["-p", "cache=true", "-p", "hyperparameters.num_round=60"])):
        code = main(["run", "--params", str(LOCAL_PARAMS), "--out", str(base / name), "--only", "01,02,03,04",
                     "-p", f"project_name={PROJECT}",
                     "-p", f"endpoint_name={ENDPOINT}", "-p", f"localcloud_port={cloud['port']}", *extra])
        out[name] = {"code": code, "out": base / name, "counts": counts(cloud), "summary": summary(base / name),
                     "run_id": state(base / name)["run_id"]}
        if name in ("first", "same"):
            out[name]["model_data"] = served_model_data(cloud)
    return out


def test_a_first_run_misses_runs_both_steps_and_remembers_them(runs: dict[str, Any]) -> None:
    first = runs["first"]
    assert first["code"] == 0 and state(first["out"])["verdict"] == "deployed"
    assert first["counts"] == (1, 1)
    cache = first["summary"]["cache"]
    assert cache["enabled"] is True and cache["etl"]["hit"] is False and cache["training"]["hit"] is False
    assert "no earlier run" in cache["etl"]["reason"]


def test_the_same_data_and_parameters_reuse_both_steps(runs: dict[str, Any]) -> None:
    first, same = runs["first"], runs["same"]
    assert same["code"] == 0 and state(same["out"])["verdict"] == "deployed"
    assert same["counts"] == first["counts"]  # no Glue run, no training job created
    cache = same["summary"]["cache"]
    assert cache["etl"]["hit"] is True and cache["training"]["hit"] is True
    assert cache["etl"]["reused_run"] == cache["training"]["reused_run"] == first["run_id"]
    assert cache["etl"]["key"] == first["summary"]["cache"]["etl"]["key"]
    # the later states used the reused outputs: the first run's data and training job, the same model deployed
    assert same["summary"]["data"]["DataPrefix"] == first["summary"]["data"]["DataPrefix"]
    assert same["model_data"] == first["model_data"]
    assert state(same["out"])["execution_input"]["TrainingJobName"] == f"{PROJECT}-{first['run_id']}"
    assert same["summary"]["gate"]["decision"] == "deploy"  # a tie with the champion deploys (margin 0)


def test_the_hit_is_visible_in_the_execution(runs: dict[str, Any]) -> None:
    visited = state(runs["same"]["out"])["execution"]["visited"]
    assert {"Look Up ETL Cache", "ETL Cache Hit", "Look Up Training Cache", "Training Cache Hit",
            "Describe Reused Training Job"} <= set(visited)
    assert not {"Extract, Transform, Load", "Train Model"} & set(visited)


def test_other_hyperparameters_reuse_the_etl_and_train_again(runs: dict[str, Any]) -> None:
    before, hyper = runs["same"]["counts"], runs["hyper"]
    assert hyper["counts"] == (before[0], before[1] + 1)
    cache = hyper["summary"]["cache"]
    assert cache["etl"]["hit"] is True and cache["training"]["hit"] is False

