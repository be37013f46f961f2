"""The features the Glue job builds from a schema (shipped with the job through ``--extra-py-files``).

A schema names the label (and how to read it: binary, multiclass or regression), the columns to drop, the id
columns (never features) and the categorical columns, each with a fixed list of values or values learned from
the data. Every other column is numeric. :func:`plan_features` turns a schema, the data's header and the values it
holds into a :class:`Plan`: the numeric columns, each categorical column's one-hot values, and the feature columns
in order. Given the plan of the model in production (its ``features.json``), a new plan keeps that model's features
in their order and appends what is new at the end, so a feature's column never moves between retrains. A value a
fixed list does not hold, or one beyond ``max_categories``, is encoded as all zeros and reported by the data checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

TASKS = ("binary", "multiclass", "regression")

#: The project's own dataset: synthetic customer churn in the raw schema (data/README.md).
CHURN_SCHEMA: dict[str, Any] = {
    "label": "Churn?",
    "task": "binary",
    "positive": ["True.", "True"],
    "negative": ["False.", "False"],
    "drop": ["Phone", "Day Charge", "Eve Charge", "Night Charge", "Intl Charge"],
    "numeric": [
        "Account Length", "VMail Message", "Day Mins", "Day Calls", "Eve Mins", "Eve Calls", "Night Mins",
        "Night Calls", "Intl Mins", "Intl Calls", "CustServ Calls",
    ],
    "categorical": {
        "State": [
            "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN", "KS",
            "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV",
            "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
        ],
        "Area Code": ["408", "415", "510"],
        "Int'l Plan": ["no", "yes"],
        "VMail Plan": ["no", "yes"],
    },
}  # fmt: skip


class SchemaError(ValueError):
    """The schema (``--SCHEMA``) or the data's header does not fit; the message says what to change."""


