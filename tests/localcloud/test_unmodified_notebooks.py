"""Unmodified SDK code reaches localcloud through `eval "$(localcloud env)"` alone.

The script below is written as AWS's SageMaker samples write it (the role ARN is the one line a user changes): a
``sagemaker.Session()`` and an ``Estimator`` built without a session, ``fit()`` with its defaults (``logs=True``: the
SDK tails ``/aws/sagemaker/TrainingJobs`` with DescribeLogStreams/GetLogEvents while it polls DescribeTrainingJob).
It runs in a subprocess whose environment holds nothing but PATH, HOME and what `localcloud env` exports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_sagemaker_support import trust_for, unique

from localcloud import environment

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """\
import boto3
import sagemaker
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput

role = "{role}"
session = sagemaker.Session()
bucket = session.default_bucket()
region = session.boto_region_name
rows = "\\n".join(f"{{i % 2}},{{(i % 2) * 2 + (i % 7) / 10}},{{(i % 5) / 4}}" for i in range(200))
boto3.Session().resource("s3").Bucket(bucket).Object("demo/train/train.csv").put(Body=rows.encode())

container = sagemaker.image_uris.retrieve("xgboost", region, "1.7-1")
xgb = Estimator(container, role, instance_count=1, instance_type="ml.m5.xlarge",
                output_path=f"s3://{{bucket}}/demo/output")
xgb.set_hyperparameters(objective="binary:logistic", num_round=5, max_depth=3)
xgb.fit({{"train": TrainingInput(f"s3://{{bucket}}/demo/train", content_type="csv")}})
print("RESULT", xgb.model_data, xgb.latest_training_job.describe()["TrainingJobStatus"])
"""


def test_env_prints_exports_and_a_valid_sdk_defaults_file(tmp_path: Path) -> None:
    import yaml
    from sagemaker.config import validate_sagemaker_config

    text = environment.shell_exports(5123, "eu-west-1", folder=tmp_path)
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:5123" in text
    assert "export AWS_DEFAULT_REGION=eu-west-1" in text
    assert text.splitlines()[-1].startswith("unset AWS_SESSION_TOKEN AWS_PROFILE")
    config = yaml.safe_load((tmp_path / "sagemaker-config.yaml").read_text())
    validate_sagemaker_config(config)
    modules = config["SageMaker"]["PythonSDK"]["Modules"]
    assert modules["Session"]["DefaultS3Bucket"] == "sagemaker-eu-west-1-123456789012"
    assert modules["TelemetryOptOut"] is True


def _run_with_env(cloud: Any, tmp_path: Path, code: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "notebook.py"
    script.write_text(code)
    bindir = str(Path(sys.executable).parent)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path), "LOCALCLOUD_HOME": str(tmp_path / "lc")}
    command = f'eval "$(localcloud env --port {cloud.port})" && exec python {script}'
    return subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=tmp_path)


def test_boto3_reaches_localcloud_from_the_environment_alone(cloud: Any, tmp_path: Path) -> None:
    code = ("import boto3, json\n"
            "print(json.dumps([boto3.client('sts').get_caller_identity()['Account'],"
            " boto3.client('sagemaker').list_training_jobs()['TrainingJobSummaries'] is not None]))\n")
    done = _run_with_env(cloud, tmp_path, code, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["123456789012", True]


def test_a_sync_express_execution_runs_from_the_environment_alone(cloud: Any, tmp_path: Path) -> None:
    """StartSyncExecution has the ``sync-`` host prefix in botocore's model: the environment turns the prefix off,
    so an unmodified client reaches localcloud (else it would ask for the host ``sync-127.0.0.1``)."""
    code = ("import boto3, json\n"
            "iam, sfn = boto3.client('iam'), boto3.client('stepfunctions')\n"
            "trust = {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 'sts:AssumeRole',"
            " 'Principal': {'Service': 'states.amazonaws.com'}}]}\n"
            "role = iam.create_role(RoleName='env-sync-role', AssumeRolePolicyDocument=json.dumps(trust))\n"
            "machine = sfn.create_state_machine(name='env-sync', type='EXPRESS', roleArn=role['Role']['Arn'],"
            " definition=json.dumps({'StartAt': 'P', 'States': {'P': {'Type': 'Pass', 'End': True}}}))\n"
            "out = sfn.start_sync_execution(stateMachineArn=machine['stateMachineArn'], input='{\"a\": 1}')\n"
            "print(json.dumps([out['status'], out['output']]))\n")
    done = _run_with_env(cloud, tmp_path, code, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["SUCCEEDED", '{"a":1}']


@pytest.mark.slow
def test_an_unmodified_estimator_trains_and_streams_its_logs(cloud: Any, aws: Any, tmp_path: Path) -> None:
    role = aws("iam").create_role(RoleName=unique("notebook-role"),
                                  AssumeRolePolicyDocument=trust_for("sagemaker.amazonaws.com"))["Role"]["Arn"]
    done = _run_with_env(cloud, tmp_path, SCRIPT.format(role=role))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    result = next(line for line in out.splitlines() if line.startswith("RESULT "))
    model_data, status = result.split()[1:]
    assert status == "Completed"
    assert model_data.startswith("s3://sagemaker-us-east-1-123456789012/demo/output/") and model_data.endswith(
        "/output/model.tar.gz")
    # what the SDK printed from CloudWatch Logs while it waited: the container's own lines
    assert "Train matrix has 200 rows" in out and "]#011train-logloss:" in out, out[-3000:]
    assert "Training seconds:" in out
    s3 = aws("s3")
    bucket, key = model_data.removeprefix("s3://").split("/", 1)
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    assert os.path.exists(tmp_path / "lc" / str(cloud.port) / "sagemaker-config.yaml")


class _Clock:
    """The SDK's clock with its waits shortened: each sleep moves it on 15 s (the SDK describes the job only when
    30 s passed since its last DescribeTrainingJob) while really sleeping a little."""

    def __init__(self) -> None:
        import time

        self._real = time
        self.offset = 0.0

    def time(self) -> float:
        return self._real.time() + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += 15.0
        self._real.sleep(0.1)


def test_fit_logs_follow_a_running_job_to_its_end(cloud: Any, aws: Any, s3: Any, bucket: str, role: str,
                                                  monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import boto3
    import sagemaker.session
    from test_sagemaker_support import channel, put, synthetic, to_csv, training_request

    put(s3, bucket, "tail/train/data.csv", to_csv(synthetic(3000, seed=2, features=10)))
    name = unique("tail")
    hps = {"num_round": "300", "objective": "binary:logistic", "max_depth": "8", "eta": "0.01"}
    aws("sagemaker").create_training_job(**training_request(
        name, role, bucket, [channel("train", f"s3://{bucket}/tail/train")], hps))
    monkeypatch.setattr(sagemaker.session, "time", _Clock())
    boto = boto3.session.Session(region_name="us-east-1")
    session = sagemaker.session.Session(boto_session=boto, sagemaker_client=aws("sagemaker"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.endpoint_url)  # the SDK builds its own logs client
    assert session.describe_training_job(name)["TrainingJobStatus"] == "InProgress"
    session.logs_for_job(name, wait=True, poll=1)  # what Estimator.fit(logs=True) waits with
    assert session.describe_training_job(name)["TrainingJobStatus"] == "Completed"
    out = capsys.readouterr().out
    assert "Train matrix has 3000 rows and 10 columns" in out
    assert "[299]#011train-logloss:" in out  # the last round: the tail reached the end of the stream
