"""The search space of a hyperparameter tuning job: its ``ParameterRanges`` checked and mapped onto the unit cube.

What the ranges mean ("Define Hyperparameter Ranges", SageMaker developer guide, and the botocore model
``sagemaker/2017-07-24``: IntegerParameterRange, ContinuousParameterRange, CategoricalParameterRange):

* at most 30 tunable hyperparameters in all, each categorical one with 1 to 30 values;
* ``ScalingType`` ``Linear`` searches uniformly; ``Logarithmic`` uniformly on a log scale and "works only for
  ranges that have values greater than 0"; ``ReverseLogarithmic`` "is supported only for continuous
  hyperparameter ranges" "entirely within the range 0<=x<1.0"; ``Auto`` lets SageMaker choose — and "initially,
  SageMaker assumes linear scaling" ("Best Practices for Hyperparameter Tuning"), which is what ``Auto`` does here;
* a ``Grid`` search takes categorical ranges only and runs every combination once.

Every dimension maps a point ``u`` of ``[0, 1]`` to a value and back; categorical ones are one-hot columns for
the Bayesian search. Values go to the training job as strings: an integer as digits, a float as Python's
shortest round-trip form (the exact digits AWS writes could not be confirmed).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from localcloud.services.sagemaker.validation import constraint, invalid

MAX_RANGES = 30
MAX_VALUES = 30
SCALINGS = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")


@dataclass(frozen=True)
class Dimension:
    """One tunable hyperparameter."""

    name: str
    kind: str  # "Integer", "Continuous" or "Categorical"
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Linear"
    values: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        """How many columns the dimension takes in the Bayesian search's encoding."""
        return len(self.values) if self.kind == "Categorical" else 1

    @property
    def count(self) -> float:
        """How many distinct values the dimension has (infinite for a continuous one)."""
        if self.kind == "Categorical":
            return float(len(self.values))
        if self.kind == "Integer":
            return float(int(self.high) - int(self.low) + 1)
        return math.inf if self.high > self.low else 1.0

    def value(self, u: float) -> str:
        """The hyperparameter value at ``u`` in [0, 1] (a categorical dimension picks by position)."""
        u = min(max(u, 0.0), 1.0)
        if self.kind == "Categorical":
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.kind == "Integer":
            lo, hi = int(self.low), int(self.high)
            if self.scaling == "Logarithmic":  # log-uniform over [lo - 1/2, hi + 1/2): each integer its share
                a, b = math.log(lo - 0.5 if lo > 1 else lo), math.log(hi + 0.5)
                return str(min(max(round(math.exp(a + u * (b - a))), lo), hi))
            return str(min(lo + int(u * (hi - lo + 1)), hi))
        return _float_text(self._scaled(u))

    def _scaled(self, u: float) -> float:
        lo, hi = self.low, self.high
        if self.scaling == "Logarithmic":
            return min(max(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))), lo), hi)
        if self.scaling == "ReverseLogarithmic":  # 1 - x log-uniform: dense close to 1
            a, b = math.log(1.0 - lo), math.log(1.0 - hi)
            return min(max(1.0 - math.exp(a + u * (b - a)), lo), hi)
        return lo + u * (hi - lo)

    def unit(self, text: str) -> float:
        """Where ``text`` lies in [0, 1] (the centre of its cell for an integer or categorical value)."""
        if self.kind == "Categorical":
            return (self.values.index(text) + 0.5) / len(self.values) if text in self.values else 0.5
        value, lo, hi = float(text), self.low, self.high
        if self.kind == "Integer":
            if self.scaling == "Logarithmic":
                a, b = math.log(lo - 0.5 if lo > 1 else lo), math.log(hi + 0.5)
                return _clip((math.log(max(value, 1e-12)) - a) / (b - a)) if b > a else 0.5
            return _clip((value - lo + 0.5) / (hi - lo + 1))
        if hi <= lo:
            return 0.5
        if self.scaling == "Logarithmic":
            return _clip((math.log(max(value, lo)) - math.log(lo)) / (math.log(hi) - math.log(lo)))
        if self.scaling == "ReverseLogarithmic":
            a, b = math.log(1.0 - lo), math.log(1.0 - hi)
            return _clip((math.log(1.0 - min(value, hi)) - a) / (b - a))
        return _clip((value - lo) / (hi - lo))

    def encode(self, text: str) -> list[float]:
        """The dimension's columns for the Bayesian search (one-hot for a categorical value)."""
        if self.kind == "Categorical":  # two different values are one unit apart, as the ends of a range
            return [math.sqrt(0.5) if v == text else 0.0 for v in self.values]
        return [self.unit(text)]


def _clip(u: float) -> float:
    return min(max(u, 0.0), 1.0)


