"""The endpoint invocation metrics SageMaker publishes to CloudWatch (SageMaker Developer Guide, "Monitor Amazon
SageMaker with Amazon CloudWatch", Endpoint Invocation Metrics): namespace ``AWS/SageMaker``, dimensions
EndpointName and VariantName — and with EndpointConfigName too, the dimension deployment guardrails' alarms use to
watch one fleet ("Auto-Rollback Configuration and Monitoring": "CloudWatch publishes the metrics with the
dimension EndpointConfigName:{New-Ep-Config} after the new fleet starts receiving traffic").

Per invocation: ``Invocations`` 1; ``Invocation4XXErrors``/``Invocation5XXErrors``/``InvocationModelErrors`` 1 or
0 as the model answered 4xx / 5xx / not 2xx ("For each 4xx response, 1 is sent; otherwise, 0 is sent"), unit None;
``ModelLatency`` (the container's answer as SageMaker sees it) and ``OverheadLatency`` (the rest of the request's
time in the service) in Microseconds. They go to the server's metric hub (:mod:`localcloud.core.metrics`): a shadow
variant's under its own VariantName.
"""

from __future__ import annotations

from localcloud.core.metrics import MetricHub

NAMESPACE = "AWS/SageMaker"


def publish(hub: MetricHub, region: str, endpoint: str, variant: str, config: str, status: int, model_us: float,
            overhead_us: float) -> None:
    """One invocation's metrics."""
    counts = {"Invocations": 1, "Invocation4XXErrors": int(400 <= status < 500),
              "Invocation5XXErrors": int(status >= 500), "InvocationModelErrors": int(not 200 <= status < 300)}
    for dims in ({"EndpointName": endpoint, "VariantName": variant},
                 {"EndpointName": endpoint, "VariantName": variant, "EndpointConfigName": config}):
        for name, value in counts.items():
            hub.record(region, NAMESPACE, name, dims, value, "None")
        hub.record(region, NAMESPACE, "ModelLatency", dims, model_us, "Microseconds")
        hub.record(region, NAMESPACE, "OverheadLatency", dims, overhead_us, "Microseconds")
