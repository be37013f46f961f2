"""What the EventBridge backend needs after a restart: its rules, targets, schedules, topics and subscriptions are
moto's (restored with moto's state), so only the schedule clock is set going again, once the server answers.

A restored schedule is planned from the restart: a ``rate(...)`` schedule's next invocation is one rate after the
restart, a ``cron(...)`` or ``at(...)`` one at its next matching time; invocations that fell while the server was
down are not made up for (the server was not there to make them).
"""

from __future__ import annotations

import logging
from typing import Any

LOG = logging.getLogger(__name__)


def recover(backend: Any) -> None:
    from moto.scheduler.models import scheduler_backends

    count = 0
    for account, region, moto_backend in list(scheduler_backends.iter_backends()):
        for group in list(moto_backend.schedule_groups.values()):
            for schedule in list(group.schedules.values()):
                backend.track_schedule(account, region, schedule)
                count += 1
    LOG.info("%d schedules tracked again", count)
