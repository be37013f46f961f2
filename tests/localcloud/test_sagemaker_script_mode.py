"""Script mode: training and serving the user's own script with the SageMaker Scikit-learn 1.2-1 image, as the
training toolkit and the container's model server run it; images localcloud does not run fail naming them.

AWS behaviour relied on: the training toolkit (github aws/sagemaker-training-toolkit v4.8.0: ``environment.py``
``to_env_vars``/``to_cmd_args``, ``process.py``, ``errors.py``, ``trainer.py``), the Scikit-learn container
(github aws/sagemaker-scikit-learn-container, branch 1.2-1: ``training.py``, ``serving.py``) and
``sagemaker_containers`` v2.8.6.post2 (``_encoders.py``, ``_transformer.py``, ``_worker.py``); "How Amazon
SageMaker Provides Training Information" and "How Amazon SageMaker Processes Training Output" (SageMaker developer
guide).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from test_sagemaker_support import (
    SKLEARN_IMAGE,
    SKLEARN_TRAIN,
    XGB_IMAGE,
    channel,
    log_events,
    put,
    script_request,
    sdk_session,
    sklearn_model_env,
    sourcedir,
    synthetic,
    to_csv,
    unique,
    wait_endpoint,
    wait_job,
)

from localcloud.images.scriptmode import STARTUP_DIR, toolkit

LIB = str(Path(__file__).resolve().parents[2] / "lib")

# dumps what the toolkit gave it into /opt/ml/output/data, writes a model
ENV_DUMP = """
import json, os, sys
facts = {"argv": sys.argv, "cwd": os.getcwd(),
         "env": {k: v for k, v in os.environ.items() if k.startswith(("SM_", "TRAINING_JOB", "SAGEMAKER_", "MY_"))}}
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "facts.json"), "w") as handle:
    json.dump(facts, handle)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as handle:
    handle.write("weights")
print("epoch=1 loss=0.50\\nepoch=2 loss=0.25")
"""


# --------------------------------------------------------------------------------------------------- units
def test_hyperparameters_become_arguments_and_variables_as_the_toolkit_makes_them() -> None:
    decoded = toolkit.decode_hyperparameters({"epochs": "3", "name": '"run"', "raw": "not json", "c": "0.5"})
    assert decoded == {"epochs": 3, "name": "run", "raw": "not json", "c": 0.5}
    assert toolkit.to_cmd_args({"lr": 0.1, "c": 0.5, "layers": {"b": 2, "a": 1}, "flag": True}) == \
        ["-c", "0.5", "--flag", "True", "--layers", "a=1,b=2", "--lr", "0.1"]
    assert toolkit.to_env_vars({"hps": {"b": 1, "a": [1, 2]}, "model_dir": "/opt/ml/model", "none": None}) == \
        {"SM_HPS": '{"a":[1,2],"b":1}', "SM_MODEL_DIR": "/opt/ml/model", "SM_NONE": ""}


def test_every_python_process_of_a_job_sees_opt_ml(tmp_path: Path) -> None:
    root = tmp_path / "job"
    (root / "processing" / "input").mkdir(parents=True)
    (root / "processing" / "input" / "a.csv").write_text("1,2\n")
    script = """
import glob, os, pathlib, shutil, subprocess, sys
print(open("/opt/ml/processing/input/a.csv").read().strip())
print(sorted(glob.glob("/opt/ml/processing/*/*.csv")))
os.makedirs("/opt/ml/processing/output/deep", exist_ok=True)
shutil.copy("/opt/ml/processing/input/a.csv", "/opt/ml/processing/output/deep/b.csv")
pathlib.Path("/opt/ml/processing/output/c.txt").write_text("c")
print(sorted(os.listdir("/opt/ml/processing/output")), os.path.exists("/opt/ml/processing/output/c.txt"))
os.chdir("/opt/ml/processing")
print(os.getcwd())
print(subprocess.run(["cat", "/opt/ml/processing/input/a.csv"], capture_output=True, text=True).stdout.strip())
print(subprocess.run([sys.executable, "-c", "print(open('/opt/ml/processing/output/c.txt').read())"],
                     capture_output=True, text=True).stdout.strip())
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([STARTUP_DIR, LIB]), "LOCALCLOUD_OPT_ML": str(root)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["1,2", "['/opt/ml/processing/input/a.csv']", "['c.txt', 'deep'] True",
                                        "/opt/ml/processing", "1,2", "c"]
    assert (root / "processing" / "output" / "deep" / "b.csv").read_text() == "1,2\n"


