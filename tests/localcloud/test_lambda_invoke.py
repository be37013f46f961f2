"""Lambda data plane: handlers really run in warm subprocesses, with AWS's payloads for every kind of failure."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
TRUST_LAMBDA = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
REPO = Path(__file__).resolve().parents[2]

CONTEXT_HANDLER = '''
import os
import boto3

LOADED_BY = os.getpid()


def handler(event, context):
    print("handling", event)
    return {
        "pid": os.getpid(),
        "loaded_by": LOADED_BY,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "client_context": context.client_context,
        "env": {k: os.environ.get(k) for k in (
            "GREETING", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_REGION", "LAMBDA_TASK_ROOT", "AWS_ENDPOINT_URL")},
        "task_root_files": sorted(os.listdir(os.environ["LAMBDA_TASK_ROOT"])),
        "account": boto3.client("sts").get_caller_identity()["Account"],
        "event": event,
    }
'''

FAULTS_HANDLER = '''
import json
import os
import signal
import subprocess
import sys
import time
import logging


def handler(event, context):
    kind = event.get("kind")
    print("kind", kind)
    if kind == "raise":
        return helper(event["message"])
    if kind == "sleep":
        time.sleep(event["seconds"])
    if kind == "exit":
        os._exit(event["code"])
    if kind == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if kind == "unserialisable":
        return {1, 2}
    if kind == "bytes":
        return b"raw-bytes"
    if kind == "spawn":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open(event["pidfile"], "w") as out:
            out.write(str(child.pid))
        time.sleep(60)
    if kind == "touch":
        with open(event["path"], "w") as out:
            out.write(context.aws_request_id)
    if kind == "chatty":
        for i in range(event["lines"]):
            print(f"line {i:05d}")
        logging.getLogger().warning("done talking")
    if kind == "rendezvous":
        open(os.path.join(event["dir"], str(os.getpid())), "w").close()
        for _ in range(200):
            if len(os.listdir(event["dir"])) >= event["count"]:
                break
            time.sleep(0.05)
    return {"pid": os.getpid(), "kind": kind}


def helper(message):
    raise ValueError(message)
'''


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buf.getvalue()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def role(aws) -> str:
    return aws("iam").create_role(RoleName=unique("lambda-run"), AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"]["Arn"]


@pytest.fixture(scope="module")
def lam(aws):
    return aws("lambda")


@pytest.fixture(scope="module")
def create(lam, role):
    def make(files: dict[str, str], handler: str, **kwargs) -> str:
        name = unique("run")
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler=handler,
                            Code={"ZipFile": make_zip(files)}, **kwargs)
        return name

    return make


@pytest.fixture(scope="module")
def faults(create) -> str:
    """One function for the failure cases (Timeout 2 s)."""
    return create({"faults.py": FAULTS_HANDLER}, "faults.handler", Timeout=2)


def call(lam, name: str, event: object = None, **kwargs) -> tuple[dict, object]:
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event if event is not None else {}).encode(), **kwargs)
    return out, json.loads(out["Payload"].read())


def test_invoke_runs_the_handler_with_context_and_environment(lam, create) -> None:
    name = create({"app.py": CONTEXT_HANDLER, "data/extra.txt": "x"}, "app.handler", MemorySize=256,
                  Environment={"Variables": {"GREETING": "hello"}})
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    out, body = call(lam, name, {"n": 1})
    assert out["StatusCode"] == 200 and "FunctionError" not in out
    assert out["ExecutedVersion"] == "$LATEST"
    assert body["event"] == {"n": 1}
    assert (body["function_name"], body["function_version"], body["invoked_function_arn"]) == (name, "$LATEST", arn)
    assert body["memory_limit_in_mb"] == "256"  # a string, as AWS's runtime gives it
    assert body["aws_request_id"] == out["ResponseMetadata"]["RequestId"]
    assert body["log_group_name"] == f"/aws/lambda/{name}"
    assert "[$LATEST]" in body["log_stream_name"]
    assert 0 < body["remaining"] <= 3000
    env = body["env"]
    assert env["GREETING"] == "hello" and env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert (env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], env["AWS_LAMBDA_FUNCTION_VERSION"]) == ("256", "$LATEST")
    assert env["AWS_REGION"] == "us-east-1" and env["AWS_ENDPOINT_URL"]
    assert body["task_root_files"] == ["app.py", "data"]
    assert body["account"] == ACCOUNT  # boto3 in the handler reached this localcloud
    assert body["pid"] != os.getpid() and body["loaded_by"] == body["pid"]
    _, by_partial = call(lam, f"{ACCOUNT}:function:{name}")
    assert by_partial["invoked_function_arn"] == arn
    _, qualified = call(lam, f"{arn}:$LATEST")
    assert qualified["invoked_function_arn"] == f"{arn}:$LATEST"
    custom = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    _, with_context = call(lam, name, ClientContext=custom)
    assert with_context["client_context"] == {"custom": {"k": "v"}}


def test_warm_process_is_reused_and_updates_retire_it(lam, create) -> None:
    source = "import os\nVALUE = '{v}'\ndef handler(e, c):\n    return {{'pid': os.getpid(), 'v': VALUE, 'x': os.environ.get('XX')}}\n"
    name = create({"m.py": source.format(v="one")}, "m.handler")
    pids = {call(lam, name)[1]["pid"] for _ in range(4)}
    assert len(pids) == 1
    first = pids.pop()
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"m.py": source.format(v="two")}))
    _, body = call(lam, name)
    assert body["v"] == "two" and body["pid"] != first
    second = body["pid"]
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"XX": "set"}})
    _, body = call(lam, name)
    assert body["x"] == "set" and body["pid"] != second
    assert call(lam, name)[1]["pid"] == body["pid"]


def test_handler_exception_is_an_unhandled_function_error(lam, faults) -> None:
    out, body = call(lam, faults, {"kind": "raise", "message": "bad input"}, LogType="Tail")
    assert out["StatusCode"] == 200 and out["FunctionError"] == "Unhandled"
    assert set(body) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert (body["errorMessage"], body["errorType"]) == ("bad input", "ValueError")
    assert body["requestId"] == out["ResponseMetadata"]["RequestId"]
    # the handler's frames only, none of the runtime's, its file under /var/task as AWS's runtime shows it (Lambda
    # developer guide, "AWS Lambda function errors in Python"; recorded on AWS: localstack snapshot
    # tests/aws/services/lambda_/test_lambda.snapshot.json, test_lambda_handler_error)
    assert body["stackTrace"] == [
        '  File "/var/task/faults.py", line 15, in handler\n    return helper(event["message"])\n',
        '  File "/var/task/faults.py", line 48, in helper\n    raise ValueError(message)\n',
    ]
    log = base64.b64decode(out["LogResult"]).decode()
    assert "[ERROR] ValueError: bad input\rTraceback (most recent call last):" in log
    assert call(lam, faults, {"kind": "ok"})[1]["kind"] == "ok"  # the environment survives a handler error


def test_timeout_kills_the_process_and_answers_like_aws(lam, faults) -> None:
    pid = call(lam, faults, {"kind": "ok"})[1]["pid"]
    out, body = call(lam, faults, {"kind": "sleep", "seconds": 60}, LogType="Tail")
    request_id = out["ResponseMetadata"]["RequestId"]
    assert out["StatusCode"] == 200 and out["FunctionError"] == "Unhandled"
    assert body == {"errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after 2.00 seconds"}
    assert f"{request_id} Task timed out after 2.00 seconds" in base64.b64decode(out["LogResult"]).decode()
    assert not _alive(pid)
    assert call(lam, faults, {"kind": "ok"})[1]["pid"] != pid


@pytest.mark.parametrize(("event", "reason"), [
    ({"kind": "exit", "code": 3}, "Runtime exited with error: exit status 3"),
    ({"kind": "exit", "code": 0}, "Runtime exited without providing a reason"),
    ({"kind": "segfault"}, "Runtime exited with error: signal: segmentation fault"),
])
def test_process_crash_is_a_runtime_exit_error(lam, faults, event, reason) -> None:
    out, body = call(lam, faults, event)
    request_id = out["ResponseMetadata"]["RequestId"]
    assert out["FunctionError"] == "Unhandled"
    assert body == {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id} Error: {reason}"}
    assert call(lam, faults, {"kind": "ok"})[1]["kind"] == "ok"


def test_unserialisable_result_is_a_marshal_error(lam, faults) -> None:
    out, body = call(lam, faults, {"kind": "unserialisable"})
    assert out["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.MarshalError"
    assert body["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"
    assert body["stackTrace"] == []
    raw = lam.invoke(FunctionName=faults, Payload=b'{"kind": "bytes"}')
    assert raw["Payload"].read() == b"raw-bytes" and "FunctionError" not in raw


@pytest.mark.parametrize(("handler", "error_type", "message"), [
    ("missing.handler", "Runtime.ImportModuleError", "Unable to import module 'missing': No module named 'missing'"),
    ("faults.nothing", "Runtime.HandlerNotFound", "Handler 'nothing' missing on module 'faults'"),
    ("nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"),
    ("broken.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'broken'"),
])
def test_init_errors(lam, create, handler, error_type, message) -> None:
    name = create({"faults.py": FAULTS_HANDLER, "broken.py": "def handler(:\n"}, handler)
    out, body = call(lam, name)
    assert out["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type and body["errorMessage"].startswith(message)
    assert body["requestId"] == ""  # the init phase belongs to no request, as on AWS


def test_import_time_exception_names_its_class(lam, create) -> None:
    name = create({"boom.py": "raise RuntimeError('no config')\ndef handler(e, c):\n    return 1\n"}, "boom.handler")
    out, body = call(lam, name)
    assert out["FunctionError"] == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("RuntimeError", "no config")
    # the import machinery's frames in the runtime's Python, then the module in /var/task (recorded on AWS:
    # localstack snapshot tests/aws/services/lambda_/test_lambda.snapshot.json, test_lambda_runtime_error)
    trace = body["stackTrace"]
    assert trace[0].startswith('  File "/var/lang/lib/python3.11/importlib/__init__.py", line ')
    assert trace[-1] == '  File "/var/task/boom.py", line 1, in <module>\n    raise RuntimeError(\'no config\')\n'


def test_payload_must_be_json(lam, faults) -> None:
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=faults, Payload=b"{not json")
    assert err.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert call(lam, faults)[1]["kind"] is None  # an empty payload is the event {}


def test_event_runs_in_background_and_dry_run_does_not_run(lam, faults, tmp_path) -> None:
    dry_path = tmp_path / "dry"
    dry = lam.invoke(FunctionName=faults, InvocationType="DryRun", Payload=json.dumps(
        {"kind": "touch", "path": str(dry_path)}).encode())
    assert dry["StatusCode"] == 204 and dry["Payload"].read() == b""
    path = tmp_path / "event"
    out = lam.invoke(FunctionName=faults, InvocationType="Event", Payload=json.dumps(
        {"kind": "touch", "path": str(path)}).encode())
    assert out["StatusCode"] == 202 and out["Payload"].read() == b""
    for _ in range(200):
        if path.exists() and path.read_text():
            break
        time.sleep(0.05)
    assert path.read_text() == out["ResponseMetadata"]["RequestId"]
    assert not dry_path.exists()
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=faults, InvocationType="Event", Payload=b"[")
    assert err.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_logs_tail_and_function_log_file(lam, faults, cloud) -> None:
    out, _ = call(lam, faults, {"kind": "chatty", "lines": 10}, LogType="Tail")
    request_id = out["ResponseMetadata"]["RequestId"]
    log = base64.b64decode(out["LogResult"]).decode()
    assert log.startswith(f"START RequestId: {request_id} Version: $LATEST") or "INIT_START" in log
    assert "line 00009\n" in log and f"\t{request_id}\tdone talking" in log
    assert f"END RequestId: {request_id}\n" in log and f"REPORT RequestId: {request_id}\tDuration: " in log
    big, _ = call(lam, faults, {"kind": "chatty", "lines": 2000}, LogType="Tail")
    tail = base64.b64decode(big["LogResult"])
    assert len(tail) == 4096 and tail.rstrip().split(b"\n")[-1].startswith(b"REPORT RequestId")
    assert "LogResult" not in call(lam, faults, {"kind": "ok"})[0]
    log_file = cloud.home / "lambda" / "us-east-1" / faults / "function.log"
    text = log_file.read_text()
    assert f"START RequestId: {request_id}" in text and "line 01999" in text


def test_concurrent_invocations_get_their_own_environments(lam, faults, tmp_path) -> None:
    results: list[dict] = []

    def invoke() -> None:
        results.append(call(lam, faults, {"kind": "rendezvous", "dir": str(tmp_path), "count": 2})[1])

    threads = [threading.Thread(target=invoke) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2 and all(r.get("kind") == "rendezvous" for r in results), results
    assert len({r["pid"] for r in results}) == 2
    assert len(os.listdir(tmp_path)) == 2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _gone(pid: int) -> bool:
    for _ in range(100):
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _warm_handler_with_a_child(lam: object, function: str, tmp_path: Path) -> tuple[int, int]:
    """Invoke ``function`` once (a warm handler process), then make it start a child; both pids."""
    warm_pid = call(lam, function, {"kind": "ok"})[1]["pid"]
    pidfile = tmp_path / "child.pid"
    lam.invoke(FunctionName=function, InvocationType="Event",
               Payload=json.dumps({"kind": "spawn", "pidfile": str(pidfile)}).encode())
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.05)
    return warm_pid, int(pidfile.read_text())


def test_shutdown_kills_every_handler_process(tmp_path) -> None:
    import boto3

    from localcloud.server import LocalCloud

    with LocalCloud(port=0, home=tmp_path / "home") as cloud:
        session = boto3.session.Session(region_name="us-east-1")
        role = session.client("iam", endpoint_url=cloud.endpoint_url).create_role(
            RoleName="shutdown-role", AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"]["Arn"]
        lam = session.client("lambda", endpoint_url=cloud.endpoint_url)
        lam.create_function(FunctionName="busy", Runtime="python3.11", Role=role, Handler="faults.handler",
                            Timeout=120, Code={"ZipFile": make_zip({"faults.py": FAULTS_HANDLER})})
        warm_pid, grandchild = _warm_handler_with_a_child(lam, "busy", tmp_path)
        assert _alive(warm_pid) and _alive(grandchild)
    assert _gone(warm_pid) and _gone(grandchild)


def test_handler_processes_die_with_a_killed_server(tmp_path) -> None:
    """Even a SIGKILLed localcloud leaves no handler (nor a process the handler started) behind."""
    import signal
    import subprocess

    import boto3

    from localcloud.server import free_port

    port = free_port()
    env = dict(os.environ, LOCALCLOUD_HOME=str(tmp_path / "home"))
    server = subprocess.Popen([sys.executable, "-m", "localcloud", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        session = boto3.session.Session(region_name="us-east-1")
        iam = session.client("iam", endpoint_url=endpoint)
        for _ in range(300):
            try:
                role = iam.create_role(RoleName="orphan-role", AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"]["Arn"]
                break
            except Exception:  # not listening yet
                time.sleep(0.1)
        lam = session.client("lambda", endpoint_url=endpoint)
        lam.create_function(FunctionName="orphan", Runtime="python3.11", Role=role, Handler="faults.handler",
                            Timeout=120, Code={"ZipFile": make_zip({"faults.py": FAULTS_HANDLER})})
        idle_pid, grandchild = _warm_handler_with_a_child(lam, "orphan", tmp_path)
        assert _alive(idle_pid) and _alive(grandchild)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    assert _gone(idle_pid) and _gone(grandchild)


def test_model_gate_handler(lam, create, cloud) -> None:
    """The project's Lambda, unchanged: bad events and a missing job fail with its own error types."""
    source = (REPO / "code" / "model_gate.py").read_text()
    name = create({"model_gate.py": source}, "model_gate.lambda_handler", Timeout=30)
    out, body = call(lam, name, {"nothing": True})
    assert out["FunctionError"] == "Unhandled" and body["errorType"] == "InvalidEvent"
    out, body = call(lam, name, {"TrainingJobName": unique("no-such-job")})
    assert out["FunctionError"] == "Unhandled"
    if _serves_sagemaker(cloud):
        assert body["errorType"] == "TrainingJobNotFound"
    else:  # until localcloud serves SageMaker, the SDK's error surfaces unchanged
        assert body["errorType"] == "ClientError" and "does not serve" in body["errorMessage"]


