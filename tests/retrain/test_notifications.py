"""How a run ends, recorded and told: the terminal states notebook 03 builds (``retrain.outcomes``) run through
localcloud's Step Functions with the project's own Lambda function (``code/model_gate.py``, ``RecordRun``) and
publish to an SNS topic made by ``retrain.notifications`` whose webhook subscription is an HTTP server in this test.

The Publish task's shape follows the Step Functions guide, "Call Amazon SNS with Step Functions"; what a webhook
receives follows the SNS developer guide, "HTTP/HTTPS notification JSON format" (``Type: Notification``,
``Subject``, ``Message``, ``MessageAttributes``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from stepfunctions import steps
from stepfunctions.steps.states import Graph

from retrain import notifications
from retrain.config import load_params
from retrain.errors import ParamsError
from retrain.history import history_rows, records
from retrain.outcomes import FAILED_STATE, catch_failures, ending
from retrain.resources import Layout, lambda_zip
from retrain.workflow import FailWithPaths, make_execution_input, naming_steps

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "params" / "local.yaml"
AWS = ROOT / "params" / "aws.yaml"
ACCOUNT = "123456789012"
PROJECT = "notify-test"


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


# -- parameters -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("override", "message"), [
    (["notify_events=[failed, finished]"], "notify_events has 'finished'"),
    (["notify_events=failed"], "notify_events must be a list"),
    (["notify_email=not-an-address"], "notify_email='not-an-address' is not an email address"),
    (["notify_webhook=ftp://127.0.0.1/x"], "notify_webhook='ftp://127.0.0.1/x' must be an https:// URL"),
    (["notify_webhook=http://example.com/x"], "must be an https:// URL (or http://127.0.0.1"),
])
def test_bad_notification_parameters_are_refused_with_what_to_write(override: list[str], message: str) -> None:
    with pytest.raises(ParamsError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load_params(LOCAL, override)


def test_plain_http_webhooks_only_on_this_machine_and_only_locally() -> None:
    assert load_params(LOCAL, ["notify_webhook=http://127.0.0.1:8080/hook"]).notify_webhook
    assert load_params(AWS, ["notify_webhook=https://hooks.example.com/retrain"]).notify_webhook
    with pytest.raises(ParamsError, match="use https"):
        load_params(AWS, ["notify_webhook=http://127.0.0.1:8080/hook"])


def test_no_subscription_no_topic_and_the_default_events() -> None:
    params = load_params(LOCAL)
    assert params.notify_events == ["failed", "rejected"]
    assert not notifications.enabled(params) and notifications.requests(params, ACCOUNT, "arn:role") == []
    told = load_params(LOCAL, ["notify_email=ops@example.com"])
    assert notifications.notifies(told, "failed") and not notifications.notifies(told, "deployed")


def test_the_event_filter_decides_which_ends_publish() -> None:
    """Only the ends in ``notify_events`` get a Notify state; every end is recorded."""
    params = load_params(LOCAL, ["notify_webhook=http://127.0.0.1:9/hook", "notify_events=[rejected]"])
    names = make_execution_input()
    for event, label, expect in (("deployed", "Deployed", False), ("rejected", "Rejection", True)):
        first = ending(params, names, "arn:aws:sns:us-east-1:1:t", event, "$.Judgement.Payload.reason",
                       steps.Succeed("End"), {}, label)
        states = Graph(steps.Chain([first])).to_dict()["States"]
        assert f"Record {label}" in states and (f"Notify {label}" in states) is expect


# -- through localcloud -----------------------------------------------------------------------------------------

class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append({"headers": dict(self.headers), "body": body})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/retrain", _Hook.received
    server.shutdown()


@pytest.fixture(scope="module")
def project(aws: Any, hook: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """A bucket, the project's Lambda function, a workflow role and the notifications topic with a webhook."""
    url, _ = hook
    params = load_params(LOCAL, [f"project_name={PROJECT}", f"notify_webhook={url}",
                                 "notify_events=[failed, rejected, deployed]"])
    s3, iam, account = aws("s3"), aws("iam"), aws("sts").get_caller_identity()["Account"]
    bucket = f"{PROJECT}-{account}-us-east-1"
    s3.create_bucket(Bucket=bucket)
    role = {kind: iam.create_role(RoleName=f"{PROJECT}-{kind}", AssumeRolePolicyDocument=_trust(f"{kind}."
                                                                                                 "amazonaws.com"))
            ["Role"]["Arn"] for kind in ("states", "lambda")}
    aws("lambda").create_function(FunctionName=params.lambda_function_name, Runtime="python3.12",
                                  Role=role["lambda"], Handler="model_gate.lambda_handler", Timeout=30,
                                  Code={"ZipFile": lambda_zip(ROOT / "code" / "model_gate.py")})
    topic = notifications.ensure(aws("sns"), params, account, role["states"])
    return {"params": params, "layout": Layout(bucket, PROJECT), "role": role["states"], "topic": topic,
            "account": account}


