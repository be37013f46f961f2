"""AWS Glue 5.0 (PySpark 3.5) job: turn customer-churn data into SageMaker XGBoost train/validation CSVs.

Arguments (``--NAME value``):
  JOB_NAME, S3_SOURCE (file or folder), S3_DEST (prefix the keys are appended to), TRAIN_KEY, VAL_KEY;
  optional INPUT_FORMAT ``raw`` (default) or ``prepared``, TRAIN_FRACTION (default 0.7), SEED (default 42).

``raw`` input is the header CSV of the raw churn schema. ``Phone`` and the four ``Charge`` columns (charges are
minutes x a fixed rate) are dropped; ``State``, ``Area Code``, ``Int'l Plan`` and ``VMail Plan`` are one-hot encoded
over fixed value lists, so the feature columns never depend on which values a batch holds; ``Churn?`` becomes 0/1.
``prepared`` input is already numeric: no header, label 0/1 first. Both are validated, split at random into
train/validation and written as headerless CSV, label first (the SageMaker built-in XGBoost contract), one file
each and no ``_SUCCESS`` marker. The feature names go to ``S3_DEST + "features.json"``. Bad input fails the job with
a message naming the problem.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable

from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

LABEL = "Churn?"
LABEL_VALUES = {"True.": 1, "True": 1, "False.": 0, "False": 0}
NUMERIC = (
    "Account Length", "VMail Message", "Day Mins", "Day Calls", "Eve Mins", "Eve Calls",
    "Night Mins", "Night Calls", "Intl Mins", "Intl Calls", "CustServ Calls",
)  # fmt: skip
STATES = (
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN", "KS",
    "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV",
    "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
)  # fmt: skip
CATEGORICAL = {
    "State": STATES,
    "Area Code": ("408", "415", "510"),
    "Int'l Plan": ("no", "yes"),
    "VMail Plan": ("no", "yes"),
}
RAW_FEATURES = [*NUMERIC, *(f"{col}_{value}" for col, values in CATEGORICAL.items() for value in values)]
CORRUPT = "_corrupt_record"
EXAMPLES = 5
CSV_OPTIONS = {"ignoreLeadingWhiteSpace": True, "ignoreTrailingWhiteSpace": True}

LOG = logging.getLogger(__name__)

#: A validation rule: (what is wrong, a column true on the offending rows, the column it is about).
Rule = tuple[str, Column, str]
#: Validated input: (the rows to split, the feature names, the function turning split rows into output rows).
Validated = tuple[DataFrame, list[str], Callable[[DataFrame], DataFrame]]


class InputDataError(ValueError):
    """The source data does not have the shape this job needs; the message says what and where."""


def option(argv: list[str], name: str, default: str) -> str:
    """An optional job argument: Glue's ``getResolvedOptions`` only resolves arguments that are present."""
    if f"--{name}" in argv or any(a.startswith(f"--{name}=") for a in argv):
        return str(getResolvedOptions(argv, [name])[name])
    return default


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _shorten(text: str, limit: int = 80) -> str:
    """``text``, or its start and its length when it is longer than ``limit`` (a huge field stays readable)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _quote(value: object) -> str:
    return "<empty>" if value is None else repr(_shorten(str(value)))


def _row_text(columns: list[str]) -> Column:
    return F.concat_ws(",", *[F.coalesce(F.col(c), F.lit("")) for c in columns])


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
        raise InputDataError(
            f"the input {path} holds no data files (an empty folder?): expected CSV data"
        ) from None
    if not columns:
        raise InputDataError(
            f"the input {path} is empty: expected CSV data" + (" with a header" if header else "")
        )
    return columns


def read_strings(spark: SparkSession, path: str, header: bool, columns: list[str]) -> DataFrame:
    """Every column as a string, plus ``_corrupt_record`` set on rows whose field count differs from the first."""
    schema = T.StructType([T.StructField(c, T.StringType()) for c in columns])
    schema.add(T.StructField(CORRUPT, T.StringType()))
    return spark.read.csv(
        path,
        header=header,
        schema=schema,
        mode="PERMISSIVE",
        columnNameOfCorruptRecord=CORRUPT,
        **CSV_OPTIONS,
    )


def _number(col: str) -> Column:
    """The column as a double, null where it is not a number (``try_cast``: also right under ANSI mode)."""
    return F.expr(f"try_cast(`{col.replace('`', '``')}` AS DOUBLE)")


def _bad_number(col: str) -> Column:
    value = _number(col)
    return value.isNull() | F.isnan(value) | (F.abs(value) == float("inf"))


def _label(col: str) -> Column:
    """``True.``/``True`` -> 1, ``False.``/``False`` -> 0, anything else -> null."""
    ones = [v for v, label in LABEL_VALUES.items() if label == 1]
    zeros = [v for v, label in LABEL_VALUES.items() if label == 0]
    return F.when(F.col(col).isin(*ones), 1).when(F.col(col).isin(*zeros), 0)


def check(df: DataFrame, path: str, data_columns: list[str], rules: list[Rule]) -> int:
    """Fail on ragged rows or on any rule's bad rows (one aggregation pass); return the number of data rows.

    Examples of bad rows (the most frequent bad values and one whole row) are fetched only when there are some.
    """
    aggs = [F.count(F.lit(1)).alias("rows"), F.count(F.col(CORRUPT)).alias("ragged")]
    aggs += [F.sum(bad.cast("long")).alias(f"bad{i}") for i, (_, bad, _) in enumerate(rules)]
    counts = df.agg(*aggs).first()
    assert counts is not None
    if counts["rows"] == 0:
        raise InputDataError(f"the input {path} has no data rows (a header line only?): nothing to train on")
    if counts["ragged"]:
        example = df.filter(F.col(CORRUPT).isNotNull()).select(CORRUPT, data_columns[0]).first()
        assert example is not None
        raise InputDataError(
            f"the input {path} has {_rows(counts['ragged'])} whose number of fields differs from the "
            f"{len(data_columns)} columns of the first line (ragged rows), e.g. {_shorten(example[CORRUPT], 300)!r}; fix or remove those rows"
        )
    for i, (problem, bad, col) in enumerate(rules):
        n_bad = counts[f"bad{i}"]
        if not n_bad:
            continue
        rows = df.filter(bad)
        values = rows.groupBy(F.col(col).alias("value")).count().orderBy(F.desc("count"), "value")
        seen = ", ".join(
            f"{_quote(r['value'])} ({_rows(r['count'])})" for r in values.limit(EXAMPLES).collect()
        )
        example = rows.select(_row_text(data_columns).alias("row")).first()
        assert example is not None
        raise InputDataError(
            f"column {col!r} has {_rows(n_bad)} with {problem}: {seen}; example row: {_shorten(example['row'], 300)!r}"
        )
    return int(counts["rows"])


def validate_raw(spark: SparkSession, path: str) -> Validated:
    """Validate the raw churn CSV; keep the columns the features are made of (``encode_raw`` makes them)."""
    columns = probe_columns(spark, path, header=True)
    needed = [LABEL, *NUMERIC, *CATEGORICAL]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise InputDataError(
            f"the input {path} lacks the column(s) {', '.join(map(repr, missing))} of the raw churn schema "
            f"(its header has {', '.join(map(repr, columns))}); for headerless numeric data use "
            "--INPUT_FORMAT prepared"
        )
    df = read_strings(spark, path, True, columns)
    rules: list[Rule] = [
        (f"an unknown label value (expected one of {', '.join(LABEL_VALUES)})", _label(LABEL).isNull(), LABEL)
    ]
    rules += [("a missing or non-numeric value", _bad_number(col), col) for col in NUMERIC]
    for col, values in CATEGORICAL.items():
        unknown = F.coalesce(~F.col(col).isin(*values), F.lit(True))
        rules.append((f"an unknown value (expected one of {', '.join(values)})", unknown, col))
    rows = check(df, path, columns, rules)
    LOG.info("raw input %s: %d valid rows", path, rows)
    return df.select(*needed), list(RAW_FEATURES), encode_raw


def encode_raw(df: DataFrame) -> DataFrame:
    """Label 0/1 first, the numeric columns as they are, then the one-hot columns of ``RAW_FEATURES``."""
    out = [_label(LABEL).alias(LABEL), *[F.col(c) for c in NUMERIC]]
    for col, values in CATEGORICAL.items():
        out += [F.when(F.col(col) == v, 1).otherwise(0).alias(f"{col}_{v}") for v in values]
    return df.select(*out)


def validate_prepared(spark: SparkSession, path: str) -> Validated:
    """Validate prepared numeric CSV (no header, label 0/1 first); the rows stay as they are."""
    width = len(probe_columns(spark, path, header=False))
    if width < 2:
        raise InputDataError(
            f"the input {path} has a single column: prepared data needs the label and features"
        )
    n_features = width - 1
    features = RAW_FEATURES if n_features == len(RAW_FEATURES) else [f"feature_{i}" for i in range(1, width)]
    columns = [LABEL, *features]
    df = read_strings(spark, path, False, columns)
    hint = " (prepared data has no header; use --INPUT_FORMAT raw for the raw churn schema)"
    label = _number(LABEL)
    rules: list[Rule] = [
        ("a label other than 0 or 1" + hint, F.coalesce(~label.isin(0.0, 1.0), F.lit(True)), LABEL)
    ]
    rules += [("a missing or non-numeric value" + hint, _bad_number(col), col) for col in features]
    rows = check(df, path, columns, rules)
    LOG.info("prepared input %s: %d valid rows of %d features", path, rows, n_features)
    return df.select(*columns), list(features), encode_prepared


def encode_prepared(df: DataFrame) -> DataFrame:
    """The label as 0/1 (``1.0`` becomes ``1``), the features as they are."""
    label, *features = df.columns
    return df.select(_number(label).cast("int").alias(label), *features)


def _count_lines(spark: SparkSession, path: str) -> int:
    return spark.read.text(path).count()


def write_manifest(path: str, manifest: dict[str, object]) -> None:
    """Write ``manifest`` as JSON to an ``s3://``/``s3a://`` URI (boto3) or a local path."""
    body = json.dumps(manifest, indent=2) + "\n"
    if path.startswith(("s3://", "s3a://")):
        import boto3

        bucket, _, key = path.split("://", 1)[1].partition("/")
        boto3.client("s3").put_object(
            Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json"
        )
        return
    local = path.removeprefix("file://")
    os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
    with open(local, "w", encoding="utf-8") as fh:
        fh.write(body)


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the job; return the manifest written next to the outputs."""
    argv = list(sys.argv if argv is None else argv)
    args = getResolvedOptions(argv, ["JOB_NAME", "S3_SOURCE", "S3_DEST", "TRAIN_KEY", "VAL_KEY"])
    input_format = option(argv, "INPUT_FORMAT", "raw").strip().lower()
    fraction_text = option(argv, "TRAIN_FRACTION", "0.7")
    seed_text = option(argv, "SEED", "42")
    try:
        fraction, seed = float(fraction_text), int(seed_text)
    except ValueError:
        raise InputDataError(
            f"--TRAIN_FRACTION {fraction_text!r} / --SEED {seed_text!r}: expected a number in (0, 1) and an integer"
        ) from None
    if not 0.0 < fraction < 1.0:
        raise InputDataError(f"--TRAIN_FRACTION must lie strictly between 0 and 1, got {fraction}")
    if input_format not in ("raw", "prepared"):
        raise InputDataError(f"--INPUT_FORMAT must be 'raw' or 'prepared', got {input_format!r}")

    sc = SparkContext.getOrCreate()
    # No _SUCCESS marker in the outputs: they are SageMaker training channels, and the built-in XGBoost container
    # sniffs the CSV delimiter from the first file it lists there; an empty marker listed first fails the job
    # ("Could not determine delimiter", data_utils.py of aws/sagemaker-xgboost-container). Hadoop's
    # FileOutputCommitter writes the marker unless this is false.
    sc._jsc.hadoopConfiguration().set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    glue_context = GlueContext(sc)
    spark = glue_context.spark_session
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)

    source, dest = args["S3_SOURCE"], args["S3_DEST"]
    validate = validate_raw if input_format == "raw" else validate_prepared
    data, features, encode = validate(spark, source)
    # Split the narrow validated rows, then encode: randomSplit sorts each partition by every column first.
    train, validation = data.randomSplit([fraction, 1.0 - fraction], seed)
    outputs = {"train": dest + args["TRAIN_KEY"], "validation": dest + args["VAL_KEY"]}
    for name, part in (("train", train), ("validation", validation)):
        encode(part).coalesce(1).write.mode("overwrite").csv(outputs[name], header=False)
    manifest: dict[str, object] = {
        "label": LABEL,
        "features": features,
        "input_format": input_format,
        "train_rows": _count_lines(spark, outputs["train"]),
        "validation_rows": _count_lines(spark, outputs["validation"]),
    }
    write_manifest(dest + "features.json", manifest)
    glue_context.get_logger().info(
        f"{args['JOB_NAME']}: {manifest['train_rows']} train and {manifest['validation_rows']} validation rows, "
        f"{len(features)} features, written under {dest}"
    )
    job.commit()
    return manifest


if __name__ == "__main__":
    main()
