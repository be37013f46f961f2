"""The EventBridge backend of one server: rules matched and delivered, S3 events, SNS deliveries, the schedule
clock. moto keeps the state; :mod:`hooks` hands this backend the events of the requests its server serves."""

from __future__ import annotations

import copy
import json
import logging
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from localcloud.core import clients
from localcloud.core.arns import parse_arn
from localcloud.core.context import ServerContext
from localcloud.errors import LocalCloudError
from localcloud.services.eventbridge import hooks, inputs, notify, patterns, s3events
from localcloud.services.eventbridge.clock import Clock, Definition, Tracked, VirtualClock, as_datetime
from localcloud.services.eventbridge.delivery import Delivery, Job

LOG = logging.getLogger(__name__)

#: rule targets localcloud delivers itself; any other (CloudWatch Logs, archives, API destinations) is moto's
_OWN_TARGETS = ("states", "lambda", "sns", "sqs")
#: the order of an event's fields, as AWS writes them
_FIELDS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _normalise(event: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """moto's event (``time`` and ``ingestion-time`` as epoch seconds) as EventBridge delivers it, and its
    ingestion time."""
    ingested = event.get("ingestion-time", time.time())
    when = event.get("time")
    out = {key: event[key] for key in _FIELDS if key in event}
    if isinstance(when, (int, float)) or (isinstance(when, str) and when.replace(".", "", 1).isdigit()):
        out["time"] = _iso(datetime.fromtimestamp(float(when), UTC))
    stamp = datetime.fromtimestamp(float(ingested), UTC) if isinstance(ingested, (int, float)) else datetime.now(UTC)
    return out, stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def time_scale() -> float:
    """The clock of schedules and delivery retries: ``LOCALCLOUD_EVENTS_TIME_SCALE`` (e.g. 0.0167: a
    ``rate(1 minute)`` schedule fires about every second; default 1, the wall clock), read when a server starts."""
    raw = os.environ.get("LOCALCLOUD_EVENTS_TIME_SCALE", "").strip()
    try:
        value = float(raw) if raw else 1.0
    except ValueError:
        value = -1.0
    if value <= 0:
        raise LocalCloudError(f"LOCALCLOUD_EVENTS_TIME_SCALE must be a positive number, not {raw!r}.")
    return value


class EventBridgeBackend:
    """Deliveries and the clock of one localcloud."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.time_scale = time_scale()
        self.delivery = Delivery(ctx, self.time_scale)
        self.clock = VirtualClock(self.time_scale)
        self.schedules = Clock(self.clock, self.delivery.stopping)
        hooks.install()
        ctx.events.listen(self.emit)  # services' own events (core/events.py) go to the default bus

    def shutdown(self) -> None:
        self.delivery.shutdown()
        self.schedules.stop()

    # ------------------------------------------------------------------------------------------- rules
    def rule_event(self, rule: Any, event: dict[str, Any]) -> None:
        """An event put on ``rule``'s bus (moto calls this once per rule of the bus)."""
        if rule.state != "ENABLED":
            return
        shaped, ingested = _normalise(event)
        if patterns.matches(rule.event_pattern.dump(), shaped):
            self._to_targets(rule, shaped, ingested, event)

    def _to_targets(self, rule: Any, event: dict[str, Any], ingested: str, moto_event: dict[str, Any]) -> None:
        theirs = []
        for target in rule.targets:
            arn = parse_arn(str(target.get("Arn", "")))
            service = arn.service if arn else ""
            if service in _OWN_TARGETS or (service == "events" and ":event-bus/" in str(target.get("Arn"))):
                payload = inputs.target_input(target, event, rule_arn=rule.arn, rule_name=rule.name,
                                              ingestion_time=ingested)
                # an execution EventBridge starts is named after the event (its name starts with the EventId:
                # validated on AWS, localstack test_events_targets.py TestEventsTargetStepFunctions, 2024-08-29)
                self.delivery.submit(Job(target=copy.deepcopy(target), payload=payload, source_arn=rule.arn,
                                         service="events", region=rule.region_name,
                                         execution_name=f"{event['id']}_{uuid.uuid4()}",
                                         dead_letter_body=json.dumps(event)))
            else:
                theirs.append(target)
        if theirs:
            only = copy.copy(rule)
            only.targets = theirs
            hooks.moto_send(only, {**moto_event, "time": moto_event.get("time") or time.time()})

    def emit(self, event: dict[str, Any], account: str, region: str, bus: str = "default") -> None:
        """An event an AWS service sends to a bus (S3's and Step Functions' to the default bus)."""
        from moto.events.models import events_backends

        found = events_backends[account][region].event_buses.get(bus)
        if found is None:
            return
        ingested = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        for rule in list(found.rules.values()):
            if rule.state == "ENABLED" and patterns.matches(rule.event_pattern.dump(), event):
                self._to_targets(rule, event, ingested, {**event, "time": time.time()})

    def s3_event(self, account: str, bucket: Any, event_name: str, key: Any) -> None:
        from moto.s3.notifications import _detail_type

        if s3events.is_inner_put(event_name, key):
            return
        name = str(getattr(event_name, "value", event_name))  # moto passes an enum member
        event = s3events.s3_event(account=account, region=bucket.region_name, bucket=bucket.name,
                                  versioned=bool(bucket.is_versioned), event_name=name,
                                  detail_type=_detail_type(event_name), key=key)
        self.emit(event, account, bucket.region_name)

    # ------------------------------------------------------------------------------------------- SNS
    def sns_notify(self, subscription: Any, message: str, message_id: str, subject: str | None,
                   attributes: dict[str, Any] | None) -> None:
        body = notify.notification(subscription, message, message_id, subject, attributes, self.ctx.endpoint_url)
        self.delivery.run(lambda: self._sns_deliver(subscription, message, body))

    def _sns_deliver(self, subscription: Any, message: str, body: dict[str, Any]) -> None:
        protocol, endpoint, arn = subscription.protocol, subscription.endpoint, subscription.arn
        if protocol in ("email", "email-json"):
            text = message if protocol == "email" else json.dumps(body, indent=2)
            path = notify.mail(self.ctx.home, endpoint, subscription.topic.arn, body.get("Subject"), text,
                               body["UnsubscribeURL"] if protocol == "email" else None)
            LOG.info("SNS %s: mail for %s appended to %s", subscription.topic.arn, endpoint, path)
        elif protocol == "lambda":
            region = endpoint.split(":")[3]
            clients.client(self.ctx.endpoint_url, "lambda", region).invoke(
                FunctionName=endpoint, InvocationType="Event",
                Payload=json.dumps(notify.lambda_event(body, arn)).encode())
        else:
            self._sns_post(subscription, message, body)

    def _sns_post(self, subscription: Any, message: str, body: dict[str, Any]) -> None:
        raw = str(subscription.attributes.get("RawMessageDelivery", "false")).lower() == "true"
        for attempt in range(notify.HTTP_RETRIES + 1):
            try:
                status = notify.post(subscription.endpoint, message if raw else body, subscription.arn,
                                     subscription.topic.arn, body["MessageId"], raw)
            except OSError as exc:
                status, why = 0, str(exc)
            else:
                why = f"HTTP {status}"
            if 200 <= status < 300:
                return
            LOG.warning("SNS delivery to %s failed (%s), attempt %d", subscription.endpoint, why, attempt + 1)
            if self.delivery.stopping.wait(notify.HTTP_RETRY_DELAY * self.time_scale):
                return

    # ------------------------------------------------------------------------------------------- the clock
    def track_schedule(self, account: str, region: str, schedule: Any) -> None:
        group, name = schedule.group_name, schedule.name

        def current() -> Any:
            from moto.scheduler.models import scheduler_backends

            try:
                return scheduler_backends[account][region].get_schedule(group, name)
            except Exception:  # noqa: BLE001 - deleted
                return None

        def read() -> Definition | None:
            found = current()
            if found is None:
                return None
            window = found.flexible_time_window or {}
            return Definition(
                expression=found.schedule_expression, zone=found.schedule_expression_timezone,
                enabled=found.state == "ENABLED", start=as_datetime(found.start_date),
                end=as_datetime(found.end_date), version=found.last_modified_date,
                flexible_minutes=float(window.get("MaximumWindowInMinutes") or 0)
                if window.get("Mode") == "FLEXIBLE" else 0.0,
                delete_after=found.action_after_completion == "DELETE")

        def remove() -> None:
            from moto.scheduler.models import scheduler_backends

            scheduler_backends[account][region].delete_schedule(group, name)

        self.schedules.track(Tracked(arn=schedule.arn, created=self.clock.now(), read=read, remove=remove,
                                     fire=lambda when: self._fire_schedule(current(), region, when)))

    def _fire_schedule(self, schedule: Any, region: str, when: datetime) -> None:
        if schedule is None:
            return
        target = copy.deepcopy(schedule.target)
        execution_id = str(uuid.uuid4())
        # context attributes a target's Input may carry (Scheduler user guide, "Adding context attributes")
        payload = str(target.get("Input") or "{}")
        for name, value in (("schedule-arn", schedule.arn), ("scheduled-time", _iso(when)),
                            ("execution-id", execution_id), ("attempt-number", "1")):
            payload = payload.replace(f"<aws.scheduler.{name}>", value)
        # Scheduler lets Step Functions name the execution: a UUID (github CIROH-UA/ngen-datastream issue 285
        # shows such names on executions Scheduler started)
        self.delivery.submit(Job(target=target, payload=payload, source_arn=schedule.arn, service="scheduler",
                                 region=region, execution_name=str(uuid.uuid4()), dead_letter_body=payload))

    def track_rule(self, account: str, region: str, rule: Any) -> None:
        bus, name = rule.event_bus_name, rule.name

        def current() -> Any:
            from moto.events.models import events_backends

            found = events_backends[account][region].event_buses.get(bus)
            return found.rules.get(name) if found is not None else None

        def read() -> Definition | None:
            found = current()
            if found is None or not found.scheduled_expression:
                return None
            return Definition(expression=found.scheduled_expression, zone=None, enabled=found.state == "ENABLED",
                              start=None, end=None, flexible_minutes=0.0, version=found.scheduled_expression)

        def fire(when: datetime) -> None:
            found = current()
            if found is None:
                return
            # a scheduled rule's event ("Creating a rule that runs on a schedule", EventBridge user guide)
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": account, "time": _iso(when), "region": region,
                     "resources": [found.arn], "detail": {}}
            self._to_targets(found, event, _iso(when), {**event, "time": when.timestamp()})

        self.schedules.track(Tracked(arn=rule.arn, created=self.clock.now(), read=read, fire=fire,
                                     remove=lambda: None, rule=True))
