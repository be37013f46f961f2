"""Every engine template (tests/asl/templates/<feature>/<case>.yaml) again, this time through the HTTP API.

Each case becomes a state machine created with CreateStateMachine, runs with StartExecution and is read back with
DescribeExecution and GetExecutionHistory, so the API, the background execution threads and the engine are
checked together. The templates' ``arn:aws:states:::test:*`` resources are served by the engine harness's
service-like integrations (routed in front of the real registry, which serves every other resource), and their
callbacks go through the backend's real task-token registry.
"""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from localcloud.asl import definition_problems
from localcloud.services.stepfunctions import definitions

_HARNESS_PATH = Path(__file__).resolve().parents[1] / "asl" / "harness.py"


def _load_harness() -> Any:
    spec = importlib.util.spec_from_file_location("asl_template_harness", _HARNESS_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _load_harness()
ALL_CASES = harness.load_templates()
RUN_CASES = [(cid, case) for cid, case in ALL_CASES if not cid.startswith("validation/")]
VALIDATION_CASES = [(cid, case) for cid, case in ALL_CASES if cid.startswith("validation/")]
_HISTORY_EVENT = botocore.session.get_session().get_service_model("stepfunctions").shape_for("HistoryEvent")
TEMPLATE_ROLE = "TestRole"  # the role name the templates' context-object expectations use


class TemplateIntegrations:
    """The harness's test services for ``test:*`` resources, the real registry for everything else."""

    def __init__(self, real: Any, tokens: Any) -> None:
        self.real = real
        self.test = harness.ServiceLikeIntegrations(tokens)

    @staticmethod
    def _is_test(resource: str) -> bool:
        return resource.startswith(harness.PREFIX) or (
            resource.startswith("arn:aws:lambda:") and resource.endswith(":function:echo"))

    def check(self, resource: str) -> str | None:
        return None if self._is_test(resource) else self.real.check(resource)

    def invoke(self, resource: str, parameters: Any, task: Any) -> Any:
        target = self.test if self._is_test(resource) else self.real
        return target.invoke(resource, parameters, task)


@pytest.fixture(scope="module")
def sfn_service(cloud: Any) -> Iterator[Any]:
    """The cloud's Step Functions service with the template test resources routed in front of the real ones."""
    service = next(s for s in cloud.app.services if type(s).__name__ == "StepFunctionsAPI")
    backend = service.backend
    real = backend.integrations
    backend.integrations = TemplateIntegrations(real, backend.tokens)
    try:
        yield service
    finally:
        backend.integrations = real


@pytest.fixture(scope="module")
def template_role(aws: Any) -> str:
    iam = aws("iam")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    try:
        return iam.create_role(RoleName=TEMPLATE_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "EntityAlreadyExists"
        return iam.get_role(RoleName=TEMPLATE_ROLE)["Role"]["Arn"]


def _wait(sfn: Any, arn: str, limit: float = 120.0) -> dict[str, Any]:
    """DescribeExecution once the execution ended (the limit only guards against a hang)."""
    deadline = time.monotonic() + limit
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        assert time.monotonic() < deadline, f"execution {arn} still running after {limit} s"
        time.sleep(0.05)


def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn,
                                                                    PaginationConfig={"PageSize": 500}):
        events.extend(page["events"])
    return events


def _is_subsequence(wanted: list[str], got: list[str]) -> bool:
    it = iter(got)
    return all(any(g == w for g in it) for w in wanted)


def _localise(expected: Any, machine_name: str) -> Any:
    """Expectations name the harness's machine ``TestMachine``; here each case has its own machine."""
    return json.loads(json.dumps(expected).replace("TestMachine", machine_name))


@pytest.mark.parametrize(("case_id", "case"), RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_template_through_api(case_id: str, case: dict[str, Any], aws: Any, sfn_service: Any,
                              template_role: str) -> None:
    sfn = aws("stepfunctions")
    sfn_service.backend.time_scale = case.get("time_scale", 1.0)  # the server-wide LOCALCLOUD_SFN_TIME_SCALE
    machine_name = "tmpl-" + case_id.replace("/", "-")[:50] + "-" + uuid.uuid4().hex[:6]
    sm_arn = sfn.create_state_machine(name=machine_name, definition=json.dumps(case["definition"]),
                                      roleArn=template_role)["stateMachineArn"]
    try:
        started = sfn.start_execution(stateMachineArn=sm_arn, name="test-execution",
                                      input=json.dumps(case.get("input") if case.get("input") is not None else {}))
        described = _wait(sfn, started["executionArn"])
        expected = _localise(case["expected"], machine_name)
        status = expected.get("status", "SUCCEEDED" if "output" in expected else "FAILED")
        history = _history(sfn, started["executionArn"])
        types = [e["type"] for e in history]
        assert described["status"] == status, (described, types)
        if "output" in expected:
            assert json.loads(described["output"]) == expected["output"]
        elif status != "SUCCEEDED":
            assert "output" not in described
        if "error" in expected:
            assert described.get("error") == expected["error"], described
        if "cause" in expected:
            assert described.get("cause") == expected["cause"]
        if "cause_contains" in expected:
            assert expected["cause_contains"] in described.get("cause", ""), described
        if "events" in expected:
            assert types == expected["events"]
        if "previous" in expected:
            assert [e.get("previousEventId", 0) for e in history] == expected["previous"], types
        if "events_include" in expected:
            assert _is_subsequence(expected["events_include"], types), types
        for event_type, count in expected.get("event_counts", {}).items():
            assert types.count(event_type) == count, (event_type, types)
        for event_type in expected.get("events_absent", []):
            assert event_type not in types
        if "assigned" in expected:
            assert harness.assigned_variables(history) == expected["assigned"]
        validator = ParamValidator()
        for i, event in enumerate(history, start=1):
            assert event["id"] == i and 0 <= event.get("previousEventId", 0) < i
            report = validator.validate(event, _HISTORY_EVENT)
            assert not report.has_errors(), report.generate_report()
        assert history[0]["type"] == "ExecutionStarted"
        assert history[-1]["type"] == {"SUCCEEDED": "ExecutionSucceeded", "FAILED": "ExecutionFailed",
                                       "ABORTED": "ExecutionAborted", "TIMED_OUT": "ExecutionTimedOut"}[status]
    finally:
        sfn_service.backend.time_scale = 1.0
        sfn.delete_state_machine(stateMachineArn=sm_arn)


@pytest.mark.parametrize(("case_id", "case"), VALIDATION_CASES, ids=[c[0] for c in VALIDATION_CASES])
def test_validation_template_through_api(case_id: str, case: dict[str, Any], aws: Any, sfn_service: Any,
                                         template_role: str) -> None:
    sfn = aws("stepfunctions")
    definition = case["definition"]
    text = definition if isinstance(definition, str) else json.dumps(definition)
    answer = sfn.validate_state_machine_definition(definition=text)
    # ValidateStateMachineDefinition words some problems as AWS does (missing fields of one place in one
    # diagnostic, JSON syntax as its parser says it): the engine's problems, as the API reports them
    coded = definition_problems(text)
    assert [problem for problem, _ in coded] == case["problems"]
    expected = definitions.diagnostics(coded)
    if definitions.json_syntax(text) is not None:
        expected = [definitions.json_syntax(text)]
    assert answer["diagnostics"] == expected
    assert all(d["severity"] == "ERROR" for d in answer["diagnostics"])
    if not case["problems"]:
        assert answer["result"] == "OK"
        arn = sfn.create_state_machine(name="valid-" + uuid.uuid4().hex[:8], definition=text,
                                       roleArn=template_role)["stateMachineArn"]
        sfn.delete_state_machine(stateMachineArn=arn)
        return
    assert answer["result"] == "FAIL"
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine(name="invalid-" + uuid.uuid4().hex[:8], definition=text, roleArn=template_role)
    assert err.value.response["Error"]["Code"] == "InvalidDefinition"
    for problem in case["problems"]:
        assert problem in err.value.response["Error"]["Message"]
