"""The seed's retraining workflow, built with the Step Functions Data Science SDK, end to end on localcloud.

Glue ETL (the project's ``code/glue_etl.py`` under PySpark) → SageMaker XGBoost training → model → a Lambda
reading the validation error (``code/model_gate.py``) → a Choice on that error → endpoint config and
endpoint, or Fail. It runs twice: with a threshold the model passes (the endpoint goes InService and answers
InvokeEndpoint) and with an impossible one (the execution fails in the Fail state).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": f"{service}.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _role(iam: Any, name: str, service: str) -> str:
    try:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(service))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]


def _wait(predicate: Any, limit: float = 300.0) -> Any:
    import time

    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def seed(cloud: Any, aws: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Roles, bucket with raw churn data and the Glue script, the Glue job and the Lambda function."""
    from retrain.data import generate, write_csv
    from retrain.resources import ETL_MODULES

    iam, s3 = aws("iam"), aws("s3")
    bucket = "seed-workflow-e2e"
    s3.create_bucket(Bucket=bucket)
    data = tmp_path_factory.mktemp("data") / "customer-churn.csv"
    write_csv(generate(1000, 42), data)
    s3.upload_file(str(data), bucket, "raw/customer-churn.csv")
    s3.upload_file(str(REPO / "code" / "glue_etl.py"), bucket, "code/glue_etl.py")
    for module in ETL_MODULES:  # the ETL's own modules, shipped with --extra-py-files
        s3.upload_file(str(REPO / "code" / module), bucket, f"code/{module}")

    glue_role = _role(iam, "seed-e2e-glue", "glue")
    aws("glue").create_job(
        Name="seed-e2e-etl", Role=glue_role, GlueVersion="5.0", WorkerType="G.1X", NumberOfWorkers=2,
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/code/glue_etl.py", "PythonVersion": "3"},
        DefaultArguments={"--extra-py-files": ",".join(f"s3://{bucket}/code/{m}" for m in ETL_MODULES)})

    lambda_role = _role(iam, "seed-e2e-lambda", "lambda")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(REPO / "code" / "model_gate.py", "model_gate.py")
    function = aws("lambda").create_function(
        FunctionName="seed-e2e-model-gate", Runtime="python3.12", Role=lambda_role,
        Handler="model_gate.lambda_handler", Code={"ZipFile": archive.getvalue()}, Timeout=60)
    return {
        "bucket": bucket,
        "sagemaker_role": _role(iam, "seed-e2e-sagemaker", "sagemaker"),
        "workflow_role": _role(iam, "seed-e2e-stepfunctions", "states"),
        "function": function["FunctionName"],
    }


def build_workflow(seed: dict[str, Any], threshold: float, client: Any, name: str) -> Any:
    """The seed notebook's workflow, written as it is there (SDK steps, ExecutionInput placeholders)."""
    import sagemaker
    from sagemaker.inputs import TrainingInput
    from stepfunctions import steps
    from stepfunctions.inputs import ExecutionInput
    from stepfunctions.workflow import Workflow

    bucket, prefix = seed["bucket"], "churn"
    session = sagemaker.Session(boto_session=boto3.Session(region_name=REGION), default_bucket=bucket)
    xgb = sagemaker.estimator.Estimator(IMAGE, seed["sagemaker_role"], instance_count=1,
                                        instance_type="ml.m4.xlarge", output_path=f"s3://{bucket}/{prefix}/output",
                                        sagemaker_session=session)
    xgb.set_hyperparameters(max_depth=5, eta=0.2, gamma=4, min_child_weight=6, subsample=0.8,
                            objective="binary:logistic", eval_metric="error", num_round=100)
    execution_input = ExecutionInput(schema={"TrainingJobName": str, "GlueJobName": str, "ModelName": str,
                                             "EndpointName": str, "LambdaFunctionName": str})
    etl_step = steps.GlueStartJobRunStep("Extract, Transform, Load", parameters={
        "JobName": execution_input["GlueJobName"],
        "Arguments": {"--S3_SOURCE": f"s3://{bucket}/raw/customer-churn.csv",
                      "--S3_DEST": f"s3a://{bucket}/{prefix}/", "--TRAIN_KEY": "train/", "--VAL_KEY": "validation/"}})
    training_step = steps.TrainingStep(
        "Model Training", estimator=xgb,
        data={"train": TrainingInput(f"s3://{bucket}/{prefix}/train", content_type="text/csv"),
              "validation": TrainingInput(f"s3://{bucket}/{prefix}/validation", content_type="text/csv")},
        job_name=execution_input["TrainingJobName"], wait_for_completion=True)
    model_step = steps.ModelStep("Save Model", model=training_step.get_expected_model(),
                                 model_name=execution_input["ModelName"], result_path="$.ModelStepResults")
    lambda_step = steps.compute.LambdaStep("Query Training Results", parameters={
        "FunctionName": execution_input["LambdaFunctionName"],
        "Payload": {"TrainingJobName.$": "$.TrainingJobName"}})
    check_accuracy_step = steps.states.Choice("Accuracy > threshold")
    endpoint_config_step = steps.EndpointConfigStep(
        "Create Model Endpoint Config", endpoint_config_name=execution_input["ModelName"],
        model_name=execution_input["ModelName"], initial_instance_count=1, instance_type="ml.m4.xlarge")
    endpoint_step = steps.EndpointStep("Update Model Endpoint", endpoint_name=execution_input["EndpointName"],
                                       endpoint_config_name=execution_input["ModelName"], update=False)
    fail_step = steps.states.Fail("Model Accuracy Too Low", comment="Validation accuracy lower than threshold")
    threshold_rule = steps.choice_rule.ChoiceRule.NumericLessThan(
        variable=lambda_step.output()["Payload"]["trainingMetrics"][0]["Value"], value=threshold)
    check_accuracy_step.add_choice(rule=threshold_rule, next_step=endpoint_config_step)
    check_accuracy_step.default_choice(next_step=fail_step)
    endpoint_config_step.next(endpoint_step)
    definition = steps.Chain([etl_step, training_step, model_step, lambda_step, check_accuracy_step])
    return Workflow(name=name, definition=definition, role=seed["workflow_role"], execution_input=execution_input,
                    client=client)


