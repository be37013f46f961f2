"""Where localcloud attaches to moto: the places an event arises in moto's in-process backends.

moto stores EventBridge rules, S3 buckets, SNS subscriptions and Scheduler schedules and serves their APIs, but
delivers events only partly (no Step Functions targets through a role, no input transformation as AWS does it,
HTTP SNS deliveries on the request thread, no schedule ever fires). These functions replace four of moto's
(``Rule.send_to_targets``, ``moto.s3.notifications._send_event_bridge_message``, ``Subscription.publish`` for
the protocols :data:`OWN_SNS_PROTOCOLS`) and wrap two (``EventsBackend.put_rule``,
``EventBridgeSchedulerBackend.create_schedule``) so that each hands the event to the backend of the localcloud
serving the request (:func:`serving`, set by the server around each moto request; moto's state is per process,
deliveries are per server). Outside a localcloud request moto behaves as it always does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

LOG = logging.getLogger(__name__)

#: the SNS protocols localcloud delivers itself (``sqs`` stays moto's)
OWN_SNS_PROTOCOLS = ("http", "https", "email", "email-json", "lambda")


class Owner(Protocol):
    """What the hooks hand events to (the EventBridge backend of one server)."""

    def rule_event(self, rule: Any, event: dict[str, Any]) -> None: ...
    def s3_event(self, account: str, bucket: Any, event_name: str, key: Any) -> None: ...
    def sns_notify(self, subscription: Any, message: str, message_id: str, subject: str | None,
                   attributes: dict[str, Any] | None) -> None: ...
    def track_rule(self, account: str, region: str, rule: Any) -> None: ...
    def track_schedule(self, account: str, region: str, schedule: Any) -> None: ...


_CURRENT: ContextVar[Owner | None] = ContextVar("localcloud_eventbridge_owner", default=None)
_ORIGINALS: dict[str, Any] = {}
_LOCK = threading.Lock()


@contextmanager
def serving(owner: Owner | None) -> Iterator[None]:
    """Events moto raises while this block runs belong to ``owner``."""
    token = _CURRENT.set(owner)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def moto_send(rule: Any, event: dict[str, Any]) -> None:
    """moto's own delivery of ``event`` to ``rule``'s targets (CloudWatch Logs, archives, API destinations)."""
    _ORIGINALS["rule_send"](rule, event, True)


def _rule_send(rule: Any, event: dict[str, Any], transform_input: bool = True) -> None:
    owner = _CURRENT.get()
    if owner is None:
        _ORIGINALS["rule_send"](rule, event, transform_input)
        return
    owner.rule_event(rule, event)


def _s3_send(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    owner = _CURRENT.get()
    if owner is None:
        _ORIGINALS["s3_send"](account_id, bucket, event_name, key)
        return
    try:
        owner.s3_event(account_id, bucket, event_name, key)
    except Exception:  # noqa: BLE001 - S3 answers the request whatever happens to the event (it is asynchronous)
        LOG.exception("the S3 event %s for %s could not be sent", event_name, getattr(key, "name", key))


def _sns_publish(subscription: Any, message: str, message_id: str, subject: str | None = None,
                 message_attributes: dict[str, Any] | None = None, group_id: str | None = None,
                 deduplication_id: str | None = None, message_structure: str | None = None) -> None:
    owner = _CURRENT.get()
    if owner is None or subscription.protocol not in OWN_SNS_PROTOCOLS:
        _ORIGINALS["sns_publish"](subscription, message, message_id, subject=subject,
                                  message_attributes=message_attributes, group_id=group_id,
                                  deduplication_id=deduplication_id, message_structure=message_structure)
        return
    matcher = subscription._filter_policy_matcher
    if matcher is not None and not matcher.matches(message_attributes, message):
        return
    if message_structure == "json":
        message = subscription._parse_message_structure(message, subscription.protocol)
    owner.sns_notify(subscription, message, message_id, subject, message_attributes)


def _put_rule(backend: Any, *args: Any, **kwargs: Any) -> Any:
    rule = _ORIGINALS["put_rule"](backend, *args, **kwargs)
    owner = _CURRENT.get()
    if owner is not None and rule.scheduled_expression:
        owner.track_rule(backend.account_id, backend.region_name, rule)
    return rule


def _create_schedule(backend: Any, *args: Any, **kwargs: Any) -> Any:
    schedule = _ORIGINALS["create_schedule"](backend, *args, **kwargs)
    owner = _CURRENT.get()
    if owner is not None:
        owner.track_schedule(backend.account_id, backend.region_name, schedule)
    return schedule


def install() -> None:
    """Attach the hooks (once per process)."""
    from moto.events import models as events_models
    from moto.s3 import notifications as s3_notifications
    from moto.scheduler import models as scheduler_models
    from moto.sns import models as sns_models

    with _LOCK:
        if _ORIGINALS:
            return
        _ORIGINALS.update(
            rule_send=events_models.Rule.send_to_targets,
            s3_send=s3_notifications._send_event_bridge_message,
            sns_publish=sns_models.Subscription.publish,
            put_rule=events_models.EventsBackend.put_rule,
            create_schedule=scheduler_models.EventBridgeSchedulerBackend.create_schedule,
        )
        events_models.Rule.send_to_targets = _rule_send  # type: ignore[method-assign]
        s3_notifications._send_event_bridge_message = _s3_send
        sns_models.Subscription.publish = _sns_publish  # type: ignore[method-assign]
        events_models.EventsBackend.put_rule = _put_rule  # type: ignore[method-assign]
        scheduler_models.EventBridgeSchedulerBackend.create_schedule = _create_schedule  # type: ignore[method-assign]
