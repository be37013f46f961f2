"""The project's auto-rollback alarms in CloudWatch (:mod:`retrain.deployment` defines them): made with the other
long-lived resources (notebook 02), tagged as the project's, found and told apart from someone else's by clean-up."""

from __future__ import annotations

from typing import Any

from retrain.config import PROJECT_TAG, Params
from retrain.deployment import alarm_names, alarm_requests
from retrain.ownership import OwnershipError


def _tags(cw: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in cw.list_tags_for_resource(ResourceARN=arn).get("Tags", [])}


def ensure_alarms(cw: Any, params: Params) -> dict[str, str]:
    """Create the project's auto-rollback alarms, or update them (``PutMetricAlarm`` replaces an alarm's
    definition; its tags stay as created). An alarm of that name without the project's tag is someone else's and
    is refused. Returns ``{name: "created" | "updated"}``."""
    found = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=alarm_names(params) or ["-"],
                                                           AlarmTypes=["MetricAlarm"])["MetricAlarms"]}
    done: dict[str, str] = {}
    for request in alarm_requests(params):
        existing = found.get(request["AlarmName"])
        if existing and _tags(cw, existing["AlarmArn"]).get(PROJECT_TAG) != params.project_name:
            raise OwnershipError(f"CloudWatch alarm {request['AlarmName']} already exists but is not this project's "
                                 "(no retrain:project tag); change endpoint_name or delete the alarm yourself.")
        cw.put_metric_alarm(**request)
        done[request["AlarmName"]] = "updated" if existing else "created"
    return done


def project_alarms(cw: Any, params: Params) -> list[dict[str, Any]]:
    """The alarms named like the project's endpoint's (``<endpoint_name>-``), whoever made them."""
    found: list[dict[str, Any]] = []
    for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"{params.endpoint_name}-",
                                                              AlarmTypes=["MetricAlarm"]):
        found += page["MetricAlarms"]
    return found


def owned_alarm(cw: Any, params: Params, alarm: dict[str, Any]) -> bool:
    """Whether ``alarm`` carries the project's tag."""
    return _tags(cw, alarm["AlarmArn"]).get(PROJECT_TAG) == params.project_name
