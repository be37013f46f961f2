"""One workflow built with the Step Functions Data Science SDK on generated data, end to end on localcloud:
Processing → Training (script mode) → Tuning → the best job's model → Batch Transform → endpoint config → endpoint.

Written as AWS's own samples write each piece, with only the account settings changed:

* the scikit-learn processing sample (github aws/amazon-sagemaker-examples,
  ``archived/step_functions_mlworkflow_scikit_learn_data_processing_and_model_evaluation.ipynb``): an
  ``SKLearnProcessor`` whose script and data are ``ProcessingInput``\\s, ``container_entrypoint`` ``python3 <script>``,
  a ``--train-test-split-ratio`` argument, one ``ProcessingOutput`` per split, an ``SKLearn(entry_point="train.py")``
  estimator reading ``SM_CHANNEL_*`` in a ``TrainingStep``, every job name an ``ExecutionInput`` placeholder;
* the abalone sample (``archived/machine_learning_workflow_abalone``): ``ModelStep``, ``TransformStep`` with the
  estimator's ``transformer()``, ``EndpointConfigStep`` and ``EndpointStep`` named by ``ExecutionInput``;
* the SDK's own integration test of ``TuningStep`` (github aws/aws-step-functions-data-science-sdk-python,
  ``tests/integ/test_sagemaker_steps.py``): a ``HyperparameterTuner`` with ``max_jobs=2..`` in a ``TuningStep``.

No sample joins a ``TuningStep`` to a ``ModelStep``. The tuning step's output is DescribeHyperParameterTuningJob's
(``BestTrainingJob.TrainingJobName``); a Task calls DescribeTrainingJob on that job through Step Functions' AWS SDK
integration (``arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob``; Step Functions developer guide, "AWS SDK
service integrations"), and the ``ModelStep`` takes its ``ModelArtifacts.S3ModelArtifacts`` as a placeholder, the
path the SDK's own ``TrainingStep.get_expected_model()`` reads from a training step's output.

The session is the README's route for one's own notebooks: the variables ``localcloud env`` exports, then an
unmodified ``sagemaker.Session()`` and a ``Workflow`` without a client.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REGION = "us-east-1"
ROWS = 300
SPLITS = ("train", "validation", "test")

# as the scikit-learn processing sample writes its preprocessing.py: fixed /opt/ml/processing paths, pandas,
# scikit-learn's train_test_split, one CSV per split without header or index
PREPROCESS = """\
import argparse
import os

import pandas as pd
from sklearn.model_selection import train_test_split

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-test-split-ratio", type=float, default=0.4)
    args, _ = parser.parse_known_args()
    df = pd.read_csv(os.path.join("/opt/ml/processing/input", "deliveries.csv"))
    df = pd.get_dummies(df, columns=["zone"], dtype=float)      # the categorical column, one-hot
    label = df.pop("minutes")
    frame = pd.concat([label, df], axis=1)                      # label first, as the training script reads it
    train, rest = train_test_split(frame, test_size=args.train_test_split_ratio, random_state=0)
    validation, test = train_test_split(rest, test_size=0.5, random_state=0)
    print("Split into", len(train), len(validation), len(test))
    for name, part in (("train", train), ("validation", validation)):
        part.to_csv(f"/opt/ml/processing/{name}/{name}.csv", header=False, index=False)
    test.iloc[:, 1:].to_csv("/opt/ml/processing/test/test.csv", header=False, index=False)  # features only
"""

# a script-mode training script as the SDK's SKLearn examples write it: arguments from the hyperparameters, paths
# from SM_* variables, the model in SM_MODEL_DIR, the metric printed for MetricDefinitions, model_fn for serving
TRAIN = """\
import argparse
import os

import joblib
import numpy as np
from sklearn.linear_model import Ridge


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def load(folder):
    return np.vstack([np.loadtxt(os.path.join(folder, f), delimiter=",", ndmin=2) for f in sorted(os.listdir(folder))])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
    parser.add_argument("--validation", default=os.environ["SM_CHANNEL_VALIDATION"])
    args, _ = parser.parse_known_args()
    train, validation = load(args.train), load(args.validation)
    model = Ridge(alpha=args.alpha).fit(train[:, 1:], train[:, 0])
    rmse = float(np.sqrt(np.mean((model.predict(validation[:, 1:]) - validation[:, 0]) ** 2)))
    print(f"validation:rmse={rmse:.6f};")
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
"""

METRICS = [{"Name": "validation:rmse", "Regex": "validation:rmse=([0-9.]+);"}]

# the served model's predictions computed without localcloud: the model.tar.gz's model.joblib loaded by
# scikit-learn 1.2.1 (the image's environment: the project's own has no scikit-learn), the rows as the container's
# default input_fn gives them to predict_fn: CSV decoded, then ``astype(np.float32)`` (github
# aws/sagemaker-scikit-learn-container, branch 1.2-1, src/sagemaker_sklearn_container/serving.py, default_input_fn)
PREDICT = """\
import io, json, sys, tarfile
import joblib
import numpy as np
with tarfile.open(sys.argv[1]) as tar:
    model = joblib.load(io.BytesIO(tar.extractfile("model.joblib").read()))
