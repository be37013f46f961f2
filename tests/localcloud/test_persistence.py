"""localcloud keeps its state across restarts (docs/persistence.md): what one server created, the next one on the
same home describes, lists and serves the same, after ``stop``/``start`` and after ``kill -9``.

Each test runs its own background server (moto's state is per process, so a restart needs a new process)."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.config import Config
from test_sagemaker_support import XGB_IMAGE, tarball, to_csv, trust_for, wait_endpoint

import xgb17
from localcloud import lifecycle
from localcloud.server import free_port


class Cloud:
    """A persisted background localcloud on ``home`` that a test restarts."""

    def __init__(self, home: Path) -> None:
        self.home, self.port = home, free_port()
        self.url = ""

    def start(self) -> None:
        self.url, started = lifecycle.ensure_running(self.port, home=self.home, persist=True)
        assert started

    def stop(self, kill: bool = False) -> None:
        if kill:  # nothing runs at exit: no last snapshot, no shutdown of the services
            info = lifecycle.health(self.port)
            assert info is not None
            os.killpg(os.getpgid(int(info["pid"])), signal.SIGKILL)
            deadline = time.monotonic() + 10
            while lifecycle.health(self.port, timeout=0.2) and time.monotonic() < deadline:
                time.sleep(0.05)
            lifecycle._reap(int(info["pid"]))
        else:
            assert lifecycle.stop(self.port, home=self.home)

    def restart(self, kill: bool = False) -> None:
        self.stop(kill)
        self.start()

    def client(self, service: str) -> Any:
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", config=config)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    running = Cloud(tmp_path / "home")
    running.start()
    yield running
    lifecycle.stop(running.port, home=running.home)


def _role(iam: Any, name: str, service: str) -> str:
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_for(service))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    return str(arn)


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buf.getvalue()


def _scores(rt: Any, endpoint: str, rows: np.ndarray) -> list[float]:
    body = rt.invoke_endpoint(EndpointName=endpoint, Body=to_csv(rows), ContentType="text/csv")["Body"]
    return [float(v) for v in body.read().decode().split()]


def _create_everything(cloud: Cloud) -> dict[str, Any]:  # noqa: PLR0915 - one of each kind of resource
    s3, iam, sm, rt = cloud.client("s3"), cloud.client("iam"), cloud.client("sagemaker"), cloud.client(
        "sagemaker-runtime")
    s3.create_bucket(Bucket="keep")
    s3.put_object(Bucket="keep", Key="data/a.csv", Body=b"1,2,3\n")
    sm_role = _role(iam, "sm", "sagemaker.amazonaws.com")
    sfn_role = _role(iam, "sfn", "states.amazonaws.com")
    lambda_role = _role(iam, "fn", "lambda.amazonaws.com")
    sns = cloud.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")["SubscriptionArn"]
    events = cloud.client("events")
    events.put_rule(Name="nightly", ScheduleExpression="rate(1 day)", State="DISABLED")
    events.put_targets(Rule="nightly", Targets=[{"Id": "t", "Arn": topic}])
    cloud.client("scheduler").create_schedule(
        Name="retrain", ScheduleExpression="rate(1 day)", State="DISABLED", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": topic, "RoleArn": sfn_role})
    queue = cloud.client("sqs").create_queue(QueueName="work")["QueueUrl"]
    cloud.client("sqs").send_message(QueueUrl=queue, MessageBody="hello")
    logs = cloud.client("logs")
    logs.create_log_group(logGroupName="/app")
    logs.create_log_stream(logGroupName="/app", logStreamName="s")
    logs.put_log_events(logGroupName="/app", logStreamName="s",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "kept"}])
    cloud.client("dynamodb").create_table(
        TableName="runs", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    fn = cloud.client("lambda")
    fn.create_function(FunctionName="double", Runtime="python3.12", Role=lambda_role, Handler="app.handler",
                       Code={"ZipFile": _zip({"app.py": "def handler(event, context):\n"
                                                        "    return {'twice': event['n'] * 2}\n"})})
    glue = cloud.client("glue")
    glue.create_job(Name="etl", Role="arn:aws:iam::123456789012:role/NoSuchRole",
                    Command={"Name": "pythonshell", "ScriptLocation": "s3://keep/code/etl.py"})
    run_id = glue.start_job_run(JobName="etl")["JobRunId"]
    # SageMaker: a model of xgboost 1.7.4 behind an endpoint, and a registry entry for it
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 5)).round(3)
    raw = xgb17.train_model(X, (X[:, 0] > 0).astype(float), {"objective": "binary:logistic", "max_depth": 3}, 10)
    s3.put_object(Bucket="keep", Key="model/model.tar.gz", Body=tarball({"xgboost-model": raw}))
    sm.create_model(ModelName="m", ExecutionRoleArn=sm_role,
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": "s3://keep/model/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="e", EndpointConfigName="c")
    assert wait_endpoint(sm, "e")["EndpointStatus"] == "InService"
    sm.create_model_package_group(ModelPackageGroupName="churn")
    package = sm.create_model_package(ModelPackageGroupName="churn", ModelApprovalStatus="Approved",
                                      InferenceSpecification={
                                          "Containers": [{"Image": XGB_IMAGE,
                                                          "ModelDataUrl": "s3://keep/model/model.tar.gz"}],
                                          "SupportedContentTypes": ["text/csv"],
                                          "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    cw = cloud.client("cloudwatch")
    cw.put_metric_data(Namespace="Retrain", MetricData=[{"MetricName": "AUC", "Value": 0.9}])
    cw.put_metric_alarm(AlarmName="low-auc", Namespace="Retrain", MetricName="AUC", Statistic="Average",
                        Period=60, EvaluationPeriods=1, Threshold=0.5, ComparisonOperator="LessThanThreshold")
    sfn = cloud.client("stepfunctions")
    machine = sfn.create_state_machine(name="flow", roleArn=sfn_role, publish=True, definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}}))
    alias = sfn.create_state_machine_alias(name="live", routingConfiguration=[
        {"stateMachineVersionArn": machine["stateMachineVersionArn"], "weight": 100}])["stateMachineAliasArn"]
    execution = sfn.start_execution(stateMachineArn=alias, name="first")["executionArn"]
    for _ in range(100):
        if sfn.describe_execution(executionArn=execution)["status"] != "RUNNING":
            break
        time.sleep(0.05)
    return {"topic": topic, "subscription": subscription, "queue": queue, "run_id": run_id, "rows": X[:20],
            "scores": _scores(rt, "e", X[:20]), "package": package, "machine": machine["stateMachineArn"],
            "alias": alias, "execution": execution,
            "history": sfn.get_execution_history(executionArn=execution)["events"],
            "role_id": iam.get_role(RoleName="sm")["Role"]["RoleId"]}


def _check_everything(cloud: Cloud, made: dict[str, Any]) -> None:
    s3, iam, sm, rt = cloud.client("s3"), cloud.client("iam"), cloud.client("sagemaker"), cloud.client(
        "sagemaker-runtime")
    assert s3.get_object(Bucket="keep", Key="data/a.csv")["Body"].read() == b"1,2,3\n"
    assert iam.get_role(RoleName="sm")["Role"]["RoleId"] == made["role_id"]
    assert iam.get_role_policy(RoleName="sm", PolicyName="all")["PolicyDocument"]["Statement"][0]["Action"] == "*"
    subs = cloud.client("sns").list_subscriptions_by_topic(TopicArn=made["topic"])["Subscriptions"]
    assert [s["SubscriptionArn"] for s in subs] == [made["subscription"]]
    assert cloud.client("events").list_targets_by_rule(Rule="nightly")["Targets"][0]["Arn"] == made["topic"]
    assert cloud.client("scheduler").get_schedule(Name="retrain")["ScheduleExpression"] == "rate(1 day)"
    counts = cloud.client("sqs").get_queue_attributes(QueueUrl=made["queue"], AttributeNames=["All"])["Attributes"]
    assert int(counts["ApproximateNumberOfMessages"]) == 1
    logged = cloud.client("logs").get_log_events(logGroupName="/app", logStreamName="s")["events"]
    assert [e["message"] for e in logged] == ["kept"]
    assert cloud.client("dynamodb").describe_table(TableName="runs")["Table"]["TableStatus"] == "ACTIVE"
    out = cloud.client("lambda").invoke(FunctionName="double", Payload=json.dumps({"n": 21}))
    assert json.loads(out["Payload"].read()) == {"twice": 42}
    run = cloud.client("glue").get_job_run(JobName="etl", RunId=made["run_id"])["JobRun"]
    assert run["JobRunState"] == "FAILED" and "NoSuchRole" in run["ErrorMessage"]
    assert sm.describe_endpoint(EndpointName="e")["EndpointStatus"] == "InService"
    assert _scores(rt, "e", made["rows"]) == made["scores"]  # the same model, reloaded
    assert sm.describe_model_package(ModelPackageName=made["package"])["ModelApprovalStatus"] == "Approved"
    assert sm.describe_model(ModelName="m")["PrimaryContainer"]["Image"] == XGB_IMAGE
    cw = cloud.client("cloudwatch")
    assert cw.describe_alarms(AlarmNames=["low-auc"])["MetricAlarms"][0]["Threshold"] == 0.5
    assert cw.list_metrics(Namespace="Retrain")["Metrics"][0]["MetricName"] == "AUC"
    sfn = cloud.client("stepfunctions")
    assert sfn.describe_state_machine_alias(stateMachineAliasArn=made["alias"])["name"] == "live"
    assert len(sfn.list_state_machine_versions(stateMachineArn=made["machine"])["stateMachineVersions"]) == 1
    assert sfn.describe_execution(executionArn=made["execution"])["output"] == '{"ok":1}'
    assert sfn.get_execution_history(executionArn=made["execution"])["events"] == made["history"]


def test_state_survives_stop_and_start_and_kill(cloud: Cloud) -> None:
    made = _create_everything(cloud)
    cloud.restart()
    _check_everything(cloud, made)
    cloud.restart(kill=True)
    _check_everything(cloud, made)


def test_turned_off_nothing_is_kept(tmp_path: Path) -> None:
    port = free_port()
    url, _ = lifecycle.ensure_running(port, home=tmp_path, persist=False)
    try:
        boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket="gone")
        assert lifecycle.health(port)["persist"] is False  # type: ignore[index]
    finally:
        lifecycle.stop(port, home=tmp_path)
    assert not (tmp_path / str(port) / "state").exists()


@pytest.mark.slow
def test_after_kill_9_what_was_acknowledged_is_there_and_what_ran_ends_failed(cloud: Cloud) -> None:
    s3, iam, glue, sfn = (cloud.client(s) for s in ("s3", "iam", "glue", "stepfunctions"))
    s3.create_bucket(Bucket="last")
    sfn_role = _role(iam, "sfn", "states.amazonaws.com")
    glue_role = _role(iam, "glue", "glue.amazonaws.com")
    s3.put_object(Bucket="last", Key="code/sleep.py", Body=b"import time\ntime.sleep(120)\n")
    glue.create_job(Name="slow", Role=glue_role, Command={"Name": "pythonshell",
                                                          "ScriptLocation": "s3://last/code/sleep.py"})
    run_id = glue.start_job_run(JobName="slow")["JobRunId"]
    # a Wait long enough to be running at the kill; the redrive resumes in it, so it must end in seconds after
    machine = sfn.create_state_machine(name="waits", roleArn=sfn_role, definition=json.dumps(
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 4, "Next": "Done"},
                                    "Done": {"Type": "Pass", "Result": "done", "End": True}}}))["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="interrupted")["executionArn"]
    time.sleep(1.5)  # the execution has entered W and the background snapshot has it
    s3.put_object(Bucket="last", Key="acknowledged", Body=b"durable")
    cloud.restart(kill=True)

    s3, glue, sfn = (cloud.client(s) for s in ("s3", "glue", "stepfunctions"))
    assert s3.get_object(Bucket="last", Key="acknowledged")["Body"].read() == b"durable"
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "FAILED" and described["error"] == "LocalCloud.ServerStopped"
    assert "in state 'W'" in described["cause"] and described["redriveStatus"] == "REDRIVABLE"
    events = sfn.get_execution_history(executionArn=execution)["events"]
    assert [e["type"] for e in events] == ["ExecutionStarted", "WaitStateEntered", "ExecutionFailed"]
    run = glue.get_job_run(JobName="slow", RunId=run_id)["JobRun"]
    assert run["JobRunState"] == "FAILED" and "localcloud stopped" in run["ErrorMessage"]

    sfn.redrive_execution(executionArn=execution)
    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "SUCCEEDED" and described["output"] == '"done"'
    assert described["redriveCount"] == 1