def _machine(aws: Any, project: dict[str, Any], name: str, topic: str | None = None, fail: bool = False,
             given: str = "$") -> str:
    """Naming states → a stand-in judge (decision and reason from the input, at ``given``: an unattended run's
    input is kept as ``$.Trigger``) → Deploy? → the ends notebook 03 builds; with ``fail``, a task that fails first
    (the model gate asked for an unknown action), caught."""
    params, names = project["params"], make_execution_input()
    topic = topic or project["topic"]["topic_arn"]
    built = {"ParamsDigest": "sha256:test", "GitCommit": "abc"}
    naming = naming_steps(params, project["layout"])
    judged = steps.Pass("Judge Model", parameters={"Payload": {
        "decision.$": f"{given}.Decision", "reason.$": f"{given}.Reason", "metrics": {"validationError": 0.05},
        "gate": {"metric": "auc", "candidate": 0.91, "champion": 0.9}}}, result_path="$.Judgement")
    deploy = steps.Choice("Deploy?")
    deploy.add_choice(steps.ChoiceRule.StringEquals(variable="$.Judgement.Payload.decision", value="deploy"),
                      next_step=ending(params, names, topic, "deployed", "$.Judgement.Payload.reason",
                                       steps.Succeed("Model Deployed"), built, "Deployed"))
    deploy.default_choice(ending(params, names, topic, "rejected", "$.Judgement.Payload.reason",
                                 FailWithPaths("Model Rejected", error="ModelRejected",
                                               cause_path="$.Judgement.Payload.reason"), built, "Rejection"))
    first: steps.State = judged
    if fail:
        first = steps.LambdaStep("Find Champion", parameters={"FunctionName": names["LambdaFunctionName"],
                                                              "Payload": {"Action": "NoSuchAction"}})
        first.next(judged)
    naming["name_run"].next(first)
    judged.next(deploy)
    if fail:
        on_failure = ending(params, names, topic, "failed",
                            "States.Format('{}: {}', $.Failure.Error, $.Failure.Cause)",
                            FailWithPaths(FAILED_STATE, error_path="$.Failure.Error",
                                          cause_path="$.Failure.Cause"), built, "Failure")
        assert catch_failures(naming["start"], on_failure, skip=set()) == ["Find Champion"]
    definition = Graph(steps.Chain([naming["start"]])).to_dict()
    return aws("stepfunctions").create_state_machine(name=name, definition=json.dumps(definition),
                                                     roleArn=project["role"])["stateMachineArn"]


def _run(aws: Any, machine: str, value: dict[str, Any]) -> dict[str, Any]:
    sfn = aws("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(value))["executionArn"]
    deadline = time.monotonic() + 90
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.1)
    return described


def _notice(received: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for item in received:
            body = item["body"]
            if body.get("Type") == "Notification" and run_id in body.get("Subject", ""):
                return item
        time.sleep(0.1)
    raise AssertionError(f"no notification of run {run_id} reached the webhook: {received}")


def test_the_topic_is_the_projects_with_its_webhook_and_only_the_workflow_may_publish(
        aws: Any, project: dict[str, Any]) -> None:
    sns, topic = aws("sns"), project["topic"]
    assert topic["topic_arn"].endswith(f":{PROJECT}-notifications")
    tags = sns.list_tags_for_resource(ResourceArn=topic["topic_arn"])["Tags"]
    assert {"Key": "retrain:project", "Value": PROJECT} in tags
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic["topic_arn"])["Attributes"]["Policy"])
    publishers = [s["Principal"]["AWS"] for s in policy["Statement"] if "Publish" in json.dumps(s["Action"])]
    assert publishers == [project["role"]]
    assert [(s["protocol"], s["endpoint"]) for s in topic["subscriptions"]] == [
        ("http", project["params"].notify_webhook)]
    again = notifications.ensure(sns, project["params"], project["account"], project["role"])
    assert again["subscriptions"] == topic["subscriptions"]  # nothing doubled


