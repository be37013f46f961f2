"""Checks of new data before any training, and its profile (shipped with the Glue job through ``--extra-py-files``).

One pass over the rows counts, per column, the missing and the invalid values (not a finite number in a numeric
column, a value outside a fixed list in a categorical one, an unknown label), the label's shares and, for drift, how
the rows fall into the bins of the profile saved with the model in production. Drift is the population stability
index per feature, PSI = sum over bins of (new - old) * ln(new / old), each share floored at 1e-4. The usual reading
(Siddiqi, "Credit Risk Scorecards", 2006; Yurdakul, "Statistical Properties of Population Stability Index", 2018):
below 0.1 no shift, 0.1-0.25 a moderate one, above 0.25 a major one — hence the default limit 0.25.

The result is a report (``data_report.json``): every check with its value, its limit and whether it passed, and
for a failed one the most frequent offending values and a whole example row. The profile (``profile.json``) is
what a later run's drift check compares with: the row count, the label's shares, per numeric feature its decile
edges and the share of rows in each bin (and missing), per categorical feature the share of each value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

#: Defaults of the limits (``--CHECKS`` overrides each): as strict as the job always was, plus drift.
DEFAULT_LIMITS: dict[str, float] = {
    "max_missing_share": 0.0,   # share of rows with no value in a feature column
    "max_invalid_share": 0.0,   # share of rows whose value cannot be read (not a number; an unlisted category)
    "min_label_share": 0.01,    # binary: the positive share must lie in [min, max]; multiclass: every class >= min
    "max_label_share": 0.99,
    "max_psi": 0.25,            # population stability index per feature against the production model's data
}  # fmt: skip
QUANTILES = [i / 10 for i in range(1, 10)]
EPSILON = 1e-4
#: rows per bin both datasets need before a feature's drift is judged (see :func:`drift_checks`)
MIN_ROWS_PER_BIN = 20
EXAMPLES = 5
#: failed checks spelled out in the error message (Glue shows it as the run's ErrorMessage)
MESSAGE_CHECKS = 3
MISSING = "<missing>"
OTHER = "<other>"


class DataCheckFailed(ValueError):
    """The data failed a check; the message names each failed check, its columns and values."""


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def number(col: str) -> Column:
    """The column as a double, null where it is not a number (``try_cast``: also right under ANSI mode)."""
    return F.expr(f"try_cast({quoted(col)} AS DOUBLE)")


def is_missing(col: str) -> Column:
    return F.col(quoted(col)).isNull() | (F.trim(F.col(quoted(col))) == "")


def is_invalid_number(col: str) -> Column:
    """Present but not a finite number."""
    value = number(col)
    return ~is_missing(col) & (value.isNull() | F.isnan(value) | (F.abs(value) == float("inf")))


def category_counts(df: DataFrame, columns: list[str]) -> dict[str, dict[str | None, int]]:
    """``{column: {value: rows}}`` for the given string columns in one pass (None: missing)."""
    if not columns:
        return {}
    pairs = F.explode(F.array(*[F.struct(F.lit(c).alias("k"), F.col(quoted(c)).alias("v")) for c in columns]))
    out: dict[str, dict[str | None, int]] = {c: {} for c in columns}
    for row in df.select(pairs.alias("p")).groupBy("p.k", "p.v").count().collect():
        value = row["v"] if row["v"] is None or row["v"].strip() else None
        out[row["k"]][value] = out[row["k"]].get(value, 0) + int(row["count"])
    return out


def decile_edges(df: DataFrame, numeric: list[str]) -> dict[str, list[float]]:
    """Each numeric column's decile cut points (distinct, ascending) over its valid values."""
    if not numeric:
        return {}
    frame = df.select(*[number(c).alias(f"n{i}") for i, c in enumerate(numeric)])
    found = frame.approxQuantile([f"n{i}" for i in range(len(numeric))], QUANTILES, 0.001)
    return {c: sorted({float(x) for x in cuts if x is not None and math.isfinite(x)})
            for c, cuts in zip(numeric, found, strict=True)}


def _bin(col: str, edges: list[float]) -> Column:
    """The bin of a valid value: 0 below the first edge ... len(edges) at or above the last (right-closed)."""
    value, out = number(col), F.lit(len(edges))
    for i in reversed(range(len(edges))):
        out = F.when(value <= edges[i], F.lit(i)).otherwise(out)
    return out