def _inputs(seed: dict[str, Any], tag: str) -> dict[str, str]:
    return {"TrainingJobName": f"seed-e2e-train-{tag}", "GlueJobName": "seed-e2e-etl",
            "ModelName": f"seed-e2e-model-{tag}", "EndpointName": f"seed-e2e-endpoint-{tag}",
            "LambdaFunctionName": seed["function"]}


def _finish(execution: Any) -> dict[str, Any]:
    return _wait(lambda: (d := execution.describe())["status"] != "RUNNING" and d, limit=600)


@pytest.mark.slow
def test_seed_workflow_both_branches(seed: dict[str, Any], aws: Any) -> None:
    sfn = aws("stepfunctions")
    definition_uses = {"arn:aws:states:::glue:startJobRun.sync", "arn:aws:states:::sagemaker:createTrainingJob.sync",
                       "arn:aws:states:::sagemaker:createModel", "arn:aws:states:::lambda:invoke",
                       "arn:aws:states:::sagemaker:createEndpointConfig", "arn:aws:states:::sagemaker:createEndpoint"}
    workflow = build_workflow(seed, threshold=0.5, client=sfn, name="seed-e2e-retrain")
    resources = {s.get("Resource") for s in json.loads(workflow.definition.to_json())["States"].values()}
    assert definition_uses <= resources
    workflow.create()

    # a threshold the model passes: endpoint config, endpoint, InService, predictions
    passing = workflow.execute(name="passes", inputs=_inputs(seed, "pass"))
    described = _finish(passing)
    assert described["status"] == "SUCCEEDED", (described, [e["type"] for e in passing.list_events()])
    output = json.loads(described["output"])
    assert output["EndpointArn"].endswith(":endpoint/seed-e2e-endpoint-pass")
    types = [e["type"] for e in passing.list_events()]
    assert types.count("TaskSubmitted") == 2  # the two .sync tasks: Glue and training
    choice_exit = [e for e in passing.list_events() if e["type"] == "ChoiceStateExited"][0]
    error = json.loads(choice_exit["stateExitedEventDetails"]["output"])["Payload"]["trainingMetrics"][0]
    assert error["MetricName"] == "validation:error" and 0.0 <= error["Value"] < 0.5

    sagemaker, runtime = aws("sagemaker"), aws("sagemaker-runtime")
    _wait(lambda: sagemaker.describe_endpoint(EndpointName="seed-e2e-endpoint-pass")["EndpointStatus"]
          == "InService", limit=300)
    s3 = aws("s3")
    validation_key = next(o["Key"] for o in s3.list_objects_v2(Bucket=seed["bucket"],
                                                               Prefix="churn/validation/")["Contents"]
                          if o["Key"].endswith(".csv"))
    rows = s3.get_object(Bucket=seed["bucket"], Key=validation_key)["Body"].read().decode().splitlines()[:3]
    body = "\n".join(row.split(",", 1)[1] for row in rows)
    answer = runtime.invoke_endpoint(EndpointName="seed-e2e-endpoint-pass", ContentType="text/csv", Body=body)
    scores = [float(v) for v in answer["Body"].read().decode().replace("\n", ",").split(",") if v.strip()]
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)

    # an impossible threshold (error < 0): the gate sends the run to the Fail state
    strict = build_workflow(seed, threshold=0.0, client=sfn, name="seed-e2e-retrain")
    workflow.update(definition=strict.definition)
    failing = workflow.execute(name="fails", inputs=_inputs(seed, "fail"))
    described = _finish(failing)
    assert described["status"] == "FAILED"
    events = failing.list_events()
    assert "FailStateEntered" in [e["type"] for e in events]
    assert all(e["type"] not in ("TaskScheduled",) or e["taskScheduledEventDetails"]["resource"]
               not in ("createEndpointConfig", "createEndpoint") for e in events)
    assert {e.name for e in workflow.list_executions()} == {"passes", "fails"}
    workflow.delete()
    sagemaker.delete_endpoint(EndpointName="seed-e2e-endpoint-pass")
