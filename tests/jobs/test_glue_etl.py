"""code/glue_etl.py under local PySpark with the awsglue shim: both input formats, the manifest, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from retrain.data import COLUMNS, STATES, generate, write_csv

NUMERIC = [
    "Account Length", "VMail Message", "Day Mins", "Day Calls", "Eve Mins", "Eve Calls",
    "Night Mins", "Night Calls", "Intl Mins", "Intl Calls", "CustServ Calls",
]  # fmt: skip
ONE_HOT = {
    "State": sorted(STATES),
    "Area Code": ["408", "415", "510"],
    "Int'l Plan": ["no", "yes"],
    "VMail Plan": ["no", "yes"],
}
FEATURES = NUMERIC + [f"{col}_{value}" for col, values in ONE_HOT.items() for value in values]


def job_args(source: Path, dest: Path, *extra: str) -> list[str]:
    return [
        "--JOB_NAME", "churn-etl", "--S3_SOURCE", str(source), "--S3_DEST", f"{dest}/",
        "--TRAIN_KEY", "train/", "--VAL_KEY", "validation/", *extra,
    ]  # fmt: skip


def output_lines(folder: Path) -> list[str]:
    parts = sorted(folder.glob("part-*"))
    assert len(parts) == 1, f"expected one part file (coalesce(1)) in {folder}, found {parts}"
    return parts[0].read_text().splitlines()


def encode(raw: pd.DataFrame) -> list[str]:
    """The expected prepared rows, computed independently with pandas: label, numeric as written, one-hots."""
    text = raw.astype(str)
    label = text["Churn?"].str.rstrip(".").map({"True": "1", "False": "0"})
    parts = [label, *[text[c] for c in NUMERIC]]
    for col, values in ONE_HOT.items():
        parts += [(text[col] == v).astype(int).astype(str) for v in values]
    return pd.concat(parts, axis=1).apply(",".join, axis=1).tolist()


def raw_file(tmp_path: Path, df: pd.DataFrame, name: str = "raw.csv") -> Path:
    return write_csv(df, tmp_path / "in" / name)


@pytest.mark.slow
def test_raw_input_is_encoded_split_and_described(tmp_path: Path, run_etl: Callable[..., None]) -> None:
    df = generate(300, 11)
    df.loc[:4, "Churn?"] = df.loc[:4, "Churn?"].str.rstrip(".")  # "True"/"False" are accepted too
    source = raw_file(tmp_path, df)
    run_etl(*job_args(source, tmp_path / "out"))

    train = output_lines(tmp_path / "out" / "train")
    validation = output_lines(tmp_path / "out" / "validation")
    manifest = json.loads((tmp_path / "out" / "features.json").read_text())
    assert manifest == {
        "label": "Churn?", "task": "binary", "features": FEATURES, "numeric": NUMERIC, "categorical": ONE_HOT,
        "label_values": {"True.": 1, "True": 1, "False.": 0, "False": 0}, "input_format": "raw",
        "train_rows": len(train), "validation_rows": len(validation),
    }  # fmt: skip
    report = json.loads((tmp_path / "out" / "data_report.json").read_text())
    assert report["passed"] is True and report["rows"] == 300 and report["baseline"] is None
    profile = json.loads((tmp_path / "out" / "profile.json").read_text())
    assert profile["rows"] == 300 and set(profile["numeric"]) == set(NUMERIC) and set(profile["categorical"]) == set(ONE_HOT)
    assert sum(profile["numeric"]["Day Mins"]["shares"]) == pytest.approx(1.0)
    assert len(FEATURES) == 69
    rows = [line.split(",") for line in train + validation]
    assert all(len(r) == len(FEATURES) + 1 for r in rows)
    assert all(r[0] in ("0", "1") for r in rows)  # label first, no header line
    assert sorted(train + validation) == sorted(encode(df))
    assert 0.62 <= len(train) / 300 <= 0.78


@pytest.mark.slow
def test_feature_columns_do_not_depend_on_the_values_present(
    tmp_path: Path, run_etl: Callable[..., None]
) -> None:
    df = generate(300, 3)
    few = df[df["State"].isin(["CA", "NY"]) & (df["Area Code"] == 415)].head(12)
    assert 0 < len(few) < 20
    run_etl(*job_args(raw_file(tmp_path, few), tmp_path / "out"))

    manifest = json.loads((tmp_path / "out" / "features.json").read_text())
    assert manifest["features"] == FEATURES
    lines = output_lines(tmp_path / "out" / "train") + output_lines(tmp_path / "out" / "validation")
    assert sorted(lines) == sorted(encode(few))
    assert manifest["train_rows"] + manifest["validation_rows"] == len(few)


@pytest.mark.slow
def test_prepared_input_is_only_split(tmp_path: Path, run_etl: Callable[..., None]) -> None:
    rows = encode(generate(200, 5))
    source = tmp_path / "in" / "prepared.csv"
    source.parent.mkdir()
    source.write_text("\n".join(rows) + "\n")
    for dest in ("out", "again"):
        run_etl(
            *job_args(
                source, tmp_path / dest, "--INPUT_FORMAT", "prepared", "--TRAIN_FRACTION=0.5", "--SEED", "7"
            )
        )

    train = output_lines(tmp_path / "out" / "train")
    validation = output_lines(tmp_path / "out" / "validation")
    assert sorted(train + validation) == sorted(rows)
    assert 0.38 <= len(train) / len(rows) <= 0.62
    manifest = json.loads((tmp_path / "out" / "features.json").read_text())
    assert manifest["features"] == FEATURES and manifest["input_format"] == "prepared"
    assert (manifest["train_rows"], manifest["validation_rows"]) == (len(train), len(validation))
    assert output_lines(tmp_path / "again" / "train") == train  # same seed, same split


@pytest.mark.slow
def test_prepared_input_of_another_width_gets_generic_feature_names(
    tmp_path: Path, run_etl: Callable[..., None]
) -> None:
    source = tmp_path / "prepared.csv"
    source.write_text("".join(f"{i % 2}.0,{i}.5,{i * 2},-{i}\n" for i in range(40)))
    run_etl(*job_args(source, tmp_path / "out", "--INPUT_FORMAT", "prepared"))

    manifest = json.loads((tmp_path / "out" / "features.json").read_text())
    assert manifest["features"] == ["feature_1", "feature_2", "feature_3"]
    lines = output_lines(tmp_path / "out" / "train") + output_lines(tmp_path / "out" / "validation")
    assert sorted(lines) == sorted(f"{i % 2},{i}.5,{i * 2},-{i}" for i in range(40))


def _raw_text(df: pd.DataFrame) -> list[str]:
    import io

    buffer = io.StringIO()
    df.to_csv(buffer, index=False)
    return buffer.getvalue().splitlines()


def _set(df: pd.DataFrame, rows: list[int], column: str, value: str) -> pd.DataFrame:
    df = df.astype({column: object})
    df.loc[rows, column] = value
    return df


SAMPLE = generate(60, 21)
PREPARED = encode(SAMPLE)
HEADER = ",".join(COLUMNS)

#: the shape of the input is wrong: InputDataError before any check, nothing written
SHAPE = "InputDataError"
#: a data check failed: DataCheckFailed, data_report.json written (and nothing else)
CHECK = "DataCheckFailed"

BAD_INPUTS: dict[str, tuple[str, list[str], list[str], str]] = {
    # name: (input format, file lines, substrings the error message must hold, the error)
    "missing column": ("raw", _raw_text(SAMPLE.drop(columns="Day Mins")), ["'Day Mins'", "lacks"], SHAPE),
    "unknown label": (
        "raw",
        _raw_text(_set(SAMPLE, [3, 8, 9], "Churn?", "Maybe")),
        ["column 'Churn?' has 3 rows with an unknown label value", "'Maybe' (3 rows)"],
        CHECK,
    ),
    "empty file": ("raw", [], ["is empty"], SHAPE),
    "header only": ("raw", [HEADER], ["no data rows"], SHAPE),
    "non-numeric raw": (
        "raw",
        _raw_text(_set(SAMPLE, [7], "Day Calls", "abc")),
        ["'Day Calls' has 1 row with a non-numeric value", "'abc' (1 row)", SAMPLE.loc[7, "Phone"]],
        CHECK,
    ),
    "empty raw value": (
        "raw",
        _raw_text(_set(SAMPLE, [2], "Eve Mins", "")),
        ["'Eve Mins' has 1 row with a missing value", "<empty> (1 row)"],
        CHECK,
    ),
    "unknown state": (
        "raw", _raw_text(_set(SAMPLE, [0, 1], "State", "ZZ")),
        ["'State' has 2 rows with a value the model does not know", "'ZZ' (2 rows)"], CHECK,
    ),
    "ragged raw": (
        "raw",
        [line if i != 5 else line.rsplit(",", 1)[0] for i, line in enumerate(_raw_text(SAMPLE))],
        ["1 row whose number of fields differs", "21 columns"],
        SHAPE,
    ),
    "prepared label": (
        "prepared",
        ["2" + PREPARED[0][1:], *PREPARED[1:]],
        ["'Churn?'", "other than 0 or 1", "'2' (1 row)"],
        CHECK,
    ),
    "ragged prepared": (
        "prepared",
        [*PREPARED[:10], PREPARED[10] + ",1", *PREPARED[11:]],
        ["1 row whose number of fields differs"],
        SHAPE,
    ),
    "raw given as prepared": ("prepared", _raw_text(SAMPLE), ["'Churn?'", "--INPUT_FORMAT raw"], CHECK),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_the_job_with_a_message_naming_the_problem(
    case: str, tmp_path: Path, run_etl: Callable[..., None]
) -> None:
    input_format, lines, expected, error = BAD_INPUTS[case]
    source = tmp_path / "input.csv"
    source.write_text("".join(f"{line}\n" for line in lines))
    with pytest.raises(ValueError) as caught:
        run_etl(*job_args(source, tmp_path / "out", "--INPUT_FORMAT", input_format))

    assert type(caught.value).__name__ == error
    message = str(caught.value)
    for text in expected:
        assert text in message, f"{text!r} not in {message!r}"
    if error == SHAPE:
        assert not (tmp_path / "out").exists(), "nothing is written when the input is bad"
    else:  # the report, and nothing a training job could read
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["data_report.json"]
        report = json.loads((tmp_path / "out" / "data_report.json").read_text())
        assert report["passed"] is False and any(c["message"] in message for c in report["checks"] if not c["passed"])
        assert f"report: {tmp_path / 'out'}/data_report.json" in message


@pytest.mark.slow
def test_empty_folder_fails_the_job(tmp_path: Path, run_etl: Callable[..., None]) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "_SUCCESS").touch()
    with pytest.raises(ValueError, match="holds no data files"):
        run_etl(*job_args(tmp_path / "in", tmp_path / "out"))


@pytest.mark.slow
def test_non_numeric_prepared_value_names_column_and_row(
    tmp_path: Path, run_etl: Callable[..., None]
) -> None:
    fields = PREPARED[4].split(",")
    fields[3] = "x1"  # column 4 = the third feature, Day Mins
    bad_row = ",".join(fields)
    source = tmp_path / "input.csv"
    source.write_text("\n".join([*PREPARED[:4], bad_row, *PREPARED[5:]]) + "\n")
    with pytest.raises(ValueError, match="Day Mins") as caught:
        run_etl(*job_args(source, tmp_path / "out", "--INPUT_FORMAT", "prepared"))
    assert "'x1' (1 row)" in str(caught.value) and bad_row in str(caught.value)


@pytest.mark.slow
def test_bad_arguments_fail_before_spark_work(tmp_path: Path, run_etl: Callable[..., None]) -> None:
    source = raw_file(tmp_path, SAMPLE)
    with pytest.raises(ValueError, match="TRAIN_FRACTION"):
        run_etl(*job_args(source, tmp_path / "out", "--TRAIN_FRACTION", "1.5"))
    with pytest.raises(ValueError, match="INPUT_FORMAT"):
        run_etl(*job_args(source, tmp_path / "out", "--INPUT_FORMAT", "parquet"))
    with pytest.raises(Exception, match="the following arguments are required: --VAL_KEY"):
        run_etl(*job_args(source, tmp_path / "out")[:-2])


@pytest.mark.slow
def test_glue_context_shim_wraps_the_spark_session(spark: Any) -> None:
    from awsglue.context import GlueContext
    from awsglue.job import Job

    glue_context = GlueContext(spark.sparkContext)
    assert glue_context.spark_session.range(3).count() == 3
    assert glue_context.sparkContext is spark.sparkContext
    glue_context.get_logger().info("hello from the shim")
    job = Job(glue_context)
    job.init("demo", {"JOB_NAME": "demo"})
    job.commit()
    assert job.isInitialized() and job.committed
    with pytest.raises(NotImplementedError, match="Data Catalog"):
        glue_context.create_dynamic_frame.from_catalog(database="db", table_name="t")
    with pytest.raises(AttributeError, match="extract_jdbc_conf"):
        glue_context.extract_jdbc_conf  # noqa: B018


@pytest.mark.parametrize("scheme", ["s3", "s3a"])
def test_manifest_goes_to_s3_with_boto3(scheme: str, code_module: Callable[[str], Any]) -> None:
    glue_etl = code_module("glue_etl")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="churn")
        glue_etl.write_manifest(
            f"{scheme}://churn/prepared/features.json", {"features": ["a"], "train_rows": 2}
        )
        body = s3.get_object(Bucket="churn", Key="prepared/features.json")["Body"].read()
    assert json.loads(body) == {"features": ["a"], "train_rows": 2}


def test_manifest_goes_to_a_local_file_url(tmp_path: Path, code_module: Callable[[str], Any]) -> None:
    glue_etl = code_module("glue_etl")
    glue_etl.write_manifest(f"file://{tmp_path}/out/features.json", {"label": "Churn?"})
    assert json.loads((tmp_path / "out" / "features.json").read_text()) == {"label": "Churn?"}