# --------------------------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def train_data(s3: Any, bucket: str) -> dict[str, Any]:
    rows = synthetic(80, seed=5, features=3)
    put(s3, bucket, "sm/train/part-0.csv", to_csv(rows))
    return {"rows": rows, "channels": [channel("train", f"s3://{bucket}/sm/train"),
                                       channel("extra", f"s3://{bucket}/sm/train", content_type=None)]}


def _code(s3: Any, bucket: str, files: dict[str, str]) -> str:
    return put(s3, bucket, f"sm/source/{unique('src')}/sourcedir.tar.gz", sourcedir(files))


def _members(s3: Any, uri: str) -> dict[str, bytes]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_the_script_runs_with_the_toolkits_environment(aws, sm, s3, bucket, role, train_data) -> None:
    name = unique("script")
    source = _code(s3, bucket, {"train.py": ENV_DUMP, "helper.py": ""})
    request = script_request(name, role, bucket, train_data["channels"], source,
                             {"epochs": "3", "learning-rate": "0.1", "tag": '"blue"'},
                             Environment={"MY_SETTING": "on"})
    request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]
    sm.create_training_job(**request)
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [("loss", 0.25)]
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{bucket}/output/{name}/output/model.tar.gz"
    assert _members(s3, artifact) == {"model.txt": b"weights"}
    facts = json.loads(_members(s3, artifact.replace("model.tar.gz", "output.tar.gz"))["facts.json"])
    assert facts["argv"] == ["train.py", "--epochs", "3", "--learning-rate", "0.1", "--tag", "blue"]
    assert facts["cwd"] == "/opt/ml/code"
    env = facts["env"]
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train" and env["SM_CHANNELS"] == '["extra","train"]'
    assert env["SM_MODEL_DIR"] == "/opt/ml/model" and env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "learning-rate": 0.1, "tag": "blue"}
    assert env["SM_HP_EPOCHS"] == "3" and env["SM_HP_TAG"] == "blue"
    assert env["SM_USER_ARGS"] == '["--epochs","3","--learning-rate","0.1","--tag","blue"]'
    assert env["SM_CURRENT_HOST"] == "algo-1" and env["SM_HOSTS"] == '["algo-1"]'
    assert env["SM_NUM_CPUS"] == str(os.cpu_count()) and env["SM_NUM_GPUS"] == "0"
    assert env["SM_MODULE_NAME"] == "train" and env["SM_MODULE_DIR"] == source
    assert env["SM_FRAMEWORK_MODULE"] == "sagemaker_sklearn_container.training:main"
    assert json.loads(env["SM_INPUT_DATA_CONFIG"])["train"] == {
        "ContentType": "text/csv", "RecordWrapperType": "None", "S3DistributionType": "FullyReplicated",
        "TrainingInputMode": "File"}
    assert json.loads(env["SM_TRAINING_ENV"])["job_name"] == name
    assert (env["TRAINING_JOB_NAME"], env["SAGEMAKER_JOB_NAME"], env["MY_SETTING"]) == (name, name, "on")
    streams = log_events(aws, "/aws/sagemaker/TrainingJobs", f"{name}/")
    assert "epoch=2 loss=0.25" in next(iter(streams.values()))


def test_a_failing_script_reports_the_toolkits_failure(sm, s3, bucket, role, train_data) -> None:
    name = unique("script")
    source = _code(s3, bucket, {"train.py": "raise ValueError('bad data')\n"})
    sm.create_training_job(**script_request(name, role, bucket, train_data["channels"], source, {"x": "1"}))
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == ('AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage ""\n'
                                    'Command "/miniconda3/bin/python train.py -x 1"')  # one letter: "-x"
    own = _code(s3, bucket, {"train.py": "open('/opt/ml/output/failure', 'w').write('my reason')\nraise SystemExit(2)\n"})
    name = unique("script")
    sm.create_training_job(**script_request(name, role, bucket, train_data["channels"], own))
    assert wait_job(sm, name)["FailureReason"] == "AlgorithmError: my reason"


def test_requirements_are_installed_before_the_script_runs(sm, s3, bucket, role, train_data) -> None:
    # entry_point.install: a program's requirements.txt goes through pip first; a failure is the toolkit's
    # InstallRequirementsError (an unparsable line fails in pip itself, without an index)
    ok = _code(s3, bucket, {"train.py": "print('ran')\n", "requirements.txt": "# nothing to add\n"})
    bad = _code(s3, bucket, {"train.py": "print('ran')\n", "requirements.txt": "!!! not a requirement\n"})
    names = [unique("script"), unique("script")]
    for name, source in zip(names, (ok, bad), strict=True):
        sm.create_training_job(**script_request(name, role, bucket, train_data["channels"], source))
    assert wait_job(sm, names[0])["TrainingJobStatus"] == "Completed"
    failed = wait_job(sm, names[1])
    assert failed["FailureReason"].startswith('AlgorithmError: InstallRequirementsError:\nExitCode 1\n'
                                              'ErrorMessage ""\nCommand "/miniconda3/bin/python -m pip install -r '
                                              'requirements.txt"')


