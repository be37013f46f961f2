"""SageMaker hosting and SageMaker Runtime: models, endpoint configs, endpoints, blue/green updates, InvokeEndpoint."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from test_sagemaker_support import (
    XGB_IMAGE,
    channel,
    churn,
    load_artifact,
    put,
    tarball,
    to_csv,
    training_request,
    unique,
    wait_endpoint,
    wait_job,
)

import xgb17

ACCOUNT = "123456789012"
ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"


@pytest.fixture(scope="module")
def trained(sm: Any, s3: Any, role: str, bucket: str) -> dict[str, Any]:
    """Two models trained on generated churn data (different hyperparameters), and rows held back to score."""
    data = churn(800, seed=11)
    put(s3, bucket, "data/train/part-0.csv", to_csv(data[:500]))
    put(s3, bucket, "data/validation/part-0.csv", to_csv(data[500:700]))
    channels = [channel("train", f"s3://{bucket}/data/train"),
                channel("validation", f"s3://{bucket}/data/validation")]
    jobs = {"a": {"max_depth": "5", "eta": "0.3", "num_round": "40", "objective": "binary:logistic"},
            "b": {"max_depth": "1", "eta": "0.05", "num_round": "3", "objective": "binary:logistic"}}
    names = {key: unique(f"job-{key}") for key in jobs}
    for key, hps in jobs.items():
        sm.create_training_job(**training_request(names[key], role, bucket, channels, hps))
    out: dict[str, Any] = {"rows": data[700:720, 1:]}
    for key, name in names.items():
        job = wait_job(sm, name)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
        raw = load_artifact(s3, artifact)[2]
        out[key] = {"artifact": artifact, "raw": raw, "expected": xgb17.predict(raw, out["rows"])}
    return out


def _expected(trained: dict[str, Any], key: str, rows: np.ndarray | None = None) -> np.ndarray:
    """xgboost 1.7.4's own scores (the container's library) for the model of ``key``."""
    if rows is None:
        return trained[key]["expected"]
    return xgb17.predict(trained[key]["raw"], rows)


def _same(got: np.ndarray, expected: np.ndarray) -> None:
    """The endpoint's scores are xgboost 1.7.4's, at most 1e-6 apart."""
    assert got.shape == expected.shape
    assert float(np.max(np.abs(got - expected))) <= 1e-6


def _model(sm: Any, role: str, artifact: str, image: str = XGB_IMAGE) -> str:
    name = unique("model")
    sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={"Image": image, "ModelDataUrl": artifact})
    return name


def _config(sm: Any, *models: str, weights: tuple[float, ...] = ()) -> str:
    name = unique("config")
    variants = [{"VariantName": "AllTraffic" if len(models) == 1 else f"V{i}", "ModelName": m,
                 "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
                 "InitialVariantWeight": weights[i] if weights else 1.0} for i, m in enumerate(models)]
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants)
    return name


def _endpoint(sm: Any, config: str) -> tuple[str, dict[str, Any]]:
    name = unique("endpoint")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    return name, wait_endpoint(sm, name)


def _scores(rt: Any, endpoint: str, rows: np.ndarray, **kwargs: Any) -> np.ndarray:
    body = rt.invoke_endpoint(EndpointName=endpoint, Body=to_csv(rows), ContentType="text/csv", **kwargs)["Body"]
    return np.array([float(score) for score in body.read().decode().split()])  # one score per line


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response


@pytest.fixture(scope="module")
def serving(sm: Any, role: str, trained: dict[str, Any]) -> str:
    """An endpoint in service with model A."""
    name, endpoint = _endpoint(sm, _config(sm, _model(sm, role, trained["a"]["artifact"])))
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
    return name


# --------------------------------------------------------------------------------------------------- round trip


def test_train_deploy_invoke_update_invoke_without_failed_requests(sm, rt, role, trained) -> None:
    config_a = _config(sm, _model(sm, role, trained["a"]["artifact"]))
    name, endpoint = _endpoint(sm, config_a)
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
    assert endpoint["EndpointArn"] == f"{ARN}:endpoint/{name.lower()}"
    assert endpoint["EndpointConfigName"] == config_a
    variant = endpoint["ProductionVariants"][0]
    assert variant["VariantName"] == "AllTraffic" and variant["CurrentInstanceCount"] == 1
    assert variant["DeployedImages"][0]["SpecifiedImage"] == XGB_IMAGE
    assert "@sha256:" in variant["DeployedImages"][0]["ResolvedImage"]

    old, new = _expected(trained, "a"), _expected(trained, "b")
    assert not np.allclose(old, new, atol=1e-3)
    _same(_scores(rt, name, trained["rows"]), old)

    answers: list[np.ndarray] = []
    failures: list[str] = []
    done = threading.Event()

    def invoke_forever() -> None:
        while not done.is_set():
            try:
                answers.append(_scores(rt, name, trained["rows"]))
            except Exception as exc:  # every failure is a test failure
                failures.append(repr(exc))

    worker = threading.Thread(target=invoke_forever, daemon=True)
    worker.start()
    time.sleep(0.2)
    config_b = _config(sm, _model(sm, role, trained["b"]["artifact"]))
    sm.update_endpoint(EndpointName=name, EndpointConfigName=config_b)
    updating = sm.describe_endpoint(EndpointName=name)
    assert updating["EndpointStatus"] in ("Updating", "InService")
    updated = wait_endpoint(sm, name)
    seen = len(answers)
    while len(answers) < seen + 5 and not failures:
        time.sleep(0.01)
    done.set()
    worker.join(10)

    assert failures == []
    assert updated["EndpointStatus"] == "InService" and updated["EndpointConfigName"] == config_b
    assert "FailureReason" not in updated and "PendingDeploymentSummary" not in updated
    assert updated["LastModifiedTime"] > endpoint["LastModifiedTime"]
    kinds = ["a" if np.allclose(a, old, rtol=1e-6) else "b" if np.allclose(a, new, rtol=1e-6) else "?"
             for a in answers]
    assert "?" not in kinds and kinds[0] == "a" and kinds[-1] == "b"
    assert kinds == sorted(kinds)  # never back to the old model once the new one answered
    _same(_scores(rt, name, trained["rows"]), new)


def test_a_failed_update_leaves_the_old_model_serving(sm, s3, rt, role, bucket, trained) -> None:
    config_a = _config(sm, _model(sm, role, trained["a"]["artifact"]))
    name, _ = _endpoint(sm, config_a)
    junk = put(s3, bucket, "junk/model.tar.gz", b"this is not a tarball")
    sm.update_endpoint(EndpointName=name, EndpointConfigName=_config(sm, _model(sm, role, junk)))
    endpoint = wait_endpoint(sm, name)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == config_a
    assert endpoint["FailureReason"].startswith(f'Failed to extract model data archive from URL "{junk}"')
    _same(_scores(rt, name, trained["rows"]), _expected(trained, "a"))

    sm.update_endpoint(EndpointName=name, EndpointConfigName=_config(sm, _model(sm, role, trained["b"]["artifact"])))
    endpoint = wait_endpoint(sm, name)
    assert endpoint["EndpointStatus"] == "InService" and "FailureReason" not in endpoint
    _same(_scores(rt, name, trained["rows"]), _expected(trained, "b"))


def test_uncompressed_model_data_is_served(sm, s3, rt, role, bucket, trained) -> None:
    put(s3, bucket, "plain/model/xgboost-model", trained["a"]["raw"])
    model = unique("plain")
    sm.create_model(ModelName=model, ExecutionRoleArn=role, PrimaryContainer={
        "Image": XGB_IMAGE, "ModelDataSource": {"S3DataSource": {
            "S3Uri": f"s3://{bucket}/plain/model/", "S3DataType": "S3Prefix", "CompressionType": "None"}}})
    name, endpoint = _endpoint(sm, _config(sm, model))
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
    _same(_scores(rt, name, trained["rows"]), _expected(trained, "a"))


def test_a_model_written_by_the_containers_xgboost_is_served_with_its_scores(cloud, sm, s3, rt, role,
                                                                               bucket) -> None:
    # the other direction: a model.tar.gz made outside localcloud by xgboost 1.7.4's save_model("xgboost-model")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 8)).round(4)
    y = (X[:, 0] - X[:, 3] + 0.3 * rng.normal(size=400) > 0).astype(float)
    raw = xgb17.train_model(X, y, {"objective": "binary:logistic", "max_depth": 4, "eta": 0.3}, 20)
    assert raw[:4] == b"binf"
    artifact = put(s3, bucket, "external/model.tar.gz", tarball({"xgboost-model": raw}))
    name, endpoint = _endpoint(sm, _config(sm, _model(sm, role, artifact)))
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
    rows = X[:50]
    _same(_scores(rt, name, rows), xgb17.predict(raw, rows))
    from retrain.deploy import model_booster  # what notebook 04's quality cells read the artifact with

    booster = model_booster(tarball({"xgboost-model": raw}))
    assert booster.num_features() == 8
    assert float(np.max(np.abs(booster.inplace_predict(rows.astype(np.float32)) - xgb17.predict(raw, rows)))) <= 1e-6


@pytest.mark.parametrize(("case", "reason"), [
    ("not-a-model", "The primary container for production variant AllTraffic did not pass the ping health check. "
                    "Please check CloudWatch logs for this endpoint."),
    ("missing", "Could not access model data at"),
    ("image", "localcloud cannot serve the image '123456789012.dkr.ecr.us-east-1.amazonaws.com/my-server:1'"),
])
def test_an_endpoint_whose_model_cannot_load_fails(sm, s3, rt, role, bucket, trained, case, reason) -> None:
    artifact = {"not-a-model": put(s3, bucket, f"bad/{case}/model.tar.gz", tarball({"xgboost-model": b"hello"})),
                "missing": f"s3://{bucket}/bad/nothing/model.tar.gz",
                "image": trained["a"]["artifact"]}[case]
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-server:1" if case == "image" else XGB_IMAGE
    name, endpoint = _endpoint(sm, _config(sm, _model(sm, role, artifact, image)))
    assert endpoint["EndpointStatus"] == "Failed"
    assert reason in endpoint["FailureReason"]
    error = _error(rt.invoke_endpoint, EndpointName=name, Body=b"1,2", ContentType="text/csv")
    assert error["Error"]["Code"] == "ValidationError" and "is not in service (status: Failed)" in \
        error["Error"]["Message"]
    error = _error(sm.update_endpoint, EndpointName=name, EndpointConfigName=endpoint["EndpointConfigName"])
    assert error["Error"]["Message"].startswith(f'Cannot update failed endpoint "{ARN}:endpoint/{name.lower()}"')
    sm.delete_endpoint(EndpointName=name)


# --------------------------------------------------------------------------------------------------- control plane


def test_control_plane_errors_match_aws(sm, role, trained) -> None:
    ghost = unique("ghost")
    cases = [
        (sm.describe_endpoint, {"EndpointName": ghost}, f'Could not find endpoint "{ARN}:endpoint/{ghost}".'),
        (sm.delete_endpoint, {"EndpointName": ghost}, f'Could not find endpoint "{ARN}:endpoint/{ghost}".'),
        (sm.update_endpoint, {"EndpointName": ghost, "EndpointConfigName": ghost},
         f'Could not find endpoint "{ARN}:endpoint/{ghost}".'),
        (sm.describe_model, {"ModelName": ghost}, f'Could not find model "{ARN}:model/{ghost}".'),
        (sm.delete_model, {"ModelName": ghost}, f'Could not find model "{ARN}:model/{ghost}".'),
        (sm.describe_endpoint_config, {"EndpointConfigName": ghost},
         f'Could not find endpoint configuration "{ARN}:endpoint-config/{ghost}".'),
        (sm.create_endpoint, {"EndpointName": unique("e"), "EndpointConfigName": ghost},
         f'Could not find endpoint configuration "{ARN}:endpoint-config/{ghost}".'),
        (sm.create_endpoint_config, {"EndpointConfigName": unique("c"), "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": ghost, "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}]}, f'Could not find model "{ARN}:model/{ghost}".'),
    ]
    for call, kwargs, message in cases:
        error = _error(call, **kwargs)
        assert (error["Error"]["Code"], error["Error"]["Message"]) == ("ValidationException", message)

    model = _model(sm, role, trained["a"]["artifact"])
    error = _error(sm.create_model, ModelName=model, ExecutionRoleArn=role, PrimaryContainer={"Image": XGB_IMAGE})
    assert error["Error"]["Message"] == f'Cannot create already existing model "{ARN}:model/{model.lower()}".'
    config = _config(sm, model)
    error = _error(sm.create_endpoint_config, EndpointConfigName=config, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    assert error["Error"]["Message"] == (f'Cannot create already existing endpoint configuration '
                                         f'"{ARN}:endpoint-config/{config.lower()}".')
    name, _ = _endpoint(sm, config)
    error = _error(sm.create_endpoint, EndpointName=name, EndpointConfigName=config)
    assert error["Error"]["Message"] == f'Cannot create already existing endpoint "{ARN}:endpoint/{name.lower()}".'
    error = _error(sm.create_model, ModelName=unique("m"), ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/nobody",
                   PrimaryContainer={"Image": XGB_IMAGE})
    assert error["Error"]["Message"].startswith(f"Could not assume role arn:aws:iam::{ACCOUNT}:role/nobody.")

    described = sm.describe_model(ModelName=model)
    assert described["ModelArn"] == f"{ARN}:model/{model.lower()}"
    assert described["PrimaryContainer"]["ModelDataUrl"] == trained["a"]["artifact"]
    assert sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]["ModelName"] == model


def test_deleting_an_endpoint_stops_serving(sm, rt, role, trained) -> None:
    model = _model(sm, role, trained["a"]["artifact"])
    config = _config(sm, model)
    name, _ = _endpoint(sm, config)
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    error = _error(rt.invoke_endpoint, EndpointName=name, Body=b"1", ContentType="text/csv")
    assert error["Error"] == {"Code": "ValidationError", "Message": f"Endpoint {name} of account {ACCOUNT} not found."}
    sm.delete_endpoint_config(EndpointConfigName=config)
    sm.delete_model(ModelName=model)
    assert _error(sm.describe_model, ModelName=model)["Error"]["Code"] == "ValidationException"


def test_list_models_configs_and_endpoints(sm, role, trained, s3, bucket) -> None:
    tag = unique("lst")
    models = [f"{tag}-m{i}" for i in range(3)]
    for model in models:
        sm.create_model(ModelName=model, ExecutionRoleArn=role,
                        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": trained["a"]["artifact"]})
        time.sleep(0.01)
    listed = sm.list_models(NameContains=tag)["Models"]
    assert [m["ModelName"] for m in listed] == models[::-1]  # default: newest first
    page = sm.list_models(NameContains=tag, SortBy="Name", SortOrder="Ascending", MaxResults=2)
    assert [m["ModelName"] for m in page["Models"]] == models[:2]
    rest = sm.list_models(NameContains=tag, SortBy="Name", SortOrder="Ascending", NextToken=page["NextToken"])
    assert [m["ModelName"] for m in rest["Models"]] == models[2:]

    configs = []
    for model in models[:2]:
        configs.append(f"{model}-cfg")
        sm.create_endpoint_config(EndpointConfigName=configs[-1], ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}])
    assert {c["EndpointConfigName"] for c in sm.list_endpoint_configs(NameContains=tag)["EndpointConfigs"]} == \
        set(configs)

    good = f"{tag}-good"
    sm.create_endpoint(EndpointName=good, EndpointConfigName=configs[0])
    junk = put(s3, bucket, f"{tag}/model.tar.gz", b"junk")
    sm.create_model(ModelName=f"{tag}-junk", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": junk})
    sm.create_endpoint_config(EndpointConfigName=f"{tag}-junk", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": f"{tag}-junk", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    bad = f"{tag}-bad"
    sm.create_endpoint(EndpointName=bad, EndpointConfigName=f"{tag}-junk")
    wait_endpoint(sm, good)
    wait_endpoint(sm, bad)
    endpoints = sm.list_endpoints(NameContains=tag, SortBy="Name", SortOrder="Ascending")["Endpoints"]
    assert [(e["EndpointName"], e["EndpointStatus"]) for e in endpoints] == [(bad, "Failed"), (good, "InService")]
    in_service = sm.list_endpoints(NameContains=tag, StatusEquals="InService")["Endpoints"]
    assert [e["EndpointName"] for e in in_service] == [good]


# --------------------------------------------------------------------------------------------------- runtime


def test_invoke_formats(rt, serving, trained) -> None:
    rows = trained["rows"]
    expected = _expected(trained, "a")
    response = rt.invoke_endpoint(EndpointName=serving, Body=to_csv(rows[:3]) + "\n\n", ContentType="text/csv")
    assert response["ContentType"] == "text/csv; charset=utf-8" and response["InvokedProductionVariant"] == "AllTraffic"
    # the container answers text/csv through csv.writer: one score per line, each a float64 repr of the float32 score
    assert response["Body"].read().decode() == "".join(f"{float(v)!r}\n" for v in expected[:3])

    response = rt.invoke_endpoint(EndpointName=serving, Body=to_csv(rows[:2]), ContentType="text/csv; charset=utf-8",
                                  Accept="application/json")
    assert response["ContentType"] == "application/json"
    assert json.loads(response["Body"].read()) == {"predictions": [{"score": float(v)} for v in expected[:2]]}

    # fewer columns than the model has features: xgboost treats the rest as missing (the container does not check)
    short = rt.invoke_endpoint(EndpointName=serving, Body="1,2,3", ContentType="text/csv")["Body"].read().decode()
    assert len(short.split()) == 1


@pytest.mark.parametrize(("body", "content_type", "accept", "status", "message"), [
    ("LABEL", "text/csv", None, 400, "Unable to evaluate payload provided: "),
    ("BAD", "text/csv", None, 415, "Loading csv data failed with Exception, please ensure data is in csv format:\n "
                                   "<class 'ValueError'>\n could not convert string to float: 'abc'"),
    ("QUOTED", "text/csv", None, 415, "could not convert string to float: '\"1"),
    ("ROWS", "application/json", None, 415,
     "application/json is not an accepted ContentType: csv, libsvm, parquet, recordio-protobuf, text/csv, "
     "text/libsvm, text/x-libsvm, application/x-parquet, application/x-recordio-protobuf."),
    ("ROWS", "text/libsvm", None, 415, "Loading libsvm data failed with Exception, please ensure data is in libsvm"),
    ("ROWS", "text/csv", "application/xml", 406,
     "Accept type application/xml is not supported. Please use supported accept types: ['application/json', "
     "'application/jsonlines', 'application/x-recordio-protobuf', 'text/csv']."),
    # sagemaker-containers' encoders know csv and json only: the container answers a bare 500 for these
    ("ROWS", "text/csv", "application/jsonlines", 500, "Internal Server Error"),
])
def test_bad_payloads_are_model_errors(rt, serving, trained, body, content_type, accept, status, message) -> None:
    rows = trained["rows"]
    text = {"LABEL": to_csv(np.column_stack([np.zeros(2), rows[:2]])),
            "BAD": to_csv(rows[:1]) + ",".join(["1", "2", "abc"] + ["0"] * (rows.shape[1] - 3)),
            "QUOTED": '"' + to_csv(rows[:1]).strip() + '"',
            "ROWS": to_csv(rows[:2])}.get(body, body)
    kwargs = {"Accept": accept} if accept else {}
    with pytest.raises(rt.exceptions.ModelError) as err:
        rt.invoke_endpoint(EndpointName=serving, Body=text, ContentType=content_type, **kwargs)
    response = err.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == status
    assert message in response["OriginalMessage"]
    kind = "client" if status < 500 else "server"
    assert response["Error"]["Message"].startswith(f"Received {kind} error ({status}) from primary with message")
    assert response["LogStreamArn"].startswith(
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{serving}")


def test_variants_are_routed_by_weight_or_target(sm, rt, role, trained) -> None:
    config = _config(sm, _model(sm, role, trained["a"]["artifact"]), _model(sm, role, trained["b"]["artifact"]))
    name, endpoint = _endpoint(sm, config)
    assert [v["VariantName"] for v in endpoint["ProductionVariants"]] == ["V0", "V1"]
    rows = trained["rows"][:4]
    response = rt.invoke_endpoint(EndpointName=name, Body=to_csv(rows), ContentType="text/csv", TargetVariant="V1")
    assert response["InvokedProductionVariant"] == "V1"
    _same(np.array([float(x) for x in response["Body"].read().decode().split()]), _expected(trained, "b", rows))
    seen = {rt.invoke_endpoint(EndpointName=name, Body=to_csv(rows[:1]), ContentType="text/csv")[
        "InvokedProductionVariant"] for _ in range(40)}
    assert seen == {"V0", "V1"}
    error = _error(rt.invoke_endpoint, EndpointName=name, Body=to_csv(rows), ContentType="text/csv",
                   TargetVariant="V9")
    assert error["Error"]["Code"] == "ValidationError" and "V9" in error["Error"]["Message"]


@pytest.mark.slow
def test_sagemaker_sdk_predictor_reads_the_scores(aws, sm, rt, serving, trained) -> None:
    import boto3
    import sagemaker
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.serializers import CSVSerializer

    session = sagemaker.Session(boto_session=boto3.Session(region_name="us-east-1"), sagemaker_client=sm,
                                sagemaker_runtime_client=rt, default_bucket="unused-bucket")
    predictor = sagemaker.predictor.Predictor(serving, sagemaker_session=session, serializer=CSVSerializer(),
                                              deserializer=CSVDeserializer())
    rows = trained["rows"][:3]
    scores = [float(row[0]) for row in predictor.predict(rows)]  # one score per line: one row each
    _same(np.array(scores), _expected(trained, "a", rows))


def test_raw_runtime_requests_get_aws_errors(cloud) -> None:
    auth = ("AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sagemaker/aws4_request, SignedHeaders=host, "
            "Signature=0")
    for method, path, status, code in [("POST", "/endpoints/no-such-endpoint/invocations", 400, "ValidationError"),
                                       ("POST", "/endpoints/x/async-invocations", 404, "UnknownOperationException")]:
        request = urllib.request.Request(cloud.endpoint_url + path, data=b"1,2", method=method,
                                         headers={"Authorization": auth, "Content-Type": "text/csv"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request)
        assert err.value.code == status
        assert err.value.headers["x-amzn-ErrorType"] == code
        assert json.loads(err.value.read())["__type"] == code
