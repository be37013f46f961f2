"""ValidateStateMachineDefinition through boto3: ``result`` OK/FAIL and the ``diagnostics``.

Expectations are responses recorded on AWS (localstack ``tests/aws/services/stepfunctions/v2/
test_sfn_api_validation.snapshot.json``, named per case) and the diagnostic codes the API reference lists
(ValidateStateMachineDefinitionDiagnostic).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions")


def _validate(sfn: Any, definition: str, **params: Any) -> dict[str, Any]:
    answer = sfn.validate_state_machine_definition(definition=definition, **params)
    answer.pop("ResponseMetadata")
    return answer


@pytest.mark.parametrize("sm_type", ["STANDARD", "EXPRESS"])
def test_valid_and_missing_start_at(sfn: Any, sm_type: str) -> None:
    # test_validate_state_machine_definition_type_standard/express[VALID_BASE_PASS], [INVALID_BASE_NO_STARTAT]
    assert _validate(sfn, json.dumps(PASS), type=sm_type) == {"diagnostics": [], "result": "OK", "truncated": False}
    no_start = {"States": PASS["States"]}
    assert _validate(sfn, json.dumps(no_start), type=sm_type) == {
        "diagnostics": [{"code": "SCHEMA_VALIDATION_FAILED", "location": "/",
                         "message": "These fields are required: [StartAt]", "severity": "ERROR"}],
        "result": "FAIL", "truncated": False}


def test_what_is_not_a_definition(sfn: Any) -> None:
    # test_validate_state_machine_definition_not_a_definition[EMPTY_DICT], [NOT_A_DEF]
    assert _validate(sfn, "{}")["diagnostics"] == [
        {"code": "SCHEMA_VALIDATION_FAILED", "location": "/", "message": "These fields are required: [States, StartAt]",
         "severity": "ERROR"}]
    where = '[Source: (String)"not a definition"; line: 1, column: 4]'
    assert _validate(sfn, "not a definition")["diagnostics"] == [
        {"code": "INVALID_JSON_DESCRIPTION", "location": where, "severity": "ERROR",
         "message": "Unrecognized token 'not': was expecting (JSON String, Number, Array, Object or token 'null', "
                    f"'true' or 'false')\n at {where}"}]
    assert _validate(sfn, "[]")["diagnostics"] == [
        {"code": "SCHEMA_VALIDATION_FAILED", "message": "Definition must be a valid JSON object", "severity": "ERROR"}]


def test_codes_and_truncation(sfn: Any) -> None:
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Nowhere"},
        "B": {"Type": "Task", "Resource": "arn:aws:states:::nope:nothing", "End": True}}}
    answer = _validate(sfn, json.dumps(definition))
    codes = {d["location"]: d["code"] for d in answer["diagnostics"]}
    assert codes["/States/A/Next"] == "MISSING_TRANSITION_TARGET"
    assert codes["/States/B/Resource"] == "INVALID_RESOURCE"
    assert answer["result"] == "FAIL" and answer["truncated"] is False
    one = _validate(sfn, json.dumps(definition), maxResults=1)
    assert len(one["diagnostics"]) == 1 and one["truncated"] is True
    with pytest.raises(ClientError) as err:
        _validate(sfn, json.dumps(PASS), maxResults=101)
    assert err.value.response["Error"]["Code"] == "ValidationException"