def test_a_shell_program_runs_as_a_command(sm, s3, bucket, role, train_data) -> None:
    # _entry_point_type: a *.sh program is a command, run as /bin/sh -c "./train.sh <args>" from /opt/ml/code
    script = '#!/bin/sh\nls /opt/ml/input/data/train > "$SM_MODEL_DIR/listing.txt"\necho "$@" >> /opt/ml/model/listing.txt\n'
    name = unique("script")
    source = _code(s3, bucket, {"train.sh": script})
    sm.create_training_job(**script_request(name, role, bucket, train_data["channels"], source, {"depth": "2"},
                                            program="train.sh"))
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert _members(s3, job["ModelArtifacts"]["S3ModelArtifacts"]) == {"listing.txt": b"part-0.csv\n--depth 2\n"}


def test_a_stopped_script_ends_with_its_processes(sm, s3, bucket, role, train_data) -> None:
    name = unique("script")
    source = _code(s3, bucket, {"train.py": "import subprocess, time\nsubprocess.Popen(['sleep', '300'])\n"
                                            "time.sleep(300)\n"})
    sm.create_training_job(**script_request(name, role, bucket, train_data["channels"], source))
    deadline = time.monotonic() + 30
    while sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    sm.stop_training_job(TrainingJobName=name)
    job = wait_job(sm, name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    left = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True).stdout.split()
    assert not left  # the job's process group is gone with it


@pytest.mark.parametrize(("image", "program", "expected"), [
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310", "train.py",
     "localcloud does not run the image '763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310'"
     " (its framework is not installed locally); localcloud runs the built-in XGBoost 1.7-1 image"),
    ("382416733822.dkr.ecr.us-east-1.amazonaws.com/pca:1", None,
     "localcloud does not run SageMaker's built-in PCA algorithm (image '382416733822.dkr.ecr.us-east-1.amazonaws.com/"
     "pca:1')"),
    ("382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1", None, "built-in Linear Learner algorithm"),
    (XGB_IMAGE, "train.py", "its framework (script) mode is not implemented"),
    ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:0.23-1-cpu-py3", "train.py",
     "localcloud runs the Scikit-learn image of version 1.2-1 only"),
    (SKLEARN_IMAGE, None, "the hyperparameter sagemaker_program names none"),
])
def test_images_localcloud_does_not_run_fail_naming_them(sm, s3, bucket, role, train_data, image, program,
                                                         expected) -> None:
    name = unique("script")
    source = _code(s3, bucket, {"train.py": "print(1)\n"})
    request = script_request(name, role, bucket, train_data["channels"], source, image=image)
    if program is None:
        request["HyperParameters"] = {"feature_dim": "3"}
    sm.create_training_job(**request)
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: ") and expected in job["FailureReason"]


def test_a_users_own_image_runs_a_named_script_in_the_python_environment(sm, s3, bucket, role, train_data) -> None:
    name = unique("script")
    source = _code(s3, bucket, {"train.py": "import sklearn, os\nopen(os.environ['SM_MODEL_DIR'] + '/v', 'w')"
                                            ".write(sklearn.__version__)\n"})
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-training:latest"
    sm.create_training_job(**script_request(name, role, bucket, train_data["channels"], source, image=image))
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert _members(s3, job["ModelArtifacts"]["S3ModelArtifacts"]) == {"v": b"1.2.1"}


# --------------------------------------------------------------------------------------------------- serving
@pytest.fixture(scope="module")
def sk_trained(sm, s3, bucket, role, train_data) -> dict[str, str]:
    name = unique("sk")
    source = _code(s3, bucket, {"train.py": SKLEARN_TRAIN})
    sm.create_training_job(**script_request(name, role, bucket, train_data["channels"][:1], source,
                                            {"c-value": "0.5"}))
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return {"artifact": job["ModelArtifacts"]["S3ModelArtifacts"], "source": source}