def test_a_rejected_run_is_recorded_and_told_with_the_gates_reason(
        aws: Any, project: dict[str, Any], hook: tuple[str, list[dict[str, Any]]]) -> None:
    machine = _machine(aws, project, "notify-rejected")
    reason = "auc 0.8800 does not beat the champion's 0.9000 by 0.01"
    out = _run(aws, machine, {"RunId": "20260101-060000-aaaa0001", "Decision": "reject", "Reason": reason})
    assert out["status"] == "FAILED" and out["error"] == "ModelRejected" and out["cause"] == reason
    notice = _notice(hook[1], "20260101-060000-aaaa0001")["body"]
    assert notice["Subject"] == f"{PROJECT}: run 20260101-060000-aaaa0001 rejected"
    message = notice["Message"]
    assert reason in message and "was not deployed" in message
    assert project["layout"].run_prefix("20260101-060000-aaaa0001") in message  # where the record and data are
    assert out["executionArn"] in message
    assert notice["MessageAttributes"]["event"] == {"Type": "String", "Value": "rejected"}
    record = json.loads(aws("s3").get_object(Bucket=project["layout"].bucket,
                                             Key=f"{PROJECT}/runs/20260101-060000-aaaa0001/record.json")["Body"].read())
    assert record["status"] == "rejected" and record["recorded_by"] == "workflow"
    assert record["started_by"] == "retrain run" and record["execution"] == out["executionArn"]
    assert record["gate"]["reason"] == reason and record["gate"]["decision"] == "reject"
    assert record["endpoint_config"] is None and record["params_digest"] == "sha256:test"


def test_an_unattended_deployed_run_is_in_history_and_told(
        aws: Any, project: dict[str, Any], hook: tuple[str, list[dict[str, Any]]]) -> None:
    machine = _machine(aws, project, "notify-deployed", given="$.Trigger")
    out = _run(aws, machine, {"Decision": "deploy", "Reason": "auc 0.9100 beats 0.9000"})  # a schedule's run
    assert out["status"] == "SUCCEEDED"
    run_id = json.loads(out["output"])["Run"]["RunId"]
    notice = _notice(hook[1], run_id)["body"]
    assert notice["Subject"] == f"{PROJECT}: run {run_id} deployed"
    assert "deployed its model to endpoint notify-test-endpoint" in notice["Message"]
    assert "auc 0.9100 beats 0.9000" in notice["Message"]
    rows = {r["run"]: r for r in history_rows(records(aws("s3"), project["layout"]))}
    assert rows[run_id]["status"] == "deployed" and rows[run_id]["started by"] == "schedule"
    assert rows[run_id]["endpoint config"] == f"{PROJECT}-{run_id}-config" and rows[run_id]["score"] == 0.91


def test_a_failed_task_is_caught_recorded_told_and_the_run_still_fails_with_its_own_error(
        aws: Any, project: dict[str, Any], hook: tuple[str, list[dict[str, Any]]]) -> None:
    machine = _machine(aws, project, "notify-failed", fail=True)
    out = _run(aws, machine, {"RunId": "20260101-060000-aaaa0003", "Decision": "deploy", "Reason": "-"})
    assert out["status"] == "FAILED" and out["error"] == "InvalidEvent"  # the model gate's own exception
    assert "NoSuchAction" in json.loads(out["cause"])["errorMessage"]
    notice = _notice(hook[1], "20260101-060000-aaaa0003")["body"]
    assert notice["Subject"] == f"{PROJECT}: run 20260101-060000-aaaa0003 FAILED"
    assert "failed: InvalidEvent: " in notice["Message"] and "NoSuchAction" in notice["Message"]
    record = json.loads(aws("s3").get_object(Bucket=project["layout"].bucket,
                                             Key=f"{PROJECT}/runs/20260101-060000-aaaa0003/record.json")["Body"].read())
    assert record["status"] == "failed" and record["error"] == "InvalidEvent" and record["gate"] is None


