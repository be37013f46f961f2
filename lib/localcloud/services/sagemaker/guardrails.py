"""Deployment guardrails: what a ``DeploymentConfig`` asks of an endpoint update, checked, and as a plan of traffic
steps (SageMaker Developer Guide, "Deployment guardrails", "Blue/Green Deployments", "All At Once / Canary / Linear
Traffic Shifting", "Auto-Rollback Configuration and Monitoring"; shapes and ranges from botocore's sagemaker model:
``DeploymentConfig``, ``BlueGreenUpdatePolicy``, ``TrafficRoutingConfig``, ``CapacitySize``).

- ALL_AT_ONCE shifts all traffic in one step; CANARY shifts ``CanarySize`` first, then the rest; LINEAR shifts
  ``LinearStepSize`` per step. Each step but the last bakes ``WaitIntervalInSeconds``; once the new fleet has all
  traffic, a final baking period of ``TerminationWaitInSeconds`` precedes terminating the old fleet.
- A step's share of traffic is the capacity it turns on: CAPACITY_PERCENT ``v`` is ``v``% of the requests;
  INSTANCE_COUNT ``v`` of a variant of ``n`` instances is ``v/n`` of them. (localcloud runs one model server per
  variant whatever its instance count, so it shifts requests, not instances.)
- The texts of the variant statuses follow the examples in "Events that Amazon SageMaker sends to Amazon
  EventBridge" (Endpoint deployment state change). The texts of the checks below and of a rollback's
  FailureReason could not be confirmed against AWS; they are kept here, in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from localcloud.services.sagemaker.validation import invalid

#: the FailureReason of an update an alarm rolled back, and of one that ran out of time (not confirmed)
ROLLED_BACK = ("Deployment was rolled back because CloudWatch alarm(s) in the auto-rollback configuration went into "
               "ALARM state: {alarms}.")
TIMED_OUT = ("Deployment was rolled back because it did not complete within MaximumExecutionTimeoutInSeconds "
             "({seconds} seconds).")
#: VariantStatus messages (EventBridge examples: "Launching X instance(s).", "Activating traffic on canary capacity
#: of X instance(s).", "Baking for X seconds (TerminationWaitInSeconds) with traffic enabled on full capacity of Y
#: instance(s).")
LAUNCHING = "Launching {count} instance(s)."
ACTIVATING = "Activating traffic on {stage} capacity of {count} instance(s)."
BAKING = "Baking for {seconds} seconds ({which}) with traffic enabled on {stage} capacity of {count} instance(s)."


@dataclass(frozen=True)
class Plan:
    """A blue/green update: the new fleet's cumulative share of traffic per step, the waits, the alarms."""

    kind: str
    steps: tuple[float, ...]
    wait: int
    termination: int
    timeout: int | None
    alarms: tuple[str, ...]

    def stage(self, share: float) -> str:
        """How the variant statuses name a step's capacity."""
        return "full" if share >= 1.0 else "canary" if self.kind == "CANARY" else "linear step"


def _share(size: dict[str, Any] | None, member: str, count: int) -> float:
    if not isinstance(size, dict) or size.get("Type") not in ("INSTANCE_COUNT", "CAPACITY_PERCENT"):
        raise invalid(f"{member} must be a CapacitySize with Type INSTANCE_COUNT or CAPACITY_PERCENT and a Value.")
    value = int(size.get("Value") or 0)
    if value < 1:
        raise invalid(f"{member}.Value must be at least 1.")
    share = value / 100 if size["Type"] == "CAPACITY_PERCENT" else value / max(count, 1)
    return min(share, 1.0)


def plan(deployment_config: dict[str, Any] | None, instance_count: int = 1) -> Plan | None:
    """The blue/green plan of ``deployment_config`` (None without a BlueGreenUpdatePolicy: SageMaker's default
    blue/green update, all at once with no baking). Raises ValidationException for what AWS refuses."""
    if not deployment_config:
        return None
    if not isinstance(deployment_config, dict):
        raise invalid("DeploymentConfig must be an object.")
    if deployment_config.get("RollingUpdatePolicy"):
        raise invalid("localcloud runs blue/green deployments (BlueGreenUpdatePolicy); RollingUpdatePolicy is not "
                      "supported.")
    policy = deployment_config.get("BlueGreenUpdatePolicy")
    rollback = deployment_config.get("AutoRollbackConfiguration") or {}
    alarms = tuple(str(a.get("AlarmName", "")) for a in rollback.get("Alarms") or [] if isinstance(a, dict))
    if not policy:
        return None
    routing = policy.get("TrafficRoutingConfiguration") or {}
    kind = routing.get("Type")
    if kind not in ("ALL_AT_ONCE", "CANARY", "LINEAR"):
        raise invalid("TrafficRoutingConfiguration.Type must be one of ALL_AT_ONCE, CANARY, LINEAR.")
    steps: tuple[float, ...] = (1.0,)
    if kind == "CANARY":
        if routing.get("CanarySize") is None:
            raise invalid("CanarySize must be specified when TrafficRoutingConfiguration.Type is CANARY.")
        canary = _share(routing["CanarySize"], "CanarySize", instance_count)
        if canary > 0.5:  # "the canary size should be less than or equal to 50% of the new fleet's capacity"
            raise invalid("CanarySize must be less than or equal to 50% of the variant's total instance count.")
        steps = (canary, 1.0)
    elif kind == "LINEAR":
        if routing.get("LinearStepSize") is None:
            raise invalid("LinearStepSize must be specified when TrafficRoutingConfiguration.Type is LINEAR.")
        step = _share(routing["LinearStepSize"], "LinearStepSize", instance_count)
        if not 0.1 <= step <= 0.5:  # "steps that are 10-50% of the green fleet's capacity"
            raise invalid("LinearStepSize must be between 10% and 50% of the variant's total instance count.")
        count = math.ceil(1 / step - 1e-9)
        steps = tuple(min(1.0, step * i) for i in range(1, count + 1))
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    return Plan(kind=kind, steps=steps, wait=int(routing.get("WaitIntervalInSeconds") or 0),
                termination=int(policy.get("TerminationWaitInSeconds") or 0),
                timeout=int(timeout) if timeout is not None else None, alarms=alarms)


def instances(share: float, count: int) -> int:
    """How many of a variant's ``count`` instances a share of its capacity is (at least one)."""
    return max(1, min(count, math.ceil(share * count - 1e-9)))
