"""EXPRESS state machines through boto3: StartSyncExecution, asynchronous StartExecution, what they refuse.

Expectations are responses recorded on AWS (localstack ``tests/aws/services/stepfunctions/v2/
test_sfn_api_express.snapshot.json``, named per test) and the API reference. StartSyncExecution carries the host
prefix ``sync-`` in the API model; against a local endpoint the client turns it off (``inject_host_prefix``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sfn_helpers import ensure_role, unique, wait_for

PASS = {"StartAt": "State_1", "States": {"State_1": {"Type": "Pass", "Result": {"Arg1": "argument1"}, "End": True}}}
FAIL = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "it broke"}}}
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions", config=Config(inject_host_prefix=False))


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-express-tests-role")


def _express(sfn: Any, role: str, definition: dict[str, Any]) -> str:
    return sfn.create_state_machine(name=unique("x"), definition=json.dumps(definition), roleArn=role,
                                    type="EXPRESS")["stateMachineArn"]


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_create_describe_delete(sfn: Any, role: str) -> None:
    # test_create_describe_delete
    arn = _express(sfn, role, PASS)
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["type"] == "EXPRESS" and described["loggingConfiguration"] == {
        "level": "OFF", "includeExecutionData": False}
    sfn.delete_state_machine(stateMachineArn=arn)


def test_start_sync_execution(sfn: Any, role: str) -> None:
    # test_start_sync_execution
    arn = _express(sfn, role, PASS)
    answer = sfn.start_sync_execution(stateMachineArn=arn, input="{}")
    name = arn.rsplit(":", 1)[-1]
    assert re.fullmatch(rf"arn:aws:states:us-east-1:123456789012:express:{name}:{answer['name']}:[0-9a-f-]+",
                        answer["executionArn"])
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == {"Arg1": "argument1"}
    assert answer["inputDetails"] == {"included": True} and answer["outputDetails"] == {"included": True}
    assert answer["billingDetails"]["billedMemoryUsedInMB"] == 64
    assert answer["billingDetails"]["billedDurationInMilliseconds"] % 100 == 0
    assert answer["stateMachineArn"] == arn and answer["stopDate"] >= answer["startDate"]
    metadata = sfn.start_sync_execution(stateMachineArn=arn, includedData="METADATA_ONLY")
    assert "output" not in metadata and "input" not in metadata


def test_a_failing_sync_execution_is_still_200(sfn: Any, role: str) -> None:
    # "StartSyncExecution will return a 200 OK response, even if your execution fails" (API reference)
    answer = sfn.start_sync_execution(stateMachineArn=_express(sfn, role, FAIL))
    assert (answer["status"], answer["error"], answer["cause"]) == ("FAILED", "Boom", "it broke")
    assert "output" not in answer


def test_express_runs_at_most_five_minutes(sfn: Any, role: str, cloud: Any) -> None:
    # "Express Workflows can run for up to five minutes" (Choosing workflow type, developer guide)
    backend = next(s for s in cloud.app.services if type(s).__name__ == "StepFunctionsAPI").backend
    backend.time_scale = 0.001  # 300 s of definition time last 0.3 s
    try:
        answer = sfn.start_sync_execution(stateMachineArn=_express(sfn, role, WAIT))
    finally:
        backend.time_scale = 1.0
    assert answer["status"] == "TIMED_OUT" and answer["error"] == "States.Timeout"


def test_sync_execution_of_a_standard_machine_is_refused(sfn: Any, role: str) -> None:
    arn = sfn.create_state_machine(name=unique("s"), definition=json.dumps(PASS), roleArn=role)["stateMachineArn"]
    with pytest.raises(ClientError) as err:
        sfn.start_sync_execution(stateMachineArn=arn)
    assert _error(err)[0] == "StateMachineTypeNotSupported"


def test_asynchronous_express_executions_are_not_described(sfn: Any, role: str) -> None:
    # test_start_async_describe_history_execution
    arn = _express(sfn, role, PASS)
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    assert ":express:" in execution
    refused = ("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: express'")
    for call in (lambda: sfn.describe_execution(executionArn=execution),
                 lambda: sfn.stop_execution(executionArn=execution),
                 lambda: sfn.get_execution_history(executionArn=execution)):
        with pytest.raises(ClientError) as err:
            call()
        assert _error(err) == refused
    with pytest.raises(ClientError) as err:
        sfn.list_executions(stateMachineArn=arn)
    assert _error(err) == ("StateMachineTypeNotSupported", "This operation is not supported by this type of state "
                                                           "machine")


@pytest.mark.parametrize(("resource", "message"), [
    ("arn:aws:states:::sqs:sendMessage.waitForTaskToken",
     "Express state machine does not support '.waitForTaskToken' service integration  at /States/T/Resource"),
    ("arn:aws:states:::states:startExecution.sync",
     "Express state machine does not support '.sync' service integration at /States/T/Resource"),
    ("arn:aws:states:us-east-1:123456789012:activity:work",
     "Express state machine does not support Activity ARN at /States/T/Resource"),
])
def test_illegal_tasks(sfn: Any, role: str, resource: str, message: str) -> None:
    # test_illegal_callbacks[WAIT_FOR_TASK_TOKEN], test_illegal_callbacks[SYNC], test_illegal_activity_task
    definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "End": True}}}
    with pytest.raises(ClientError) as err:
        _express(sfn, role, definition)
    code, text = _error(err)
    where, what = message.rsplit(" at ", 1)
    assert code == "InvalidDefinition" and f"{what}: {where}" in text
    checked = sfn.validate_state_machine_definition(definition=json.dumps(definition), type="EXPRESS")
    assert checked["result"] == "FAIL"
    assert checked["diagnostics"][0] == {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": where,
                                         "location": what}


def test_logging_configuration_is_checked(sfn: Any, role: str, aws: Any) -> None:
    # test_sfn_api_logs.snapshot.json: test_invalid_logging_configuration, test_deleted_log_group,
    # test_incomplete_logging_configuration, test_logging_configuration[ALL-True]
    group = unique("/aws/vendedlogs/states/x")
    aws("logs").create_log_group(logGroupName=group)
    group_arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{group}:*"
    kept = {"level": "ALL", "includeExecutionData": True,
            "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group_arn}}]}
    arn = sfn.create_state_machine(name=unique("x"), definition=json.dumps(PASS), roleArn=role, type="EXPRESS",
                                   loggingConfiguration=kept)["stateMachineArn"]
    assert sfn.describe_state_machine(stateMachineArn=arn)["loggingConfiguration"] == kept
    incomplete = sfn.create_state_machine(name=unique("x"), definition=json.dumps(PASS), roleArn=role,
                                          loggingConfiguration={"destinations": []})["stateMachineArn"]
    assert sfn.describe_state_machine(stateMachineArn=incomplete)["loggingConfiguration"] == {
        "destinations": [], "includeExecutionData": False, "level": "OFF"}
    for config, why in [({"level": "ALL"}, "Must specify exactly one Log Destination."),
                        ({**kept, "destinations": kept["destinations"] * 2}, "Must specify exactly one Log Destination."),
                        ({**kept, "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group_arn + "-gone"}}]},
                         "Log Destination not found.")]:
        with pytest.raises(ClientError) as err:
            sfn.create_state_machine(name=unique("x"), definition=json.dumps(PASS), roleArn=role,
                                     loggingConfiguration=config)
        assert _error(err) == ("InvalidLoggingConfiguration", f"Invalid Logging Configuration: {why}")


def _logged(aws: Any, group: str, count: int) -> list[dict[str, Any]]:
    logs = aws("logs")

    def events() -> list[dict[str, Any]]:
        found = []
        for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
            found += [json.loads(e["message"]) for e in logs.get_log_events(
                logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)["events"]]
        return found if len(found) >= count else []

    return wait_for(events)


def test_executions_are_logged_as_configured(sfn: Any, role: str, aws: Any) -> None:
    # test_logs.snapshot.json test_base[pass_result.json5_ALL_False], test_partial_log_levels[raise_failure.json5_
    # ERROR_True]
    group = unique("/aws/vendedlogs/states/logged")
    aws("logs").create_log_group(logGroupName=group)
    destination = [{"cloudWatchLogsLogGroup": {"logGroupArn": f"arn:aws:logs:us-east-1:123456789012:log-group:{group}:*"}}]
    arn = sfn.create_state_machine(name=unique("x"), definition=json.dumps(PASS), roleArn=role, type="EXPRESS",
                                   loggingConfiguration={"level": "ALL", "includeExecutionData": False,
                                                         "destinations": destination})["stateMachineArn"]
    answer = sfn.start_sync_execution(stateMachineArn=arn, input="{}")
    logged = _logged(aws, group, 4)
    assert [(e["id"], e["type"], e["previous_event_id"], e["details"]) for e in logged] == [
        ("1", "ExecutionStarted", "0", {"roleArn": role}), ("2", "PassStateEntered", "0", {"name": "State_1"}),
        ("3", "PassStateExited", "2", {"name": "State_1"}), ("4", "ExecutionSucceeded", "3", {})]
    assert all(e["execution_arn"] == answer["executionArn"] and e["redrive_count"] == "0" for e in logged)
    errors = unique("/aws/vendedlogs/states/errors")
    aws("logs").create_log_group(logGroupName=errors)
    failing = sfn.create_state_machine(
        name=unique("x"), definition=json.dumps(FAIL), roleArn=role, loggingConfiguration={
            "level": "ERROR", "includeExecutionData": True, "destinations": [{"cloudWatchLogsLogGroup": {
                "logGroupArn": f"arn:aws:logs:us-east-1:123456789012:log-group:{errors}:*"}}]})["stateMachineArn"]
    sfn.start_execution(stateMachineArn=failing, input="{}")
    assert [e["type"] for e in _logged(aws, errors, 2)] == ["FailStateEntered", "ExecutionFailed"]