def _serves_sagemaker(cloud) -> bool:
    import urllib.request

    with urllib.request.urlopen(cloud.endpoint_url + "/_localcloud/health") as resp:
        return "SageMaker" in json.loads(resp.read())["services"]


@pytest.mark.slow
def test_model_gate_reads_a_completed_job(aws, lam, create, cloud, tmp_path) -> None:
    """A real training job on localcloud's SageMaker, read through the project's Lambda."""
    if not _serves_sagemaker(cloud):
        pytest.skip("localcloud does not serve SageMaker in this build")
    import numpy as np

    s3, sm = aws("s3"), aws("sagemaker")
    bucket = unique("qts")
    s3.create_bucket(Bucket=bucket)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 4))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    rows = "\n".join(",".join([str(label), *map(str, row)]) for label, row in zip(labels, features, strict=True))
    for channel in ("train", "validation"):
        s3.put_object(Bucket=bucket, Key=f"{channel}/data.csv", Body=rows.encode())
    role = aws("iam").create_role(RoleName=unique("sm"), AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    job = unique("qts-job")
    sm.create_training_job(
        TrainingJobName=job, RoleArn=role,
        AlgorithmSpecification={"TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                                "TrainingInputMode": "File"},
        HyperParameters={"objective": "binary:logistic", "num_round": "10", "eval_metric": "error"},
        InputDataConfig=[{"ChannelName": c, "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{c}/", "S3DataDistributionType": "FullyReplicated"}}}
            for c in ("train", "validation")],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m4.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=job,
                                                            WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    name = create({"model_gate.py": (REPO / "code" / "model_gate.py").read_text()},
                  "model_gate.lambda_handler", Timeout=30)
    out, body = call(lam, name, {"TrainingJobName": job})
    assert "FunctionError" not in out, body
    assert body["TrainingJobStatus"] == "Completed"
    assert body["trainingMetrics"][0]["MetricName"] == "validation:error"
    assert 0 <= body["metrics"]["validationError"] <= 1
    assert body["ModelArtifacts"].endswith(f"{job}/output/model.tar.gz")


def test_handlers_run_on_localclouds_interpreter(lam, create) -> None:
    name = create({"v.py": "import sys\ndef handler(e, c):\n    return sys.executable\n"}, "v.handler")
    assert call(lam, name)[1] == sys.executable


def test_update_during_an_invocation_lets_it_finish_on_the_old_code(lam, create, tmp_path) -> None:
    source = ("import os, time\ndef handler(e, c):\n    if e.get('wait'):\n"
              "        open(e['started'], 'w').close()\n        time.sleep(1)\n"
              "    return {{'v': '{v}', 'pid': os.getpid()}}\n")
    name = create({"m.py": source.format(v="old")}, "m.handler", Timeout=30)
    started = tmp_path / "started"
    results: list[object] = []
    slow = threading.Thread(target=lambda: results.append(call(lam, name, {"wait": True, "started": str(started)})[1]))
    slow.start()
    for _ in range(200):
        if started.exists():
            break
        time.sleep(0.05)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"m.py": source.format(v="new")}))
    fresh = call(lam, name)[1]
    slow.join(30)
    assert results and results[0]["v"] == "old" and fresh["v"] == "new"
    assert _gone(results[0]["pid"])  # the old environment retired once its invocation ended