def test_a_notification_that_cannot_be_published_does_not_change_the_outcome(aws: Any,
                                                                              project: dict[str, Any]) -> None:
    """Publish to a topic that does not exist fails (SNS.NotFoundException, recorded on AWS: localstack snapshot
    tests/aws/services/stepfunctions/v2/services/test_sns_task_service.snapshot.json,
    test_publish_base_error_topic_arn); the Notify state catches it and the run ends as it would have."""
    missing = f"arn:aws:sns:us-east-1:{project['account']}:no-such-topic"
    machine = _machine(aws, project, "notify-no-topic", topic=missing)
    out = _run(aws, machine, {"RunId": "20260101-060000-aaaa0004", "Decision": "deploy", "Reason": "ok"})
    assert out["status"] == "SUCCEEDED"
    assert json.loads(out["output"])["NotifyError"]["Error"] == "SNS.NotFoundException"


def test_clean_up_removes_the_topic_and_its_subscriptions(aws: Any, project: dict[str, Any]) -> None:
    params = load_params(LOCAL, [f"project_name={PROJECT}-gone", "notify_email=ops@example.com"])
    sns = aws("sns")
    made = notifications.ensure(sns, params, project["account"], project["role"])
    assert [s["protocol"] for s in made["subscriptions"]] == ["email"]
    removed = notifications.remove(sns, params, project["account"])
    assert removed == [("SNS subscription", "ops@example.com"), ("SNS topic", f"{PROJECT}-gone-notifications")]
    assert notifications.remove(sns, params, project["account"]) == []  # nothing left
    arns = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert made["topic_arn"] not in arns


# -- retrain plan (aws target, offline) -------------------------------------------------------------------------

NOTIFY = ["notify_webhook=https://hooks.example.com/retrain", "notify_email=ops@example.com",
          "notify_events=[failed, rejected, deployed]"]


@pytest.fixture(scope="module")
def notify_plan() -> Any:
    from retrain.plan import EXAMPLE_ACCOUNT, build

    return build(load_params(AWS, NOTIFY), EXAMPLE_ACCOUNT)


def test_the_plan_sends_the_topic_and_checks_the_publish_tasks_and_the_record(notify_plan: Any) -> None:
    from retrain.plancheck import check, tasks

    sent = [(service, name) for service, name, _ in notify_plan.requests if service == "sns"]
    assert sent == [("sns", "CreateTopic"), ("sns", "SetTopicAttributes"), ("sns", "Subscribe"), ("sns", "Subscribe")]
    found = {state: (service, name) for state, service, name, _, _ in tasks(notify_plan)}
    for label in ("Deployed", "Rejection", "Failure"):
        assert found[f"Notify {label}"] == ("sns", "Publish") and found[f"Record {label}"] == ("lambda", "Invoke")
    failed = notify_plan.definition["States"][FAILED_STATE]
    assert failed == {"Type": "Fail", "ErrorPath": "$.Failure.Error", "CausePath": "$.Failure.Cause"}
    caught = [name for name, state in notify_plan.definition["States"].items()
              if any(c["Next"] == "Record Failure" for c in state.get("Catch", []))]
    assert {"Extract, Transform, Load", "Train Model", "Judge Model", "Update Endpoint"} <= set(caught)
    assert check(notify_plan) == []


def test_the_plan_refuses_a_workflow_role_that_may_not_publish_or_a_gate_that_may_not_record(
        notify_plan: Any) -> None:
    import copy

    from retrain.plancheck import check

    broken = copy.deepcopy(notify_plan)
    for kind, sid in (("stepfunctions", "PublishNotifications"), ("lambda", "WriteRunRecords")):
        for document in broken.roles[kind]["policies"].values():
            document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]
    problems = check(broken)
    assert any("may not sns:Publish on arn:aws:sns:us-east-1:111122223333:retrain-churn-notifications" in p
               for p in problems), problems
    assert any("lambda role may not s3:PutObject" in p and p.endswith("/record.json") for p in problems), problems


def test_without_notifications_failures_stay_where_they_happened() -> None:
    """No subscription: no topic request, no Notify state, no catch-all (a failed task stays redrivable), but
    the designed ends are still recorded."""
    from retrain.plan import EXAMPLE_ACCOUNT, build

    plan = build(load_params(AWS), EXAMPLE_ACCOUNT)
    states = plan.definition["States"]
    assert not [s for s, _, _ in plan.requests if s == "sns"]
    assert "Record Deployed" in states and "Record Rejection" in states
    assert not [n for n in states if n.startswith("Notify")] and FAILED_STATE not in states
    assert not any(c["Next"] == "Record Failure" for s in states.values() for c in s.get("Catch", []))
    assert "PublishNotifications" not in json.dumps(plan.roles["stepfunctions"]["policies"])


