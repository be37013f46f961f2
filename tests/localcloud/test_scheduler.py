"""EventBridge Scheduler schedules fire on the server's clock (scaled: one minute lasts 0.6 s here) and start
Step Functions executions as the schedule's role; pausing (UpdateSchedule State DISABLED) stops them, resuming
starts them again; one-time ``at`` schedules fire once. Scheduled EventBridge rules fire on the same clock.

Sources: Scheduler user guide ("Schedule types in EventBridge Scheduler": rate, cron and one-time schedules, a
rate schedule without StartDate starts at once; "Adding context attributes"); Scheduler API reference
(CreateSchedule, UpdateSchedule, ActionAfterCompletion).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventbridge_helpers import (
    events_cloud,
    executions,
    machine,
    queue,
    receive,
    role,
    unique,
    wait_executions,
)

from localcloud.services.eventbridge.expressions import Expression, timezone


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with events_cloud(tmp_path_factory.mktemp("scheduler")) as clients:
        yield clients


def _schedule(c: dict[str, Any], expression: str, target: dict[str, Any], **extra: Any) -> str:
    name = unique("every")
    c["scheduler"].create_schedule(Name=name, ScheduleExpression=expression, FlexibleTimeWindow={"Mode": "OFF"},
                                   Target=target, **extra)
    return name


def _target(c: dict[str, Any], arn: str, actions: tuple[str, ...] = ("states:StartExecution",)) -> dict[str, Any]:
    return {"Arn": arn, "RoleArn": role(c["iam"], "scheduler.amazonaws.com", list(actions)),
            "Input": json.dumps({"schedule": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>"})}


def test_a_rate_schedule_fires_at_once_then_every_period(c: dict[str, Any]) -> None:
    arn = machine(c)
    name = _schedule(c, "rate(1 minute)", _target(c, arn))
    first = wait_executions(c["stepfunctions"], arn, 1, limit=5)
    assert len(first) == 1
    found = wait_executions(c["stepfunctions"], arn, 3, limit=5)
    assert len(found) >= 3
    c["scheduler"].delete_schedule(Name=name)
    started = c["stepfunctions"].describe_execution(executionArn=found[-1]["executionArn"])
    uuid.UUID(found[-1]["name"])  # Step Functions names what Scheduler starts: a UUID
    given = json.loads(started["input"])
    assert given["schedule"].endswith(f":schedule/default/{name}")
    assert given["at"].endswith("Z")
    times = sorted(datetime.fromisoformat(json.loads(c["stepfunctions"].describe_execution(
        executionArn=e["executionArn"])["input"])["at"].replace("Z", "+00:00")) for e in found[:3])
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [timedelta(minutes=1)] * 2


def test_pausing_stops_the_schedule_and_resuming_starts_it_again(c: dict[str, Any]) -> None:
    arn = machine(c)
    target = _target(c, arn)
    name = _schedule(c, "rate(1 minute)", target)
    wait_executions(c["stepfunctions"], arn, 1, limit=5)
    c["scheduler"].update_schedule(Name=name, ScheduleExpression="rate(1 minute)", State="DISABLED",
                                   FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
    assert c["scheduler"].get_schedule(Name=name)["State"] == "DISABLED"
    time.sleep(0.2)  # a firing already under way lands
    paused = len(executions(c["stepfunctions"], arn))
    time.sleep(1.5)  # two and a half periods
    assert len(executions(c["stepfunctions"], arn)) == paused
    c["scheduler"].update_schedule(Name=name, ScheduleExpression="rate(1 minute)", State="ENABLED",
                                   FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
    assert len(wait_executions(c["stepfunctions"], arn, paused + 1, limit=5)) > paused
    c["scheduler"].delete_schedule(Name=name)


def test_a_one_time_schedule_fires_once_and_can_delete_itself(c: dict[str, Any]) -> None:
    arn = machine(c)
    now = c["cloud"].app.backends["eventbridge"].clock.now()  # the server's (scaled) clock
    at = (now + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S")
    name = _schedule(c, f"at({at})", _target(c, arn), ActionAfterCompletion="DELETE")
    assert executions(c["stepfunctions"], arn) == []
    assert len(wait_executions(c["stepfunctions"], arn, 1, limit=5)) == 1
    time.sleep(1.5)
    assert len(executions(c["stepfunctions"], arn)) == 1
    with pytest.raises(c["scheduler"].exceptions.ResourceNotFoundException):
        c["scheduler"].get_schedule(Name=name)


def test_a_schedule_waits_for_its_start_date(c: dict[str, Any]) -> None:
    arn = machine(c)
    now = c["cloud"].app.backends["eventbridge"].clock.now()
    name = _schedule(c, "rate(5 minutes)", _target(c, arn), StartDate=now + timedelta(minutes=3))
    time.sleep(1.0)  # a minute and a half: before the start
    assert executions(c["stepfunctions"], arn) == []
    assert len(wait_executions(c["stepfunctions"], arn, 1, limit=5)) == 1
    c["scheduler"].delete_schedule(Name=name)


def test_a_role_without_start_execution_starts_nothing_and_the_input_goes_to_the_dead_letter_queue(
        c: dict[str, Any]) -> None:
    arn = machine(c)
    dlq_url, dlq_arn = queue(c["sqs"])
    target = {**_target(c, arn, ("states:ListExecutions",)), "DeadLetterConfig": {"Arn": dlq_arn},
              "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}}
    name = _schedule(c, "rate(10 minutes)", target)
    messages = receive(c["sqs"], dlq_url)
    c["scheduler"].delete_schedule(Name=name)
    assert len(messages) == 1
    attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "AccessDeniedException"
    assert attributes["SCHEDULE_ARN"].endswith(f"/{name}") and attributes["TARGET_ARN"] == arn
    assert executions(c["stepfunctions"], arn) == []


def test_a_scheduled_rule_fires_its_targets(c: dict[str, Any]) -> None:
    arn = machine(c)
    name = unique("nightly")
    c["events"].put_rule(Name=name, ScheduleExpression="rate(1 minute)")
    c["events"].put_targets(Rule=name, Targets=[{"Id": "t", "Arn": arn, "RoleArn": role(
        c["iam"], "events.amazonaws.com", ["states:StartExecution"])}])
    found = wait_executions(c["stepfunctions"], arn, 1, limit=5)
    c["events"].remove_targets(Rule=name, Ids=["t"])
    c["events"].delete_rule(Name=name)
    event = json.loads(c["stepfunctions"].describe_execution(executionArn=found[0]["executionArn"])["input"])
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == [f"arn:aws:events:us-east-1:123456789012:rule/{name}"] and event["detail"] == {}


# ------------------------------------------------------------------------------------------- expressions
def _next(expression: str, after: str, zone: str | None = None) -> str:
    parsed = Expression.parse(expression, zone)
    assert parsed.cron is not None
    found = parsed.cron.next_after(datetime.fromisoformat(after).replace(tzinfo=timezone(zone)))
    assert found is not None
    return found.strftime("%Y-%m-%d %H:%M %a")


@pytest.mark.parametrize(("expression", "after", "expected"), [
    # the examples of the Scheduler guide's cron table, read as the guide explains them
    ("cron(15 10 ? * 6L 2022-2023)", "2022-01-01T00:00", "2022-01-28 10:15 Fri"),  # last Friday of the month
    ("cron(0 18 ? * MON-FRI *)", "2024-06-07T18:00", "2024-06-10 18:00 Mon"),
    ("cron(0 8 1 * ? *)", "2024-06-02T00:00", "2024-07-01 08:00 Mon"),
    ("cron(0/10 * ? * MON-FRI *)", "2024-06-07T23:55", "2024-06-10 00:00 Mon"),
    ("cron(0/5 8-17 ? * MON-FRI *)", "2024-06-07T17:56", "2024-06-10 08:00 Mon"),
    ("cron(0 9 ? * 2#1 *)", "2024-06-04T00:00", "2024-07-01 09:00 Mon"),  # first Monday
    ("cron(0 0 L * ? *)", "2024-02-01T00:00", "2024-02-29 00:00 Thu"),
    ("cron(0 0 15W * ? *)", "2024-06-01T00:00", "2024-06-14 00:00 Fri"),  # the 15th is a Saturday
])
def test_cron_expressions_name_the_times_the_guide_describes(expression: str, after: str, expected: str) -> None:
    assert _next(expression, after) == expected


def test_cron_is_evaluated_in_the_schedule_time_zone() -> None:
    parsed = Expression.parse("cron(0 9 * * ? *)", "Europe/Paris")
    assert parsed.cron is not None
    after = datetime(2024, 1, 10, 12, 0, tzinfo=UTC).astimezone(timezone("Europe/Paris"))
    assert parsed.cron.next_after(after).astimezone(UTC) == datetime(2024, 1, 11, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["rate(0 minutes)", "rate(1 fortnight)", "cron(0 9 * * * *)",
                                 "cron(0 9 * *)", "cron(61 9 ? * * *)", "at(2024-01-01)"])
def test_invalid_expressions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        Expression.parse(bad)