def test_idle_environments_are_reaped(tmp_path) -> None:
    from localcloud.services.awslambda.runtime import FunctionRuntime, FunctionSpec, Invocation

    code = tmp_path / "code"
    code.mkdir()
    (code / "h.py").write_text("import os\ndef handler(e, c):\n    return os.getpid()\n")
    spec = FunctionSpec(name="reap", arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:reap", region="us-east-1",
                        runtime="python3.11", handler="h.handler", code_root=code, environment={}, timeout=5,
                        memory_size=128, generation=0, log_path=tmp_path / "function.log", scratch=tmp_path / "env")
    runtime = FunctionRuntime(spec, "http://127.0.0.1:9")
    try:
        result = runtime.invoke(Invocation(request_id="r1", payload=b"{}", invoked_arn=spec.arn))
        pid = json.loads(result.payload)
        assert runtime.environments == 1 and _alive(pid)
        assert runtime.reap_idle(idle_seconds=3600) == 0 and _alive(pid)
        assert runtime.reap_idle(idle_seconds=0) == 1
        assert runtime.environments == 0 and _gone(pid)
        assert "START RequestId: r1" in (tmp_path / "function.log").read_text()
    finally:
        runtime.retire(kill_busy=True)


def test_an_environment_killed_while_idle_is_replaced(lam, faults) -> None:
    import signal

    pid = call(lam, faults, {"kind": "ok"})[1]["pid"]
    os.kill(pid, signal.SIGKILL)
    assert _gone(pid)
    out, body = call(lam, faults, {"kind": "ok"})
    assert "FunctionError" not in out and body["pid"] != pid