def test_the_designed_fail_states_are_recorded_and_told_on_the_way(notify_plan: Any) -> None:
    s = notify_plan.definition["States"]
    assert s["Failure Reason Given?"]["Choices"][0]["Next"] == "Note Endpoint Deploy Failed"
    assert s["Note Endpoint Deploy Failed"]["Parameters"] == {"Error": "EndpointDeployFailed",
                                                              "Cause.$": "$.Endpoint.FailureReason"}
    assert s["Note Endpoint Deploy Failed"]["Next"] == "Record Endpoint Deploy Failed"
    assert s["Record Endpoint Deploy Failed"]["Next"] == "Notify Endpoint Deploy Failed"
    assert s["Notify Endpoint Deploy Failed"]["Next"] == "Endpoint Deploy Failed"
    assert s["Check Endpoint"]["Catch"][-1]["Next"] == "Note Endpoint Check Failed"
    assert s["Record Endpoint Check Failed"]["Parameters"]["Payload"]["Status"] == "failed"


def test_a_rolled_back_deployment_is_recorded_and_told_and_still_fails_with_its_reason(
        aws: Any, project: dict[str, Any], hook: tuple[str, list[dict[str, Any]]]) -> None:
    from retrain.outcomes import record_designed_ends
    from retrain.workflow import deploy_failure_steps

    params, names = project["params"], make_execution_input()
    naming = naming_steps(params, project["layout"])
    reason = "the update rolled back: alarm notify-test-endpoint-5xx-errors went into ALARM"
    described = steps.Pass("Describe Endpoint", result={"EndpointStatus": "InService", "FailureReason": reason},
                           result_path="$.Endpoint")
    failure = deploy_failure_steps()
    naming["name_run"].next(described)
    described.next(failure["reason_given"])
    assert record_designed_ends(naming["start"], params, names, project["topic"]["topic_arn"], {}, set()) == [
        "Endpoint Deploy Failed"]
    definition = Graph(steps.Chain([naming["start"]])).to_dict()
    machine = aws("stepfunctions").create_state_machine(name="notify-rolled-back", definition=json.dumps(definition),
                                                        roleArn=project["role"])["stateMachineArn"]
    out = _run(aws, machine, {"RunId": "20260101-060000-aaaa0005"})
    assert out["status"] == "FAILED" and out["error"] == "EndpointDeployFailed" and out["cause"] == reason
    notice = _notice(hook[1], "20260101-060000-aaaa0005")["body"]
    assert notice["Subject"] == f"{PROJECT}: run 20260101-060000-aaaa0005 FAILED"
    assert f"failed: EndpointDeployFailed: {reason}" in notice["Message"]
    record = json.loads(aws("s3").get_object(Bucket=project["layout"].bucket,
                                             Key=f"{PROJECT}/runs/20260101-060000-aaaa0005/record.json")["Body"].read())
    assert record["status"] == "failed" and record["error"] == "EndpointDeployFailed" and record["cause"] == reason


def test_clean_up_keeps_the_topic_while_it_keeps_the_triggers_and_removes_it_with_them(
        cloud: Any, aws: Any, project: dict[str, Any], tmp_path: Path) -> None:
    import dataclasses

    import boto3

    from retrain.cleanup import Cleanup
    from retrain.remains import remaining_triggers
    from retrain.session import Cloud
    from retrain.state import RunState

    params = load_params(LOCAL, [f"project_name={PROJECT}-cu", "notify_webhook=http://127.0.0.1:9/hook",
                                 "schedule=rate(1 day)"])
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    target = Cloud(params, session, endpoint_url=cloud.endpoint_url)
    made = notifications.ensure(target.client("sns"), params, target.account_id, project["role"])
    state = RunState(tmp_path / "state.json", {"bucket": project["layout"].bucket})
    assert Cleanup(target, params, state).triggers() == []  # a schedule is on and keep_triggers: kept
    kept = {(r.kind, r.name): r.reason for r in remaining_triggers(target, params)}
    assert kept[("sns topic", f"{PROJECT}-cu-notifications")].startswith("keep_triggers: true")
    off = dataclasses.replace(params, keep_triggers=False)
    rows = Cleanup(target, off, state).triggers()
    assert {(row["resource"], row["name"]) for row in rows if row["state"] == "deleted"} >= {
        ("SNS subscription", params.notify_webhook), ("SNS topic", f"{PROJECT}-cu-notifications")}
    assert made["topic_arn"] not in [t["TopicArn"] for t in aws("sns").list_topics()["Topics"]]
