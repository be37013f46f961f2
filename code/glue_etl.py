"""AWS Glue 5.0 (PySpark 3.5) job: check new data, then turn it into SageMaker XGBoost train/validation CSVs.

Arguments (``--NAME value``):
  JOB_NAME, S3_SOURCE (file or folder), S3_DEST (prefix the keys are appended to), TRAIN_KEY, VAL_KEY;
  optional INPUT_FORMAT ``raw`` (default) or ``prepared``, TRAIN_FRACTION (default 0.7), SEED (default 42),
  SCHEMA (JSON, see etl_features.py; default the churn schema), BASELINE (the S3 prefix holding the
  ``features.json`` and ``profile.json`` of the model in production, or ``none``), CHECKS (JSON limits, see
  data_checks.py). ``etl_features.py`` and ``data_checks.py`` come with the job (``--extra-py-files``).

``raw`` input is a header CSV: the schema says which column is the label, which to drop, which are ids and which
are categorical (one-hot encoded); every other column is numeric, written as it is read (an empty cell stays empty:
XGBoost reads it as missing). ``prepared`` input is already numeric: no header, label first. Before anything is
written the data is checked (missing and invalid values, the label's shares, drift from the production model's
data): a failed check writes ``data_report.json`` and fails the job with ``DataCheckFailed: ...`` naming each failed
check. Then the rows are split at random into train/validation and written as headerless CSV, label first (the
SageMaker built-in XGBoost contract), one file each and no ``_SUCCESS`` marker, with ``features.json`` (the feature
plan and row counts), ``profile.json`` (what a later run's drift check compares with) and ``data_report.json``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from data_checks import (
    DEFAULT_LIMITS,
    MESSAGE_CHECKS,
    DataCheckFailed,
    Report,
    categorical_profile,
    category_counts,
    decile_edges,
    drift_checks,
    is_invalid_number,
    is_missing,
    label_checks,
    measure,
    number,
    numeric_profile,
    quoted,
    value_list,
)
from etl_features import Plan, Schema, SchemaError, one_hot_name, plan_features
from etl_io import (
    InputDataError,
    check_shape,
    load_baseline,
    probe_columns,
    read_strings,
    shorten,
    write_manifest,
)

#: the feature names of prepared data as wide as the churn features (else feature_1, feature_2, ...)
CHURN_WIDTH = 69

LOG = logging.getLogger(__name__)


@dataclass
class Input:
    """Checked-to-be-readable input: its string rows, the plan and the label's encoding."""

    data: DataFrame
    columns: list[str]
    plan: Plan
    label: Column
    categories: dict[str, dict[str | None, int]]
    #: a label text's class (binary 1/0, multiclass index; regression: 0 for any number), None when unknown
    class_of: Callable[[str | None], int | None]
    label_problem: str
    hint: str = ""


def option(argv: list[str], name: str, default: str) -> str:
    """An optional job argument: Glue's ``getResolvedOptions`` only resolves arguments that are present."""
    if f"--{name}" in argv or any(a.startswith(f"--{name}=") for a in argv):
        return str(getResolvedOptions(argv, [name])[name])
    return default


def label_column(plan: Plan, name: str) -> Column:
    """The label as the model trains on it (0/1, a class index, a number); null where it cannot be read."""
    schema = plan.schema
    if schema.task == "binary":
        col = F.col(quoted(name))
        return F.when(col.isin(*schema.positive), 1).when(col.isin(*schema.negative), 0)
    if schema.task == "multiclass":
        out = F.lit(None).cast("int")
        for index, value in reversed(list(enumerate(plan.classes))):
            out = F.when(F.col(quoted(name)) == value, F.lit(index)).otherwise(out)
        return out
    value = number(name)
    return F.when(~F.isnan(value) & (F.abs(value) != float("inf")), value)


