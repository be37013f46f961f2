"""Safe deployment: the guarded endpoint update the workflow asks SageMaker for, and the CloudWatch alarms that
roll a misbehaving model back.

SageMaker's deployment guardrails ("Deployment guardrails", SageMaker Developer Guide) shift traffic from the old
(blue) fleet to the new (green) one all at once, in a canary step or in linear steps, bake between steps and roll
all traffic back to the old fleet when an alarm of ``AutoRollbackConfiguration`` goes into ALARM. The parameters
(``deployment``, ``canary_percent``, ``linear_step_percent``, ``wait_interval_seconds``,
``termination_wait_seconds``, ``max_execution_timeout_seconds``, ``rollback_alarms`` and the ``alarm_*`` /
``max_*`` thresholds) choose it; :func:`deployment_config` turns them into ``UpdateEndpoint``'s ``DeploymentConfig``.

The optimized ``arn:aws:states:::sagemaker:updateEndpoint`` integration supports only ``EndpointConfigName`` and
``EndpointName`` (Step Functions Developer Guide, "Create and manage Amazon SageMaker AI jobs with Step Functions":
UpdateEndpoint, supported parameters), and the SDK's ``EndpointStep`` builds nothing else, so ``Update Endpoint``
is an AWS SDK integration (``aws-sdk:sagemaker:updateEndpoint``, "AWS SDK service integrations"), which sends the
whole request as botocore's model has it.

The alarms watch the endpoint, not a run: they are made with the other long-lived resources (notebook 02), carry
the project's tag, and go with the endpoint in clean-up. Their shape follows the guide's examples ("Auto-Rollback
Configuration and Monitoring"): the average of ``Invocation5XXErrors`` over both fleets (an error rate, each request
counting 1 or 0) and the average ``ModelLatency`` (microseconds), on ``EndpointName`` + ``VariantName``, missing
data not breaching.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from retrain.errors import ParamsError

if TYPE_CHECKING:
    from retrain.parameters import Params

#: the production variant's name: the SDK's EndpointConfigStep default (``variant_name='AllTraffic'``)
VARIANT = "AllTraffic"
KINDS = {"all_at_once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}
#: botocore's sagemaker model: WaitIntervalInSeconds and TerminationWaitInSeconds 0-3600,
#: MaximumExecutionTimeoutInSeconds 600-28800
WAIT_RANGE, TIMEOUT_RANGE = (0, 3600), (600, 28800)
#: PutMetricAlarm's Period: 10, 30 or a multiple of 60 (CloudWatch API Reference, PutMetricAlarm, Period)
SHORT_PERIODS = (10, 30)
#: what ``Update Endpoint`` retries. AWS SDK integrations name a modelled error ``<Service>.<Code>Exception`` and any
#: other ``<Service>.<Service>Exception`` (Step Functions guide, "AWS SDK service integrations"); botocore's
#: sagemaker model declares only ResourceLimitExceeded for UpdateEndpoint, so throttling, internal errors and an
#: update still in progress arrive as the second.
SDK_TRANSIENT_ERRORS = ("SageMaker.ResourceLimitExceededException", "SageMaker.SageMakerException")


def alarm_names(params: Params) -> list[str]:
    """The auto-rollback alarms of the project's endpoint (none when ``rollback_alarms`` is off)."""
    if not params.rollback_alarms:
        return []
    return [f"{params.endpoint_name}-5xx-errors", f"{params.endpoint_name}-model-latency"]


def alarm_requests(params: Params) -> list[dict[str, Any]]:
    """The ``PutMetricAlarm`` requests of :func:`alarm_names`."""
    names = alarm_names(params)
    if not names:
        return []
    dimensions = [{"Name": "EndpointName", "Value": params.endpoint_name}, {"Name": "VariantName", "Value": VARIANT}]
    common = {"Namespace": "AWS/SageMaker", "Statistic": "Average", "Dimensions": dimensions,
              "Period": params.alarm_period_seconds, "EvaluationPeriods": params.alarm_evaluation_periods,
              "DatapointsToAlarm": params.alarm_datapoints_to_alarm, "ComparisonOperator": "GreaterThanThreshold",
              "TreatMissingData": "notBreaching", "Tags": [{"Key": k, "Value": v} for k, v in params.tags.items()]}
    return [
        {"AlarmName": names[0], "MetricName": "Invocation5XXErrors", "Threshold": params.max_error_rate,
         "AlarmDescription": f"share of requests to {params.endpoint_name} answered with a 5xx error (both fleets) "
                             f"above {params.max_error_rate}: a guarded update rolls back", **common},
        # ModelLatency is in microseconds ("Monitor Amazon SageMaker with Amazon CloudWatch", endpoint invocation
        # metrics)
        {"AlarmName": names[1], "MetricName": "ModelLatency", "Threshold": params.max_model_latency_ms * 1000.0,
         "AlarmDescription": f"average model latency of {params.endpoint_name} above {params.max_model_latency_ms} ms:"
                             " a guarded update rolls back", **common},
    ]