def measure(df: DataFrame, numeric: list[str], label: Column, label_kind: str,
            bins: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """Counts from one aggregation pass: rows, unknown labels, per numeric column missing/invalid and rows per bin
    for each named set of edges (``bins[set][column]``), and the label's shares."""
    # each column's expressions are built once and shared by its aggregates: every Column made from Python is a
    # round trip to the JVM (py4j), and a bin's chain of when() is one per edge
    aggs = [F.count(F.lit(1)).alias("rows"), F.sum(label.isNull().cast("long")).alias("label_unknown")]
    for i, c in enumerate(numeric):
        missing, invalid = is_missing(c), is_invalid_number(c)
        aggs += [F.sum(missing.cast("long")).alias(f"m{i}"), F.sum(invalid.cast("long")).alias(f"x{i}")]
        valid = ~missing & ~invalid
        for name, edges_of in bins.items():
            edges = edges_of.get(c)
            if edges is None:
                continue
            binned = _bin(c, edges)
            aggs += [F.sum((valid & (binned == k)).cast("long")).alias(f"b_{name}_{i}_{k}")
                     for k in range(len(edges) + 1)]
    if label_kind == "regression":
        aggs += [F.avg(label).alias("label_mean"), F.stddev_pop(label).alias("label_std")]
    row = df.agg(*aggs).first()
    assert row is not None
    rows = int(row["rows"])
    out: dict[str, Any] = {"rows": rows, "label_unknown": int(row["label_unknown"] or 0), "numeric": {}}
    for i, c in enumerate(numeric):
        counts = {"missing": int(row[f"m{i}"] or 0), "invalid": int(row[f"x{i}"] or 0), "bins": {}}
        for name, edges_of in bins.items():
            if c in edges_of:
                counts["bins"][name] = [int(row[f"b_{name}_{i}_{k}"] or 0) for k in range(len(edges_of[c]) + 1)]
        out["numeric"][c] = counts
    if label_kind == "regression":
        out["label_mean"], out["label_std"] = row["label_mean"], row["label_std"]
    return out


def psi(new: list[float], old: list[float]) -> float:
    """Population stability index of two distributions over the same bins (shares; each floored at 1e-4)."""
    total = 0.0
    for a, e in zip(new, old, strict=True):
        a, e = max(a, EPSILON), max(e, EPSILON)
        total += (a - e) * math.log(a / e)
    return round(total, 6)


def shares(counts: list[int], rows: int) -> list[float]:
    return [c / rows if rows else 0.0 for c in counts]


def numeric_profile(edges: list[float], bin_counts: list[int], missing: int, invalid: int, rows: int) -> dict[str, Any]:
    return {"edges": edges, "shares": shares(bin_counts, rows), "missing_share": (missing + invalid) / rows if rows else 0.0}


def categorical_profile(counts: dict[str | None, int], rows: int) -> dict[str, Any]:
    values = {str(k): v / rows for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if k is not None}
    return {"shares": values, "missing_share": counts.get(None, 0) / rows if rows else 0.0}


def numeric_drift(old: dict[str, Any], bin_counts: list[int], missing: int, rows: int) -> float:
    """PSI of a numeric feature over the old profile's bins plus a bin for missing values."""
    new = shares(bin_counts, rows) + [missing / rows if rows else 0.0]
    return psi(new, list(old["shares"]) + [old.get("missing_share", 0.0)])


def categorical_drift(old: dict[str, Any], counts: dict[str | None, int], rows: int) -> float:
    """PSI of a categorical feature over the old profile's values, plus one bin for missing and one for others."""
    known = list(old["shares"])
    new = [counts.get(v, 0) / rows for v in known]
    new.append(counts.get(None, 0) / rows)
    new.append(max(0.0, 1.0 - sum(new)))
    before = [old["shares"][v] for v in known] + [old.get("missing_share", 0.0)]
    before.append(max(0.0, 1.0 - sum(before)))
    return psi(new, before)


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _quote(value: object, limit: int = 80) -> str:
    if value is None:
        return "<empty>"
    text = str(value)
    return repr(text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)")


def value_list(counts: dict[str | None, int], keep: set[str | None] | None = None) -> str:
    """``'ZZ' (2 rows), <empty> (1 row)``: the most frequent values of ``counts`` (those in ``keep`` when given)."""
    items = [(v, n) for v, n in counts.items() if keep is None or v in keep]
    items.sort(key=lambda kv: (-kv[1], "" if kv[0] is None else str(kv[0])))
    return ", ".join(f"{_quote(v)} ({_rows(n)})" for v, n in items[:EXAMPLES])


class Report:
    """The checks of one dataset, in order; :attr:`failed` lists those over their limit."""

    def __init__(self, rows: int, limits: dict[str, float], baseline: str | None) -> None:
        self.rows, self.limits, self.baseline = rows, limits, baseline
        self.checks: list[dict[str, Any]] = []
        self.drift: dict[str, float] = {}

    def add(self, check: str, column: str, value: float, limit: float | None, passed: bool, problem: str = "",
            count: int = 0, examples: str = "") -> dict[str, Any]:
        entry = {"check": check, "column": column, "value": round(value, 6), "limit": limit, "passed": passed}
        if not passed:
            entry["message"] = (f"column {column!r} has {_rows(count)} with {problem}" if count else
                                f"column {column!r}: {problem}") + (f": {examples}" if examples else "")
        self.checks.append(entry)
        return entry

    def share(self, check: str, column: str, count: int, limit_key: str, problem: str, examples: str) -> dict[str, Any]:
        """A check of a share of rows against ``limits[limit_key]`` (its examples only matter when it fails)."""
        value, limit = (count / self.rows if self.rows else 0.0), self.limits[limit_key]
        return self.add(check, column, value, limit, value <= limit, problem, count, examples)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["passed"]]

    def to_json(self) -> dict[str, Any]:
        return {"passed": not self.failed, "rows": self.rows, "limits": self.limits, "baseline": self.baseline,
                "checks": self.checks, "drift": self.drift}

    def message(self, where: str) -> str:
        """The failed checks, the first ``MESSAGE_CHECKS`` of them in full (the report holds every one)."""
        failed = self.failed
        listed = "; ".join(c["message"] for c in failed[:MESSAGE_CHECKS])
        more = len(failed) - MESSAGE_CHECKS
        listed += f"; and {more} more" if more > 0 else ""
        return f"{_rows(len(failed)).replace('row', 'check')} failed (report: {where}): {listed}"