def raw_input(spark: SparkSession, path: str, schema: Schema, baseline: dict | None) -> Input:
    columns = probe_columns(spark, path, header=True)
    df = read_strings(spark, path, True, columns)
    check_shape(df, path, columns)
    counted = [*schema.categorical, *([schema.label] if schema.task != "regression" else [])]
    counted = [c for c in dict.fromkeys(counted) if c in columns]
    categories = category_counts(df, counted)
    seen = {c: [v for v in counts if v is not None] for c, counts in categories.items()}
    try:
        plan = plan_features(schema, columns, seen, baseline)
    except SchemaError as exc:
        raise InputDataError(f"the input {path} {exc}; for headerless numeric data use --INPUT_FORMAT prepared"
                             ) from None
    return Input(df, columns, plan, label_column(plan, schema.label), categories, _class_of(plan),
                 f"an unknown label value (expected {_expected(plan)})")


def _class_of(plan: Plan) -> Callable[[str | None], int | None]:
    schema = plan.schema
    if schema.task == "binary":
        return lambda v: 1 if v in schema.positive else 0 if v in schema.negative else None
    if schema.task == "multiclass":
        return lambda v: plan.classes.index(v) if v in plan.classes else None
    return lambda v: 0 if _finite(v) is not None else None


def _expected(plan: Plan) -> str:
    schema = plan.schema
    if schema.task == "binary":
        return "one of " + ", ".join([*schema.positive, *schema.negative])
    if schema.task == "multiclass":
        return "one of the classes " + ", ".join(plan.classes)
    return "a number"


def _finite(value: str | None) -> float | None:
    try:
        number_ = float(value) if value is not None else None
    except ValueError:
        return None
    return number_ if number_ is not None and number_ == number_ and abs(number_) != float("inf") else None


def prepared_input(spark: SparkSession, path: str, schema: Schema) -> Input:
    """Numeric CSV with no header, label first; the label's encoding is already done (0/1, class index, value)."""
    width = len(probe_columns(spark, path, header=False))
    if width < 2:
        raise InputDataError(f"the input {path} has a single column: prepared data needs the label and features")
    churn = Schema.parse("")
    churn_plan = plan_features(churn, [churn.label, *churn.numeric, *churn.categorical], {}, None)
    features = churn_plan.features if width - 1 == CHURN_WIDTH else [f"feature_{i}" for i in range(1, width)]
    columns = [schema.label, *features]
    df = read_strings(spark, path, False, columns)
    check_shape(df, path, columns)
    plan = Plan(Schema(schema.label, schema.task, ("1",), ("0",), schema.classes), list(features), {}, [],
                list(features))
    label = number(schema.label)
    if schema.task == "binary":
        label = F.when(label.isin(0.0, 1.0), label.cast("int"))
    elif schema.task == "multiclass":
        label = F.when((label >= 0) & (label == F.floor(label)), label.cast("int"))
    categories = category_counts(df, [schema.label]) if schema.task != "regression" else {}
    hint = " (prepared data has no header; use --INPUT_FORMAT raw for data with a header)"
    if schema.task == "binary":
        class_of, problem = (lambda v: {0.0: 0, 1.0: 1}.get(_finite(v))), "a label other than 0 or 1" + hint
    elif schema.task == "multiclass":
        class_of = _class_index
        problem = "a label that is not a class index (0, 1, 2, ...)" + hint
    else:
        class_of, problem = (lambda v: 0 if _finite(v) is not None else None), "a label that is not a number" + hint
    return Input(df, columns, plan, label, categories, class_of, problem, hint)


def _class_index(value: str | None) -> int | None:
    number_ = _finite(value)
    return int(number_) if number_ is not None and number_ >= 0 and number_ == int(number_) else None


def encode(source: Input) -> DataFrame:
    """Label first, then every feature of the plan: numbers as written (empty when missing or unreadable),
    one-hot 0/1 for a categorical value."""
    plan, out = source.plan, [source.label.alias(source.plan.schema.label)]
    for feature in plan.features:
        column, value = plan.source(feature)
        if value is None:
            valid = ~is_missing(column) & ~is_invalid_number(column)
            out.append(F.when(valid, F.col(quoted(column))).alias(feature))
        else:
            out.append(F.when(F.col(quoted(column)) == value, 1).otherwise(0).alias(one_hot_name(column, value)))
    return source.data.select(*out)