def _endpoint(sm: Any, role: str, artifact: str, env: dict[str, str]) -> tuple[str, dict[str, Any]]:
    model = unique("skm")
    sm.create_model(ModelName=model, ExecutionRoleArn=role, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": artifact, "Environment": env})
    sm.create_endpoint_config(EndpointConfigName=model, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=model, EndpointConfigName=model)
    return model, wait_endpoint(sm, model)


def _invoke(rt: Any, name: str, body: bytes, content_type: str, accept: str | None = None) -> tuple[str, bytes]:
    kwargs = {"Accept": accept} if accept else {}
    answer = rt.invoke_endpoint(EndpointName=name, Body=body, ContentType=content_type, **kwargs)
    return answer["ContentType"], answer["Body"].read()


def test_a_sklearn_model_is_served_with_the_containers_default_handlers(sm, rt, role, train_data,
                                                                        sk_trained) -> None:
    name, endpoint = _endpoint(sm, role, sk_trained["artifact"], sklearn_model_env(sk_trained["source"]))
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
    rows = train_data["rows"][:2, 1:]
    labels = [float(v) for v in train_data["rows"][:2, 0]]
    body = to_csv(rows).encode()
    assert _invoke(rt, name, body, "text/csv") == ("application/json", json.dumps(labels).encode())
    csv_type, csv_body = _invoke(rt, name, body, "text/csv", "text/csv")
    assert csv_type == "text/csv; charset=utf-8" and csv_body.decode().splitlines() == [str(v) for v in labels]
    buffer = io.BytesIO()
    np.save(buffer, rows)
    npy_type, npy_body = _invoke(rt, name, buffer.getvalue(), "application/x-npy", "application/x-npy")
    assert npy_type == "application/x-npy" and list(np.load(io.BytesIO(npy_body))) == labels
    assert _invoke(rt, name, json.dumps(rows.tolist()).encode(), "application/json")[1] == json.dumps(labels).encode()
    # one CSV row is a 1-D array for the default input_fn, which scikit-learn refuses; an unknown content type
    # raises in the wrapped decoder: both are the Flask worker's 500
    for payload, content_type in ((to_csv(rows[:1]).encode(), "text/csv"), (b"1 2 3", "text/plain")):
        with pytest.raises(ClientError) as err:
            rt.invoke_endpoint(EndpointName=name, Body=payload, ContentType=content_type)
        error = err.value.response
        assert error["Error"]["Code"] == "ModelError" and error["OriginalStatusCode"] == 500
        assert "500 Internal Server Error" in error["OriginalMessage"]


def test_a_model_without_model_fn_fails_its_ping(sm, s3, bucket, role, sk_trained) -> None:
    source = _code(s3, bucket, {"serve.py": "def predict_fn(data, model):\n    return data\n"})
    _, endpoint = _endpoint(sm, role, sk_trained["artifact"], sklearn_model_env(source, program="serve.py"))
    assert endpoint["EndpointStatus"] == "Failed"
    assert endpoint["FailureReason"] == ("The primary container for production variant AllTraffic did not pass the "
                                         "ping health check. Please check CloudWatch logs for this endpoint.")


@pytest.mark.slow
def test_the_sdk_sklearn_estimator_trains_deploys_and_transforms(cloud, aws, s3, bucket, role, train_data, tmp_path,
                                                                 monkeypatch) -> None:
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer
    from sagemaker.sklearn import SKLearn

    session = sdk_session(cloud, bucket, monkeypatch)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(SKLEARN_TRAIN)
    estimator = SKLearn(entry_point="train.py", source_dir=str(tmp_path / "src"), framework_version="1.2-1",
                        role=role, instance_type="ml.m5.large", instance_count=1, sagemaker_session=session,
                        hyperparameters={"c-value": 0.5},
                        metric_definitions=[{"Name": "train:accuracy", "Regex": "train_accuracy: ([0-9.]+)"}])
    estimator.fit({"train": f"s3://{bucket}/sm/train"}, logs=False)  # waits, as by default
    job = estimator.latest_training_job.describe()
    assert job["TrainingJobStatus"] == "Completed"
    assert job["FinalMetricDataList"][0]["MetricName"] == "train:accuracy"
    sm = aws("sagemaker")
    endpoint = unique("sk-sdk")
    estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=endpoint, wait=False)
    assert wait_endpoint(sm, endpoint)["EndpointStatus"] == "InService"
    predictor = Predictor(endpoint, sagemaker_session=session, serializer=CSVSerializer(),
                          deserializer=JSONDeserializer())
    rows = train_data["rows"][:5, 1:]
    predicted = predictor.predict(rows)
    assert len(predicted) == 5 and set(predicted) <= {0.0, 1.0}
    put(s3, bucket, "sm/batch/in/a.csv", to_csv(rows))
    transformer = estimator.transformer(instance_count=1, instance_type="ml.m5.large", accept="text/csv",
                                        assemble_with="Line", output_path=f"s3://{bucket}/sm/batch/out")
    transformer.transform(f"s3://{bucket}/sm/batch/in", content_type="text/csv", split_type="Line", logs=False)
    out = s3.get_object(Bucket=bucket, Key="sm/batch/out/a.csv.out")["Body"].read().decode().splitlines()
    assert out == [str(v) for v in predicted]
