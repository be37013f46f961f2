"""Reuse instead of repeat, in the definition and the plan: with ``cache: true`` notebook 03 builds the lookups,
the hit states and the stores around the ETL and training steps; with ``cache: false`` none of them (no lookup at
all); ``retrain plan`` checks the Lambda's extra permissions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retrain.cache import cache_report, training_request
from retrain.config import load_params
from retrain.notebooks import workflow_definition
from retrain.plan import EXAMPLE_ACCOUNT, build
from retrain.plancheck import check
from retrain.policies import Scope, lambda_policy

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
CACHE_STATES = {"Look Up ETL Cache", "ETL Cached?", "ETL Cache Hit", "Cache ETL Outputs", "Look Up Training Cache",
                "Training Cached?", "Training Cache Hit", "Describe Reused Training Job", "Cache Training Job"}


@pytest.fixture(scope="module")
def cached() -> dict[str, Any]:
    return workflow_definition(ROOT / "params" / "local.yaml", {"cache": True}, account=ACCOUNT)


def test_the_cache_states_wrap_the_etl_and_training_steps(cached: dict[str, Any]) -> None:
    s = cached["States"]
    assert CACHE_STATES <= set(s)
    line = ["Find Champion", "Look Up ETL Cache", "ETL Cached?"]
    assert all(s[a]["Next"] == b for a, b in zip(line, line[1:-1], strict=False)) and s[line[1]]["Next"] == line[2]
    # a miss (the Choice's default) runs the step and then stores it; a hit skips it
    assert s["ETL Cached?"]["Default"] == "Extract, Transform, Load"
    assert s["ETL Cached?"]["Choices"] == [{"Variable": "$.EtlCache.Hit", "BooleanEquals": True,
                                            "Next": "ETL Cache Hit"}]
    assert s["Extract, Transform, Load"]["Next"] == "Cache ETL Outputs"
    assert s["Cache ETL Outputs"]["Next"] == s["ETL Cache Hit"]["Next"] == "Look Up Training Cache"
    assert s["Training Cached?"]["Default"] == "Train Model" and s["Train Model"]["Next"] == "Cache Training Job"
    assert s["Training Cache Hit"]["Next"] == "Describe Reused Training Job"
    assert s["Cache Training Job"]["Next"] == s["Describe Reused Training Job"]["Next"] == "Champion Serving?"
    # a hit points $.Run at the reused outputs; the reused job's description goes where Train Model puts its own
    assert {k: s["ETL Cache Hit"][k] for k in ("InputPath", "ResultPath")} == {"InputPath": "$.EtlCache.Run",
                                                                               "ResultPath": "$.Run"}
    assert s["Describe Reused Training Job"]["ResultPath"] == s["Train Model"]["ResultPath"] == "$.Training"
    assert s["Describe Reused Training Job"]["Parameters"] == {"TrainingJobName.$": "$.Run.TrainingJobName"}


def test_the_lookups_send_the_inputs_of_the_key(cached: dict[str, Any]) -> None:
    s = cached["States"]
    etl = s["Look Up ETL Cache"]["Parameters"]["Payload"]
    assert etl["Action"] == "LookUpCache" and etl["Step"] == "etl" and etl["Run.$"] == "$.Run"
    assert etl["CacheUri"] == f"s3://retrain-churn-{ACCOUNT}-us-east-1/retrain-churn/cache/"
    inputs = etl["Inputs"]
    assert inputs["Data"].endswith("/retrain-churn/data/customer-churn.csv")
    assert inputs["Code"][0].endswith("/retrain-churn/code/glue_etl.py") and len(inputs["Code"]) == 4
    assert inputs["Arguments"]["--TRAIN_FRACTION"] == "0.7" and inputs["Arguments"]["--SEED"] == "42"
    assert not {"--S3_DEST", "--S3_DEST.$", "--BASELINE", "--BASELINE.$"} & set(inputs["Arguments"])
    training = s["Look Up Training Cache"]["Parameters"]["Payload"]["Inputs"]
    assert training["Etl.$"] == "$.EtlCache.Key"
    request = training["Training"]
    assert request["HyperParameters"]["num_round"] == "100" and "sagemaker-xgboost" in \
        request["AlgorithmSpecification"]["TrainingImage"]
    assert request["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert all("$" not in c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"])
    assert "TrainingJobName" not in request and "OutputDataConfig" not in request  # where, not what
    store = s["Cache Training Job"]["Parameters"]["Payload"]
    assert store == {"CacheUri": etl["CacheUri"], "Run.$": "$.Run", "Action": "StoreInCache", "Step": "training",
                     "Key.$": "$.TrainingCache.Key"}


def test_cache_false_builds_no_cache_state() -> None:
    plain = workflow_definition(ROOT / "params" / "local.yaml", {"cache": False}, account=ACCOUNT)
    assert not CACHE_STATES & set(plain["States"])
    assert plain["States"]["Find Champion"]["Next"] == "Extract, Transform, Load"


def test_training_request_keeps_what_decides_the_model() -> None:
    channel = {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": object(), "S3DataType": "S3Prefix"}}}
    request = training_request({"HyperParameters": {"eta": "0.2"}, "RoleArn": "r", "TrainingJobName": object(),
                                "InputDataConfig": [channel], "OutputDataConfig": {"S3OutputPath": "s3://b/o"}})
    assert request == {"HyperParameters": {"eta": "0.2"}, "InputDataConfig": [
        {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "the ETL job's train split",
                                                                 "S3DataType": "S3Prefix"}}}]}


def test_the_plan_with_the_cache_is_clean_and_needs_the_cache_permissions() -> None:
    params = load_params(ROOT / "params" / "aws.yaml", {"cache": True})
    plan = build(params, EXAMPLE_ACCOUNT)
    assert check(plan) == []
    assert {"Look Up ETL Cache", "Describe Reused Training Job"} <= set(plan.definition["States"])
    scope = Scope.of(params, EXAMPLE_ACCOUNT, plan.bucket)
    sids = [s.get("Sid") for s in lambda_policy(scope)["Statement"]]
    assert {"HashTheEtlInputs", "ReadAndWriteTheCache", "ListTheCacheAndCachedOutputs"} <= set(sids)
    off = Scope.of(load_params(ROOT / "params" / "aws.yaml"), EXAMPLE_ACCOUNT, plan.bucket)
    assert "ReadAndWriteTheCache" not in [s.get("Sid") for s in lambda_policy(off)["Statement"]]  # least privilege


def test_the_plan_fails_when_the_lambda_may_not_use_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    import retrain.policies as policies

    monkeypatch.setattr(policies, "_cache_statements", lambda scope: [])
    plan = build(load_params(ROOT / "params" / "aws.yaml", {"cache": True}), EXAMPLE_ACCOUNT)
    problems = check(plan)
    assert any("the lambda role may not s3:PutObject" in p and "/cache/" in p for p in problems), problems


def test_cache_report_reads_the_lookups_from_the_history() -> None:
    def exited(name: str, output: dict[str, Any]) -> dict[str, Any]:
        import json
        return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name, "output": json.dumps(output)}}

    run = {"RunId": "r2", "TrainUri": "s3://b/p/runs/r1/train/", "TrainingJobName": "p-r1"}
    events = [exited("Look Up ETL Cache", {"EtlCache": {"Hit": True, "Key": "sha256:e", "ReusedRun": "r1",
                                                        "Run": {**run, "TrainingJobName": "p-r2"}, "Reason": "x"}}),
              exited("Look Up Training Cache", {"TrainingCache": {"Hit": True, "Key": "sha256:t", "ReusedRun": "r1",
                                                                  "Run": run, "Reason": "y"}})]
    report = cache_report(events, True)
    assert report["etl"] == {"hit": True, "key": "sha256:e", "reused_run": "r1", "reason": "x"}
    assert report["training"]["hit"] is True and report["run"]["TrainingJobName"] == "p-r1"
    assert cache_report([], False) == {"enabled": False}


def test_the_report_says_which_steps_were_reused(tmp_path: Path) -> None:
    from retrain.reports import render_index

    page = render_index({"run_id": "r2", "status": "deployed", "cache": {
        "enabled": True, "etl": {"hit": True, "reused_run": "r1"}, "training": {"hit": False}}}, tmp_path)
    assert "<th>etl step</th><td>reused run r1 (cache hit)</td>" in page
    assert "<th>training step</th><td>ran (cache miss)</td>" in page
    assert "cache hit" not in render_index({"run_id": "r3", "status": "deployed",
                                            "cache": {"enabled": False}}, tmp_path)
