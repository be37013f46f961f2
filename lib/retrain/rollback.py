"""``retrain rollback [--to RUN]``: put the endpoint back on an earlier run's endpoint config, with the same guarded
update the workflow uses, and mark the model it leaves as rejected in the registry.

The run records (:mod:`retrain.history`) know each deployed run's endpoint config. Without ``--to`` the target is
the deployed run before the one the endpoint serves. Clean-up keeps the configs (and models) of the last
``rollback_configs_kept`` deployed runs for this; an older one may be gone, which is said plainly.

The rolled-back-from version is set ``Rejected`` with an ``ApprovalDescription`` saying why: the registry allows
``Approved`` to ``Rejected`` ("Update the Approval Status of a Model", SageMaker Developer Guide), and the champion
of the next run is what the endpoint serves, so the rejected model is no longer compared against.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from retrain.config import Params
from retrain.deployment import deployment_config
from retrain.errors import CloudError

DEPLOYED = "deployed"


def deployed_runs(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of runs that deployed a model (oldest first)."""
    return [r for r in found if r.get("status") == DEPLOYED and r.get("endpoint_config")]


def run_serving(found: list[dict[str, Any]], config: str | None) -> dict[str, Any] | None:
    """The record of the run whose endpoint config is ``config``."""
    return next((r for r in reversed(deployed_runs(found)) if r["endpoint_config"] == config), None)


def previous_runs(found: list[dict[str, Any]], config: str | None, count: int) -> list[dict[str, Any]]:
    """The ``count`` deployed runs before the one serving ``config`` (newest first), each with another config."""
    runs = deployed_runs(found)
    current = run_serving(found, config)
    if current is not None:
        runs = runs[:runs.index(current)]
    earlier = [r for r in reversed(runs) if r["endpoint_config"] != config]
    return earlier[:count]


def fallback_configs(found: list[dict[str, Any]], config: str | None, count: int) -> set[str]:
    """The endpoint configs clean-up keeps so that ``retrain rollback`` can return to them."""
    return {r["endpoint_config"] for r in previous_runs(found, config, count)}


def choose_target(found: list[dict[str, Any]], serving_config: str, to_run: str | None) -> dict[str, Any]:
    """The record of the run to roll back to (``to_run``, or the deployed run before the one serving)."""
    if to_run is None:
        earlier = previous_runs(found, serving_config, 1)
        if not earlier:
            raise CloudError(f"no earlier deployed run to roll back to: the endpoint serves {serving_config} and "
                             "the records show no deployed run before it (`retrain history` lists the runs).")
        return earlier[0]
    record = next((r for r in found if r["run_id"] == to_run), None)
    if record is None:
        raise CloudError(f"no record of run {to_run}; `retrain history` lists the runs there are.")
    if not record.get("endpoint_config") or record.get("status") != DEPLOYED:
        raise CloudError(f"run {to_run} did not deploy a model (its status is {record.get('status')}); roll back "
                         "to a run whose status is deployed.")
    if record["endpoint_config"] == serving_config:
        raise CloudError(f"the endpoint already serves run {to_run} ({serving_config}); nothing to roll back.")
    return record


def rollback_config(params: Params, cw: Any) -> tuple[dict[str, Any], list[str]]:
    """The guarded update of a rollback: the workflow's ``DeploymentConfig`` without the alarms already in ALARM
    (an alarm that watches both fleets and trips on the model being left would roll the rollback back:
    "if your old fleet trips the alarm during the deployment, SageMaker terminates your deployment", SageMaker
    Developer Guide, "Auto-Rollback Configuration and Monitoring"). Returns the config and the alarms left out."""
    config = deployment_config(params)
    alarms = [a["AlarmName"] for a in config.get("AutoRollbackConfiguration", {}).get("Alarms", [])]
    if not alarms:
        return config, []
    states = {a["AlarmName"]: a["StateValue"] for a in cw.describe_alarms(AlarmNames=alarms)["MetricAlarms"]}
    firing = [name for name in alarms if states.get(name) == "ALARM"]
    kept = [name for name in alarms if name not in firing and name in states]
    if kept:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": n} for n in kept]}
    else:
        config.pop("AutoRollbackConfiguration", None)
    return config, firing


