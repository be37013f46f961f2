"""Events a service sends to EventBridge about itself (Step Functions' "Step Functions Execution Status Change"),
handed over inside the server.

On AWS such events reach the account's default event bus from the service itself, with a source of its own
(``aws.states``); here a service sends each event to the server's :class:`EventHub`, and the EventBridge backend,
listening, matches it against the default bus's rules and delivers it as it does S3's events. Neither side
imports the other. Delivery is best effort, as AWS states for these events (EventBridge events reference, "AWS
Step Functions events": "Delivery type: Best effort"): a listener that fails is logged, and the sender goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

LOG = logging.getLogger(__name__)

#: a listener: (event, account, region)
Listener = Callable[[dict[str, Any], str, str], None]


class EventHub:
    """The server's channel from services' own events to EventBridge."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def send(self, event: dict[str, Any], account: str, region: str) -> None:
        """Hand ``event`` to every listener (none: it is dropped, as an event no rule matches)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event, account, region)
            except Exception as exc:  # noqa: BLE001 - best effort: the sender's work must not fail on delivery
                LOG.warning("event %s from %s not delivered: %s", event.get("detail-type"), event.get("source"), exc)
