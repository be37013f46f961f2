"""How a run ends, written down and told: the states notebook 03 puts on the workflow's terminal paths.

Every end the workflow reaches by design — ``Model Deployed``, ``Model Rejected`` and the other Fail states
(``Endpoint Deploy Failed``, ``Endpoint Check Failed``, the approval's ends, each after ``Note ...`` puts its error
and cause into ``$.Failure``) — first passes ``Record ...``:
the project's Lambda function (``code/model_gate.py``, action ``RecordRun``) writes the run's ``record.json`` to
``<project>/runs/<run_id>/``, so a run a schedule or new data started, with no notebook 04, is in ``retrain
history`` (notebook 04, when it ran the execution, overwrites the record afterwards with its richer one). A Lambda
rather than S3 PutObject from the state machine (``aws-sdk:s3:putObject`` with ``States.JsonToString``): each path
reaches different parts of the state data (a failure before the judge has no ``$.Judgement``) and a JSONPath to a
missing field fails the state with ``States.Runtime``; the function takes the whole state data and records what is
there. Then, when ``notify_events`` asks for that end, ``Notify ...`` publishes to the project's topic
(``arn:aws:states:::sns:publish``, the SDK's ``SnsPublishStep``): what happened, the reason, and where the run's
record and data are, with a Subject.

Neither may change how the run ends: each catches every error (``States.ALL``) and carries on to the end it was
on. ``States.ALL`` does not catch ``States.Runtime`` ("A retry or catch on States.ALL will not catch
States.Runtime errors", "Error handling in Step Functions"), so both read only paths that exist on their path
(``$.Run`` from the first states; ``$.Judgement`` after the judge; ``$.Failure`` set by the Catch or ``Note``). A failed task (a job, a call) is caught and recorded only when failures notify (``failed`` in
``notify_events`` and a subscription set): a caught failure ends in the Fail state ``Run Failed`` with the original
error and cause (``ErrorPath``/``CausePath``), and a redrive of such an execution continues from that Fail state,
which fails again ("it continues the failed execution from the unsuccessful step", RedriveExecution, API reference)
— so it is not added when nobody is to be told, and a redrivable failure stays the default.

Sources: Step Functions developer guide, "Call Amazon SNS with Step Functions" (Publish's parameters, a JSON
``Message``), "Error handling in Step Functions" (Catch, ``States.ALL``, ResultPath of a caught error:
``{"Error", "Cause"}``), "Fail workflow state" (``ErrorPath``, ``CausePath``), "Intrinsic functions"
(``States.Format``: ``'``, ``{``, ``}`` and ``\\`` in the template must be escaped, so the templates here use none);
botocore's ``sns`` model (Publish's errors; Subject under 100 characters, no line breaks).
"""

from __future__ import annotations

from typing import Any

from stepfunctions import steps
from stepfunctions.inputs.placeholders import Placeholder
from stepfunctions.steps.states import Graph
from stepfunctions.workflow import Workflow

from retrain import notifications
from retrain.parameters import Params
from retrain.registry import APPROVAL_TIMED_OUT_ERROR, REVIEWER_REJECTED_ERROR
from retrain.workflow import REJECTED_ERROR

FAILED_STATE = "Run Failed"
#: the states a caught failure passes on its way to ``Run Failed`` (``ending(..., label="Failure")``)
FAILURE_PATH_STATES = ("Record Failure", "Notify Failure", FAILED_STATE)
FAILURE_PATH = "$.Failure"
#: SNS Publish's transient errors as an optimized integration names them (botocore sns model: InternalError; the
#: base class for throttling and what the model does not declare)
SNS_TRANSIENT = ["SNS.InternalErrorException", "SNS.AmazonSNSException"]
LAMBDA_TRANSIENT = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException"]

