"""Execution-level behaviour: stop, events, task tokens, the TaskContext integrations see."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from harness import ServiceLikeIntegrations, make_execution

from localcloud.asl import (
    InvalidDefinition,
    InvalidOutput,
    InvalidToken,
    StateMachine,
    TaskDoesNotExist,
    TaskTimedOut,
    TokenRegistry,
)
from localcloud.errors import AWSError, LocalCloudError

CALLBACK = {
    "StartAt": "Approve",
    "States": {
        "Approve": {
            "Type": "Task",
            "Resource": "arn:aws:states:::test:callback.waitForTaskToken",
            "Parameters": {"Silent": True, "token.$": "$$.Task.Token"},
            "TimeoutSeconds": 300,
            "HeartbeatSeconds": 60,
            "End": True,
        }
    },
}


def _run_in_thread(execution: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", execution.run()), daemon=True)
    thread.start()
    return thread, box


def _wait_for_event(execution: Any, event_type: str) -> None:
    seen = threading.Event()
    while not seen.wait(0.01):
        if any(e["type"] == event_type for e in execution.history()):
            seen.set()


def test_parse_rejects_invalid_definition_with_every_problem() -> None:
    with pytest.raises(InvalidDefinition) as info:
        StateMachine.parse(json.dumps({"StartAt": "X", "States": {"A": {"Type": "Task", "End": True}}}))
    assert isinstance(info.value, LocalCloudError)
    assert info.value.problems == [
        '/StartAt: "X" is not the name of a state in this States block',
        '/States/A: Task state has no "Resource"',
    ]
    assert "Task state has no" in str(info.value)


def test_invalid_execution_input_is_rejected() -> None:
    machine = StateMachine.parse('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}')
    tokens = TokenRegistry()
    with pytest.raises(AWSError) as info:
        from localcloud.asl import Execution

        Execution(machine, execution_arn="arn:aws:states:us-east-1:1:execution:m:e", name="e", input="{oops",
                  state_machine_arn="arn:aws:states:us-east-1:1:stateMachine:m", state_machine_name="m",
                  role_arn=None, integrations=ServiceLikeIntegrations(tokens), tokens=tokens)
    assert info.value.code == "InvalidExecutionInput"


def test_stop_aborts_a_waiting_task_and_closes_its_token() -> None:
    tokens = TokenRegistry()
    integrations = ServiceLikeIntegrations(tokens)
    execution = make_execution(CALLBACK, tokens=tokens, integrations=integrations)
    thread, box = _run_in_thread(execution)
    _wait_for_event(execution, "TaskStarted")
    token = integrations.tasks[0].token
    execution.stop(error="Operator.Stop", cause="no longer needed")
    thread.join(10)
    result = box["result"]
    assert (result.status, result.error, result.cause) == ("ABORTED", "Operator.Stop", "no longer needed")
    last = execution.history()[-1]
    assert last["type"] == "ExecutionAborted"
    assert last["executionAbortedEventDetails"] == {"error": "Operator.Stop", "cause": "no longer needed"}
    # "Task Timed Out: 'Provided task does not exist anymore'" is what AWS answers for a closed task
    with pytest.raises(TaskTimedOut) as info:
        tokens.send_success(token, "{}")
    assert info.value.code == "TaskTimedOut"
    execution.stop()  # stopping an ended execution changes nothing
    assert execution.result.status == "ABORTED"


def test_stop_during_a_wait_is_recorded_as_aws_records_it() -> None:
    """Recorded on AWS: localstack snapshot tests/aws/services/stepfunctions/v2/test_sfn_api.snapshot.json,
    test_stop_execution: ExecutionStarted, WaitStateEntered, then ExecutionAborted (no details) after no event."""
    definition = {"StartAt": "State_1", "States": {"State_1": {"Type": "Wait", "Seconds": 60, "End": True}}}
    execution = make_execution(definition)
    thread, box = _run_in_thread(execution)
    _wait_for_event(execution, "WaitStateEntered")
    execution.stop()
    thread.join(10)
    assert box["result"].status == "ABORTED"
    history = execution.history()
    assert [(e["type"], e["previousEventId"]) for e in history] == [
        ("ExecutionStarted", 0), ("WaitStateEntered", 0), ("ExecutionAborted", 0)]
    assert history[-1]["executionAbortedEventDetails"] == {}


def test_stop_cancels_a_running_integration() -> None:
    definition = {"StartAt": "Slow", "States": {"Slow": {
        "Type": "Task", "Resource": "arn:aws:states:::test:sleep", "Parameters": {"Seconds": 60}, "End": True}}}
    tokens = TokenRegistry()
    integrations = ServiceLikeIntegrations(tokens)
    execution = make_execution(definition, tokens=tokens, integrations=integrations)
    thread, box = _run_in_thread(execution)
    _wait_for_event(execution, "TaskStarted")
    execution.stop()
    thread.join(10)
    assert box["result"].status == "ABORTED"
    task = integrations.tasks[0]
    assert task.cancelled
    done = threading.Event()
    while not done.wait(0.01):
        with integrations.lock:
            if integrations.cancelled:
                done.set()
    assert integrations.cancelled == ["Slow"]


def test_task_context_describes_the_attempt() -> None:
    tokens = TokenRegistry()
    integrations = ServiceLikeIntegrations(tokens)
    definition = {"StartAt": "Plain", "States": {
        "Plain": {"Type": "Task", "Resource": "arn:aws:states:::test:echo", "TimeoutSeconds": 50, "Next": "Cb"},
        "Cb": {"Type": "Task", "Resource": "arn:aws:states:::test:callback.waitForTaskToken",
               "Parameters": {"Output": {"ok": 1}, "token.$": "$$.Task.Token"}, "HeartbeatSeconds": 30,
               "End": True}}}
    result = make_execution(definition, tokens=tokens, integrations=integrations, name="ctx").run()
    assert result.status == "SUCCEEDED", result
    plain, callback = integrations.tasks
    assert (plain.state_name, plain.resource, plain.token) == ("Plain", "arn:aws:states:::test:echo", None)
    assert (plain.timeout_seconds, plain.heartbeat_seconds) == (50, None)
    assert plain.execution_arn.endswith(":execution:TestMachine:ctx")
    assert plain.role_arn == "arn:aws:iam::123456789012:role/TestRole"
    assert callback.token and callback.heartbeat_seconds == 30
    # the token the integration got is the one $$.Task.Token gave the Parameters
    assert integrations.invocations[1][1]["token"] == callback.token


def test_on_event_sees_every_event_in_order() -> None:
    seen: list[dict[str, Any]] = []
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}
    execution = make_execution(definition, on_event=seen.append)
    execution.run()
    assert [e["id"] for e in seen] == list(range(1, len(seen) + 1))
    assert seen == execution.history()
    assert execution.events is not execution.history()


def test_task_scheduled_details() -> None:
    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::test:echo", "Parameters": {"a.$": "$.a"},
        "TimeoutSeconds": 60, "HeartbeatSeconds": 10, "End": True}}}
    execution = make_execution(definition, {"a": [1]})
    execution.run()
    scheduled = next(e for e in execution.history() if e["type"] == "TaskScheduled")
    assert scheduled["taskScheduledEventDetails"] == {
        "resourceType": "test", "resource": "echo", "region": "us-east-1", "parameters": '{"a":[1]}',
        "timeoutInSeconds": 60, "heartbeatInSeconds": 10}
    started = execution.history()[0]
    assert started["executionStartedEventDetails"] == {
        "input": '{"a":[1]}', "inputDetails": {"truncated": False},
        "roleArn": "arn:aws:iam::123456789012:role/TestRole"}


def test_integration_crash_fails_the_task() -> None:
    class Broken:
        def invoke(self, resource: str, parameters: Any, task: Any) -> Any:
            raise RuntimeError("socket closed")

    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::test:echo", "End": True}}}
    result = make_execution(definition, integrations=Broken()).run()
    assert (result.status, result.error, result.cause) == ("FAILED", "States.TaskFailed", "RuntimeError: socket closed")


def test_map_max_concurrency_bounds_running_iterations() -> None:
    tokens = TokenRegistry()
    integrations = ServiceLikeIntegrations(tokens)
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "MaxConcurrency": 2, "ItemSelector": {"Seconds": 0.03},
        "ItemProcessor": {"StartAt": "S", "States": {"S": {
            "Type": "Task", "Resource": "arn:aws:states:::test:sleep", "End": True}}},
        "End": True}}}
    result = make_execution(definition, list(range(6)), integrations=integrations, tokens=tokens).run()
    assert result.status == "SUCCEEDED"
    assert len(integrations.invocations) == 6
    assert integrations.max_running <= 2


def test_parallel_failure_cancels_sibling_branch() -> None:
    tokens = TokenRegistry()
    integrations = ServiceLikeIntegrations(tokens)
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Long", "States": {"Long": {"Type": "Task", "Resource": "arn:aws:states:::test:sleep",
                                                "Parameters": {"Seconds": 60}, "End": True}}},
        {"StartAt": "Bad", "States": {"Bad": {"Type": "Task", "Resource": "arn:aws:states:::test:fail",
                                              "Parameters": {"Error": "X"}, "End": True}}}]}}}
    result = make_execution(definition, integrations=integrations, tokens=tokens).run()
    assert (result.status, result.error) == ("FAILED", "X")
    done = threading.Event()
    while not done.wait(0.01):
        with integrations.lock:
            if integrations.cancelled:
                done.set()
    assert integrations.cancelled == ["Long"]


class TestTokenRegistry:
    def _pending(self, tokens: TokenRegistry) -> Any:
        return tokens.issue(lambda: None)

    def test_malformed_token_is_invalid(self) -> None:
        with pytest.raises(InvalidToken) as info:
            TokenRegistry().send_success("not-a-token", "{}")
        assert info.value.code == "InvalidToken"

    def test_unknown_token_does_not_exist(self) -> None:
        other = TokenRegistry().issue(lambda: None).token
        with pytest.raises(TaskDoesNotExist) as info:
            TokenRegistry().send_heartbeat(other)
        assert info.value.code == "TaskDoesNotExist"

    def test_success_then_closed(self) -> None:
        tokens = TokenRegistry()
        pending = self._pending(tokens)
        tokens.send_success(pending.token, '{"a": 1}')
        assert pending.outcome == ("success", {"a": 1}, None)
        with pytest.raises(TaskTimedOut):
            tokens.send_failure(pending.token, "E", "C")

    def test_failure_and_heartbeat(self) -> None:
        tokens = TokenRegistry()
        pending = self._pending(tokens)
        before = pending.heartbeat
        tokens.send_heartbeat(pending.token)
        assert pending.heartbeat >= before and pending.outcome is None
        tokens.send_failure(pending.token, "Bad.Thing", "because")
        assert pending.outcome == ("failure", "Bad.Thing", "because")

    def test_output_must_be_json(self) -> None:
        tokens = TokenRegistry()
        pending = self._pending(tokens)
        with pytest.raises(InvalidOutput) as info:
            tokens.send_success(pending.token, "{nope")
        assert info.value.code == "InvalidOutput"
        tokens.send_success(pending.token, "[1]")  # the task is still open after a rejected output
        assert pending.outcome == ("success", [1], None)