def _numeric_examples(source: Input, column: str, bad: Column) -> str:
    """The most frequent offending values of ``column`` and one whole offending row (only on failure)."""
    rows = source.data.filter(bad)
    values = rows.groupBy(F.col(quoted(column)).alias("value")).count().collect()
    listed = value_list({r["value"] if r["value"] is None or r["value"].strip() else None: int(r["count"])
                         for r in values})
    text = F.concat_ws(",", *[F.coalesce(F.col(quoted(c)), F.lit("")) for c in source.columns])
    example = rows.select(text.alias("row")).first()
    return listed + (f"; example row: {shorten(example['row'])!r}" if example is not None else "")


def run_checks(source: Input, limits: dict[str, float], baseline: dict | None, baseline_uri: str | None
               ) -> tuple[Report, dict]:
    """Measure the data, check it against ``limits`` (and the production model's profile), and profile it."""
    plan = source.plan
    edges = decile_edges(source.data, plan.numeric)
    bins = {"own": edges}
    if baseline and baseline.get("profile"):
        bins["baseline"] = {c: p["edges"] for c, p in baseline["profile"].get("numeric", {}).items()
                            if c in plan.numeric}
    measured = measure(source.data, plan.numeric, source.label, plan.schema.task, bins)
    report = Report(measured["rows"], limits, baseline_uri)
    label_checks(report, plan.schema.label, plan.schema.task, source.categories.get(plan.schema.label, {}),
                 measured["label_unknown"], source.class_of, source.label_problem, plan.classes)
    offending: dict[int, tuple[str, Column]] = {}  # check -> what its offending rows are (numeric columns)
    for column in plan.numeric:
        counts = measured["numeric"][column]
        for kind, limit, problem, bad in (
            ("missing", "max_missing_share", "a missing value", is_missing(column)),
            ("invalid", "max_invalid_share", "a non-numeric value", is_invalid_number(column)),
        ):
            entry = report.share(kind, column, counts[kind], limit, problem + source.hint, "")
            if not entry["passed"]:
                offending[id(entry)] = (column, bad)
    for column, values in plan.vocab.items():
        counts = source.categories.get(column, {})
        unseen = {v for v in counts if v is not None and v not in values}
        report.share("missing", column, counts.get(None, 0), "max_missing_share", "a missing value",
                     value_list(counts, {None}))
        report.share("invalid", column, sum(counts[v] for v in unseen), "max_invalid_share",
                     f"a value the model does not know (expected one of {', '.join(values[:10])}"
                     f"{', ...' if len(values) > 10 else ''})", value_list(counts, unseen))
    if baseline and baseline.get("profile"):
        drift_checks(report, baseline["profile"], measured, source.categories)
    for entry in report.failed[:MESSAGE_CHECKS]:  # examples cost a pass each: only for the checks the error names
        if id(entry) in offending:
            entry["message"] += ": " + _numeric_examples(source, *offending[id(entry)])
    return report, profile(source, measured, edges)


def profile(source: Input, measured: dict, edges: dict[str, list[float]]) -> dict:
    """What a later run's drift check compares with (``profile.json``)."""
    rows, plan = measured["rows"], source.plan
    label: dict[str, object] = {"unknown_share": measured["label_unknown"] / rows}
    if plan.schema.task == "regression":
        label.update(mean=measured.get("label_mean"), std=measured.get("label_std"))
    else:
        label["shares"] = categorical_profile(source.categories.get(plan.schema.label, {}), rows)["shares"]
    numeric = {c: numeric_profile(edges[c], measured["numeric"][c]["bins"]["own"], measured["numeric"][c]["missing"],
                                  measured["numeric"][c]["invalid"], rows) for c in plan.numeric}
    categorical = {c: categorical_profile(source.categories.get(c, {}), rows) for c in plan.vocab}
    return {"rows": rows, "label": label, "numeric": numeric, "categorical": categorical}


@dataclass
class Arguments:
    job_name: str
    source: str
    dest: str
    train_key: str
    val_key: str
    input_format: str
    fraction: float
    seed: int
    schema: Schema
    baseline: str
    limits: dict[str, float]