#: event -> (what happened, for the Subject; the message's sentence with {} for: run id, reason, data prefix)
_WORDS = {
    "deployed": ("deployed", "Run {} of {project} deployed its model to endpoint {endpoint}. {}. "),
    "rejected": ("rejected", "Run {} of {project} trained a model that was not deployed: {}. "),
    "failed": ("FAILED", "Run {} of {project} failed: {}. "),
}
_WHERE = ("Its record, data and evaluation: {} (retrain history lists the run; retrain compare puts two side by "
          "side). Execution: {}")


def record_step(name: str, params: Params, execution_input: Placeholder, status: str,
                built: dict[str, Any]) -> steps.LambdaStep:
    """``Record ...``: the project's Lambda writes the run's record (``built``: what the workflow was built with,
    ``ParamsDigest`` and ``GitCommit``)."""
    step = steps.LambdaStep(name, parameters={
        "FunctionName": execution_input["LambdaFunctionName"],
        "Payload": {"Action": "RecordRun", "Status": status, "Target": params.target, **built,
                    "Execution.$": "$$.Execution.Id",
                    "RecordUri.$": "States.Format('{}record.json', $.Run.DataPrefix)", "State.$": "$"},
    }, result_path="$.Recorded")
    step.add_retry(steps.Retry(error_equals=LAMBDA_TRANSIENT, interval_seconds=2, max_attempts=3, backoff_rate=2.0))
    return step


def message(params: Params, event: str, reason: str) -> dict[str, str]:
    """Publish's ``Subject`` and ``Message`` for ``event``, as ``States.Format`` of the state data (``reason``: a
    path or an intrinsic giving the reason in words)."""
    subject, sentence = _WORDS[event]
    text = sentence.replace("{project}", params.project_name).replace("{endpoint}", str(params.endpoint_name))
    return {"Subject.$": f"States.Format('{params.project_name}: run {{}} {subject}', $.Run.RunId)",
            "Message.$": f"States.Format('{text}{_WHERE}', $.Run.RunId, {reason}, $.Run.DataPrefix, "
                         "$$.Execution.Id)"}


def notify_step(name: str, params: Params, topic: str, event: str, reason: str) -> steps.SnsPublishStep:
    """``Notify ...``: publish the run's end to the project's topic, with the event as a message attribute."""
    step = steps.SnsPublishStep(name, parameters={
        "TopicArn": topic, **message(params, event, reason),
        "MessageAttributes": {"event": {"DataType": "String", "StringValue": event},
                              "run_id": {"DataType": "String", "StringValue.$": "$.Run.RunId"}},
    }, result_path="$.Notified")
    step.add_retry(steps.Retry(error_equals=SNS_TRANSIENT, interval_seconds=2, max_attempts=3, backoff_rate=2.0))
    return step


def ending(params: Params, execution_input: Placeholder, topic: str | None, event: str, reason: str,
           end: steps.State, built: dict[str, Any], label: str, status: str | None = None) -> steps.State:
    """``Record <label>`` (→ ``Notify <label>`` when ``event`` notifies) → ``end``; errors of either are caught
    and the run goes on to ``end``. ``status``: the record's (notebook 04's verdict names), by default ``event``.
    Returns the first state."""
    record = record_step(f"Record {label}", params, execution_input, status or event, built)
    after_record: steps.State = end
    if topic and notifications.notifies(params, event):
        notify = notify_step(f"Notify {label}", params, topic, event, reason)
        notify.add_catch(steps.Catch(error_equals=["States.ALL"], next_step=end, result_path="$.NotifyError"))
        notify.next(end)
        after_record = notify
    record.add_catch(steps.Catch(error_equals=["States.ALL"], next_step=after_record, result_path="$.RecordError"))
    record.next(after_record)
    return record


