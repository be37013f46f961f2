"""Step Functions sends "Step Functions Execution Status Change" events to EventBridge's default bus: a STANDARD
execution one when it starts and one when it ends, an EXPRESS one none; an EventBridge rule on them reaches its
target (here an SQS queue) as on AWS.

Sources (lib/localcloud/services/stepfunctions/statusevents.py): Step Functions developer guide, "EventBridge
(CloudWatch Events) for Step Functions execution status changes" (an example per status; Express workflows emit
none; the 248KB payload rule); events recorded on AWS on 2024-02-07 (localstack tests/aws/services/stepfunctions/
v2/base/test_base.snapshot.json, ``test_event_bridge_events_base``: the detail's fields in order).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eventbridge_helpers import events_cloud, machine, queue, role, unique

RECORDED_FIELDS = ["executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate", "input", "output",
                   "stateMachineVersionArn", "stateMachineAliasArn", "redriveCount", "redriveDate", "redriveStatus",
                   "redriveStatusReason", "inputDetails", "outputDetails", "error", "cause"]


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with events_cloud(tmp_path_factory.mktemp("sfn-events")) as clients:
        yield clients


def _watch(c: dict[str, Any], machine_arn: str) -> str:
    """A queue that gets every status change event of ``machine_arn`` (the rule the guide's console steps make)."""
    url, queue_arn = queue(c["sqs"])
    name = unique("status")
    c["events"].put_rule(Name=name, EventPattern=json.dumps({
        "source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"stateMachineArn": [machine_arn]}}))
    c["events"].put_targets(Rule=name, Targets=[{"Id": "q", "Arn": queue_arn}])
    return url


def _events(c: dict[str, Any], url: str, count: int, limit: float = 15.0) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit
    while len(found) < count and time.monotonic() < deadline:
        got = c["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        for message in got.get("Messages", []):
            found.append(json.loads(message["Body"]))
            c["sqs"].delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        time.sleep(0.05)
    return sorted(found, key=lambda e: (e["detail"]["stopDate"] is not None, e["detail"]["stopDate"] or 0))


def _run(c: dict[str, Any], definition: dict[str, Any], payload: str = '{"n": 1}', **kw: Any
         ) -> tuple[str, str, list[dict[str, Any]]]:
    arn = machine(c, definition) if not kw else c["stepfunctions"].create_state_machine(
        name=unique("express"), definition=json.dumps(definition),
        roleArn=role(c["iam"], "states.amazonaws.com", []), **kw)["stateMachineArn"]
    url = _watch(c, arn)
    execution = c["stepfunctions"].start_execution(stateMachineArn=arn, input=payload)["executionArn"]
    return arn, execution, _events(c, url, 2, limit=15.0 if not kw else 2.0)


def test_a_succeeded_execution_sends_running_then_succeeded(c: dict[str, Any]) -> None:
    arn, execution, events = _run(c, {"StartAt": "Done", "States": {"Done": {
        "Type": "Pass", "Result": {"ok": True}, "End": True}}})
    assert [e["detail"]["status"] for e in events] == ["RUNNING", "SUCCEEDED"]
    for event in events:
        assert (event["source"], event["detail-type"], event["resources"]) == (
            "aws.states", "Step Functions Execution Status Change", [execution])
        assert list(event["detail"]) == RECORDED_FIELDS
        assert event["account"] == execution.split(":")[4] and event["region"] == "us-east-1"
    running, done = (e["detail"] for e in events)
    described = c["stepfunctions"].describe_execution(executionArn=execution)
    assert running["startDate"] == int(described["startDate"].timestamp() * 1000)
    assert (running["stopDate"], running["output"], running["outputDetails"]) == (None, None, None)
    assert (running["redriveStatus"], running["redriveStatusReason"]) == (
        "NOT_REDRIVABLE", "Execution is RUNNING and cannot be redriven")
    assert running["input"] == '{"n": 1}' and running["inputDetails"] == {"included": True}
    assert done["stopDate"] == int(described["stopDate"].timestamp() * 1000) >= done["startDate"]
    assert json.loads(done["output"]) == {"ok": True} and done["outputDetails"] == {"included": True}
    assert (done["redriveStatusReason"], done["error"], done["cause"], done["redriveCount"]) == (
        "Execution is SUCCEEDED and cannot be redriven", None, None, 0)


def test_a_failed_execution_says_why(c: dict[str, Any]) -> None:
    _, _, events = _run(c, {"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Gate.Rejected",
                                                               "Cause": "auc below the floor"}}})
    failed = events[-1]["detail"]
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "Gate.Rejected", "auc below the floor")
    assert (failed["redriveStatus"], failed["redriveStatusReason"], failed["output"]) == ("REDRIVABLE", None, None)


def test_a_stopped_execution_is_aborted(c: dict[str, Any]) -> None:
    arn = machine(c, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}})
    url = _watch(c, arn)
    execution = c["stepfunctions"].start_execution(stateMachineArn=arn)["executionArn"]
    c["stepfunctions"].stop_execution(executionArn=execution, error="Operator", cause="stopped by hand")
    assert [e["detail"]["status"] for e in _events(c, url, 2)] == ["RUNNING", "ABORTED"]


def test_an_input_over_248kb_is_left_out_and_said_so(c: dict[str, Any]) -> None:
    big = json.dumps({"blob": "x" * 255_000})  # over 248 KiB escaped, under StartExecution's 256 KiB
    _, _, events = _run(c, {"StartAt": "Small", "States": {"Small": {
        "Type": "Pass", "Result": "ok", "End": True}}}, payload=big)
    for event in events:
        assert (event["detail"]["input"], event["detail"]["inputDetails"]) == (None, {"included": False})
    assert events[-1]["detail"]["output"] == '"ok"'


def test_an_express_execution_sends_nothing(c: dict[str, Any]) -> None:
    _, _, events = _run(c, {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}, type="EXPRESS")
    assert events == []


def test_a_timed_out_execution_says_so(c: dict[str, Any]) -> None:
    _, _, events = _run(c, {"TimeoutSeconds": 1, "StartAt": "W", "States": {"W": {
        "Type": "Wait", "Seconds": 30, "End": True}}})
    assert [e["detail"]["status"] for e in events] == ["RUNNING", "TIMED_OUT"]
    assert events[-1]["detail"]["error"] == "States.Timeout"