def parse_arguments(argv: list[str]) -> Arguments:
    """The job's arguments, checked before any Spark work."""
    args = getResolvedOptions(argv, ["JOB_NAME", "S3_SOURCE", "S3_DEST", "TRAIN_KEY", "VAL_KEY"])
    input_format = option(argv, "INPUT_FORMAT", "raw").strip().lower()
    fraction_text, seed_text = option(argv, "TRAIN_FRACTION", "0.7"), option(argv, "SEED", "42")
    try:
        fraction, seed = float(fraction_text), int(seed_text)
    except ValueError:
        raise InputDataError(f"--TRAIN_FRACTION {fraction_text!r} / --SEED {seed_text!r}: expected a number in "
                             "(0, 1) and an integer") from None
    if not 0.0 < fraction < 1.0:
        raise InputDataError(f"--TRAIN_FRACTION must lie strictly between 0 and 1, got {fraction}")
    if input_format not in ("raw", "prepared"):
        raise InputDataError(f"--INPUT_FORMAT must be 'raw' or 'prepared', got {input_format!r}")
    try:
        schema = Schema.parse(option(argv, "SCHEMA", ""))
        overrides = json.loads(option(argv, "CHECKS", "{}") or "{}")
    except (SchemaError, json.JSONDecodeError) as exc:
        raise InputDataError(str(exc)) from None
    unknown = set(overrides) - set(DEFAULT_LIMITS)
    if unknown:
        raise InputDataError(f"--CHECKS has unknown limit(s) {sorted(unknown)}; known: {', '.join(DEFAULT_LIMITS)}")
    return Arguments(args["JOB_NAME"], args["S3_SOURCE"], args["S3_DEST"], args["TRAIN_KEY"], args["VAL_KEY"],
                     input_format, fraction, seed, schema, option(argv, "BASELINE", "none"),
                     {**DEFAULT_LIMITS, **{k: float(v) for k, v in overrides.items()}})


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the job; return the manifest written next to the outputs."""
    argv = list(sys.argv if argv is None else argv)
    args = parse_arguments(argv)
    sc = SparkContext.getOrCreate()
    # No _SUCCESS marker in the outputs: they are SageMaker training channels, and the built-in XGBoost container
    # sniffs the CSV delimiter from the first file it lists there; an empty marker listed first fails the job
    # ("Could not determine delimiter", data_utils.py of aws/sagemaker-xgboost-container). Hadoop's
    # FileOutputCommitter writes the marker unless this is false.
    sc._jsc.hadoopConfiguration().set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    glue_context = GlueContext(sc)
    spark = glue_context.spark_session
    job = Job(glue_context)
    job.init(args.job_name, {"JOB_NAME": args.job_name})

    baseline = load_baseline(args.baseline)
    source = (raw_input(spark, args.source, args.schema, baseline) if args.input_format == "raw"
              else prepared_input(spark, args.source, args.schema))
    report, data_profile = run_checks(source, args.limits, baseline, None if baseline is None else args.baseline)
    plan = source.plan
    if report.failed:
        # the report goes next to where the outputs would have gone; nothing else is written
        write_manifest(args.dest + "data_report.json", report.to_json())
        raise DataCheckFailed(report.message(args.dest + "data_report.json"))
    # Split the narrow string rows, then encode: randomSplit sorts each partition by every column first.
    data = source.data.select(*[quoted(c) for c in (plan.schema.label, *plan.numeric, *plan.vocab)])
    outputs = {"train": args.dest + args.train_key, "validation": args.dest + args.val_key}
    for name, part in zip(outputs, data.randomSplit([args.fraction, 1.0 - args.fraction], args.seed), strict=True):
        encode(Input(part, source.columns, source.plan, source.label, source.categories, source.class_of,
                     source.label_problem)).coalesce(1).write.mode("overwrite").csv(outputs[name], header=False)
    manifest: dict[str, object] = {
        **source.plan.to_manifest(), "input_format": args.input_format,
        "train_rows": spark.read.text(outputs["train"]).count(),
        "validation_rows": spark.read.text(outputs["validation"]).count(),
    }
    write_manifest(args.dest + "features.json", manifest)
    write_manifest(args.dest + "profile.json", data_profile)
    write_manifest(args.dest + "data_report.json", report.to_json())
    glue_context.get_logger().info(
        f"{args.job_name}: {manifest['train_rows']} train and {manifest['validation_rows']} validation rows, "
        f"{len(source.plan.features)} features, written under {args.dest}")
    job.commit()
    return manifest


if __name__ == "__main__":
    main()
