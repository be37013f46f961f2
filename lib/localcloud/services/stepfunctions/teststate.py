"""TestState: what the API checks before it runs a state (``localcloud.asl.teststate`` runs it).

Refusals recorded on AWS (localstack snapshots ``tests/aws/services/stepfunctions/v2/test_state/*.snapshot.json``):
"State not found in definition"; "TestState API does not support Map or Parallel states. Supported state types
include: [Task, Wait, Pass, Succeed, Fail, Choice]" (InvalidDefinition, without a mock); "State type 'Pass' is not
supported when a mock is specified"; "A test mock should have only one of the following fields: [result,
errorOutput]."; "TestState does not support RevealSecrets when a mock is specified."; "RoleArn must be specified
when testing a Task state"; and the context checks ("Invalid Context object provided: ...").
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from localcloud import settings
from localcloud.asl import InvalidDefinition, StateMachine, validate_definition
from localcloud.asl.teststate import Mock, environment, run_state
from localcloud.errors import AWSError
from localcloud.services.stepfunctions.store import Store

LOG = logging.getLogger(__name__)

#: the name a single-state definition's state runs under (the context object AWS shows: State.Name "StateName",
#: recorded in test_test_state_scenarios.snapshot.json test_base_map_state_inspect)
SINGLE = "StateName"
CONTEXT_FIELDS = {"Execution": {"Id", "Input", "Name", "RoleArn", "StartTime", "RedriveCount", "RedriveTime"},
                  "State": {"EnteredTime", "Name", "RetryCount"}, "StateMachine": {"Id", "Name"},
                  "Task": {"Token"}}


def _machine(definition: str, state_name: str | None) -> tuple[dict[str, Any], str]:
    """The state machine document to run, and the name of the state to test."""
    try:
        document = json.loads(definition)
    except ValueError as exc:
        raise AWSError("InvalidDefinition", f"Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: {exc}'") \
            from None
    if not isinstance(document, dict):
        raise AWSError("InvalidDefinition", "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: "
                       "Definition must be a valid JSON object'")
    if state_name is not None:
        if state_name not in (document.get("States") or {}):
            raise AWSError("ValidationException", "State not found in definition")
        return document, state_name
    targets = {document.get("Next"), document.get("Default")}
    targets |= {c.get("Next") for c in document.get("Choices") or [] if isinstance(c, dict)}
    targets |= {c.get("Next") for c in document.get("Catch") or [] if isinstance(c, dict)}
    states: dict[str, Any] = {t: {"Type": "Succeed"} for t in targets if isinstance(t, str) and t != SINGLE}
    states[SINGLE] = document
    machine: dict[str, Any] = {"StartAt": SINGLE, "States": states}
    if "QueryLanguage" in document:
        machine["QueryLanguage"] = document["QueryLanguage"]
    return machine, SINGLE


def _check_context(context: dict[str, Any], state: dict[str, Any]) -> None:
    def bad(why: str) -> AWSError:
        return AWSError("ValidationException", f"Invalid Context object provided: {why}")

    if "Map" in context:
        raise bad("'Map' field is not supported when mocking a Context object")
    for key, value in context.items():
        if key not in CONTEXT_FIELDS:
            raise bad(f"Field '{key}' is not allowed")
        for inner in value if isinstance(value, dict) else {}:
            if inner not in CONTEXT_FIELDS[key]:
                raise bad(f"Field '{inner}' is not allowed")
    if "Id" in context.get("Execution", {}) and not isinstance(context["Execution"]["Id"], str):
        raise bad("Execution.Id must be a string")
    resource = str(state.get("Resource", ""))
    if "Task" in context and not resource.endswith((".sync", ".sync:2", ".waitForTaskToken")):
        raise bad("Context object contains 'Task' when state is not a Task state with a '.sync' or "
                  "'.waitForTaskToken' service integration pattern")


def _mock(raw: dict[str, Any] | None, state: dict[str, Any], reveal: bool,
          configuration: dict[str, Any]) -> Mock | None:
    kind = str(state.get("Type"))
    failures = configuration.get("mapIterationFailureCount")
    if raw is None:
        if failures is not None:
            raise AWSError("ValidationException", "TestState does not support MapIterationFailureCount when a mock is "
                           "not specified.")
        return None
    if "result" in raw and "errorOutput" in raw:
        raise AWSError("ValidationException", "A test mock should have only one of the following fields: [result, "
                       "errorOutput].")
    if reveal:
        raise AWSError("ValidationException", "TestState does not support RevealSecrets when a mock is specified.")
    if kind not in ("Task", "Map", "Parallel"):
        raise AWSError("ValidationException", f"State type '{kind}' is not supported when a mock is specified")
    if "errorOutput" in raw:
        error = raw["errorOutput"] or {}
        return Mock(error=(str(error.get("error", "")), str(error.get("cause", ""))), failures=int(failures or 0))
    try:
        result = json.loads(str(raw.get("result")))
    except ValueError:
        raise AWSError("ValidationException", "Mocked result must be valid JSON") from None
    _check_concurrent_result(state, result, int(failures or 0))
    return Mock(result=result, failures=int(failures or 0))


def _check_concurrent_result(state: dict[str, Any], result: Any, failures: int) -> None:
    """What a mocked Map or Parallel result must be (recorded on AWS: test_state_mock_validation.snapshot.json)."""
    kind = state.get("Type")
    if kind == "Map" and "ResultWriter" in state and not isinstance(result, dict):
        raise AWSError("ValidationException", "Mocked result must be a JSON object.")
    if kind in ("Map", "Parallel") and "ResultWriter" not in state and not isinstance(result, list):
        raise AWSError("ValidationException", "Mocked result must be an array.")
    if kind == "Parallel" and len(result) != len(state.get("Branches") or []):
        raise AWSError("ValidationException", "Mocked result must contain the same number of items as number of "
                       "Parallel branches.")
    if kind == "Map" and isinstance(result, list) and failures > len(result):
        raise AWSError("ValidationException", "Map iteration failure count must be less than or equal to the number "
                       "of Map iterations")


class TestStates(Store):
    """The TestState operation."""

    # long: the API's checks come one after another before the single run
    def test_state(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        document, name = _machine(params["definition"], params.get("stateName"))
        state_raw = document["States"][name]
        kind = state_raw.get("Type") if isinstance(state_raw, dict) else None
        configuration = params.get("stateConfiguration") or {}
        mock = _mock(params.get("mock"), state_raw if isinstance(state_raw, dict) else {},
                     bool(params.get("revealSecrets")), configuration)
        if kind in ("Map", "Parallel") and mock is None:
            raise AWSError("InvalidDefinition", "TestState API does not support Map or Parallel states. Supported "
                           "state types include: [Task, Wait, Pass, Succeed, Fail, Choice]")
        problems = validate_definition(json.dumps(document))
        if problems:
            raise AWSError("InvalidDefinition", "Invalid State Machine Definition: '" + "; ".join(problems) + "'")
        if kind == "Task" and mock is None and not params.get("roleArn"):
            raise AWSError("ValidationException", "RoleArn must be specified when testing a Task state")
        context = _json(params.get("context"), "context") if params.get("context") is not None else None
        if context is not None:
            if not isinstance(context, dict):
                raise AWSError("ValidationException", "Invalid Context object provided: must be a JSON object")
            _check_context(context, state_raw)
        try:
            machine = StateMachine.parse(json.dumps(document))
        except InvalidDefinition as exc:  # pragma: no cover - validated above
            raise AWSError("InvalidDefinition", str(exc)) from None
        data = _json(params.get("input") or "{}", "input")
        sm_name, run_name = f"TestState-{uuid.uuid4().hex[:12]}", str(uuid.uuid4())
        prefix = f"arn:aws:states:{region}:{settings.ACCOUNT_ID}"
        env = environment(execution_arn=f"{prefix}:express:{sm_name}:{run_name}", name=run_name, input_value=data,
                          role_arn=params.get("roleArn"), state_machine_arn=f"{prefix}:stateMachine:{sm_name}",
                          integrations=self.integrations, tokens=self.tokens, time_scale=self.time_scale,
                          context=context)
        retry_count = int(configuration.get("retrierRetryCount") or 0)
        outcome = run_state(machine.program.states[name], env, data, mock=mock, retry_count=retry_count)
        return outcome.response(params.get("inspectionLevel") or "INFO")


def _json(text: Any, what: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise AWSError("InvalidExecutionInput", f"Invalid State Machine Execution Input: '{exc}'"
                       if what == "input" else f"Invalid {what}: '{exc}'") from None
