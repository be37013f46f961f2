"""SageMaker Processing: the container's command runs with its inputs at the /opt/ml/processing paths it names,
its outputs go to S3, its exit code decides the job; the SDK's processors and the Step Functions SDK's
ProcessingStep run unchanged.

AWS behaviour relied on ("Build Your Own Processing Container", SageMaker developer guide; botocore model
sagemaker/2017-07-24): ``docker run --entry-point [ContainerEntrypoint] [ImageUri] [ContainerArguments]``; exit 0
completes the job, anything else fails it with ``AlgorithmError: See job logs for more information`` (asserted on
AWS by github aws/sagemaker-spark-container test/integration/sagemaker/test_sagemaker_spark_errors.py); the first
KB of /opt/ml/output/message is ``ExitMessage``; /opt/ml/config/processingjobconfig.json and resourceconfig.json;
output folders exist when the command starts; output goes to /aws/sagemaker/ProcessingJobs.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_sagemaker_support import (
    SKLEARN_IMAGE,
    XGB_IMAGE,
    log_events,
    put,
    sdk_session,
    unique,
    wait_processing,
)

CUSTOM_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-processing-container:latest"
CLUSTER = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 5}}

# as AWS's scikit-learn processing sample writes it: hard-coded /opt/ml paths, arguments, pandas and scikit-learn
PREPROCESS = """
import argparse, glob, json, os, sys
import boto3
import pandas as pd
from sklearn.preprocessing import StandardScaler

parser = argparse.ArgumentParser()
parser.add_argument("--scale", type=float, default=1.0)
args = parser.parse_args()
frame = pd.read_csv(os.path.join("/opt/ml/processing/input", "census.csv"), header=None)
scaled = StandardScaler().fit_transform(frame.values) * args.scale
os.makedirs("/opt/ml/processing/train/part", exist_ok=True)
pd.DataFrame(scaled).to_csv("/opt/ml/processing/train/part/train.csv", header=False, index=False)
config = json.load(open("/opt/ml/config/processingjobconfig.json"))
facts = {"argv": sys.argv, "env": os.environ.get("STAGE"), "cwd": os.getcwd(),
         "inputs": sorted(glob.glob("/opt/ml/processing/input/*")), "job": config["ProcessingJobName"],
         "hosts": json.load(open("/opt/ml/config/resourceconfig.json"))["hosts"],
         "evaluation_exists": os.path.isdir("/opt/ml/processing/evaluation"),
         "keys": boto3.client("s3").list_objects_v2(Bucket=os.environ["BUCKET"], Prefix="proc/in")["KeyCount"]}
with open("/opt/ml/processing/evaluation/facts.json", "w") as handle:
    json.dump(facts, handle)
with open("/opt/ml/output/message", "w") as handle:
    handle.write("rows=%d" % len(frame))