rows = np.loadtxt(sys.argv[2], delimiter=",", ndmin=2).astype(np.float32)
print(json.dumps([float(v) for v in model.predict(rows)]))
"""


def _deliveries(rows: int, seed: int) -> str:
    """Generated delivery times: three numeric features, one categorical, a linear signal with noise."""
    rng = np.random.default_rng(seed)
    km, parcels, floors = rng.uniform(0.5, 20, rows), rng.integers(1, 6, rows), rng.integers(0, 10, rows)
    zones = rng.choice(["north", "south", "centre"], rows)
    minutes = 8 + 2.5 * km + 1.5 * parcels + 0.8 * floors + np.where(zones == "centre", 6.0, 0.0) \
        + rng.normal(0, 2.0, rows)
    lines = ["km,parcels,floors,zone,minutes"]
    lines += [f"{a:.3f},{b},{c},{z},{m:.2f}"
              for a, b, c, z, m in zip(km, parcels, floors, zones, minutes, strict=True)]
    return "\n".join(lines) + "\n"


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": f"{service}.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _wait(predicate: Any, limit: float, every: float = 0.2) -> Any:
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(every)


def _get(s3: Any, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.fixture
def sdk(cloud: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The exports of ``localcloud env`` in this process; roles as a user creates them; the source files."""
    import boto3

    from localcloud import environment

    for name, value in environment.environ(cloud.port, REGION, folder=tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in environment.UNSET:
        monkeypatch.delenv(name, raising=False)
    iam = boto3.client("iam")
    tag = uuid.uuid4().hex[:8]
    roles = {service: iam.create_role(RoleName=f"sdk-flow-{service}-{tag}",
                                      AssumeRolePolicyDocument=_trust(service))["Role"]["Arn"]
             for service in ("sagemaker", "states")}
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(TRAIN)
    (tmp_path / "preprocessing.py").write_text(PREPROCESS)
    (tmp_path / "deliveries.csv").write_text(_deliveries(ROWS, seed=5))
    return {"tag": tag, "roles": roles, "folder": tmp_path}


# long: one workflow, one step per statement, in the order a notebook builds it
def build_workflow(sdk: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """The workflow as a notebook builds it; also the S3 locations it writes."""
    import sagemaker
    from sagemaker.processing import ProcessingInput, ProcessingOutput
    from sagemaker.sklearn import SKLearn, SKLearnModel
    from sagemaker.sklearn.processing import SKLearnProcessor
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner
    from stepfunctions import steps
    from stepfunctions.inputs import ExecutionInput
    from stepfunctions.workflow import Workflow

    session = sagemaker.Session()
    bucket, role, folder = session.default_bucket(), sdk["roles"]["sagemaker"], sdk["folder"]
    base = f"s3://{bucket}/sdk-flow-{sdk['tag']}"
    where = {"train": f"{base}/data/train", "validation": f"{base}/data/validation",
             "test": f"{base}/data/test", "tuning": f"{base}/tuning", "transform": f"{base}/transform"}
    raw = session.upload_data(str(folder / "deliveries.csv"), bucket=bucket, key_prefix=f"sdk-flow-{sdk['tag']}/raw")
    code = session.upload_data(str(folder / "preprocessing.py"), bucket=bucket,
                               key_prefix=f"sdk-flow-{sdk['tag']}/code")

    execution_input = ExecutionInput(schema={
        "PreprocessingJobName": str, "TrainingJobName": str, "TuningJobName": str, "ModelName": str,
        "TransformJobName": str, "EndpointName": str})

    processor = SKLearnProcessor(framework_version="1.2-1", role=role, instance_type="ml.m5.xlarge",
                                 instance_count=1, max_runtime_in_seconds=600)
    processing_step = steps.ProcessingStep(
        "Prepare data", processor=processor, job_name=execution_input["PreprocessingJobName"],
        inputs=[ProcessingInput(source=raw, destination="/opt/ml/processing/input", input_name="input-1"),
                ProcessingInput(source=code, destination="/opt/ml/processing/input/code", input_name="code")],
        outputs=[ProcessingOutput(source=f"/opt/ml/processing/{name}", destination=where[name], output_name=name)
                 for name in SPLITS],
        container_arguments=["--train-test-split-ratio", "0.4"],  # 180 / 60 / 60 rows
        container_entrypoint=["python3", "/opt/ml/processing/input/code/preprocessing.py"])

    def estimator(output: str, **hyperparameters: Any) -> Any:
        return SKLearn(entry_point="train.py", source_dir=str(folder / "src"), framework_version="1.2-1",
                       py_version="py3", role=role, instance_type="ml.m5.large", instance_count=1,
                       output_path=output, metric_definitions=METRICS, hyperparameters=hyperparameters)

    channels = {name: sagemaker.TrainingInput(where[name], content_type="text/csv")
                for name in ("train", "validation")}
    training_step = steps.TrainingStep(
        "Train baseline", estimator=estimator(f"{base}/baseline", alpha=1.0), data=channels,
        job_name=execution_input["TrainingJobName"], wait_for_completion=True)

    tuned = estimator(where["tuning"])
    tuner = HyperparameterTuner(
        tuned, objective_metric_name="validation:rmse", objective_type="Minimize", metric_definitions=METRICS,
        hyperparameter_ranges={"alpha": ContinuousParameter(0.01, 300.0, scaling_type="Logarithmic")},
        strategy="Random", random_seed=11, max_jobs=3, max_parallel_jobs=2)
    tuning_step = steps.TuningStep("Tune alpha", tuner=tuner, job_name=execution_input["TuningJobName"],
                                   data=channels, wait_for_completion=True)

    best_job = steps.Task("Describe best job", resource="arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob",
                          parameters={"TrainingJobName.$": "$.BestTrainingJob.TrainingJobName"})
    # the tuned jobs' script and code; its ModelDataUrl is the best job's, given as a placeholder in parameters
    model = SKLearnModel(model_data=f"{where['tuning']}/model.tar.gz", role=role, entry_point="train.py",
                         source_dir=tuned.uploaded_code.s3_prefix, framework_version="1.2-1", py_version="py3",
                         sagemaker_session=session)
    model_step = steps.ModelStep(
        "Save best model", model=model, model_name=execution_input["ModelName"], instance_type="ml.m5.large",
        parameters={"PrimaryContainer": {"ModelDataUrl": best_job.output()["ModelArtifacts"]["S3ModelArtifacts"]}})

    transformer = tuned.transformer(instance_count=1, instance_type="ml.m5.large", accept="text/csv",
                                    assemble_with="Line", output_path=where["transform"])
    transform_step = steps.TransformStep(
        "Score test split", transformer=transformer, job_name=execution_input["TransformJobName"],
        model_name=execution_input["ModelName"], data=where["test"], content_type="text/csv", split_type="Line")
    endpoint_config_step = steps.EndpointConfigStep(
        "Create endpoint config", endpoint_config_name=execution_input["ModelName"],
        model_name=execution_input["ModelName"], initial_instance_count=1, instance_type="ml.m5.large")
    endpoint_step = steps.EndpointStep("Create endpoint", endpoint_name=execution_input["EndpointName"],
                                       endpoint_config_name=execution_input["ModelName"])

    definition = steps.Chain([processing_step, training_step, tuning_step, best_job, model_step, transform_step,
                              endpoint_config_step, endpoint_step])
    workflow = Workflow(name=f"sdk-flow-{sdk['tag']}", definition=definition, role=sdk["roles"]["states"],
                        execution_input=execution_input)
    return workflow, where


def _predict_in_process(artifact: bytes, rows: bytes, folder: Path) -> list[float]:
    from localcloud import images

    (folder / "model.tar.gz").write_bytes(artifact)
    (folder / "rows.csv").write_bytes(rows)
    done = subprocess.run([images.python(images.SKLEARN), "-c", PREDICT, str(folder / "model.tar.gz"),
                           str(folder / "rows.csv")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# long: one run of the workflow and every outcome it should have, in order
@pytest.mark.slow
def test_an_sdk_workflow_processes_trains_tunes_transforms_and_deploys(sdk: dict[str, Any]) -> None:
    import boto3

    workflow, where = build_workflow(sdk)
    resources = [s.get("Resource") for s in json.loads(workflow.definition.to_json())["States"].values()]
    assert resources == [f"arn:aws:states:::sagemaker:{api}" for api in (
        "createProcessingJob.sync", "createTrainingJob.sync", "createHyperParameterTuningJob.sync")] + [
        "arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob"] + [
        f"arn:aws:states:::sagemaker:{api}" for api in (
            "createModel", "createTransformJob.sync", "createEndpointConfig", "createEndpoint")]
    workflow.create()
    tag = sdk["tag"]
    names = {"PreprocessingJobName": f"prep-{tag}", "TrainingJobName": f"train-{tag}", "TuningJobName": f"tune-{tag}",
             "ModelName": f"model-{tag}", "TransformJobName": f"score-{tag}", "EndpointName": f"endpoint-{tag}"}
    execution = workflow.execute(inputs=names)
    described = _wait(lambda: (d := execution.describe())["status"] != "RUNNING" and d, limit=300)
    events = execution.list_events()
    assert described["status"] == "SUCCEEDED", (described.get("cause"), [e["type"] for e in events][-5:])
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    assert entered == ["Prepare data", "Train baseline", "Tune alpha", "Describe best job", "Save best model",
                       "Score test split", "Create endpoint config", "Create endpoint"]

    sm, s3 = boto3.client("sagemaker"), boto3.client("s3")
    # the processing job's three splits, the test split without its label column
    assert sm.describe_processing_job(ProcessingJobName=names["PreprocessingJobName"])["ProcessingJobStatus"] \
        == "Completed"
    split = {name: _get(s3, f"{where[name]}/{name}.csv").decode().splitlines() for name in SPLITS}
    assert {name: len(lines) for name, lines in split.items()} == {"train": 180, "validation": 60, "test": 60}
    # label, 3 numbers, 3 one-hot zones; the test split without its label
    assert {name: len(lines[0].split(",")) for name, lines in split.items()} == {"train": 7, "validation": 7,
                                                                                   "test": 6}

    # the baseline trained in script mode, with its metric read from its log
    baseline = sm.describe_training_job(TrainingJobName=names["TrainingJobName"])
    assert baseline["TrainingJobStatus"] == "Completed"
    assert baseline["HyperParameters"]["sagemaker_program"] == '"train.py"'
    assert [m["MetricName"] for m in baseline["FinalMetricDataList"]] == ["validation:rmse"]

    # the tuning job's best training job (the lowest objective of its jobs) is the model the workflow made
    tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=names["TuningJobName"])
    assert tuning["HyperParameterTuningJobStatus"] == "Completed"
    assert tuning["TrainingJobStatusCounters"]["Completed"] == 3
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=names["TuningJobName"])["TrainingJobSummaries"]
    lowest = min(jobs, key=lambda j: j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    best = tuning["BestTrainingJob"]["TrainingJobName"]
    assert best == lowest["TrainingJobName"]
    best_job = sm.describe_training_job(TrainingJobName=best)
    artifact_uri = best_job["ModelArtifacts"]["S3ModelArtifacts"]
    container = sm.describe_model(ModelName=names["ModelName"])["PrimaryContainer"]
    assert container["ModelDataUrl"] == artifact_uri
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "train.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == json.loads(
        best_job["HyperParameters"]["sagemaker_submit_directory"])
    transform = sm.describe_transform_job(TransformJobName=names["TransformJobName"])
    assert (transform["TransformJobStatus"], transform["ModelName"]) == ("Completed", names["ModelName"])
    config = sm.describe_endpoint_config(EndpointConfigName=names["ModelName"])
    assert [v["ModelName"] for v in config["ProductionVariants"]] == [names["ModelName"]]

    # one prediction per test row, each the best model's own prediction
    test_rows = _get(s3, f"{where['test']}/test.csv")
    scored = _get(s3, f"{where['transform']}/test.csv.out").decode().splitlines()
    expected = _predict_in_process(_get(s3, artifact_uri), test_rows, sdk["folder"])
    assert len(scored) == len(expected) == 60
    assert [float(v) for v in scored] == expected

    # the endpoint answers the same
    endpoint = names["EndpointName"]
    try:
        status = _wait(lambda: (s := sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]) != "Creating"
                       and s, limit=60)
        assert status == "InService"
        answer = boto3.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=test_rows)
        assert answer["Body"].read().decode().splitlines() == scored
    finally:
        sm.delete_endpoint(EndpointName=endpoint)
        workflow.delete()
