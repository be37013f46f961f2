"""Event patterns and target input, against outcomes recorded on AWS.

``eventbridge_patterns.json``: every match and non-match of localstack's event-pattern templates, whose outcomes
were recorded with TestEventPattern on AWS (its ``source`` field says where). The input cases are the recorded
transformations of localstack ``tests/aws/services/events/test_events_inputs.snapshot.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localcloud.services.eventbridge import inputs, patterns

CASES = json.loads((Path(__file__).parent / "eventbridge_patterns.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_pattern_matches_as_recorded_on_aws(case: dict[str, Any]) -> None:
    assert patterns.matches(case["pattern"], case["event"]) is case["matches"]


def test_a_rule_without_a_pattern_matches_no_event() -> None:
    assert patterns.matches(None, {"source": "x"}) is False


EVENT = {"version": "0", "id": "e-1", "detail-type": "core.update-account-command",
         "source": "core.update-account-command", "account": "111111111111", "time": "2024-05-13T12:27:07Z",
         "region": "us-east-1", "resources": [],
         "detail": {"command": "update-account", "payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"},
                    "listsingle": ["HIGH"], "listmulti": ["ACTIVE", "INACTIVE"], "valid": True}}
PATHS = {"detail-type": "$.detail-type", "timestamp": "$.time", "command": "$.detail.command",
         "payload": "$.detail.payload", "userId": "$.detail.payload.acc_id", "listsingle": "$.detail.listsingle",
         "listmulti": "$.detail.listmulti", "missing": "$.detail.notinmessage", "valid": "$.detail.valid"}


def _transform(template: str) -> str:
    return inputs.target_input({"InputTransformer": {"InputPathsMap": PATHS, "InputTemplate": template}}, EVENT,
                               rule_arn="arn:aws:events:us-east-1:111111111111:rule/r", rule_name="r",
                               ingestion_time="2024-05-13T12:27:07.123Z")


@pytest.mark.parametrize(("template", "expected"), [
    # each as recorded on AWS (test_events_inputs.snapshot.json)
    ('{"detailType": <detail-type>,  "time": <timestamp>, "command": <command>}',
     {"detailType": "core.update-account-command", "time": "2024-05-13T12:27:07Z", "command": "update-account"}),
    ('{"detailType": <detail-type>,  "time": <timestamp>, "command": <missing>}',
     {"detailType": "core.update-account-command", "time": "2024-05-13T12:27:07Z", "command": ""}),
    ('{"method": "PUT", "path": "users-service/users/<userId>", "bod": <payload>}',
     {"method": "PUT", "path": "users-service/users/0a787ecb-4015", "bod": {"acc_id": "0a787ecb-4015", "sf_id": "baz"}}),
    ('{"method": "PUT", "path": "users-service/users/<userId>", "bod": [<userId>, "hardcoded"]}',
     {"method": "PUT", "path": "users-service/users/0a787ecb-4015", "bod": ["0a787ecb-4015", "hardcoded"]}),
    ('{"singlelistitem": <listsingle>}', {"singlelistitem": ["HIGH"]}),
    ('{"multi_replacement": "users/<userId>/second/<userId>"}',
     {"multi_replacement": "users/0a787ecb-4015/second/0a787ecb-4015"}),
    ('"Event of <detail-type> type, at time <timestamp>, info extracted from detail <missing>"',
     "Event of core.update-account-command type, at time 2024-05-13T12:27:07Z, info extracted from detail "),
    ('"<listsingle> single list item <listmulti> multiple list items <payload> payload <userId> user id"',
     "[HIGH] single list item [ACTIVE,INACTIVE] multiple list items {acc_id:0a787ecb-4015,sf_id:baz} payload "
     "0a787ecb-4015 user id"),
    ('"Command is <valid>!"', "Command is true!"),
    ('"Message containing all pre defined variables <aws.events.rule-arn> <aws.events.rule-name> '
     '<aws.events.event.ingestion-time>"',
     "Message containing all pre defined variables arn:aws:events:us-east-1:111111111111:rule/r r "
     "2024-05-13T12:27:07.123Z"),
])
def test_the_input_transformer_fills_placeholders_as_recorded_on_aws(template: str, expected: Any) -> None:
    assert json.loads(_transform(template)) == expected


def test_the_predefined_event_variables_are_the_event_with_and_without_its_detail() -> None:
    out = json.loads(_transform('{"originalEvent": <aws.events.event>, "originalEventJson": <aws.events.event.json>}'))
    assert out["originalEventJson"] == EVENT
    assert out["originalEvent"] == {"id": "e-1", "account": "111111111111", "detailType": EVENT["detail-type"],
                                    "time": "2024-05-13T12:27:07.123Z", "source": EVENT["source"],
                                    "region": "us-east-1", "resources": [], "version": "0"}


def test_input_path_and_constant_input() -> None:
    # recorded: InputPath "$.detail" delivers the detail; a path to a string delivers the JSON string
    assert json.loads(inputs.target_input({"InputPath": "$.detail.payload"}, EVENT, rule_arn="", rule_name="",
                                          ingestion_time="")) == EVENT["detail"]["payload"]
    assert inputs.target_input({"InputPath": "$.detail.payload.sf_id"}, EVENT, rule_arn="", rule_name="",
                               ingestion_time="") == '"baz"'
    assert inputs.target_input({"Input": '{"fixed": 1}'}, EVENT, rule_arn="", rule_name="",
                               ingestion_time="") == '{"fixed": 1}'