print("processed", len(frame), "rows")
"""


def _input(name: str, uri: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": path, "S3DataType": "S3Prefix",
                                           "S3InputMode": "File", **extra}}


def _output(name: str, uri: str, path: str) -> dict[str, Any]:
    return {"OutputName": name, "S3Output": {"S3Uri": uri, "LocalPath": path, "S3UploadMode": "EndOfJob"}}


def _request(name: str, role: str, code_uri: str, *, image: str = SKLEARN_IMAGE, inputs: list[Any] | None = None,
             outputs: list[Any] | None = None, arguments: list[str] | None = None,
             **extra: Any) -> dict[str, Any]:
    app: dict[str, Any] = {"ImageUri": image,
                           "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/script.py"]}
    if arguments:
        app["ContainerArguments"] = arguments
    return {"ProcessingJobName": name, "RoleArn": role, "ProcessingResources": CLUSTER, "AppSpecification": app,
            "ProcessingInputs": [*(inputs or []), _input("code", code_uri, "/opt/ml/processing/input/code")],
            "ProcessingOutputConfig": {"Outputs": outputs or []}, **extra}


def _run(sm: Any, request: dict[str, Any]) -> dict[str, Any]:
    sm.create_processing_job(**request)
    return wait_processing(sm, request["ProcessingJobName"])


def _code(s3: Any, bucket: str, text: str) -> str:
    return put(s3, bucket, f"proc/code/{unique('c')}/script.py", text)


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]


def test_a_processing_job_runs_its_script_as_the_container_does(aws, sm, s3, bucket, role) -> None:
    put(s3, bucket, "proc/in/census.csv", "1,2\n3,4\n5,9\n")
    name = unique("proc")
    request = _request(name, role, _code(s3, bucket, PREPROCESS), arguments=["--scale", "2"],
                       inputs=[_input("data", f"s3://{bucket}/proc/in", "/opt/ml/processing/input")],
                       outputs=[_output("train", f"s3://{bucket}/proc/out/train", "/opt/ml/processing/train"),
                                _output("evaluation", f"s3://{bucket}/proc/out/eval",
                                        "/opt/ml/processing/evaluation")],
                       Environment={"STAGE": "test", "BUCKET": bucket},
                       StoppingCondition={"MaxRuntimeInSeconds": 300})
    job = _run(sm, request)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ExitMessage"] == "rows=3"
    assert job["ProcessingStartTime"] <= job["ProcessingEndTime"]
    for key in ("ProcessingInputs", "ProcessingOutputConfig", "AppSpecification", "Environment", "RoleArn",
                "StoppingCondition", "ProcessingResources"):
        assert job[key] == request[key]
    assert job["ProcessingJobArn"] == f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name.lower()}"
    train = s3.get_object(Bucket=bucket, Key="proc/out/train/part/train.csv")["Body"].read().decode()
    assert len(train.splitlines()) == 3 and train.startswith("-2.4494")  # scaled by 2: the argument arrived
    facts = json.loads(s3.get_object(Bucket=bucket, Key="proc/out/eval/facts.json")["Body"].read())
    assert facts["argv"] == ["/opt/ml/processing/input/code/script.py", "--scale", "2"]
    assert facts["env"] == "test" and facts["job"] == name and facts["hosts"] == ["algo-1"]
    assert facts["inputs"] == ["/opt/ml/processing/input/census.csv", "/opt/ml/processing/input/code"]
    assert facts["evaluation_exists"] and facts["keys"] == 1  # boto3 in the job reaches S3 as the job's role
    streams = log_events(aws, "/aws/sagemaker/ProcessingJobs", f"{name}/")
    assert list(streams) == [f"{name}/algo-1-{int(job['CreationTime'].timestamp())}"]
    assert "processed 3 rows" in next(iter(streams.values()))
    summary = sm.list_processing_jobs(NameContains=name)["ProcessingJobSummaries"]
    assert [(s["ProcessingJobName"], s["ProcessingJobStatus"], s["ExitMessage"]) for s in summary] == \
        [(name, "Completed", "rows=3")]


def test_a_failing_command_fails_the_job_with_the_aws_reason(sm, s3, bucket, role) -> None:
    code = _code(s3, bucket, "open('/opt/ml/output/message', 'w').write('bad input'); raise SystemExit(3)\n")
    put(s3, bucket, "proc/fail/x.csv", "1\n")
    job = _run(sm, _request(unique("proc"), role, code,
                            outputs=[_output("o", f"s3://{bucket}/proc/fail-out", "/opt/ml/processing/o")]))
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: See job logs for more information"
    assert job["ExitMessage"] == "bad input"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="proc/fail-out")


def test_stop_and_time_limit_end_a_job_as_stopped(sm, s3, bucket, role) -> None:
    code = _code(s3, bucket, "import time\ntime.sleep(600)\n")
    name = unique("proc")
    sm.create_processing_job(**_request(name, role, code))
    time.sleep(1.0)  # the command is running
    sm.stop_processing_job(ProcessingJobName=name)
    assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] in ("Stopping", "Stopped")
    job = wait_processing(sm, name)
    assert job["ProcessingJobStatus"] == "Stopped"
    error = _error(sm.stop_processing_job, ProcessingJobName=name)
    assert error["Code"] == "ValidationException" and "Stopped" in error["Message"]
    started = time.monotonic()
    timed = _run(sm, _request(unique("proc"), role, code, StoppingCondition={"MaxRuntimeInSeconds": 1}))
    assert timed["ProcessingJobStatus"] == "Stopped" and time.monotonic() - started < 30


@pytest.mark.parametrize(("image", "expected"), [
    ("382416733822.dkr.ecr.us-east-1.amazonaws.com/pca:1", "does not run SageMaker's built-in PCA algorithm"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310",
     "does not run the image '763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310'"),
])
def test_an_image_localcloud_does_not_run_fails_the_job_naming_it(sm, s3, bucket, role, image, expected) -> None:
    job = _run(sm, _request(unique("proc"), role, _code(s3, bucket, "print(1)\n"), image=image))
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: localcloud") and expected in job["FailureReason"]


def test_other_images_run_their_command_with_a_python_environment(sm, s3, bucket, role) -> None:
    code = _code(s3, bucket, "import sys, xgboost\nopen('/opt/ml/output/message','w').write(xgboost.__version__)\n")
    xgb = _run(sm, _request(unique("proc"), role, code, image=XGB_IMAGE))
    assert (xgb["ProcessingJobStatus"], xgb.get("ExitMessage")) == ("Completed", "1.7.4")
    # a user's own image: its command runs with the generic Python environment (scikit-learn, pandas)
    code = _code(s3, bucket, "import sklearn\nopen('/opt/ml/output/message','w').write(sklearn.__version__)\n")
    custom = _run(sm, _request(unique("proc"), role, code, image=CUSTOM_IMAGE))
    assert (custom["ProcessingJobStatus"], custom.get("ExitMessage")) == ("Completed", "1.2.1")
    request = _request(unique("proc"), role, code, image=CUSTOM_IMAGE)
    del request["AppSpecification"]["ContainerEntrypoint"]  # the image's own ENTRYPOINT: not pulled here
    job = _run(sm, request)
    assert job["ProcessingJobStatus"] == "Failed" and "ContainerEntrypoint" in job["FailureReason"]


def test_shell_commands_see_the_container_paths(sm, s3, bucket, role) -> None:
    put(s3, bucket, "proc/sh/data.txt", "hello\n")
    script = put(s3, bucket, f"proc/sh/{unique('s')}/run.sh",
                 "cd /opt/ml/processing/input/data\ncp data.txt /opt/ml/processing/out/copy.txt\n"
                 'python3 -c "import sys; open(\'/opt/ml/output/message\',\'w\').write(sys.argv[1])" "$1"\n')
    request = _request(unique("proc"), role, script,
                       inputs=[_input("data", f"s3://{bucket}/proc/sh/data.txt", "/opt/ml/processing/input/data")],
                       outputs=[_output("out", f"s3://{bucket}/proc/sh-out", "/opt/ml/processing/out")])
    request["AppSpecification"] = {"ImageUri": CUSTOM_IMAGE, "ContainerEntrypoint": [
        "/bin/bash", "/opt/ml/processing/input/code/run.sh"], "ContainerArguments": ["/opt/ml/processing/out"]}
    job = _run(sm, request)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ExitMessage"] == "/opt/ml/processing/out"
    assert s3.get_object(Bucket=bucket, Key="proc/sh-out/copy.txt")["Body"].read() == b"hello\n"


def test_requests_are_checked_as_the_api_model_says(sm, s3, bucket, role) -> None:
    code = _code(s3, bucket, "print(1)\n")
    bad_path = _request(unique("proc"), role, code, inputs=[_input("d", f"s3://{bucket}/x", "/tmp/data")])
    assert "/opt/ml/processing/" in _error(sm.create_processing_job, **bad_path)["Message"]
    twice = _request(unique("proc"), role, code, inputs=[_input("code", f"s3://{bucket}/x", "/opt/ml/processing/a")])
    assert "unique" in _error(sm.create_processing_job, **twice)["Message"]
    env = _request(unique("proc"), role, code, Environment={"1BAD": "x"})
    assert "[a-zA-Z_][a-zA-Z0-9_]*" in _error(sm.create_processing_job, **env)["Message"]
    name = unique("proc")
    sm.create_processing_job(**_request(name, role, code))
    assert _error(sm.create_processing_job, **_request(name, role, code))["Code"] == "ResourceInUse"
    assert _error(sm.describe_processing_job, ProcessingJobName=unique("ghost"))["Code"] == "ValidationException"
    wait_processing(sm, name)
    listed = sm.list_processing_jobs(NameContains=name, StatusEquals="Completed", SortBy="Name")
    assert [s["ProcessingJobName"] for s in listed["ProcessingJobSummaries"]] == [name]


@pytest.mark.slow
def test_the_sdk_processors_run_unchanged(cloud, aws, s3, bucket, role, tmp_path, monkeypatch) -> None:
    from sagemaker.processing import FrameworkProcessor, ProcessingInput, ProcessingOutput, ScriptProcessor
    from sagemaker.sklearn import SKLearn
    from sagemaker.sklearn.processing import SKLearnProcessor

    session = sdk_session(cloud, bucket, monkeypatch)
    put(s3, bucket, "sdk/in/census.csv", "1,2\n3,4\n")
    script = tmp_path / "preprocessing.py"
    script.write_text("import pandas as pd\nframe = pd.read_csv('/opt/ml/processing/input/census.csv', header=None)\n"
                      "frame.to_csv('/opt/ml/processing/output/out.csv', index=False, header=False)\n")
    inputs = [ProcessingInput(source=f"s3://{bucket}/sdk/in", destination="/opt/ml/processing/input")]
    processor = SKLearnProcessor(framework_version="1.2-1", role=role, instance_type="ml.m5.xlarge",
                                 instance_count=1, sagemaker_session=session)
    processor.run(code=str(script), inputs=inputs, logs=False,
                  outputs=[ProcessingOutput(source="/opt/ml/processing/output",
                                            destination=f"s3://{bucket}/sdk/out")])  # waits, as by default
    assert processor.latest_job.describe()["ProcessingJobStatus"] == "Completed"
    assert s3.get_object(Bucket=bucket, Key="sdk/out/out.csv")["Body"].read() == b"1,2\n3,4\n"
    generic = ScriptProcessor(command=["python3"], image_uri=CUSTOM_IMAGE, role=role, instance_count=1,
                              instance_type="ml.m5.xlarge", sagemaker_session=session)
    generic.run(code=str(script), inputs=inputs, wait=False,
                outputs=[ProcessingOutput(source="/opt/ml/processing/output", destination=f"s3://{bucket}/sdk/g")])
    assert wait_processing(aws("sagemaker"), generic.latest_job.job_name)["ProcessingJobStatus"] == "Completed"
    # FrameworkProcessor: the SDK's runproc.sh unpacks sourcedir.tar.gz and runs the script with bash
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "helper.py").write_text("VALUE = 'from-sourcedir'\n")
    (tmp_path / "src" / "main.py").write_text("import sys, helper\nopen('/opt/ml/output/message','w')"
                                              ".write(helper.VALUE + ' ' + ' '.join(sys.argv[1:]))\n")
    framework = FrameworkProcessor(SKLearn, "1.2-1", role=role, instance_count=1, instance_type="ml.m5.xlarge",
                                   sagemaker_session=session)
    framework.run(code="main.py", source_dir=str(tmp_path / "src"), arguments=["--flag", "yes"], wait=False)
    job = wait_processing(aws("sagemaker"), framework.latest_job.job_name)
    assert (job["ProcessingJobStatus"], job.get("ExitMessage")) == ("Completed", "from-sourcedir --flag yes")


@pytest.mark.slow
def test_the_step_functions_sdk_processing_step_runs_the_job(cloud, aws, s3, bucket, role, tmp_path,
                                                             monkeypatch) -> None:
    from sagemaker.processing import ProcessingInput, ProcessingOutput
    from sagemaker.sklearn.processing import SKLearnProcessor
    from sfn_helpers import ensure_role, wait_done
    from stepfunctions.steps import Chain, ProcessingStep
    from stepfunctions.workflow import Workflow

    session = sdk_session(cloud, bucket, monkeypatch)
    put(s3, bucket, "sfn-proc/in/a.csv", "5\n")
    code = put(s3, bucket, "sfn-proc/code/preprocessing.py",
               "import shutil\nshutil.copy('/opt/ml/processing/input/a.csv', '/opt/ml/processing/output/b.csv')\n")
    processor = SKLearnProcessor(framework_version="1.2-1", role=role, instance_type="ml.m5.xlarge",
                                 instance_count=1, sagemaker_session=session)
    name = unique("sfn-proc")
    step = ProcessingStep(
        "Preprocess", processor=processor, job_name=name,
        # names given: the Step Functions SDK sends them as they are (a missing one is null, which the API refuses)
        inputs=[ProcessingInput(source=f"s3://{bucket}/sfn-proc/in", destination="/opt/ml/processing/input",
                                input_name="data"),
                ProcessingInput(source=code, destination="/opt/ml/processing/input/code", input_name="code")],
        outputs=[ProcessingOutput(source="/opt/ml/processing/output", destination=f"s3://{bucket}/sfn-proc/out",
                                  output_name="out")],
        container_entrypoint=["python3", "/opt/ml/processing/input/code/preprocessing.py"])
    sfn = aws("stepfunctions")
    workflow = Workflow(unique("proc-flow"), Chain([step]), ensure_role(aws("iam"), "sfn-sagemaker-tests-role"),
                        client=sfn)
    workflow.create()
    execution = workflow.execute()
    described = wait_done(sfn, execution.execution_arn)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = execution.get_output()
    assert output["ProcessingJobStatus"] == "Completed" and output["ProcessingJobName"] == name
    assert isinstance(output["ProcessingStartTime"], int)  # the optimized integration's epoch milliseconds
    assert s3.get_object(Bucket=bucket, Key="sfn-proc/out/b.csv")["Body"].read() == b"5\n"
