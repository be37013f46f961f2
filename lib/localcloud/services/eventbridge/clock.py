"""Firing schedules on time: EventBridge Scheduler schedules and EventBridge rules with a ScheduleExpression.

The clock is the server's, scaled: with ``time_scale`` s, a virtual second lasts s real seconds, so with
``LOCALCLOUD_EVENTS_TIME_SCALE=0.0167`` a ``rate(1 minute)`` schedule fires about every second. Virtual time starts at
the real time the server started and runs 1/s times as fast; ``cron`` and ``at`` expressions, ``StartDate`` and
``EndDate`` are read on it. At scale 1 it is the wall clock.

What is faithful (Scheduler user guide "Schedule types in EventBridge Scheduler", API reference CreateSchedule):
a rate schedule first fires at its ``StartDate``, or at once when it has none, then every period; a cron schedule
at each time its expression names in its ``ScheduleExpressionTimezone``; an ``at`` schedule once; nothing before
``StartDate`` or after ``EndDate``; a ``DISABLED`` schedule does not fire, and resuming it (UpdateSchedule ENABLED)
fires from the next time after the update; ``FlexibleTimeWindow`` ``FLEXIBLE`` fires at a random moment within
``MaximumWindowInMinutes`` after each time; ``ActionAfterCompletion: DELETE`` deletes a schedule that will not
fire again. Missed times are not made up (AWS invokes each time once, within its minute, not late batches).
A scheduled rule fires first one period after it was created (not confirmed: the EventBridge guide does not say).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from localcloud.services.eventbridge.expressions import Expression, ExpressionError, timezone

LOG = logging.getLogger(__name__)

#: the longest the clock sleeps before looking for new, changed or deleted schedules (real seconds)
_POLL = 0.2


class VirtualClock:
    """The server's scaled clock."""

    def __init__(self, time_scale: float) -> None:
        self.scale = time_scale
        self._origin = datetime.now(UTC)
        self._start = time.monotonic()

    def now(self) -> datetime:
        return self._origin + timedelta(seconds=(time.monotonic() - self._start) / self.scale)

    def real_seconds(self, delta: timedelta) -> float:
        return max(0.0, delta.total_seconds() * self.scale)


@dataclass(frozen=True)
class Definition:
    """What the clock needs of a schedule or a scheduled rule, read afresh each time."""

    expression: str
    zone: str | None
    enabled: bool
    start: datetime | None
    end: datetime | None
    flexible_minutes: float
    #: changes when the schedule is updated
    version: Any
    delete_after: bool = False


@dataclass
class Tracked:
    arn: str
    created: datetime
    #: reads the definition (None once deleted)
    read: Callable[[], Definition | None]
    #: invoked with the scheduled time when the schedule fires
    fire: Callable[[datetime], None]
    #: called when a completed schedule is to be deleted
    remove: Callable[[], None]
    #: a scheduled rule's first time is one period after its creation
    rule: bool = False
    version: Any = None
    due: datetime | None = None
    fired_at: datetime | None = None


def as_datetime(value: Any) -> datetime | None:
    """A StartDate/EndDate as moto keeps it (epoch seconds or ISO text)."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def next_time(expression: Expression, zone: str | None, after: datetime, anchor: datetime,
              inclusive: bool) -> datetime | None:
    """The first time the expression names after ``after`` (or at it, when ``inclusive``); a rate counts its
    periods from ``anchor``."""
    if expression.period is not None:
        if after <= anchor:
            return anchor if inclusive or after < anchor else anchor + expression.period
        periods = -(-(after - anchor) // expression.period)  # ceiling
        due = anchor + periods * expression.period
        return due + expression.period if due == after and not inclusive else due
    if expression.cron is not None:
        probe = after - timedelta(microseconds=1) if inclusive else after
        found = expression.cron.next_after(probe.astimezone(timezone(zone)))
        return found.astimezone(UTC) if found else None
    assert expression.at is not None
    moment = expression.at.astimezone(UTC)
    return moment if inclusive or moment > after else None


class Clock:
    """One thread that fires every tracked schedule when it is due."""

    def __init__(self, clock: VirtualClock, stopping: threading.Event) -> None:
        self.clock = clock
        self._stopping = stopping
        self._tracked: dict[str, Tracked] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eventbridge-clock", daemon=True)
        self._thread.start()

    def track(self, tracked: Tracked) -> None:
        with self._lock:
            self._tracked[tracked.arn] = tracked
        self._wake.set()

    def forget(self, arn: str) -> None:
        with self._lock:
            self._tracked.pop(arn, None)

    def stop(self) -> None:
        self._wake.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            soonest = self.tick()
            wait = _POLL if soonest is None else min(_POLL, self.clock.real_seconds(soonest - self.clock.now()))
            self._wake.wait(wait)
            self._wake.clear()

    def tick(self) -> datetime | None:
        """Fire what is due; the next due time."""
        with self._lock:
            items = list(self._tracked.values())
        soonest: datetime | None = None
        for item in items:
            try:
                due = self._step(item)
            except Exception:  # noqa: BLE001 - one broken schedule must not stop the others
                LOG.exception("schedule %s could not be evaluated", item.arn)
                due = None
            if due is not None and (soonest is None or due < soonest):
                soonest = due
        return soonest

    # long: the life of one schedule in one place: read, (re)plan, fire, finish
    def _step(self, item: Tracked) -> datetime | None:
        definition = item.read()
        if definition is None:
            self.forget(item.arn)
            return None
        now = self.clock.now()
        if definition.version != item.version:  # created or updated: plan again from now
            item.version = definition.version
            item.due = self._plan(item, definition, now, first=item.fired_at is None)
        if not definition.enabled or item.due is None:
            if item.due is None and definition.delete_after:
                self._finish(item)
            return None
        if item.due > now:
            return item.due
        scheduled = item.due
        if definition.end is None or scheduled <= definition.end:
            LOG.info("schedule %s fires (scheduled %s)", item.arn, scheduled.isoformat())
            item.fired_at = scheduled
            item.fire(scheduled)
        item.due = self._plan(item, definition, max(now, scheduled), first=False)
        if item.due is None and definition.delete_after:
            self._finish(item)
        return item.due

    def _plan(self, item: Tracked, definition: Definition, after: datetime, first: bool) -> datetime | None:
        """When the schedule next fires after ``after`` (``first``: it has not fired yet, so ``after`` itself
        counts: a rate schedule without a StartDate fires at once)."""
        try:
            expression = Expression.parse(definition.expression, definition.zone)
        except ExpressionError as exc:
            LOG.warning("schedule %s: %s", item.arn, exc)
            return None
        if expression.at is not None and item.fired_at is not None:
            return None
        anchor = definition.start or item.created
        if item.rule and expression.period is not None:
            anchor = item.created + expression.period
        if definition.start is not None and after < definition.start:
            after, first = definition.start, True
        due = next_time(expression, definition.zone, after, anchor, inclusive=first)
        if due is None or (definition.end is not None and due > definition.end):
            return None
        if definition.flexible_minutes > 0:
            due += timedelta(seconds=random.uniform(0, definition.flexible_minutes * 60))
        return due

    def _finish(self, item: Tracked) -> None:
        self.forget(item.arn)
        try:
            item.remove()
        except Exception:  # noqa: BLE001 - it may be gone already
            LOG.debug("schedule %s was already gone", item.arn)
