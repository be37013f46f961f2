"""Reuse instead of repeat: what notebook 03's cache states send the step cache, and what notebook 04 reads back.

The cache itself is the model gate Lambda's ``code/step_cache.py`` (it computes the keys where the data is, and
keeps one entry per step output under ``<project>/cache/``). The design follows SageMaker Pipelines' step caching
("Caching pipeline steps", SageMaker developer guide): a step whose defining attributes match those of an earlier
*successful* run reuses that run's outputs instead of running again. With ``cache: false`` (the default, as in
SageMaker Pipelines, where caching is opt-in) notebook 03 builds no cache state at all.
"""

from __future__ import annotations

from typing import Any

from stepfunctions import steps

from retrain.config import Params
from retrain.resources import Layout

#: the states a cache hit passes through, and the lookups whose results they act on
ETL_HIT, TRAINING_HIT = "ETL Cache Hit", "Training Cache Hit"
LOOKUPS = {"etl": ("Look Up ETL Cache", "EtlCache"), "training": ("Look Up Training Cache", "TrainingCache")}
#: the ETL job's arguments that belong to one run (where it writes, the champion's data for the drift check), not
#: to what the splits are: left out of the ETL key
PER_RUN_ARGUMENTS = ("--S3_DEST", "--BASELINE")
#: the training request's fields that decide the model: SageMaker Pipelines' key of a training step
#: (AlgorithmSpecification, CheckpointConfig, DebugHookConfig, DebugRuleConfigurations, Environment,
#: HyperParameters, InputDataConfig; "Default cache key attributes by pipeline step type"), and ResourceConfig:
#: XGBoost trained on more instances or other instance types may make another model
TRAINING_KEY_FIELDS = ("AlgorithmSpecification", "CheckpointConfig", "DebugHookConfig", "DebugRuleConfigurations",
                       "Environment", "HyperParameters", "InputDataConfig", "ResourceConfig")


class LambdaWithSelector(steps.LambdaStep):
    """A ``LambdaStep`` that also takes ``result_selector`` (an ASL field the SDK 2.3 does not know)."""

    def is_field_allowed(self, field_name: str) -> bool:
        return field_name == "result_selector" or super().is_field_allowed(field_name)


def lookup_selector() -> dict[str, str]:
    """What a lookup keeps of the Lambda's answer (not the invocation's HTTP metadata)."""
    return {f"{name}.$": f"$.Payload.{name}" for name in ("Hit", "Key", "ReusedRun", "Run", "Reason")}


def etl_inputs(params: Params, layout: Layout) -> dict[str, Any]:
    """What the ETL key is made of: the data object and the code as uploaded (hashed by the Lambda, where they are)
    and the job's arguments but those of :data:`PER_RUN_ARGUMENTS`."""
    from retrain.workflow import glue_arguments

    arguments = glue_arguments(params, layout, {"DataPrefix": None}, baseline=None)
    return {
        "Data": f"s3://{layout.bucket}/{layout.data_key}",
        "Code": [f"s3://{layout.bucket}/{key}" for key in (layout.script_key, *layout.module_keys)],
        "Arguments": {k: v for k, v in sorted(arguments.items()) if k not in PER_RUN_ARGUMENTS},
    }


def training_request(parameters: dict[str, Any]) -> dict[str, Any]:
    """The fields of the training step's request that go into the training key (:data:`TRAINING_KEY_FIELDS`).

    The channels' S3 locations are this run's (placeholders resolved at run time) and are replaced by the
    channel's name: what is in them is the ETL key's to say.
    """
    request = {k: parameters[k] for k in TRAINING_KEY_FIELDS if k in parameters}
    channels = []
    for channel in request.get("InputDataConfig", []):
        source = dict(channel["DataSource"]["S3DataSource"])
        source["S3Uri"] = f"the ETL job's {channel['ChannelName']} split"
        channels.append({**channel, "DataSource": {"S3DataSource": source}})
    if channels:
        request["InputDataConfig"] = channels
    return request


def _lookup(events: list[dict[str, Any]], step: str) -> dict[str, Any] | None:
    from retrain.execute import state_output

    state, field = LOOKUPS[step]
    output = state_output(events, state)
    return (output or {}).get(field)


def cache_report(events: list[dict[str, Any]], enabled: bool) -> dict[str, Any]:
    """What the cache did in an execution (its history ``events``): per step, hit or miss, the key, the run
    reused and why; and ``run``: the names the later states used (the reused outputs on a hit)."""
    report: dict[str, Any] = {"enabled": enabled}
    run: dict[str, Any] = {}
    for step in LOOKUPS:
        found = _lookup(events, step)
        if found is None:
            continue
        report[step] = {"hit": bool(found.get("Hit")), "key": found.get("Key"),
                        "reused_run": found.get("ReusedRun"), "reason": found.get("Reason")}
        run.update(found.get("Run") or {})
    if run:
        report["run"] = run
    return report
