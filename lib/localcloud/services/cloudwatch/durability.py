"""What of CloudWatch outlives a restart: metric datapoints, metric alarms (with their state), alarm history and
tags. The records are kept as they are; the datapoints' nested dictionaries as plain ones. An alarm's evaluator
carries on from the restored state (its next evaluation reads the restored datapoints)."""

from __future__ import annotations

from typing import Any


def state(backend: Any) -> tuple[dict[str, Any], None]:
    backend.metrics.drain()  # the services' own metrics still on their way
    store = backend.metrics.store
    with backend.lock, store._lock:
        points = {region: {key: list(values) for key, values in by_key.items()}
                  for region, by_key in store._points.items()}
        return ({"points": points, "order": dict(store._order), "alarms": dict(backend.alarms),
                 "history": list(backend.history), "tags": dict(backend.tags)}, None)


def restore(backend: Any, saved: dict[str, Any]) -> None:
    store = backend.metrics.store
    with backend.lock, store._lock:
        for region, by_key in saved["points"].items():
            target = store._points[region]
            for key, values in by_key.items():
                target[key].extend(values)
        store._order.update(saved["order"])
        backend.alarms.update(saved["alarms"])
        backend.history.extend(saved["history"])
        backend.tags.update(saved["tags"])