def deployment_config(params: Params) -> dict[str, Any]:
    """``UpdateEndpoint``'s ``DeploymentConfig`` (SageMaker API Reference, DeploymentConfig, BlueGreenUpdatePolicy,
    TrafficRoutingConfig; request examples of "Use canary/linear/all at once traffic shifting")."""
    kind = KINDS[params.deployment]
    routing: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": params.wait_interval_seconds}
    if kind == "CANARY":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": params.canary_percent}
    elif kind == "LINEAR":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": params.linear_step_percent}
    config: dict[str, Any] = {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": routing, "TerminationWaitInSeconds": params.termination_wait_seconds,
        "MaximumExecutionTimeoutInSeconds": params.max_execution_timeout_seconds}}
    names = alarm_names(params)
    if names:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in names]}
    return config


def baking_seconds(params: Params) -> int:
    """How long the guarded update bakes in all: every step but the last waits ``wait_interval_seconds``, then
    the final baking period ``termination_wait_seconds``."""
    steps = {"all_at_once": 1, "canary": 2, "linear": math.ceil(100 / params.linear_step_percent)}[params.deployment]
    return (steps - 1) * params.wait_interval_seconds + params.termination_wait_seconds


def _bad(source: str, key: str, value: Any, why: str) -> ParamsError:
    return ParamsError(f"{source}: {key}={value!r} {why}")


def _int(source: str, params: Params, key: str, low: float, high: float, why: str) -> int:
    value = getattr(params, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"{source}: {key} must be an integer, got {value!r} ({type(value).__name__}).")
    if not low <= value <= high:
        raise _bad(source, key, value, why)
    return value


def validate_deployment(params: Params, source: str) -> None:
    """The deployment parameters are ones SageMaker and CloudWatch accept, and fit the run's time limit."""
    if params.deployment not in KINDS:
        raise _bad(source, "deployment", params.deployment, f"is not one of: {', '.join(KINDS)}.")
    # "the canary size should be less than or equal to 50%" / "each linear step should only be between 10-50%"
    # (SageMaker Developer Guide, "Use canary traffic shifting", "Use linear traffic shifting")
    _int(source, params, "canary_percent", 1, 50, "must be 1-50: the share of traffic the new fleet takes first.")
    _int(source, params, "linear_step_percent", 10, 50, "must be 10-50: the share of traffic each step shifts.")
    for key in ("wait_interval_seconds", "termination_wait_seconds"):
        _int(source, params, key, *WAIT_RANGE, "must be 0-3600 (SageMaker's limits for a baking period).")
    _int(source, params, "max_execution_timeout_seconds", *TIMEOUT_RANGE,
         "must be 600-28800 (SageMaker's limits for MaximumExecutionTimeoutInSeconds).")
    if not isinstance(params.rollback_alarms, bool):
        raise ParamsError(f"{source}: rollback_alarms must be true or false, got {params.rollback_alarms!r}.")
    period = _int(source, params, "alarm_period_seconds", 10, 86400, "must be 10, 30 or a multiple of 60.")
    if period not in SHORT_PERIODS and period % 60:
        raise _bad(source, "alarm_period_seconds", period, "must be 10, 30 or a multiple of 60 (PutMetricAlarm).")
    periods = _int(source, params, "alarm_evaluation_periods", 1, 100, "must be 1 or more.")
    _int(source, params, "alarm_datapoints_to_alarm", 1, periods,
         f"must be 1 to alarm_evaluation_periods ({periods}): M of the N periods must breach.")
    for key, high in (("max_error_rate", 1.0), ("max_model_latency_ms", 3_600_000.0)):
        value = getattr(params, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
            raise _bad(source, key, value, f"must be a number from 0 to {high:g}.")
        setattr(params, key, float(value))
    _check_timing(params, source)


def _check_timing(params: Params, source: str) -> None:
    baking = baking_seconds(params)
    if baking >= params.max_execution_timeout_seconds:
        raise ParamsError(f"{source}: the {params.deployment} deployment bakes {baking} s in all, which does not fit "
                          f"max_execution_timeout_seconds={params.max_execution_timeout_seconds}; shorten "
                          "wait_interval_seconds / termination_wait_seconds or raise the timeout.")
    if baking >= params.execution_timeout_seconds:
        raise ParamsError(f"{source}: the {params.deployment} deployment bakes {baking} s, longer than the whole "
                          f"run may take (execution_timeout_seconds={params.execution_timeout_seconds}).")


def update_endpoint_step(params: Params, execution_input: Any) -> Any:
    """``Update Endpoint``: ``aws-sdk:sagemaker:updateEndpoint`` with this run's config and the guarded
    ``DeploymentConfig`` (see the module's docstring for why not the optimized integration)."""
    from stepfunctions import steps

    return steps.Task(
        "Update Endpoint",
        resource="arn:aws:states:::aws-sdk:sagemaker:updateEndpoint",
        parameters={"EndpointName": execution_input["EndpointName"],
                    "EndpointConfigName": execution_input["EndpointConfigName"],
                    "DeploymentConfig": deployment_config(params)},
        result_path="$.EndpointAction",
    )


def describe(params: Params) -> str:
    """The deployment in words (for notebooks and reports)."""
    kind = {"all_at_once": "all traffic at once",
            "canary": f"a canary of {params.canary_percent}% for {params.wait_interval_seconds} s, then the rest",
            "linear": f"steps of {params.linear_step_percent}% every {params.wait_interval_seconds} s"}
    alarms = ", ".join(alarm_names(params)) or "no alarms (rollback_alarms: false)"
    return (f"{kind[params.deployment]}; final baking {params.termination_wait_seconds} s; at most "
            f"{params.max_execution_timeout_seconds} s; rolled back by {alarms}")

