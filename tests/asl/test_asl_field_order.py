"""The order of fields in what the engine writes: payload templates as AWS renders them, recorded on AWS."""

from __future__ import annotations

import json

from harness import make_execution

from localcloud.asl.templates import render_template
from localcloud.asl.values import java_hash_order

#: recorded on AWS: localstack snapshot tests/aws/services/stepfunctions/v2/base/test_base.snapshot.json,
#: test_query_context_object_values (Parameters with 13 path fields, written in this order)
CONTEXT_FIELDS = ["context_object", "execution", "execution_id", "execution_input", "execution_name",
                  "execution_rolearn", "execution_starttime", "state", "state_enteredtime", "state_name",
                  "statemachine", "statemachine_id", "statemachine_name"]
CONTEXT_ORDER = ["execution", "execution_rolearn", "execution_name", "statemachine_id", "execution_id",
                 "execution_input", "execution_starttime", "state_name", "state_enteredtime", "statemachine", "state",
                 "context_object", "statemachine_name"]


def test_path_fields_come_in_java_hash_map_order() -> None:
    assert java_hash_order(CONTEXT_FIELDS) == CONTEXT_ORDER
    template = {f"{name}.$": "$$.Execution.Name" for name in CONTEXT_FIELDS}
    assert list(render_template(template, {}, {"Execution": {"Name": "x"}})) == CONTEXT_ORDER


def test_plain_fields_come_first_in_their_own_order() -> None:
    """Recorded on AWS: localstack snapshot tests/aws/services/stepfunctions/v2/scenarios/
    test_base_scenarios.snapshot.json, test_map_state_item_selector (ItemSelector) and
    test_retry_interval_features_max_attempts_zero ({"FunctionName.$", "Payload"} written Payload first)."""
    selector = {"original_input.$": "$", "iteration_input_value.$": "$.v", "iteration_index.$": "$.i",
                "from_input_constant.$": "$.c", "constant_value": "HelloWorld"}
    rendered = render_template(selector, {"v": 1, "i": 0, "c": "UQS"}, {})
    assert list(rendered) == ["constant_value", "iteration_input_value", "from_input_constant", "iteration_index",
                              "original_input"]
    parameters = {"FunctionName.$": "$.FunctionName", "Payload": {"RetryAttempt.$": "$.n", "b": 2, "a": 1}}
    rendered = render_template(parameters, {"FunctionName": "f", "n": 0}, {})
    assert list(rendered) == ["Payload", "FunctionName"] and list(rendered["Payload"]) == ["b", "a", "RetryAttempt"]


def test_the_history_carries_that_order() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True, "Parameters": {
        "constantValue": "constant", "mapValue.$": "$.v", "fromInput.$": "$"}}}}
    execution = make_execution(definition, {"v": 1})
    execution.run()
    exited = [e for e in execution.history() if e["type"] == "PassStateExited"][0]
    # recorded on AWS: test_base_scenarios.snapshot.json, test_map_state_config_inline_parameters
    assert list(json.loads(exited["stateExitedEventDetails"]["output"])) == ["constantValue", "mapValue", "fromInput"]