def label_checks(report: Report, label: str, kind: str, counts: dict[str | None, int], unknown: int,
                 class_of: Callable[[str | None], int | None], problem: str, class_names: list[str]) -> None:
    """Unknown label values always fail (nothing can be trained on them); then the label's shares.

    ``counts`` are the rows per label text (empty for regression); ``class_of`` maps a text to its class (binary:
    1 positive, 0 negative; multiclass: the class index) or None when unknown.
    """
    bad = {v for v in counts if class_of(v) is None}
    report.add("label", label, unknown / report.rows if report.rows else 0.0, 0.0, unknown == 0, problem, unknown,
               value_list(counts, bad) if unknown and counts else "")
    low, high = report.limits["min_label_share"], report.limits["max_label_share"]
    valid = report.rows - unknown
    if not valid or kind == "regression":
        return
    per_class: dict[int, int] = {}
    for value, n in counts.items():
        index = class_of(value)
        if index is not None:
            per_class[index] = per_class.get(index, 0) + n
    if kind == "binary":
        share = per_class.get(1, 0) / valid
        report.add("label_share", label, share, low, low <= share <= high,
                   f"positive share {share:.4f} outside [{low}, {high}]")
        return
    for index, name in enumerate(class_names):
        share = per_class.get(index, 0) / valid
        report.add("label_share", f"{label}={name}", share, low, share >= low,
                   f"class {name!r} share {share:.4f} below {low}")


def drift_checks(report: Report, baseline: dict[str, Any], measured: dict[str, Any],
                 categories: dict[str, dict[str | None, int]]) -> None:
    """PSI of every feature column the production model's profile describes.

    With few rows per bin, PSI measures sampling noise more than drift (about (bins - 1) / rows for each sample):
    a feature is judged only when both datasets have at least ``MIN_ROWS_PER_BIN`` rows per bin; otherwise its PSI
    is reported and not enforced.
    """
    limit, old_rows = report.limits["max_psi"], int(baseline.get("rows") or 0)
    problem = "PSI {:.3f} above {} (drift from the data the model in production was trained on)"
    for column, old in baseline.get("numeric", {}).items():
        counts = measured["numeric"].get(column)
        if counts is None or "baseline" not in counts["bins"]:
            continue
        value = numeric_drift(old, counts["bins"]["baseline"], counts["missing"] + counts["invalid"], report.rows)
        _judge(report, column, value, limit, len(old["shares"]) + 1, old_rows, problem.format(value, limit))
    for column, old in baseline.get("categorical", {}).items():
        if column in categories:
            value = categorical_drift(old, categories[column], report.rows)
            _judge(report, column, value, limit, len(old["shares"]) + 2, old_rows, problem.format(value, limit))


def _judge(report: Report, column: str, value: float, limit: float, bins: int, old_rows: int, problem: str) -> None:
    report.drift[column] = value
    enforced = min(report.rows, old_rows) >= MIN_ROWS_PER_BIN * bins
    entry = report.add("drift", column, value, limit, value <= limit or not enforced, problem)
    if not enforced:
        entry["note"] = f"not enforced: fewer than {MIN_ROWS_PER_BIN} rows per bin ({bins} bins)"
