"""Safe deployment on the project's side: the deployment parameters, the DeploymentConfig and alarms the workflow
and notebook 02 send (against botocore's models), the SageMaker role's alarm permission, and — on the local
cloud, with real model servers — the project's alarms, their clean-up and `retrain rollback`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.session import get_session
from botocore.validate import validate_parameters

import xgb17
from localcloud.iam import evaluate
from retrain.alarms import ensure_alarms
from retrain.cleanup import NOT_OURS, Cleanup
from retrain.config import load_params
from retrain.deployment import alarm_requests, baking_seconds, deployment_config
from retrain.errors import CloudError, ParamsError
from retrain.history import write_record
from retrain.notebooks import workflow_definition
from retrain.policies import Scope, sagemaker_policy
from retrain.resources import Layout, bucket_name
from retrain.rollback import choose_target, fallback_configs, rollback, rollback_config
from retrain.session import Cloud
from retrain.state import RunState

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "localcloud"))
from test_sagemaker_support import XGB_IMAGE, make_role, tarball, wait_endpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LOCAL, AWS = ROOT / "params" / "local.yaml", ROOT / "params" / "aws.yaml"
_SESSION = get_session()


def _shape(service: str, operation: str) -> Any:
    return _SESSION.get_service_model(service).operation_model(operation).input_shape


@pytest.mark.parametrize("kind", ["all_at_once", "canary", "linear"])
@pytest.mark.parametrize("path", [LOCAL, AWS])
def test_deployment_config_and_alarms_are_requests_aws_accepts(kind: str, path: Path) -> None:
    params = load_params(path, [f"deployment={kind}"])
    config = deployment_config(params)
    validate_parameters({"EndpointName": "e", "EndpointConfigName": "c", "DeploymentConfig": config},
                        _shape("sagemaker", "UpdateEndpoint"))
    routing = config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == kind.upper()
    assert ("CanarySize" in routing) == (kind == "canary") and ("LinearStepSize" in routing) == (kind == "linear")
    assert [a["AlarmName"] for a in config["AutoRollbackConfiguration"]["Alarms"]] == \
        [f"{params.endpoint_name}-5xx-errors", f"{params.endpoint_name}-model-latency"]
    for alarm in alarm_requests(params):
        validate_parameters(alarm, _shape("cloudwatch", "PutMetricAlarm"))
        # the guide's example alarms: AWS/SageMaker, Average, the endpoint and its AllTraffic variant
        assert alarm["Namespace"] == "AWS/SageMaker" and alarm["Statistic"] == "Average"
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"EndpointName": params.endpoint_name,
                                                                        "VariantName": "AllTraffic"}
        assert alarm["TreatMissingData"] == "notBreaching"
    latency = alarm_requests(params)[1]
    assert latency["MetricName"] == "ModelLatency" and latency["Threshold"] == params.max_model_latency_ms * 1000


def test_without_rollback_alarms_no_alarm_is_made_or_named() -> None:
    params = load_params(LOCAL, ["rollback_alarms=false"])
    assert alarm_requests(params) == [] and "AutoRollbackConfiguration" not in deployment_config(params)


@pytest.mark.parametrize(("override", "words"), [
    ("deployment=blue_green", "is not one of: all_at_once, canary, linear"),
    ("canary_percent=60", "1-50"),
    ("linear_step_percent=5", "10-50"),
    ("wait_interval_seconds=4000", "0-3600"),
    ("max_execution_timeout_seconds=300", "600-28800"),
    ("alarm_period_seconds=45", "10, 30 or a multiple of 60"),
    ("alarm_datapoints_to_alarm=2", "M of the N periods"),
    ("max_error_rate=1.5", "from 0 to 1"),
    ("rollback_alarms=maybe", "true or false"),
    ("wait_interval_seconds=700", "does not fit max_execution_timeout_seconds=600"),
])
def test_bad_deployment_parameters_are_refused_with_a_clear_error(override: str, words: str) -> None:
    with pytest.raises(ParamsError, match=words.replace("(", r"\(")):
        load_params(LOCAL, [override])


def test_baking_time_counts_every_step_but_the_last_and_the_final_bake() -> None:
    params = load_params(AWS, ["deployment=linear", "linear_step_percent=25"])
    assert baking_seconds(params) == 3 * params.wait_interval_seconds + params.termination_wait_seconds
    assert baking_seconds(load_params(AWS, ["deployment=all_at_once"])) == params.termination_wait_seconds


def test_the_workflow_sends_the_guarded_update_from_the_parameters(tmp_path: Path) -> None:
    params = load_params(LOCAL, ["deployment=linear", "linear_step_percent=50", "rollback_alarms=false"])
    definition = workflow_definition(params.save(tmp_path / "params.json"), account="123456789012")
    update = definition["States"]["Update Endpoint"]
    assert update["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:updateEndpoint"
    assert update["Parameters"]["DeploymentConfig"] == deployment_config(params)
    assert update["Retry"][0]["ErrorEquals"] == ["SageMaker.ResourceLimitExceededException",
                                                 "SageMaker.SageMakerException"]


def test_the_model_role_may_read_only_the_projects_rollback_alarms() -> None:
    params = load_params(AWS)
    policy = sagemaker_policy(Scope.of(params, "111122223333", "b"))
    arn = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:"
    for name in (f"{params.endpoint_name}-5xx-errors", f"{params.endpoint_name}-model-latency"):
        assert evaluate([policy], "cloudwatch:DescribeAlarms", arn + name, {}).allowed
    assert not evaluate([policy], "cloudwatch:DescribeAlarms", arn + "someone-elses", {}).allowed
    assert not evaluate([policy], "cloudwatch:PutMetricAlarm", arn + f"{params.endpoint_name}-5xx-errors",
                        {}).allowed


def _record(run: str, status: str = "deployed", config: str | None = None) -> dict[str, Any]:
    return {"run_id": run, "status": status, "endpoint_config": config}


def test_the_rollback_target_is_the_deployed_run_before_the_serving_one() -> None:
    found = [_record("r1", config="c1"), _record("r2", "rejected"), _record("r3", config="c3"),
             _record("r4", config="c4")]
    assert choose_target(found, "c4", None)["run_id"] == "r3"
    assert choose_target(found, "c3", None)["run_id"] == "r1"  # after a rollback to r3, the next goes further
    assert choose_target(found, "c4", "r1")["run_id"] == "r1"
    assert fallback_configs(found, "c4", 2) == {"c3", "c1"} and fallback_configs(found, "c4", 0) == set()
    for to, words in (("r9", "no record of run r9"), ("r2", "did not deploy"), ("r4", "already serves")):
        with pytest.raises(CloudError, match=words):
            choose_target(found, "c4", to)
    with pytest.raises(CloudError, match="no earlier deployed run"):
        choose_target(found, "c1", None)


# -- on the local cloud --------------------------------------------------------------------------------------------

ROW = np.array([[0.5, -1.0, 0.25, 1.5, -0.5, 0.0]])


def _target(cloud: Any, project: str, *overrides: str) -> Cloud:
    params = load_params(LOCAL, [f"project_name={project}", *overrides])
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    return Cloud(params, session, endpoint_url=cloud.endpoint_url)


def test_alarms_are_the_projects_and_go_with_the_endpoint(cloud: Any, aws: Any, tmp_path: Path) -> None:
    target = _target(cloud, "dp-alarms", "keep_endpoint=false")
    cw, params = aws("cloudwatch"), target.params
    assert set(ensure_alarms(cw, params).values()) == {"created"}
    assert set(ensure_alarms(cw, params).values()) == {"updated"}  # a re-run updates them in place
    described = cw.describe_alarms(AlarmNames=[f"{params.endpoint_name}-5xx-errors"])["MetricAlarms"][0]
    assert described["MetricName"] == "Invocation5XXErrors" and described["Threshold"] == params.max_error_rate
    # an alarm of the same prefix made by someone else is left alone
    cw.put_metric_alarm(AlarmName=f"{params.endpoint_name}-hand-made", Namespace="AWS/SageMaker",
                        MetricName="Invocations", Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanThreshold")
    rows = Cleanup(target, params, RunState(tmp_path / "state.json")).alarms()
    assert {(r["name"], r["state"], r["why"]) for r in rows} == {
        (f"{params.endpoint_name}-5xx-errors", "deleted", ""),
        (f"{params.endpoint_name}-model-latency", "deleted", ""),
        (f"{params.endpoint_name}-hand-made", "remains", NOT_OURS)}
    left = [a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix=params.endpoint_name)["MetricAlarms"]]
    assert left == [f"{params.endpoint_name}-hand-made"]


def _deployed_run(sm: Any, s3: Any, layout: Layout, params: Any, role: str, run: str, sign: float) -> str:
    """A model, a tagged config and a registered version for ``run``, and its record (status deployed)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 6)).round(3)
    raw = xgb17.train_model(X, (sign * (X[:, 0] - X[:, 3]) > 0).astype(float),
                            {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3}, 10)
    key = f"{params.project_name}/output/{run}/model.tar.gz"
    s3.put_object(Bucket=layout.bucket, Key=key, Body=tarball({"xgboost-model": raw}))
    data = f"s3://{layout.bucket}/{key}"
    tags = [{"Key": k, "Value": v} for k, v in params.tags.items()]
    model, config = f"{params.project_name}-{run}-model", f"{params.project_name}-{run}-config"
    sm.create_model(ModelName=model, ExecutionRoleArn=role, Tags=tags,
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": data})
    sm.create_endpoint_config(EndpointConfigName=config, Tags=tags, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_model_package(ModelPackageGroupName=params.model_package_group_name, ModelApprovalStatus="Approved",
                            CustomerMetadataProperties={"run_id": run}, InferenceSpecification={
                                "Containers": [{"Image": XGB_IMAGE, "ModelDataUrl": data}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})
    write_record(s3, layout, run, {"status": "deployed", "endpoint_config": config})
    return config


def _score(rt: Any, endpoint: str) -> float:
    body = ",".join(str(v) for v in ROW[0])
    return float(rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)["Body"].read())


def test_retrain_rollback_returns_to_the_previous_run_and_rejects_the_version_it_leaves(
        cloud: Any, aws: Any, fast: Any) -> None:
    target = _target(cloud, "dp-rollback")
    params, sm, s3, rt = target.params, aws("sagemaker"), aws("s3"), aws("sagemaker-runtime")
    bucket = bucket_name(params.project_name, target.account_id, params.region)
    s3.create_bucket(Bucket=bucket)
    layout, role = Layout(bucket, params.project_name), make_role(aws)
    sm.create_model_package_group(ModelPackageGroupName=params.model_package_group_name,
                                  Tags=[{"Key": k, "Value": v} for k, v in params.tags.items()])
    ensure_alarms(aws("cloudwatch"), params)
    old = _deployed_run(sm, s3, layout, params, role, "20260101-000000-aaaa", 1.0)
    new = _deployed_run(sm, s3, layout, params, role, "20260102-000000-bbbb", -1.0)
    sm.create_endpoint(EndpointName=params.endpoint_name, EndpointConfigName=old,
                       Tags=[{"Key": k, "Value": v} for k, v in params.tags.items()])
    wait_endpoint(sm, params.endpoint_name)
    old_score = _score(rt, params.endpoint_name)
    sm.update_endpoint(EndpointName=params.endpoint_name, EndpointConfigName=new)
    wait_endpoint(sm, params.endpoint_name)
    assert _score(rt, params.endpoint_name) != old_score

    done = rollback(target, params, layout, poll=0.2)
    assert (done["from_run"], done["to_run"], done["to_config"]) == ("20260102-000000-bbbb",
                                                                       "20260101-000000-aaaa", old)
    described = sm.describe_endpoint(EndpointName=params.endpoint_name)
    assert described["EndpointConfigName"] == old and described["EndpointStatus"] == "InService"
    # the same guarded update as the workflow's: the canary policy and the project's alarms
    assert described["LastDeploymentConfig"] == deployment_config(params)
    assert _score(rt, params.endpoint_name) == old_score
    package = sm.describe_model_package(ModelPackageName=done["rejected"])
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == "rolled back to run 20260101-000000-aaaa by retrain rollback"
    with pytest.raises(CloudError, match="already serves"):
        rollback(target, params, layout, "20260101-000000-aaaa")
    # a config clean-up deleted cannot be returned to, and the error says why
    sm.delete_endpoint_config(EndpointConfigName=new)
    with pytest.raises(CloudError, match="no longer exists: clean-up keeps only the last rollback_configs_kept"):
        rollback(target, params, layout, "20260102-000000-bbbb")


def test_an_alarm_already_in_alarm_is_not_watched_by_the_rollback(cloud: Any, aws: Any) -> None:
    params = _target(cloud, "dp-firing").params
    cw = aws("cloudwatch")
    ensure_alarms(cw, params)
    firing = f"{params.endpoint_name}-5xx-errors"
    cw.set_alarm_state(AlarmName=firing, StateValue="ALARM", StateReason="the model being left errors",
                       StateReasonData=json.dumps({}))
    config, left_out = rollback_config(params, cw)
    assert left_out == [firing]
    assert config["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": f"{params.endpoint_name}-model-latency"}]}