@dataclass
class Schema:
    label: str
    task: str = "binary"
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    #: the numeric feature columns, all required; () means every column not named elsewhere
    numeric: tuple[str, ...] = ()
    #: categorical column -> its fixed values, or () to learn them from the data
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)
    max_categories: int = 100

    @classmethod
    def parse(cls, text: str) -> Schema:
        """A schema from its JSON text (``--SCHEMA``); an empty text is the churn schema."""
        try:
            data = json.loads(text) if text.strip() else CHURN_SCHEMA
        except json.JSONDecodeError as exc:
            raise SchemaError(f"--SCHEMA is not valid JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("label"), str) or not data["label"]:
            raise SchemaError("--SCHEMA needs at least {\"label\": \"<label column>\"}")
        categorical = data.get("categorical") or {}
        if isinstance(categorical, list):
            categorical = {name: [] for name in categorical}
        schema = cls(
            label=data["label"], task=str(data.get("task", "binary")),
            positive=_strings(data, "positive"), negative=_strings(data, "negative"),
            classes=_strings(data, "classes"), drop=_strings(data, "drop"), ids=_strings(data, "ids"),
            numeric=_strings(data, "numeric"),
            categorical={str(k): tuple(str(v) for v in (values or ())) for k, values in categorical.items()},
            max_categories=int(data.get("max_categories", 100)),
        )  # fmt: skip
        schema.check()
        return schema

    def check(self) -> None:
        if self.task not in TASKS:
            raise SchemaError(f"--SCHEMA task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.task == "binary" and not (self.positive and self.negative):
            raise SchemaError("a binary label needs its \"positive\" and \"negative\" values in --SCHEMA, e.g. "
                              "{\"positive\": [\"yes\"], \"negative\": [\"no\"]}")
        overlap = set(self.positive) & set(self.negative)
        if overlap:
            raise SchemaError(f"--SCHEMA lists {sorted(overlap)} as both positive and negative")
        roles = [("drop", self.drop), ("ids", self.ids), ("numeric", self.numeric),
                 ("categorical", tuple(self.categorical))]
        for name, columns in roles:
            if self.label in columns:
                raise SchemaError(f"the label {self.label!r} cannot also be in --SCHEMA {name}")

    def not_features(self) -> set[str]:
        return {self.label, *self.drop, *self.ids}


def _strings(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise SchemaError(f"--SCHEMA {key} must be a list, got {value!r}")
    return tuple(str(v) for v in value)


@dataclass
class Plan:
    """What the job writes: the label's encoding, then one column per feature, in :attr:`features` order."""

    schema: Schema
    numeric: list[str]
    vocab: dict[str, list[str]]
    classes: list[str]
    features: list[str]

    def source(self, feature: str) -> tuple[str, str | None]:
        """``(column, value)`` for a one-hot feature, ``(column, None)`` for a numeric one."""
        if feature in self.numeric:
            return feature, None
        for column, values in self.vocab.items():
            for value in values:
                if feature == one_hot_name(column, value):
                    return column, value
        raise KeyError(feature)

    def to_manifest(self) -> dict[str, Any]:
        """The plan as ``features.json`` keeps it (with the row counts the job adds)."""
        out: dict[str, Any] = {"label": self.schema.label, "task": self.schema.task, "features": self.features,
                               "numeric": self.numeric, "categorical": self.vocab}
        if self.schema.task == "binary":
            out["label_values"] = {**{v: 1 for v in self.schema.positive}, **{v: 0 for v in self.schema.negative}}
        if self.schema.task == "multiclass":
            out["classes"] = self.classes
        return out


def one_hot_name(column: str, value: str) -> str:
    return f"{column}_{value}"


def _vocabulary(schema: Schema, column: str, seen: list[str], baseline: dict[str, Any] | None) -> list[str]:
    """A categorical column's one-hot values: the fixed list, else the production model's values followed by the
    new values of this data (sorted), at most ``max_categories``."""
    fixed = schema.categorical.get(column, ())
    if fixed:
        return list(fixed)
    known = list((baseline or {}).get("categorical", {}).get(column, []))
    new = sorted(v for v in set(seen) if v not in known)
    return (known + new)[: max(schema.max_categories, len(known))]


def _classes(schema: Schema, seen: list[str], baseline: dict[str, Any] | None) -> list[str]:
    if schema.task != "multiclass":
        return []
    if schema.classes:
        return list(schema.classes)
    known = list((baseline or {}).get("classes", []))
    return known + sorted(v for v in set(seen) if v not in known)


def plan_features(schema: Schema, columns: list[str], seen: dict[str, list[str]],
                  baseline: dict[str, Any] | None = None) -> Plan:
    """The plan for data whose header is ``columns`` and whose categorical (and label) values are ``seen``.

    ``baseline`` is the ``features.json`` of the model in production: its features come first, in its order.
    """
    needed = [schema.label, *schema.categorical, *schema.ids, *schema.numeric]
    if baseline:
        needed += [c for c in baseline.get("numeric", []) if c not in needed]
    missing = [c for c in needed if c not in columns]
    if missing:
        origin = " (the model in production was trained on them)" if baseline else ""
        raise SchemaError(f"lacks the column(s) {', '.join(map(repr, missing))}{origin}; its header has "
                          f"{', '.join(map(repr, columns))}")
    skip = schema.not_features() | set(schema.categorical)
    numeric = [c for c in (baseline or {}).get("numeric", []) if c in columns]
    numeric += [c for c in (schema.numeric or columns) if c not in skip and c not in numeric]
    vocab = {c: _vocabulary(schema, c, seen.get(c, []), baseline) for c in schema.categorical}
    ordered = numeric + [one_hot_name(c, v) for c, values in vocab.items() for v in values]
    previous = [f for f in (baseline or {}).get("features", []) if f in ordered]
    features = previous + [f for f in ordered if f not in previous]
    if len(set(features)) != len(features):
        raise SchemaError("two feature columns get the same name (a numeric column named like <column>_<value> of "
                          "a categorical one); rename one of them")
    return Plan(schema, numeric, vocab, _classes(schema, seen.get(schema.label, []), baseline), features)
