"""Resources (bucket, hold-back split, code uploads, Glue job, Lambda function, estimator) and the endpoint
helpers (feature encoding of held-back rows, CSV payloads, scores, model importance); AWS calls on moto."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from retrain.config import load_params
from retrain.deploy import (
    SmokeTest,
    feature_importance,
    features_matrix,
    model_booster,
    parse_scores,
    to_csv_payload,
)
from retrain.errors import CloudError, ParamsError
from retrain.holdout import split_holdout
from retrain.ownership import OwnershipError
from retrain.resources import (
    LAMBDA_HANDLER,
    Layout,
    bucket_name,
    ensure_bucket,
    ensure_glue_job,
    ensure_lambda_function,
    glue_job_spec,
    lambda_zip,
    make_estimator,
    training_image,
    upload_bytes,
)

ACCOUNT = "123456789012"
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "customer-churn.csv"
NUMERIC = ["Account Length", "VMail Message", "Day Mins", "Day Calls", "Eve Mins", "Eve Calls", "Night Mins",
           "Night Calls", "Intl Mins", "Intl Calls", "CustServ Calls"]
STATES = sorted(["AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN",
                 "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ",
                 "NM", "NV", "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA",
                 "WI", "WV", "WY"])
FEATURES = [*NUMERIC, *(f"State_{s}" for s in STATES), "Area Code_408", "Area Code_415", "Area Code_510",
            "Int'l Plan_no", "Int'l Plan_yes", "VMail Plan_no", "VMail Plan_yes"]


def test_bucket_name_rule() -> None:
    assert bucket_name("retrain-churn", "123456789012", "eu-west-1") == "retrain-churn-123456789012-eu-west-1"
    with pytest.raises(ParamsError, match="shorten project_name"):
        bucket_name("x" * 50, "123456789012", "eu-west-1")


def test_holdout_is_seeded_disjoint_and_byte_exact() -> None:
    a = split_holdout(DATA, "raw", 200, seed=42)
    b = split_holdout(DATA, "raw", 200, seed=42)
    c = split_holdout(DATA, "raw", 200, seed=7)
    lines = DATA.read_text().splitlines()
    assert a.header == lines[0]
    assert len(a.holdout_lines) == 200 and len(a.training_lines) == len(lines) - 1 - 200
    assert a.holdout_lines == b.holdout_lines and a.holdout_lines != c.holdout_lines
    assert sorted(a.holdout_lines + a.training_lines) == sorted(lines[1:])
    assert a.training_bytes().decode().splitlines()[0] == lines[0]
    with pytest.raises(ParamsError, match="leaves no rows"):
        split_holdout(DATA, "raw", 5000, seed=1)


def _split_in_memory(path: Path, input_format: str, rows: int, seed: int) -> tuple[str | None, list[str], bytes]:
    """The hold-back as first written, the whole file as a list of lines: what the piece-wise split must equal."""
    from retrain.holdout import row_rank

    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    header = None
    if input_format == "raw":
        header, lines = lines[0], lines[1:]
    chosen = set(sorted(range(len(lines)), key=lambda i: (row_rank(lines[i], seed), i))[:rows])
    training = [line for i, line in enumerate(lines) if i not in chosen]
    holdout = [line for i, line in enumerate(lines) if i in chosen]
    return header, holdout, ("\n".join(([header] if header is not None else []) + training) + "\n").encode()


@pytest.mark.parametrize("piece_bytes", [7, 64, 1 << 20])
def test_the_piecewise_holdout_equals_the_whole_file_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          piece_bytes: int) -> None:
    """Read a piece at a time (so five million rows need not sit in memory as lines), the split is byte for byte
    the one of the whole file: CRLF and CR line ends, blank and white-space lines, a Unicode line separator, a
    missing last newline and pieces smaller than a line."""
    import retrain.holdout

    monkeypatch.setattr(retrain.holdout, "PIECE_BYTES", piece_bytes)
    rows = [f"{i % 2},{i},{i * 3}.5,é{i}" for i in range(60)]
    text = ("h1,h2,h3,h4\r\n" + "\r\n".join(rows[:20]) + "\n\n   \n" + "\r".join(rows[20:30]) + "\n"
            + "\u2028".join(rows[30:35]) + "\n" + "\n".join(rows[35:]))
    data = tmp_path / "odd.csv"
    data.write_bytes(text.encode())
    for fmt, held in (("raw", 9), ("prepared", 0), ("prepared", 12)):
        split = split_holdout(data, fmt, held, seed=3)
        header, holdout, training = _split_in_memory(data, fmt, held, seed=3)
        assert (split.header, split.holdout_lines, split.training_bytes()) == (header, holdout, training)
        assert split.training_rows == len(split.training_lines) == training.decode().count("\n") - (fmt == "raw")
    big = split_holdout(DATA, "raw", 200, seed=42)
    assert (big.header, big.holdout_lines, big.training_bytes()) == _split_in_memory(DATA, "raw", 200, 42)


def test_a_held_back_row_stays_held_back_when_the_data_grows(tmp_path: Path) -> None:
    """Rows neither model trained on: the choice depends on each row alone, so a grown file can only push
    rows out of the hold-back, never pull a row the production model trained on into it."""
    lines = DATA.read_text().splitlines()
    grown = tmp_path / "grown.csv"
    extra = [line.replace(",", ",1", 1) for line in lines[1:400]]  # 399 new rows (a changed account length)
    grown.write_text("\n".join([lines[0], *extra[:200], *lines[1:], *extra[200:]]) + "\n")
    before, after = split_holdout(DATA, "raw", 200, seed=42), split_holdout(grown, "raw", 200, seed=42)
    old_rows = set(lines[1:])
    assert {r for r in after.holdout_lines if r in old_rows} <= set(before.holdout_lines)
    assert len(set(after.holdout_lines) & set(before.holdout_lines)) > 150


def test_holdout_of_prepared_data_has_no_header(tmp_path: Path) -> None:
    prepared = tmp_path / "p.csv"
    prepared.write_text("".join(f"{i % 2},{i},{i * 2}\n" for i in range(20)))
    split = split_holdout(prepared, "prepared", 5, seed=1)
    assert split.header is None and len(split.holdout_lines) == 5
    X, y = features_matrix(split.holdout_bytes(), {"features": ["a", "b"], "input_format": "prepared"})
    assert X.shape == (5, 2) and set(y) <= {0, 1}


def test_lambda_zip_is_deterministic_and_holds_the_handler() -> None:
    source = ROOT / "code" / "model_gate.py"
    first, second = lambda_zip(source), lambda_zip(source)
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as z:
        assert z.namelist() == ["model_gate.py", "step_cache.py"]  # the handler and the step cache it imports
        assert z.read("model_gate.py") == source.read_bytes()
        assert z.read("step_cache.py") == (ROOT / "code" / "step_cache.py").read_bytes()
    assert LAMBDA_HANDLER == "model_gate.lambda_handler"


@mock_aws
def test_bucket_and_lambda_are_create_or_update() -> None:
    params = load_params(ROOT / "params" / "local.yaml")
    s3 = boto3.client("s3", region_name="us-east-1")
    assert ensure_bucket(s3, "b-123", "us-east-1") is True
    assert ensure_bucket(s3, "b-123", "us-east-1") is False
    s3w = boto3.client("s3", region_name="eu-west-1")
    assert ensure_bucket(s3w, "b-eu", "eu-west-1") is True
    assert s3w.get_bucket_location(Bucket="b-eu")["LocationConstraint"] == "eu-west-1"
    layout = Layout("b-123", params.project_name)
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="l", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    upload_bytes(s3, lambda_zip(ROOT / "code" / "model_gate.py"), "b-123", layout.lambda_key)
    lam = boto3.client("lambda", region_name="us-east-1")
    assert ensure_lambda_function(lam, params.lambda_function_name, role, "b-123", layout.lambda_key) == "created"
    conf = lam.get_function_configuration(FunctionName=params.lambda_function_name)
    assert conf["Runtime"] == "python3.12" and conf["Handler"] == LAMBDA_HANDLER
    assert ensure_lambda_function(lam, params.lambda_function_name, role, "b-123", layout.lambda_key) == "updated"


def test_glue_job_is_create_or_update(aws: Any) -> None:
    """On the local cloud (moto has no UpdateJob)."""
    params = load_params(ROOT / "params" / "local.yaml", ["project_name=res-test"])
    s3 = aws("s3")
    ensure_bucket(s3, "res-test-bucket", "us-east-1")
    script = upload_bytes(s3, b"print('etl')", "res-test-bucket", Layout("res-test-bucket", "res-test").script_key)
    glue = aws("glue")
    spec = glue_job_spec(params, "arn:aws:iam::123456789012:role/g", script, ["s3://b/m1.py", "s3://b/m2.py"])
    assert spec["GlueVersion"] == "5.0" and spec["WorkerType"] == "G.1X" and spec["NumberOfWorkers"] == 2
    assert spec["DefaultArguments"]["--extra-py-files"] == "s3://b/m1.py,s3://b/m2.py"
    assert spec["Command"] == {"Name": "glueetl", "ScriptLocation": script, "PythonVersion": "3"}
    assert spec["JobRunQueuingEnabled"] is True and spec["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert ensure_glue_job(glue, params.glue_job_name, spec, tags=params.tags, account=ACCOUNT) == "created"
    arn = f"arn:aws:glue:us-east-1:{ACCOUNT}:job/{params.glue_job_name}"
    assert glue.get_tags(ResourceArn=arn)["Tags"] == {"retrain:project": "res-test"}
    spec["NumberOfWorkers"] = 3
    assert ensure_glue_job(glue, params.glue_job_name, spec, tags=params.tags, account=ACCOUNT) == "updated"
    assert glue.get_job(JobName=params.glue_job_name)["Job"]["NumberOfWorkers"] == 3
    glue.delete_job(JobName=params.glue_job_name)


def test_a_same_named_job_or_function_without_the_projects_tag_is_refused(aws: Any) -> None:
    params = load_params(ROOT / "params" / "local.yaml", ["project_name=someone"])
    s3, glue = aws("s3"), aws("glue")
    ensure_bucket(s3, "someone-bucket", "us-east-1")
    script = upload_bytes(s3, b"print('etl')", "someone-bucket", "someone/code/glue_etl.py")
    spec = glue_job_spec(params, "arn:aws:iam::123456789012:role/g", script, [])
    glue.create_job(Name=params.glue_job_name, **spec)  # made by hand: no tag
    with pytest.raises(OwnershipError) as err:
        ensure_glue_job(glue, params.glue_job_name, spec, tags=params.tags, account=ACCOUNT)
    assert f"glue job {params.glue_job_name} already exists but is not this project's" in str(err.value)
    assert "Change project_name" in str(err.value)
    assert glue.get_job(JobName=params.glue_job_name)["Job"]["NumberOfWorkers"] == 2  # untouched
    glue.delete_job(JobName=params.glue_job_name)


def test_lambda_creation_waits_out_iam_propagation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new role is not usable by Lambda at once on AWS: CreateFunction is retried until it is."""
    import time

    from localcloud import LocalCloud

    monkeypatch.setenv("LOCALCLOUD_IAM_PROPAGATION_SECONDS", "2")
    with LocalCloud(port=0, home=tmp_path) as cloud:
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        s3, iam, lam = (session.client(n, endpoint_url=cloud.endpoint_url) for n in ("s3", "iam", "lambda"))
        ensure_bucket(s3, "prop-bucket", "us-east-1")
        upload_bytes(s3, lambda_zip(ROOT / "code" / "model_gate.py"), "prop-bucket", "fn.zip")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]})
        role = iam.create_role(RoleName="fresh-role", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        with pytest.raises(ClientError) as err:  # what AWS answers while IAM propagates the role
            lam.create_function(FunctionName="direct", Role=role, Runtime="python3.12", Handler="a.b",
                                Code={"S3Bucket": "prop-bucket", "S3Key": "fn.zip"})
        assert err.value.response["Error"] == {
            "Code": "InvalidParameterValueException",
            "Message": "The role defined for the function cannot be assumed by Lambda."}
        started = time.monotonic()
        assert ensure_lambda_function(lam, "prop-fn", role, "prop-bucket", "fn.zip", tags={"retrain:project": "p"},
                                      role_wait_seconds=30) == "created"
        assert 0.5 < time.monotonic() - started < 20
        arn = lam.get_function(FunctionName="prop-fn")["Configuration"]["FunctionArn"]
        assert lam.list_tags(Resource=arn)["Tags"] == {"retrain:project": "p"}
        with pytest.raises(OwnershipError):
            ensure_lambda_function(lam, "prop-fn", role, "prop-bucket", "fn.zip", tags={"retrain:project": "q"})


def test_estimator_uses_the_xgboost_image_and_params() -> None:
    import sagemaker

    params = load_params(ROOT / "params" / "local.yaml", ["hyperparameters.max_depth=3"])
    session = sagemaker.Session(boto_session=boto3.Session(region_name="us-east-1"), default_bucket="b")
    est = make_estimator(params, session, "arn:aws:iam::123456789012:role/s", "s3://b/p/output")
    assert est.training_image_uri() == training_image("us-east-1")
    assert est.training_image_uri().endswith("/sagemaker-xgboost:1.7-1")
    assert est.output_path == "s3://b/p/output"
    assert est.hyperparameters()["max_depth"] == 3 and est.hyperparameters()["eval_metric"] == "error"
    assert est.max_run == params.execution_timeout_seconds  # the job cannot outlive the execution


def test_training_image_is_what_the_sagemaker_sdk_answers_in_every_region() -> None:
    """The image URI is read from the SDK's own table without importing the SDK; the SDK's answer is the truth."""
    import importlib.util

    from sagemaker import image_uris

    spec = importlib.util.find_spec("sagemaker")
    table = json.loads((Path(spec.submodule_search_locations[0]) / "image_uri_config" / "xgboost.json").read_text())
    regions = sorted(table["training"]["versions"]["1.7-1"]["registries"])
    assert len(regions) > 20 and "cn-north-1" in regions  # China's ECR host ends .amazonaws.com.cn
    for region in regions:
        assert training_image(region) == image_uris.retrieve("xgboost", region, "1.7-1"), region
    with pytest.raises(ParamsError, match="not offered in region 'xx-nowhere-1'"):
        training_image("xx-nowhere-1")


def test_a_notebook_needing_only_clients_and_the_image_does_not_import_the_sagemaker_sdk() -> None:
    """Notebooks 01 and 05 make boto3 clients and read the image URI: ``import sagemaker`` (1.4 s of CPU in their
    kernels) is left to the notebooks that build estimators and workflows."""
    import subprocess
    import sys

    code = ("import sys; import retrain.session, retrain.resources, retrain.iam, retrain.cleanup; "
            "from retrain.resources import training_image; training_image('us-east-1'); "
            "print(sorted(m for m in ('sagemaker', 'stepfunctions') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_raw_rows_are_encoded_like_the_etl_job() -> None:
    split = split_holdout(DATA, "raw", 30, seed=1)
    manifest = {"label": "Churn?", "task": "binary", "features": FEATURES, "numeric": NUMERIC,
                "categorical": {"State": list(STATES), "Area Code": ["408", "415", "510"], "Int'l Plan": ["no", "yes"],
                                "VMail Plan": ["no", "yes"]},
                "label_values": {"True.": 1, "True": 1, "False.": 0, "False": 0}, "input_format": "raw"}
    X, y = features_matrix(split.holdout_bytes(), manifest)
    assert X.shape == (30, len(FEATURES)) and set(np.unique(y)) <= {0, 1}
    first = split.holdout_lines[0].split(",")
    header = split.header.split(",")
    row = dict(zip(header, first, strict=True))
    assert X[0, FEATURES.index("Day Mins")] == float(row["Day Mins"])
    assert X[0, FEATURES.index(f"State_{row['State']}")] == 1.0
    assert X[0, FEATURES.index(f"Area Code_{row['Area Code']}")] == 1.0
    state_cols = [i for i, f in enumerate(FEATURES) if f.startswith("State_")]
    assert X[:, state_cols].sum(axis=1).tolist() == [1.0] * 30  # exactly one state per row
    assert y[0] == (1 if row["Churn?"].startswith("True") else 0)
    with pytest.raises(CloudError, match="matches no column"):
        features_matrix(split.holdout_bytes(), {**manifest, "features": ["Nope_1"]})


def test_payload_and_scores_round_trip() -> None:
    rows = np.array([[1.0, 2.5, 0.0], [3.0, 0.125, 1e-7]])
    assert to_csv_payload(rows) == "1,2.5,0\n3,0.125,1e-07"
    assert parse_scores(b"0.1\n0.9\n").tolist() == [0.1, 0.9]
    assert parse_scores("0.1,0.9").tolist() == [0.1, 0.9]
    smoke = SmokeTest("ep", np.array([0, 1, 1]), np.array([0.2, 0.7, 0.4]))
    assert smoke.to_summary() == {"rows": 3, "accuracy": pytest.approx(0.6667, abs=1e-4)}


def test_feature_importance_from_a_model_artifact() -> None:
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = rng.random((200, 3))
    y = (X[:, 1] > 0.5).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(X, label=y), 5)
    raw = booster.save_raw(raw_format="ubj")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(bytes(raw)))
    loaded = model_booster(buffer.getvalue())
    importance = feature_importance(loaded, ["a", "b", "c"])
    assert next(iter(importance)) == "b"  # the only informative feature ranks first
    assert np.allclose(loaded.predict(xgb.DMatrix(X)), booster.predict(xgb.DMatrix(X)))