def _float_text(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True)
class Space:
    """The tunable hyperparameters of one training job definition."""

    dimensions: tuple[Dimension, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    @property
    def combinations(self) -> float:
        """How many distinct points the space has (infinite with a continuous range)."""
        return math.prod(d.count for d in self.dimensions)

    @property
    def width(self) -> int:
        return sum(d.width for d in self.dimensions)

    def point(self, units: list[float]) -> dict[str, str]:
        """The hyperparameter values at one point of the unit cube (one coordinate per dimension)."""
        return {d.name: d.value(u) for d, u in zip(self.dimensions, units, strict=True)}

    def encode(self, values: Mapping[str, str]) -> list[float]:
        return [x for d in self.dimensions for x in d.encode(str(values.get(d.name, "")))]

    def grid(self) -> Iterator[dict[str, str]]:
        """Every combination of the categorical values, the first range varying slowest."""
        for combo in itertools.product(*(d.values for d in self.dimensions)):
            yield dict(zip(self.names, combo, strict=True))


def _number(text: Any, member: str, integer: bool) -> float:
    try:
        value = float(int(str(text))) if integer else float(str(text))
    except ValueError:
        raise invalid(f"The value '{text}' of {member} is not {'an integer' if integer else 'a number'}.") \
            from None
    if not math.isfinite(value):
        raise invalid(f"The value '{text}' of {member} is not a finite number.")
    return value


def _numeric(item: Mapping[str, Any], kind: str, member: str) -> Dimension:
    name = str(item.get("Name") or "")
    for key in ("Name", "MinValue", "MaxValue"):
        if item.get(key) in (None, ""):
            raise constraint(None, f"{member}.{key[0].lower()}{key[1:]}", "not be null")
    scaling = str(item.get("ScalingType") or "Auto")
    if scaling not in SCALINGS:
        raise constraint(scaling, f"{member}.scalingType", f"satisfy enum value set: [{', '.join(SCALINGS)}]")
    low = _number(item["MinValue"], f"{member}.minValue", kind == "Integer")
    high = _number(item["MaxValue"], f"{member}.maxValue", kind == "Integer")
    if low > high:
        raise invalid(f"The MinValue ({item['MinValue']}) of hyperparameter '{name}' is greater than its "
                      f"MaxValue ({item['MaxValue']}).")
    if scaling == "Logarithmic" and low <= 0:
        raise invalid(f"Logarithmic scaling of hyperparameter '{name}' works only for ranges whose values are "
                      f"all greater than 0; MinValue is {item['MinValue']}.")
    if scaling == "ReverseLogarithmic":
        if kind == "Integer":
            raise invalid(f"ReverseLogarithmic scaling of hyperparameter '{name}' is supported only for "
                          "continuous ranges, not for integer ranges.")
        if low < 0 or high >= 1:
            raise invalid(f"ReverseLogarithmic scaling of hyperparameter '{name}' works only for ranges entirely "
                          f"within 0 <= x < 1.0; the range is [{item['MinValue']}, {item['MaxValue']}].")
    return Dimension(name=name, kind=kind, low=low, high=high, scaling="Linear" if scaling == "Auto" else scaling)


def parse(ranges: Mapping[str, Any] | None, member: str = "parameterRanges") -> Space:
    """The space of a ``ParameterRanges`` object (ValidationException when a range is malformed)."""
    ranges = ranges or {}
    if ranges.get("AutoParameters"):
        raise invalid("localcloud does not implement Autotune: AutoParameters are not supported. Give "
                      "IntegerParameterRanges, ContinuousParameterRanges or CategoricalParameterRanges.")
    dims: list[Dimension] = []
    for kind in ("Integer", "Continuous", "Categorical"):
        key = f"{kind}ParameterRanges"
        items = ranges.get(key) or []
        if not isinstance(items, list):
            raise invalid(f"Invalid type for parameter {key}: {type(items).__name__} is not the expected type.")
        for i, item in enumerate(items):
            where = f"{member}.{key[0].lower()}{key[1:]}.{i + 1}.member"
            if not isinstance(item, dict):
                raise invalid(f"Each of {key} must be an object.")
            if kind != "Categorical":
                dims.append(_numeric(item, kind, where))
                continue
            values = item.get("Values")
            if not item.get("Name") or not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES:
                raise constraint(values, f"{where}.values", f"have length less than or equal to {MAX_VALUES} "
                                 "and greater than or equal to 1")
            dims.append(Dimension(name=str(item["Name"]), kind=kind, values=tuple(str(v) for v in values)))
    if len(dims) > MAX_RANGES:
        raise invalid(f"A tuning job searches at most {MAX_RANGES} hyperparameters; {len(dims)} ranges were given.")
    names = [d.name for d in dims]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise invalid(f"Each hyperparameter may have only one range; {', '.join(twice)} has more than one.")
    return Space(tuple(dims))
