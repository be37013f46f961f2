"""A guarded blue/green update in progress: traffic shifted step by step to the new (green) fleet, each baking
period watched through the auto-rollback alarms, then the old (blue) fleet terminated — or all traffic back on blue.

The fleets are both live in one routing table (:class:`~.hosting.Live` with ``green``/``share``), replaced as a
whole at each step, so every request is answered by one of them: a rollback or a failed step never leaves a gap.
SageMaker reads the alarms as a CloudWatch client would, with DescribeAlarms ("Ensure that your IAM execution role
has permission to perform the cloudwatch:DescribeAlarms action": SageMaker Developer Guide, "Auto-Rollback
Configuration and Monitoring"): here over HTTP with the model's execution role. Waits run on the server's
monitoring time scale (``LOCALCLOUD_MONITORING_TIME_SCALE``), the clock CloudWatch's alarm periods run on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.core.clients import client
from localcloud.core.context import ServerContext
from localcloud.core.jobs import utcnow
from localcloud.services.sagemaker import guardrails, hosting
from localcloud.services.sagemaker.models import Endpoint

LOG = logging.getLogger(__name__)


@dataclass
class Host:
    """What a rollout touches of the deployments that started it."""

    ctx: ServerContext
    lock: threading.RLock
    router: hosting.Router
    stopping: threading.Event
    time_scale: float
    live: Callable[[Endpoint, int], bool]  # whether the endpoint is still this deployment's
    finish: Callable[[hosting.Live], None]  # publish the new fleet alone: the endpoint in service with it


class Rollout:
    """One guarded update of ``endpoint`` from ``blue`` to ``green`` by ``plan``."""

    def __init__(self, host: Host, endpoint: Endpoint, generation: int, blue: hosting.Live, green: hosting.Live,
                 plan: guardrails.Plan, region: str, role: str | None) -> None:
        self.host, self.endpoint, self.generation = host, endpoint, generation
        self.blue, self.green, self.plan, self.region, self.role = blue, green, plan, region, role
        self.started = time.monotonic()
        self.shifted = False  # whether the green fleet has been in the routing table

    def run(self) -> None:
        counts = [int(v.get("DesiredInstanceCount", 1)) for v in (self.endpoint.pending or {}).get(
            "ProductionVariants", [])] or [1]
        for share in self.plan.steps:
            final = share >= 1.0
            active = [guardrails.instances(share, c) for c in counts]
            stage = self.plan.stage(share)
            self._status("ActivatingTraffic", guardrails.ACTIVATING.format(stage=stage, count=active[0]), share)
            if not self._publish(hosting.Live(self.blue.variants, self.blue.shadows, self.green, share)):
                return
            seconds = self.plan.termination if final else self.plan.wait
            which = "TerminationWaitInSeconds" if final else "WaitIntervalInSeconds"
            self._status("Baking", guardrails.BAKING.format(seconds=seconds, which=which, stage=stage,
                                                            count=active[0]), share)
            if not self._bake(seconds):
                return
        with self.host.lock:
            if self.host.live(self.endpoint, self.generation):
                self.host.finish(self.green)

    def _publish(self, live: hosting.Live) -> bool:
        with self.host.lock:
            if not self.host.live(self.endpoint, self.generation):
                if not self.shifted:  # deleted meanwhile; once shifted, the deletion retired the green fleet
                    hosting.retire(self.green)
                return False
            self.host.router.publish(self.endpoint.name.lower(), live)
            self.shifted = True
        return True

    def _status(self, status: str, message: str, share: float) -> None:
        with self.host.lock:
            pending = self.endpoint.pending
            if not pending or not self.host.live(self.endpoint, self.generation):
                return
            now = utcnow()
            for variant in pending.get("ProductionVariants", []):
                count = int(variant.get("DesiredInstanceCount", 1))
                variant["CurrentInstanceCount"] = guardrails.instances(share, count) if share > 0 else 0
                variant["CurrentWeight"] = variant.get("DesiredWeight", 1.0) if share > 0 else 0.0
                variant["VariantStatus"] = [{"Status": status, "StatusMessage": message, "StartTime": now}]

    def _bake(self, seconds: int) -> bool:
        """Wait ``seconds`` (scaled) watching the alarms; False when the update was rolled back or abandoned."""
        scale = self.host.time_scale
        end = time.monotonic() + seconds * scale
        tick = max(0.05, min(1.0, 10 * scale))
        while True:
            tripped = self._tripped()
            if tripped:
                self._roll_back(guardrails.ROLLED_BACK.format(alarms=", ".join(tripped)))
                return False
            if self.plan.timeout is not None and time.monotonic() - self.started > self.plan.timeout * scale:
                self._roll_back(guardrails.TIMED_OUT.format(seconds=self.plan.timeout))
                return False
            left = end - time.monotonic()
            if left <= 0:
                return True
            if self.host.stopping.wait(min(tick, left)):
                return False

    def _tripped(self) -> list[str]:
        """The auto-rollback alarms in ALARM now."""
        if not self.plan.alarms:
            return []
        session = self.host.ctx.sessions.issue(self.role, "SageMaker") if self.role else None
        try:
            found: dict[str, Any] = client(self.host.ctx.endpoint_url, "cloudwatch", self.region,
                                           session).describe_alarms(AlarmNames=list(self.plan.alarms))
        except Exception as exc:  # noqa: BLE001 - an unreadable alarm does not roll back; it is logged
            LOG.warning("endpoint %s: cannot read its auto-rollback alarms: %s", self.endpoint.name, exc)
            return []
        return [a["AlarmName"] for a in found.get("MetricAlarms", []) if a.get("StateValue") == "ALARM"]

    def _roll_back(self, reason: str) -> None:
        """All traffic back on the old fleet (one table swap), the new one retired, the update failed."""
        with self.host.lock:
            if not self.host.live(self.endpoint, self.generation):
                return
            self.host.router.publish(self.endpoint.name.lower(), self.blue)
            now = utcnow()
            self.endpoint.status = "InService"
            self.endpoint.failure_reason = reason
            self.endpoint.pending = None
            self.endpoint.last_modified = now
        LOG.info("endpoint %s rolled back: %s", self.endpoint.name, reason)
