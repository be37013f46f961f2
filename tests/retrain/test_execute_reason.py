"""A failed execution's message leads with the service's own reason, not the whole JSON description."""

from __future__ import annotations

import json

import pytest

from retrain.errors import ExecutionFailed
from retrain.execute import ExecutionReport, reason


def test_reason_of_a_failed_glue_run() -> None:
    cause = json.dumps({"JobName": "p-etl", "JobRunState": "FAILED", "Id": "jr_1",
                        "ErrorMessage": "InputDataError: column 'Day Mins' has 2 non-numeric values"})
    assert reason(cause) == "p-etl: InputDataError: column 'Day Mins' has 2 non-numeric values"


def test_reason_of_a_failed_training_job_and_a_lambda_error() -> None:
    assert reason(json.dumps({"TrainingJobName": "t1", "FailureReason": "ClientError: bad eta"})) == \
        "t1: ClientError: bad eta"
    assert reason(json.dumps({"errorType": "MetricNotFound", "errorMessage": "no validation:error"})) == \
        "MetricNotFound: no validation:error"


def test_plain_text_and_unknown_json_pass_through() -> None:
    assert reason("the endpoint rolled back") == "the endpoint rolled back"
    assert reason('{"other": 1}') == '{"other": 1}'
    assert reason(None) is None


def test_failure_message_names_the_state_and_the_reason() -> None:
    events = [
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Extract, Transform, Load"}},
        {"type": "ExecutionFailed", "executionFailedEventDetails": {"error": "States.TaskFailed"}},
    ]
    report = ExecutionReport(arn="arn", name="run-1", status="FAILED", duration_s=1.0, events=events,
                             error="States.TaskFailed",
                             cause=json.dumps({"JobName": "p-etl", "ErrorMessage": "missing column 'Churn?'"}))
    with pytest.raises(ExecutionFailed) as err:
        report.raise_if_failed()
    text = str(err.value)
    assert "in state 'Extract, Transform, Load'" in text
    assert text.endswith("States.TaskFailed: p-etl: missing column 'Churn?'")
