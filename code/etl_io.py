"""Reading and writing for the Glue job (shipped with it through ``--extra-py-files``): the CSV input as strings
with ragged rows marked, its shape checked; JSON documents on S3 or local paths; the production model's baseline."""

from __future__ import annotations

import json
import os

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

CORRUPT = "_corrupt_record"
CSV_OPTIONS = {"ignoreLeadingWhiteSpace": True, "ignoreTrailingWhiteSpace": True}


class InputDataError(ValueError):
    """The source data does not have the shape this job needs; the message says what and where."""


def shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def probe_columns(spark: SparkSession, path: str, header: bool) -> list[str]:
    """The column names (``header``) or ``_c0``, ``_c1``... of the first line; fails on an empty input."""
    # With column pruning the CSV parser checks the field count of the selected columns only, so ragged rows
    # would go unnoticed by queries that do not read every column.
    spark.conf.set("spark.sql.csv.parser.columnPruning.enabled", "false")
    try:
        columns = spark.read.csv(path, header=header, inferSchema=False, **CSV_OPTIONS).columns
    except AnalysisException as exc:
        if exc.getErrorClass() != "UNABLE_TO_INFER_SCHEMA":
            raise
        raise InputDataError(f"the input {path} holds no data files (an empty folder?): expected CSV data") from None
    if not columns:
        raise InputDataError(f"the input {path} is empty: expected CSV data" + (" with a header" if header else ""))
    return columns


def read_strings(spark: SparkSession, path: str, header: bool, columns: list[str]) -> DataFrame:
    """Every column as a string, plus ``_corrupt_record`` set on rows whose field count differs from the first."""
    schema = T.StructType([T.StructField(c, T.StringType()) for c in columns])
    schema.add(T.StructField(CORRUPT, T.StringType()))
    return spark.read.csv(path, header=header, schema=schema, mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT,
                          **CSV_OPTIONS)


def check_shape(df: DataFrame, path: str, columns: list[str]) -> int:
    """Fail on no rows or on ragged rows; the number of rows."""
    counts = df.agg(F.count(F.lit(1)).alias("rows"), F.count(F.col(CORRUPT)).alias("ragged")).first()
    assert counts is not None
    if counts["rows"] == 0:
        raise InputDataError(f"the input {path} has no data rows (a header line only?): nothing to train on")
    if counts["ragged"]:
        example = df.filter(F.col(CORRUPT).isNotNull()).select(CORRUPT).first()
        assert example is not None
        n = counts["ragged"]
        raise InputDataError(
            f"the input {path} has {n} row{'s' if n != 1 else ''} whose number of fields differs from the "
            f"{len(columns)} columns of the first line (ragged rows), e.g. {shorten(example[CORRUPT])!r}; fix or "
            "remove those rows")
    return int(counts["rows"])


def read_json(uri: str) -> dict | None:
    """The JSON object at an ``s3://``/``s3a://`` URI or a local path; None when there is none."""
    if uri.startswith(("s3://", "s3a://")):
        import boto3
        from botocore.exceptions import ClientError

        bucket, _, key = uri.split("://", 1)[1].partition("/")
        try:
            body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return json.loads(body)
    local = uri.removeprefix("file://")
    if not os.path.exists(local):
        return None
    with open(local, encoding="utf-8") as fh:
        return json.load(fh)


def write_manifest(path: str, manifest: dict[str, object]) -> None:
    """Write ``manifest`` as JSON to an ``s3://``/``s3a://`` URI (boto3) or a local path."""
    body = json.dumps(manifest, indent=2) + "\n"
    if path.startswith(("s3://", "s3a://")):
        import boto3

        bucket, _, key = path.split("://", 1)[1].partition("/")
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
        return
    local = path.removeprefix("file://")
    os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
    with open(local, "w", encoding="utf-8") as fh:
        fh.write(body)


def load_baseline(prefix: str) -> dict | None:
    """The production model's ``features.json`` with its ``profile.json`` (None for ``none`` or nothing there)."""
    if prefix.strip().lower() in ("", "none"):
        return None
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    features = read_json(prefix + "features.json")
    if features is None:
        raise InputDataError(f"--BASELINE {prefix} holds no features.json: expected the ETL outputs of the model in "
                             "production (or 'none' for a first run)")
    return {**features, "profile": read_json(prefix + "profile.json")}


