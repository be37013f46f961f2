"""Test integrations that behave like small real services, and a runner for the template files.

Resources the templates use (``arn:aws:states:::test:<action>``):

- ``echo``: returns its parameters.
- ``fail``: fails with ``parameters.Error`` / ``parameters.Cause``.
- ``sleep``: waits ``parameters.Seconds`` real seconds (returns early when cancelled), returns its parameters.
- ``flaky``: fails with ``parameters.Error`` for the first ``parameters.FailTimes`` calls that share
  ``parameters.Key``, then returns ``{"Attempts": n}``.
- ``submit.sync``: records TaskSubmitted, waits ``parameters.Seconds``, returns ``{"Status": "Completed"}``.
- ``big``: returns a string of ``parameters.Bytes`` characters.
- ``callback.waitForTaskToken``: on a background thread, after ``parameters.DelaySeconds`` (default 0) sends
  ``parameters.Heartbeats`` heartbeats ``parameters.HeartbeatEvery`` seconds apart, then SendTaskSuccess with
  ``parameters.Output`` or, when ``parameters.Error`` is set, SendTaskFailure; ``parameters.Silent`` sends nothing.
- ``arn:aws:lambda:<region>:<account>:function:echo``: a plain Lambda function ARN that returns its input.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from localcloud.asl import Execution, StateMachine, TaskContext, TaskFailed, TokenRegistry

TEMPLATES = Path(__file__).parent / "templates"
REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = "arn:aws:states:::test:"


class ServiceLikeIntegrations:
    """A tiny registry of services keyed by resource ARN, as the Step Functions service wires real ones."""

    def __init__(self, tokens: TokenRegistry) -> None:
        self.tokens = tokens
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        self.invocations: list[tuple[str, Any]] = []
        self.tasks: list[TaskContext] = []
        self.cancelled: list[str] = []  # state names of sleeps that ended because the task was cancelled
        self.running = 0
        self.max_running = 0

    def invoke(self, resource: str, parameters: Any, task: TaskContext) -> Any:
        with self.lock:
            self.invocations.append((resource, parameters))
            self.tasks.append(task)
        if resource.startswith("arn:aws:lambda:") and resource.endswith(":function:echo"):
            return parameters
        if not resource.startswith(PREFIX):
            raise TaskFailed("States.Permissions", f"no test service answers for {resource}")
        action = resource[len(PREFIX):]
        params = parameters if isinstance(parameters, dict) else {}
        if action == "echo":
            return parameters
        if action == "fail":
            raise TaskFailed(params.get("Error", "Test.Failure"), params.get("Cause", ""))
        if action == "sleep":
            with self.lock:
                self.running += 1
                self.max_running = max(self.max_running, self.running)
            try:
                if task.wait(float(params.get("Seconds", 0))):
                    with self.lock:
                        self.cancelled.append(task.state_name)
            finally:
                with self.lock:
                    self.running -= 1
            return parameters
        if action == "flaky":
            key = params.get("Key", "default")
            with self.lock:
                self.calls[key] = self.calls.get(key, 0) + 1
                count = self.calls[key]
            if count <= int(params.get("FailTimes", 0)):
                raise TaskFailed(params.get("Error", "Test.Flaky"), f"call {count} of {key} failed")
            return {"Attempts": count}
        if action == "submit.sync":
            task.record("TaskSubmitted", "taskSubmittedEventDetails", {"output": json.dumps({"JobId": "job-1"})})
            task.wait(float(params.get("Seconds", 0)))
            return {"Status": "Completed"}
        if action == "big":
            return "x" * int(params["Bytes"])
        if action == "callback.waitForTaskToken":
            threading.Thread(target=self._answer, args=(task, params), daemon=True).start()
            return {"Accepted": True}
        raise TaskFailed("States.Permissions", f"unknown test action {action}")

    def _answer(self, task: TaskContext, params: dict[str, Any]) -> None:
        token = task.token
        assert token is not None, "a waitForTaskToken task must carry a token"
        time.sleep(float(params.get("DelaySeconds", 0)))
        for _ in range(int(params.get("Heartbeats", 0))):
            self.tokens.send_heartbeat(token)
            time.sleep(float(params.get("HeartbeatEvery", 0)))
        if params.get("Silent"):
            return
        if "Error" in params:
            self.tokens.send_failure(token, params["Error"], params.get("Cause", ""))
        else:
            self.tokens.send_success(token, json.dumps(params.get("Output", {})))


def make_execution(definition: Any, input_value: Any = None, *, name: str = "test-execution",
                   time_scale: float = 1.0, tokens: TokenRegistry | None = None,
                   integrations: Any = None, on_event: Any = None) -> Execution:
    """An execution of ``definition`` (dict or JSON text) wired to the service-like integrations."""
    text = definition if isinstance(definition, str) else json.dumps(definition)
    machine = StateMachine.parse(text)
    tokens = tokens or TokenRegistry()
    return Execution(
        machine,
        execution_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:TestMachine:{name}",
        name=name,
        input=json.dumps({} if input_value is None else input_value),
        state_machine_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:TestMachine",
        state_machine_name="TestMachine",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/TestRole",
        integrations=integrations or ServiceLikeIntegrations(tokens),
        tokens=tokens,
        on_event=on_event,
        time_scale=time_scale,
    )


def assigned_variables(history: list[dict[str, Any]]) -> list[list[Any]]:
    """[state name, {variable: value}] for every ``*StateExited`` event that assigned variables, in order
    (the values decoded from the JSON text ``assignedVariables`` holds)."""
    out: list[list[Any]] = []
    for event in history:
        details = event.get("stateExitedEventDetails") or {}
        if "assignedVariables" in details:
            assert details.get("assignedVariablesDetails") == {"truncated": False}
            out.append([details["name"], {k: json.loads(v) for k, v in details["assignedVariables"].items()}])
    return out


def load_templates(feature: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Every template file (``<feature>/<case>.yaml``) as (id, case)."""
    pattern = f"{feature}/*.yaml" if feature else "*/*.yaml"
    out = []
    for path in sorted(TEMPLATES.glob(pattern)):
        with path.open() as f:
            case = yaml.safe_load(f)
        out.append((f"{path.parent.name}/{path.stem}", case))
    return out
