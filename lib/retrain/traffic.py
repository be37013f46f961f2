"""The share of traffic each fleet served during a guarded update, from the endpoint's own CloudWatch metrics.

Both fleets of a blue/green update carry the production variant's name, so they are told apart by the
``EndpointConfigName`` dimension: "CloudWatch publishes the metrics with the dimension
EndpointConfigName:{New-Ep-Config} after the new fleet starts receiving traffic" (SageMaker Developer Guide,
"Auto-Rollback Configuration and Monitoring"). ``Invocations`` (namespace ``AWS/SageMaker``, statistic Sum: "Monitor
Amazon SageMaker with Amazon CloudWatch", endpoint invocation metrics) per period for the old config and for the
run's config gives each fleet's requests; AWS publishes them per minute, localcloud per second.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from retrain.deployment import VARIANT

#: the update's first state and the states it ends in (notebook 03)
UPDATE_STATE = "Update Endpoint"


def update_window(events: list[dict[str, Any]]) -> tuple[datetime, datetime] | None:
    """When the execution entered ``Update Endpoint`` and when it ended (None when it never updated)."""
    entered = next((e["timestamp"] for e in events if e.get("type") == "TaskStateEntered"
                    and (e.get("stateEnteredEventDetails") or {}).get("name") == UPDATE_STATE), None)
    if entered is None or not events:
        return None
    return entered, events[-1]["timestamp"]


def invocations(cw: Any, endpoint: str, configs: dict[str, str], start: datetime, end: datetime, period: int
                ) -> dict[str, dict[datetime, float]]:
    """``{label: {period start: requests}}`` for each ``{label: endpoint config}``."""
    out: dict[str, dict[datetime, float]] = {}
    for label, config in configs.items():
        points = cw.get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName="Invocations", StartTime=start - timedelta(seconds=period),
            EndTime=end + timedelta(seconds=period), Period=period, Statistics=["Sum"],
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": VARIANT},
                        {"Name": "EndpointConfigName", "Value": config}])["Datapoints"]
        out[label] = {p["Timestamp"]: float(p["Sum"]) for p in points}
    return out


def totals(series: dict[str, dict[datetime, float]]) -> dict[str, int]:
    return {label: int(sum(points.values())) for label, points in series.items()}


def plot_traffic(series: dict[str, dict[datetime, float]], title: str = "Requests per fleet during the update"
                 ) -> Any:
    """Requests each fleet answered per period, stacked."""
    from retrain.reports import _pyplot

    plt = _pyplot()
    times = sorted({t for points in series.values() for t in points})
    origin = times[0] if times else None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bottom = [0.0] * len(times)
    for (label, points), colour in zip(series.items(), ("#90a4ae", "#43a047"), strict=False):
        values = [points.get(t, 0.0) for t in times]
        seconds = [(t - origin).total_seconds() for t in times] if origin else []
        ax.bar(seconds, values, bottom=bottom, width=_width(seconds), align="edge", label=label, color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xlabel("seconds since the first request of the update")
    ax.set_ylabel("requests")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def _width(seconds: list[float]) -> float:
    steps = [b - a for a, b in zip(seconds, seconds[1:], strict=False) if b > a]
    return 0.9 * (min(steps) if steps else 1.0)


def traffic_alt(series: dict[str, dict[datetime, float]]) -> str:
    """What the plot says, for readers who cannot see it."""
    counted = totals(series)
    total = sum(counted.values()) or 1
    parts = [f"{label} {count} ({count / total:.0%})" for label, count in counted.items()]
    return "Stacked bars of the requests each fleet answered per period during the update: " + ", ".join(parts) + "."
