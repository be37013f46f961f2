"""The engine's definition checks for QueryLanguage, JSONata and variables give the diagnostics AWS gives.

Each case is a definition and the (location, message) pairs ValidateStateMachineDefinition answered on AWS for it.
The ValidateStateMachineDefinition API words its diagnostics from these problems (``/States/X: message``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.asl import validate_definition
from localcloud.asl.parse import definition_problems

#: recorded on AWS: localstack snapshot tests/aws/services/stepfunctions/v2/test_sfn_api_validation.snapshot.json
#: (test_validate_state_machine_definition_type_standard and _type_express), with the definitions of
#: templates/validation/statemachines/*.json5
RECORDED: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "INVALID_DOWNGRADE_QUERY_LANGUAGE": (
        {"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": True, "QueryLanguage": "JSONPath"}},
         "QueryLanguage": "JSONata"},
        [("/States/Pass", "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine")],
    ),
    "VALID_QUERY_LANGUAGE_PASS": (
        {"StartAt": "Map", "QueryLanguage": "JSONPath", "States": {"Map": {
            "Type": "Map", "QueryLanguage": "JSONata",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Pass",
                              "States": {"Pass": {"QueryLanguage": "JSONPath", "Type": "Pass", "End": True}}},
            "End": True}}},
        [],
    ),
}

#: measured on AWS with ValidateStateMachineDefinition and reported verbatim in floci-io/floci issues #2968 (rules
#: 1-3), #2670 and #2745 (codes UNSUPPORTED_JSONATA_EXPRESSION, INVALID_JSONATA_EXPRESSION)
MEASURED: dict[str, tuple[dict[str, Any], list[tuple[str, str, str]]]] = {
    "output_in_jsonpath_state": (
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": 1, "End": True}}},
        [("SCHEMA_VALIDATION_FAILED", "/States/P",
          "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the 'JSONata' "
          "QueryLanguage")],
    ),
    "processor_query_language": (
        {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, "ItemProcessor": {
            "QueryLanguage": "JSONata", "StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}}}},
        [("SCHEMA_VALIDATION_FAILED", "/States/M/ItemProcessor", "Field 'QueryLanguage' is not supported")],
    ),
    "processor_states_take_machine_language": (
        {"StartAt": "M", "States": {"M": {"Type": "Map", "QueryLanguage": "JSONata", "End": True, "ItemProcessor": {
            "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": 1, "End": True}}}}}},
        [("SCHEMA_VALIDATION_FAILED", "/States/M/ItemProcessor/States/P",
          "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the 'JSONata' "
          "QueryLanguage")],
    ),
    "top_level_reference": (
        {"QueryLanguage": "JSONata", "StartAt": "E",
         "States": {"E": {"Type": "Pass", "Output": {"v": "{% phone %}"}, "End": True}}},
        [("UNSUPPORTED_JSONATA_EXPRESSION", "/States/E/Output/v",
          "Reference to 'phone' at the top level is not supported.")],
    ),
    "unparsable_expression": (
        {"QueryLanguage": "JSONata", "StartAt": "E",
         "States": {"E": {"Type": "Pass", "Output": "{% a[1,2) %}", "End": True}}},
        [("INVALID_JSONATA_EXPRESSION", "/States/E/Output", 'Expected "]", got ","')],
    ),
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_diagnostics(name: str) -> None:
    definition, expected = RECORDED[name]
    assert validate_definition(json.dumps(definition)) == [f"{where}: {message}" for where, message in expected]


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_measured_diagnostics_and_codes(name: str) -> None:
    definition, expected = MEASURED[name]
    assert definition_problems(json.dumps(definition)) == [
        (f"{where}: {message}", code) for code, where, message in expected]