def reachable(start: steps.State) -> list[steps.State]:
    """Every state reachable from ``start`` (next, choices, default, catches), in the order found."""
    seen: dict[int, steps.State] = {}
    todo = [start]
    while todo:
        state = todo.pop()
        if state is None or id(state) in seen:
            continue
        seen[id(state)] = state
        todo += [getattr(state, "next_step", None), getattr(state, "default", None)]
        todo += [target for _, target in getattr(state, "choices", None) or []]
        todo += [catch.next_step for catch in getattr(state, "catches", []) or []]
    return list(seen.values())


def catches_all(state: steps.State) -> bool:
    return any("States.ALL" in catch.error_equals for catch in getattr(state, "catches", []) or [])


def catch_failures(start: steps.State, handler: steps.State, skip: set[str]) -> list[str]:
    """Add ``Catch States.ALL -> handler`` (error into ``$.Failure``) to every Task reachable from ``start`` that
    has none and is not in ``skip``; the names of those states."""
    caught = []
    for state in reachable(start):
        if isinstance(state, steps.Task) and state.state_id not in skip and not catches_all(state):
            state.add_catch(steps.Catch(error_equals=["States.ALL"], next_step=handler, result_path=FAILURE_PATH))
            caught.append(state.state_id)
    return caught


def redirect(states: list[steps.State], old: steps.State, new: steps.State) -> int:
    """Point every transition of ``states`` that leads to ``old`` (Next, a choice, Default, a Catch) at ``new``;
    how many were changed."""
    changed = 0
    for state in states:
        if getattr(state, "next_step", None) is old:
            state.next_step = new
            changed += 1
        for choice in getattr(state, "choices", None) or []:
            if choice[1] is old:
                choice[1] = new
                changed += 1
        if getattr(state, "default", None) is old:
            state.default = new
            changed += 1
        for catch in getattr(state, "catches", []) or []:
            if catch.next_step is old:
                catch.next_step = new
                changed += 1
    return changed


def rebuild(workflow: Workflow, start: steps.State) -> dict[str, Any]:
    """Take the states added after ``workflow`` was made into its definition (the SDK's ``Graph`` collects the
    states once, when it is built); the new definition."""
    workflow.definition = Graph(steps.Chain([start]), timeout_seconds=workflow.timeout_seconds,
                                comment=workflow.comment, version=workflow.version)
    return dict(workflow.definition.to_dict())


#: a designed Fail state's error -> (the notification event, the record's status: notebook 04's verdict names)
DESIGNED_ENDS = {REJECTED_ERROR: ("rejected", "rejected"),
                 REVIEWER_REJECTED_ERROR: ("rejected", "rejected_by_reviewer"),
                 APPROVAL_TIMED_OUT_ERROR: ("rejected", "approval_timed_out")}


def record_designed_ends(start: steps.State, params: Params, execution_input: Placeholder, topic: str | None,
                         built: dict[str, Any], skip: set[str]) -> list[str]:
    """Every other Fail state reachable from ``start`` (``Endpoint Deploy Failed``, ``Endpoint Check Failed``, the
    approval's ends) is reached through ``Note <name>`` (its error and cause into ``$.Failure``) → ``Record <name>``
    (→ ``Notify <name>``); the names of those Fail states."""
    before = reachable(start)
    done = []
    for end in before:
        if not isinstance(end, steps.Fail) or end.state_id in skip:
            continue
        error = end.fields.get("error") or "States.Fail"
        cause = {"Cause.$": end.fields["cause_path"]} if end.fields.get("cause_path") else \
            {"Cause": end.fields.get("cause") or ""}
        note = steps.Pass(f"Note {end.state_id}", parameters={"Error": error, **cause}, result_path=FAILURE_PATH)
        event, status = DESIGNED_ENDS.get(error, ("failed", "failed"))
        reason = "$.Failure.Cause" if event == "rejected" else \
            "States.Format('{}: {}', $.Failure.Error, $.Failure.Cause)"
        note.next(ending(params, execution_input, topic, event, reason, end, built, end.state_id, status))
        redirect(before, end, note)
        done.append(end.state_id)
    return done
