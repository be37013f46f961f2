"""Notebook 04's live progress reads only what is new in the execution's history at each poll
(``retrain.execute.events_after``), and ends with the same history as reading it whole."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

from retrain.execute import events_after, list_all_events, wait, wait_for_state

# Waits make the execution outlive several polls; the Map makes its history longer than one page (100 events)
STEPS = {
    "StartAt": "First",
    "States": {
        "First": {"Type": "Wait", "Seconds": 1, "Next": "Many"},
        "Many": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1,
                 "Iterator": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": True}}},
                 "ResultPath": None, "Next": "Second"},
        "Second": {"Type": "Wait", "Seconds": 1, "Next": "Last"},
        "Last": {"Type": "Pass", "End": True},
    },
}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                  "Principal": {"Service": "states.amazonaws.com"}}]}


def _start(aws: Any) -> tuple[Any, str]:
    sfn, name = aws("stepfunctions"), f"follow-{uuid.uuid4().hex[:8]}"
    role = aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    machine = sfn.create_state_machine(name=name, definition=json.dumps(STEPS), roleArn=role)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"items": list(range(30))}))["executionArn"]
    return sfn, arn


def test_polls_read_only_new_events_and_end_with_the_whole_history(aws: Any) -> None:
    sfn, arn = _start(aws)
    out = io.StringIO()
    report = wait(sfn, arn, poll_seconds=0.2, out=out)
    whole = list_all_events(sfn, arn)
    assert report.status == "SUCCEEDED"
    assert len(whole) > 100  # more than one page each way
    assert [e["id"] for e in report.events] == [e["id"] for e in whole] == list(range(1, len(whole) + 1))
    assert report.events == whole
    lines = [line.split("] > ", 1)[1] for line in out.getvalue().splitlines() if "] > " in line]
    assert lines.count("First") == lines.count("Second") == lines.count("Last") == 1  # each state printed once
    assert lines.count("Item") == 30
    for last in (0, 1, 57, len(whole) - 1, len(whole)):
        assert events_after(sfn, arn, last) == whole[last:]


def test_waiting_for_a_state_stops_there_with_the_history_so_far(aws: Any) -> None:
    sfn, arn = _start(aws)
    events = wait_for_state(sfn, arn, "Many", poll_seconds=0.2, out=io.StringIO())
    assert any(e.get("stateExitedEventDetails", {}).get("name") == "Many" for e in events)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events == list_all_events(sfn, arn)[:len(events)]
    wait(sfn, arn, poll_seconds=0.2, progress=False)


class _History:
    """A history that shows event 3 only on a second look (a gap in one read, as an eventually consistent store
    might give): the follower must not skip it."""

    def __init__(self) -> None:
        self.events = [{"id": i, "type": "PassStateEntered"} for i in range(1, 6)]
        self.looks = 0

    def get_paginator(self, _name: str) -> Any:
        return self

    def paginate(self, executionArn: str, reverseOrder: bool = False) -> list[dict[str, Any]]:  # noqa: N803
        self.looks += 1
        shown = [e for e in self.events if e["id"] != 3 or self.looks > 1]
        return [{"events": shown[::-1] if reverseOrder else shown}]


def test_a_gap_in_the_new_events_reads_the_whole_history_again() -> None:
    from retrain.execute import _read_on

    history = _History()
    events = [{"id": 1, "type": "PassStateEntered"}, {"id": 2, "type": "PassStateEntered"}]
    _read_on(history, "arn", events)  # the newest-first read shows 5, 4, then 2: event 3 is missing
    assert [e["id"] for e in events] == [1, 2, 3, 4, 5]
