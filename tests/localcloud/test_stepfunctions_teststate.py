"""TestState through boto3: one state, run once, with what each step of its data flow made.

Expectations are responses recorded on AWS (localstack ``tests/aws/services/stepfunctions/v2/test_state/
*.snapshot.json``, named per test; their definitions are in ``templates/test_state/statemachines``). TestState
carries the host prefix ``sync-`` in the API model: against a local endpoint the client turns it off.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sfn_helpers import ensure_role

NESTED = {"initialData": {"fieldFromInput": "value from input", "otherField": "other"},
          "unrelatedData": {"someOtherField": 1234}}
IO_PASS = {"Type": "Pass", "InputPath": "$.initialData",
           "Parameters": {"staticValue": "some value", "inputValue.$": "$.fieldFromInput"},
           "ResultPath": "$.modifiedData", "End": True}
CHOICE = {"Type": "Choice", "Default": "DefaultState", "Choices": [
    {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
    {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
    {"And": [{"Variable": "$.value", "NumericGreaterThanEquals": 20},
             {"Variable": "$.value", "NumericLessThan": 30}], "Next": "ValueInTwenties"}]}
TASK = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "foo", "Payload": "bar"}, "End": True}
MOCK_ERROR = {"errorOutput": {"error": "MockException", "cause": "Mock the cause of the error."}}


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions", config=Config(inject_host_prefix=False))


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-teststate-role")


def _test(sfn: Any, state: dict[str, Any], input_value: Any = None, **params: Any) -> dict[str, Any]:
    answer = sfn.test_state(definition=json.dumps(state), input=json.dumps(input_value or {}), **params)
    answer.pop("ResponseMetadata")
    for key in ("output",):
        if key in answer:
            answer[key] = json.loads(answer[key])
    for key, value in answer.get("inspectionData", {}).items():
        if isinstance(value, str):
            answer["inspectionData"][key] = json.loads(value)
    return answer


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_pass_state_data_flow(sfn: Any) -> None:
    # test_base_inspection_level_debug[IO_PASS_STATE], test_base_inspection_level_info[IO_PASS_STATE]
    output = {**NESTED, "modifiedData": {"staticValue": "some value", "inputValue": "value from input"}}
    assert _test(sfn, IO_PASS, NESTED) == {"output": output, "status": "SUCCEEDED"}
    debug = _test(sfn, IO_PASS, NESTED, inspectionLevel="DEBUG")
    assert debug["inspectionData"] == {
        "input": NESTED, "afterInputPath": NESTED["initialData"],
        "afterParameters": {"staticValue": "some value", "inputValue": "value from input"},
        "afterResultSelector": {"staticValue": "some value", "inputValue": "value from input"},
        "afterResultPath": output}


def test_pass_state_with_a_result(sfn: Any) -> None:
    # test_base_inspection_level_debug[BASE_RESULT_PASS_STATE]
    state = {"Type": "Pass", "Result": {"resultKey": "result value"}, "End": True}
    answer = _test(sfn, state, {"Value": "HelloWorld"}, inspectionLevel="TRACE")
    assert answer["inspectionData"] == {"input": {"Value": "HelloWorld"}, "result": {"resultKey": "result value"},
                                        "afterResultSelector": {"resultKey": "result value"},
                                        "afterResultPath": {"resultKey": "result value"}}


def test_choice_names_the_next_state(sfn: Any) -> None:
    # test_base_inspection_level_debug[BASE_CHOICE_STATE]
    data = {"type": "Private", "value": 22}
    assert _test(sfn, CHOICE, data, inspectionLevel="DEBUG") == {
        "inspectionData": {"afterInputPath": data, "input": data}, "nextState": "ValueInTwenties",
        "output": data, "status": "SUCCEEDED"}


def test_fail_state(sfn: Any) -> None:
    # test_base_inspection_level_debug[BASE_FAIL_STATE]
    state = {"Type": "Fail", "Error": "SomeFailure", "Cause": "This state machines raises a 'SomeFailure' failure."}
    assert _test(sfn, state, {"Value": "HelloWorld"}, inspectionLevel="DEBUG") == {
        "cause": "This state machines raises a 'SomeFailure' failure.", "error": "SomeFailure",
        "inspectionData": {"afterInputPath": {"Value": "HelloWorld"}, "input": {"Value": "HelloWorld"}},
        "status": "FAILED"}


@pytest.mark.parametrize(("count", "status", "details"), [
    (4, "RETRIABLE", {"retryBackoffIntervalSeconds": 16, "retryIndex": 0}),
    (5, "FAILED", {"retryIndex": 0}),
])
def test_a_mocked_error_against_the_retry_count(sfn: Any, count: int, status: str, details: dict[str, Any]) -> None:
    # test_state_configuration_retrier_retry_count[DEBUG]
    state = {**TASK, "Retry": [{"ErrorEquals": ["MockException"], "IntervalSeconds": 1, "MaxAttempts": 5,
                                "BackoffRate": 2.0}]}
    answer = _test(sfn, state, {"Values": ["first"]}, inspectionLevel="DEBUG", mock=MOCK_ERROR,
                   stateConfiguration={"retrierRetryCount": count})
    assert (answer["status"], answer["error"], answer["cause"]) == (status, "MockException",
                                                                    "Mock the cause of the error.")
    assert answer["inspectionData"]["errorDetails"] == details
    assert answer["inspectionData"]["afterParameters"] == {"FunctionName": "foo", "Payload": "bar"}


def test_a_mocked_error_caught(sfn: Any) -> None:
    # test_state_task_catch_error[DEBUG]
    state = {**TASK, "Catch": [{"ErrorEquals": ["MockException"], "ResultPath": "$.error", "Next": "HandleMockError"},
                               {"ErrorEquals": ["States.TaskFailed"], "Next": "HandleThreshold"}]}
    answer = _test(sfn, state, {"Value": "HelloWorld"}, inspectionLevel="DEBUG", mock=MOCK_ERROR)
    assert (answer["status"], answer["nextState"]) == ("CAUGHT_ERROR", "HandleMockError")
    assert answer["output"] == {"Value": "HelloWorld", "error": {"Error": "MockException",
                                                                 "Cause": "Mock the cause of the error."}}
    assert answer["inspectionData"]["errorDetails"] == {"catchIndex": 0}


def test_a_mocked_result(sfn: Any) -> None:
    answer = _test(sfn, {**TASK, "ResultSelector": {"code.$": "$.StatusCode"}, "ResultPath": "$.r"},
                   {"in": 1}, inspectionLevel="DEBUG", mock={"result": json.dumps({"StatusCode": 200})})
    assert answer["output"] == {"in": 1, "r": {"code": 200}} and answer["status"] == "SUCCEEDED"
    assert answer["inspectionData"]["result"] == {"StatusCode": 200}
    assert answer["inspectionData"]["afterResultSelector"] == {"code": 200}


def test_a_real_task_runs_with_the_role(sfn: Any, role: str) -> None:
    state = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets",
             "ResultSelector": {"listed.$": "States.ArrayLength($.Buckets)"}, "End": True}
    answer = _test(sfn, state, roleArn=role)
    assert answer["status"] == "SUCCEEDED" and isinstance(answer["output"]["listed"], int)
    with pytest.raises(ClientError) as err:
        _test(sfn, state)
    assert _error(err) == ("ValidationException", "RoleArn must be specified when testing a Task state")


def test_a_state_of_a_whole_machine(sfn: Any) -> None:
    # test_base_state_name_multi_state[DEBUG-State0], test_base_state_name_validation_failures[dne]
    machine = {"StartAt": "State0", "States": {"State0": {"Type": "Pass", "Next": "State1"},
                                               "State1": {"Type": "Pass", "End": True}}}
    answer = _test(sfn, machine, {"Value": "HelloWorld"}, stateName="State0", inspectionLevel="DEBUG")
    assert answer["nextState"] == "State1" and answer["output"] == {"Value": "HelloWorld"}
    with pytest.raises(ClientError) as err:
        _test(sfn, machine, stateName="Nope")
    assert _error(err) == ("ValidationException", "State not found in definition")


def test_what_is_refused(sfn: Any) -> None:
    # test_state_mock_validation.snapshot.json: test_state_type_requires_mock[MapState],
    # test_state_type_does_not_accept_mock[mock_result-PassState], test_both_mock_result_and_mock_error_output_are_set,
    # test_reveal_secrets_is_true_and_mock_result_is_set; test_state_context_object.snapshot.json INVALID_FIELD
    map_state = {"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                 "End": True}
    refusals = [
        (map_state, {}, ("InvalidDefinition", "TestState API does not support Map or Parallel states. Supported state "
                                              "types include: [Task, Wait, Pass, Succeed, Fail, Choice]")),
        (IO_PASS, {"mock": {"result": "{}"}}, ("ValidationException",
                                               "State type 'Pass' is not supported when a mock is specified")),
        (TASK, {"mock": {"result": "{}", **MOCK_ERROR}}, (
            "ValidationException", "A test mock should have only one of the following fields: [result, errorOutput].")),
        (TASK, {"mock": {"result": "{}"}, "revealSecrets": True}, (
            "ValidationException", "TestState does not support RevealSecrets when a mock is specified.")),
        (TASK, {"mock": {"result": "{}"}, "context": json.dumps({"Pokedex": {}})}, (
            "ValidationException", "Invalid Context object provided: Field 'Pokedex' is not allowed")),
    ]
    for state, params, expected in refusals:
        with pytest.raises(ClientError) as err:
            _test(sfn, state, **params)
        assert _error(err) == expected


def test_a_mocked_map(sfn: Any) -> None:
    map_state = {"Type": "Map", "ItemsPath": "$.Values", "MaxConcurrency": 1, "ResultPath": "$.out",
                 "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}
    answer = _test(sfn, map_state, {"Values": [1, 2, 3]}, mock={"result": "[1, 1, 1]"})
    assert answer == {"output": {"Values": [1, 2, 3], "out": [1, 1, 1]}, "status": "SUCCEEDED"}


def test_a_given_context_object(sfn: Any) -> None:
    # test_state_task_context_object[ALL]: the context object given replaces the one TestState makes
    state = {"Type": "Pass", "Parameters": {"id.$": "$$.Execution.Id", "name.$": "$$.State.Name"}, "End": True}
    context = {"Execution": {"Id": "arn:aws:states:::execution:MyStateMachine:execution-name-12345"},
               "State": {"Name": "MyTaskState"}}
    answer = _test(sfn, state, context=json.dumps(context))
    assert answer["output"] == {"id": "arn:aws:states:::execution:MyStateMachine:execution-name-12345",
                                "name": "MyTaskState"}


def test_a_mocked_map_and_its_failure_count(sfn: Any) -> None:
    # test_state_configuration.snapshot.json test_state_machine_with_state_error[DEBUG] (inspection of a JSONPath
    # Map), test_map_state_failure_count[DEBUG-BASE_MAP_STATE_CATCH] (the threshold exceeded, caught)
    map_state = {"Type": "Map", "ItemsPath": "$.Values", "ToleratedFailureCount": 1,
                 "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                 "Catch": [{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "Next": "HandleThreshold"}],
                 "End": True}
    values = {"Values": ["first", "second", "third"]}
    below = _test(sfn, map_state, values, inspectionLevel="DEBUG", mock={"result": "[1, 1, 1]"},
                  stateConfiguration={"mapIterationFailureCount": 1})
    assert below["status"] == "SUCCEEDED" and below["output"] == [1, 1, 1]
    assert below["inspectionData"] == {"input": values, "afterInputPath": values,
                                       "afterItemsPath": ["first", "second", "third"], "maxConcurrency": 0,
                                       "toleratedFailureCount": 1}
    above = _test(sfn, map_state, values, inspectionLevel="DEBUG", mock={"result": "[0, 0, 1]"},
                  stateConfiguration={"mapIterationFailureCount": 2})
    assert (above["status"], above["error"], above["nextState"]) == (
        "CAUGHT_ERROR", "States.ExceedToleratedFailureThreshold", "HandleThreshold")
    assert above["cause"] == "The specified tolerated failure threshold was exceeded"
    assert above["inspectionData"]["errorDetails"] == {"catchIndex": 0}


@pytest.mark.parametrize(("state", "mock", "configuration", "message"), [
    ({"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True},
     {"result": "{}"}, {}, "Mocked result must be an array."),
    ({"Type": "Parallel", "Branches": [{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}],
      "End": True}, {"result": "[1, 2]"}, {},
     "Mocked result must contain the same number of items as number of Parallel branches."),
    ({"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True},
     {"result": "[1]"}, {"mapIterationFailureCount": 2},
     "Map iteration failure count must be less than or equal to the number of Map iterations"),
    (TASK, None, {"mapIterationFailureCount": 1},
     "TestState does not support MapIterationFailureCount when a mock is not specified."),
])
def test_mocked_map_and_parallel_results_are_checked(sfn: Any, state: dict[str, Any], mock: Any,
                                                     configuration: dict[str, Any], message: str) -> None:
    # test_state_mock_validation.snapshot.json
    params: dict[str, Any] = {"stateConfiguration": configuration, "roleArn": "arn:aws:iam::123456789012:role/x"}
    if mock is not None:
        params["mock"] = mock
    with pytest.raises(ClientError) as err:
        _test(sfn, state, **params)
    assert _error(err) == ("ValidationException", message)


def test_a_mocked_parallel(sfn: Any) -> None:
    # test_test_state_mock_scenarios.snapshot.json test_io_parallel_state_mock_success[DEBUG]
    state = {"Type": "Parallel", "InputPath": "$.parallelInput", "ResultPath": "$.parallelResult", "End": True,
             "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
                          {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}]}
    data = {"parallelInput": {"data": "input_value"}}
    result = [{"branch1": "result"}, {"branch2": "result"}]
    answer = _test(sfn, state, data, inspectionLevel="DEBUG", mock={"result": json.dumps(result)})
    assert answer["output"] == {**data, "parallelResult": result}
    assert answer["inspectionData"] == {"input": data, "afterResultSelector": result,
                                        "afterResultPath": {**data, "parallelResult": result}}
