"""The AWS Step Functions Data Science SDK (``stepfunctions`` 2.3.0) unchanged against localcloud.

The SDK takes a boto3 client (``client=``) on every entry point, which is how it is pointed at the cloud.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sfn_helpers import ensure_role, unique, wait_done
from stepfunctions.inputs import ExecutionInput
from stepfunctions.steps import Chain, Choice, ChoiceRule, Fail, Pass, Succeed, Wait
from stepfunctions.workflow import ExecutionStatus, Workflow


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions")


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-sdk-tests-role")


def _definition() -> tuple[Chain, ExecutionInput]:
    execution_input = ExecutionInput(schema={"Threshold": float, "Score": float})
    prepare = Pass("Prepare", parameters={"threshold": execution_input["Threshold"],
                                          "score": execution_input["Score"]})
    gate = Choice("Gate")
    gate.add_choice(ChoiceRule.NumericLessThanPath(variable="$.score", value="$.threshold"),
                    next_step=Succeed("Good enough"))
    gate.default_choice(Fail("Too weak", error="ScoreTooLow", cause="score above the threshold"))
    return Chain([prepare, Wait("Breathe", seconds=0), gate]), execution_input


def test_workflow_lifecycle(sfn: Any, role: str) -> None:
    definition, execution_input = _definition()
    name = unique("sdk-workflow")
    workflow = Workflow(name=name, definition=definition, role=role, execution_input=execution_input, client=sfn)
    arn = workflow.create()
    assert arn == f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
    assert workflow.create() == arn  # the SDK only logs when the workflow exists

    good = workflow.execute(name="good", inputs={"Threshold": 0.5, "Score": 0.1})
    assert wait_done(sfn, good.execution_arn)["status"] == "SUCCEEDED"
    assert good.describe()["status"] == "SUCCEEDED"
    assert good.get_output() == {"threshold": 0.5, "score": 0.1}
    events = good.list_events()
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert ["ChoiceStateEntered", "ChoiceStateExited", "SucceedStateEntered"] == \
        [t for t in types if t.startswith(("Choice", "Succeed"))][:3]
    assert [e["id"] for e in good.list_events(reverse_order=True)] == sorted((e["id"] for e in events),
                                                                             reverse=True)
    assert len(good.list_events(max_items=2)) == 2

    bad = workflow.execute(name="bad", inputs={"Threshold": 0.5, "Score": 0.9})
    described = wait_done(sfn, bad.execution_arn)
    assert (described["status"], described["error"]) == ("FAILED", "ScoreTooLow")

    executions = workflow.list_executions()
    assert {e.name for e in executions} == {"good", "bad"}
    assert [e.name for e in workflow.list_executions(status_filter=ExecutionStatus.Failed)] == ["bad"]

    workflows = Workflow.list_workflows(client=sfn, max_items=1000)
    assert any(w["stateMachineArn"] == arn for w in workflows)

    attached = Workflow.attach(arn, client=sfn)
    assert json.loads(attached.definition.to_json()) == json.loads(workflow.definition.to_json())

    simpler = Chain([Pass("Only", result={"v": 1})])
    workflow.update(definition=simpler)
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])["StartAt"] == "Only"
    third = workflow.execute(name="third", inputs={"Threshold": 0.5, "Score": 0.1})
    assert wait_done(sfn, third.execution_arn)["status"] == "SUCCEEDED"
    assert third.get_output() == {"v": 1}

    workflow.delete()
    assert all(w["stateMachineArn"] != arn for w in Workflow.list_workflows(client=sfn, max_items=1000))


def test_workflow_stop_execution(sfn: Any, role: str) -> None:
    workflow = Workflow(name=unique("sdk-stop"), definition=Chain([Wait("Long", seconds=60)]), role=role,
                        client=sfn)
    workflow.create()
    execution = workflow.execute()
    stopped = execution.stop(error="Cancelled", cause="test over")
    assert stopped["stopDate"]
    described = execution.describe()
    assert (described["status"], described["error"], described["cause"]) == ("ABORTED", "Cancelled", "test over")
    workflow.delete()