def wait_for(sm: Any, endpoint: str, config: str, timeout: float, poll: float) -> dict[str, Any]:
    """Wait until the endpoint is no longer updating; raise unless it serves ``config``."""
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_endpoint(EndpointName=endpoint)
        if desc["EndpointStatus"] not in ("Updating", "SystemUpdating", "Creating"):
            break
        if time.monotonic() > deadline:
            raise CloudError(f"endpoint {endpoint} still {desc['EndpointStatus']} after {timeout:.0f} s.")
        time.sleep(poll)
    if desc["EndpointStatus"] != "InService" or desc["EndpointConfigName"] != config:
        raise CloudError(f"the rollback did not complete: endpoint {endpoint} is {desc['EndpointStatus']} on "
                         f"{desc['EndpointConfigName']} ({desc.get('FailureReason') or 'no FailureReason'}).")
    return dict(desc)


def reject_version(sm: Any, params: Params, run_id: str, target: str) -> str | None:
    """Mark the model package of ``run_id`` Rejected (it was rolled back); its ARN, or None without one."""
    from retrain.registry import package_of_run

    try:
        package = package_of_run(sm, params, run_id)
    except CloudError:
        return None
    sm.update_model_package(ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Rejected",
                            ApprovalDescription=f"rolled back to run {target} by retrain rollback")
    return str(package["ModelPackageArn"])


def rollback(cloud: Any, params: Params, layout: Any, to_run: str | None = None, *, poll: float = 2.0
             ) -> dict[str, Any]:
    """Roll the endpoint back (see the module's docstring); what was done."""
    from retrain.history import records
    from retrain.ownership import require_owned

    sm, endpoint = cloud.client("sagemaker"), params.endpoint_name
    try:
        desc = sm.describe_endpoint(EndpointName=endpoint)
    except ClientError as exc:
        raise CloudError(f"endpoint {endpoint} cannot be read ({exc}); there is nothing to roll back.") from exc
    if desc["EndpointStatus"] != "InService":
        raise CloudError(f"endpoint {endpoint} is {desc['EndpointStatus']}; roll back once it is InService.")
    require_owned(cloud, params, "endpoint", endpoint, action="roll back")
    found = records(cloud.client("s3"), layout)
    serving_config = desc["EndpointConfigName"]
    target = choose_target(found, serving_config, to_run)
    try:
        sm.describe_endpoint_config(EndpointConfigName=target["endpoint_config"])
    except ClientError as exc:
        raise CloudError(f"the endpoint config of run {target['run_id']} ({target['endpoint_config']}) no longer "
                         f"exists: clean-up keeps only the last rollback_configs_kept={params.rollback_configs_kept} "
                         "earlier deployed runs' configs. Pick a newer run, or retrain.") from exc
    config, left_out = rollback_config(params, cloud.client("cloudwatch"))
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=target["endpoint_config"], DeploymentConfig=config)
    final = wait_for(sm, endpoint, target["endpoint_config"], params.max_execution_timeout_seconds + 600, poll)
    current = run_serving(found, serving_config)
    rejected = reject_version(sm, params, current["run_id"], target["run_id"]) if current else None
    return {"endpoint": endpoint, "from_config": serving_config, "from_run": current["run_id"] if current else None,
            "to_run": target["run_id"], "to_config": final["EndpointConfigName"], "rejected": rejected,
            "alarms_left_out": left_out}


def kept_for_rollback(cloud: Any, params: Params, bucket: str, serving_config: str | None
                      ) -> tuple[set[str], set[str]]:
    """``(configs, models)`` clean-up keeps beside what the endpoint serves: those of the last
    ``rollback_configs_kept`` deployed runs before it, while the endpoint is kept (else there is nothing to roll
    back)."""
    from retrain.history import records
    from retrain.resources import Layout

    if not params.keep_endpoint or not params.rollback_configs_kept or serving_config is None:
        return set(), set()
    try:
        found = records(cloud.client("s3"), Layout(bucket, params.project_name))
    except ClientError:
        return set(), set()  # no bucket, no records: nothing known to return to
    configs = fallback_configs(found, serving_config, params.rollback_configs_kept)
    models: set[str] = set()
    sm = cloud.client("sagemaker")
    for config in sorted(configs):
        try:
            models |= {v["ModelName"] for v in sm.describe_endpoint_config(EndpointConfigName=config)
                       ["ProductionVariants"]}
        except ClientError:
            continue
    return configs, models
