"""The server itself: routing to moto, health, AWS-format errors for what it does not serve, lifecycle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud import lifecycle
from localcloud.errors import LocalCloudError
from localcloud.server import LocalCloud, free_port


def test_moto_serves_s3_iam_sts(aws) -> None:
    s3 = aws("s3")
    s3.create_bucket(Bucket="server-test-bucket")
    s3.put_object(Bucket="server-test-bucket", Key="a/b.txt", Body=b"hello")
    assert s3.get_object(Bucket="server-test-bucket", Key="a/b.txt")["Body"].read() == b"hello"
    assert aws("sts").get_caller_identity()["Account"] == "123456789012"
    role = aws("iam").create_role(RoleName="server-test-role", AssumeRolePolicyDocument="{}")
    assert role["Role"]["Arn"] == "arn:aws:iam::123456789012:role/server-test-role"


def test_health_lists_services(cloud) -> None:
    with urllib.request.urlopen(cloud.endpoint_url + "/_localcloud/health") as resp:
        info = json.loads(resp.read())
    assert info["localcloud"] is True and info["status"] == "running"
    assert {"s3", "iam", "sts"} <= set(info["services"])


# One service per wire protocol (botocore's service models name it): the answer must parse in each, so boto3
# shows the message instead of a ResponseParserError.
UNSERVED = {
    "query": ("cloudformation", lambda c: c.list_stacks()),
    "ec2": ("ec2", lambda c: c.describe_instances()),
    "rest-xml": ("route53", lambda c: c.list_hosted_zones()),
    "json": ("kinesis", lambda c: c.list_streams()),
    "rest-json": ("batch", lambda c: c.describe_job_queues()),
    "smithy-rpc-v2-cbor": ("codebuild", lambda c: c.list_projects()),  # CloudWatch is served now
}


@pytest.mark.parametrize("protocol", list(UNSERVED))
def test_unserved_service_is_an_aws_error_in_the_callers_protocol(aws, protocol) -> None:
    service, call = UNSERVED[protocol]
    client = aws(service, config=Config(retries={"max_attempts": 1}))
    assert client.meta.service_model.protocol == protocol
    with pytest.raises(ClientError) as err:
        call(client)
    assert err.value.response["Error"]["Code"] == "UnknownServiceException"
    message = err.value.response["Error"]["Message"]
    assert "localcloud does not serve" in message and "It serves: s3, iam, sts" in message


def test_step_functions_integration_services_are_served(aws) -> None:
    """DynamoDB, SNS, SQS and EventBridge (moto) answer, so workflows can call them."""
    assert "TableNames" in aws("dynamodb").list_tables()
    topic = aws("sns").create_topic(Name="served-topic")["TopicArn"]
    assert topic.endswith(":served-topic")
    assert aws("sqs").create_queue(QueueName="served-queue")["QueueUrl"].endswith("/served-queue")
    assert "Rules" in aws("events").list_rules()


def test_refuses_non_loopback_host() -> None:
    with pytest.raises(LocalCloudError, match="loopback"):
        LocalCloud(port=0, host="0.0.0.0")


def test_port_in_use_is_a_clear_error(cloud, tmp_path) -> None:
    with pytest.raises(LocalCloudError, match="cannot listen"):
        LocalCloud(port=cloud.port, home=tmp_path).start()


def test_background_start_status_stop(tmp_path) -> None:
    """`localcloud start` returns once healthy, is a no-op when running, and `stop` leaves no process behind."""
    port = free_port()
    env = dict(os.environ, LOCALCLOUD_HOME=str(tmp_path))
    cli = [sys.executable, "-m", "localcloud"]
    started = subprocess.run([*cli, "start", "--port", str(port)], env=env, capture_output=True, text=True,
                             timeout=120)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == f"http://127.0.0.1:{port}"
    info = lifecycle.health(port)
    assert info and info["pid"] > 0
    again = subprocess.run([*cli, "start", "--port", str(port)], env=env, capture_output=True, text=True,
                           timeout=60)
    assert "already running" in again.stdout
    status = subprocess.run([*cli, "status", "--port", str(port)], env=env, capture_output=True, text=True)
    assert status.returncode == 0 and json.loads(status.stdout)["pid"] == info["pid"]
    stopped = subprocess.run([*cli, "stop", "--port", str(port)], env=env, capture_output=True, text=True,
                             timeout=60)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    for _ in range(50):
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(info["pid"], signal.SIGKILL)
        pytest.fail("the server process outlived `localcloud stop`")
    assert lifecycle.health(port) is None
    after = subprocess.run([*cli, "status", "--port", str(port)], env=env, capture_output=True, text=True)
    assert after.returncode == 1


def test_the_process_that_started_the_cloud_collects_it_when_stopping(tmp_path) -> None:
    """`retrain run` starts and stops the cloud in one process: the server is its child, and a child that has
    exited stays a zombie in its process group until collected, so stop() would wait out its whole grace period
    (10 s) believing the group alive. stop() collects it."""
    port = free_port()
    url, started = lifecycle.ensure_running(port, home=tmp_path)
    pid = lifecycle.health(port)["pid"]
    assert started and lifecycle.stop(port, home=tmp_path)
    with pytest.raises(ChildProcessError):  # already collected: no zombie left behind
        os.waitpid(pid, os.WNOHANG)


def test_service_plumbing_is_not_an_operation(cloud) -> None:
    """``X-Amz-Target: SageMaker.Shutdown`` must be an unknown operation, not a call of the service's shutdown()."""
    import urllib.error

    for target in ("SageMaker.Shutdown", "SageMaker.Health", "SageMaker.Handle", "SageMaker.Matches"):
        request = urllib.request.Request(
            cloud.endpoint_url + "/", data=b"{}", method="POST",
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1",
                     "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sagemaker/aws4_request"},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request)
        assert err.value.code == 400
        assert json.loads(err.value.read())["__type"] == "UnknownOperationException"
    with urllib.request.urlopen(cloud.endpoint_url + "/_localcloud/health") as resp:
        assert json.loads(resp.read())["status"] == "running"
