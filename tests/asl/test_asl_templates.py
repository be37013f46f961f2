"""Run every template under templates/<feature>/ through the engine and compare with its expectations."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from harness import assigned_variables, load_templates, make_execution
from statelint.linter import Linter

from localcloud.asl import validate_definition

RUN_CASES = [(cid, case) for cid, case in load_templates() if not cid.startswith("validation/")]
VALIDATION_CASES = load_templates("validation")

_HISTORY_EVENT = botocore.session.get_session().get_service_model("stepfunctions").shape_for("HistoryEvent")


def _is_subsequence(wanted: list[str], got: list[str]) -> bool:
    it = iter(got)
    return all(any(g == w for g in it) for w in wanted)


def _check_history(events: list[dict[str, Any]]) -> None:
    """Every event has the exact HistoryEvent shape of the service model and consecutive ids."""
    validator = ParamValidator()
    for i, event in enumerate(events, start=1):
        assert event["id"] == i
        assert 0 <= event["previousEventId"] < i
        report = validator.validate(event, _HISTORY_EVENT)
        assert not report.has_errors(), report.generate_report()
        for key, details in event.items():
            if key.endswith("EventDetails"):
                for text_field in ("input", "output", "parameters"):
                    if text_field in details:
                        json.loads(details[text_field])


@pytest.mark.parametrize(("case_id", "case"), RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_template(case_id: str, case: dict[str, Any]) -> None:
    definition = case["definition"]
    assert validate_definition(json.dumps(definition)) == [], "a run template must be a valid definition"
    execution = make_execution(definition, case.get("input"), time_scale=case.get("time_scale", 1.0))
    result = execution.run()
    expected = case["expected"]
    status = expected.get("status", "SUCCEEDED" if "output" in expected else "FAILED")
    history = execution.history()
    types = [e["type"] for e in history]
    assert result.status == status, (result, types)
    if "output" in expected:
        assert json.loads(result.output) == expected["output"]
    if "error" in expected:
        assert result.error == expected["error"], result
    if "cause" in expected:
        assert result.cause == expected["cause"]
    if "cause_contains" in expected:
        assert expected["cause_contains"] in (result.cause or ""), result.cause
    if "events" in expected:
        assert types == expected["events"]
    if "previous" in expected:
        assert [e["previousEventId"] for e in history] == expected["previous"], types
    if "events_include" in expected:
        assert _is_subsequence(expected["events_include"], types), types
    for event_type, count in expected.get("event_counts", {}).items():
        assert types.count(event_type) == count, (event_type, types)
    for event_type in expected.get("events_absent", []):
        assert event_type not in types
    if "assigned" in expected:
        assert assigned_variables(history) == expected["assigned"]
    _check_history(history)


@pytest.mark.parametrize(("case_id", "case"), VALIDATION_CASES, ids=[c[0] for c in VALIDATION_CASES])
def test_validation(case_id: str, case: dict[str, Any]) -> None:
    definition = case["definition"]
    text = definition if isinstance(definition, str) else json.dumps(definition)
    assert validate_definition(text) == case["problems"]
    if case.get("statelint_rejects"):
        # statelint (an independent ASL validator) agrees the definition is invalid
        assert Linter.validate(text) != []
