"""The Choice state: comparison operators, And/Or/Not, and rule evaluation."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from localcloud.asl.errors import StatesError, StatesErrorName
from localcloud.asl.paths import EvaluationError, PathNotFound, apply_input_path, select
from localcloud.asl.states import State, Visit

LOG = logging.getLogger(__name__)

TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not TIMESTAMP_RE.match(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def string_matches(value: str, pattern: str) -> bool:
    """``StringMatches``: ``*`` matches any run of characters; ``\\*`` and ``\\\\`` are a literal star/backslash."""
    regex: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append(".*" if ch == "*" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(regex), value, flags=re.DOTALL) is not None


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}

#: the kind of value each operator family compares, and how to read it (None: not comparable → rule false)
_KINDS: dict[str, Callable[[Any], Any]] = {
    "String": lambda v: v if isinstance(v, str) else None,
    "Numeric": lambda v: v if _is_number(v) else None,
    "Boolean": lambda v: v if isinstance(v, bool) else None,
    "Timestamp": _timestamp,
}

COMPARISON_OPERATORS: dict[str, str] = {}
"""Every comparison operator → the kind of its value (``String``, ``Numeric``, ``Boolean``, ``Timestamp``,
``path``, ``bool`` for the Is* tests, ``pattern`` for StringMatches)."""
for _kind in _KINDS:
    for _op in _ORDER:
        if _kind == "Boolean" and _op != "Equals":
            continue
        COMPARISON_OPERATORS[f"{_kind}{_op}"] = _kind
        COMPARISON_OPERATORS[f"{_kind}{_op}Path"] = "path"
COMPARISON_OPERATORS["StringMatches"] = "pattern"
for _test in ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"):
    COMPARISON_OPERATORS[_test] = "bool"


def _missing(path: str) -> EvaluationError:
    return EvaluationError(StatesErrorName.RUNTIME,
                           f"Invalid path '{path}': The choice state's condition path references an invalid value.")


def evaluate_rule(rule: dict[str, Any], data: Any, context: Any) -> bool:
    """Whether a Choice rule (comparison or And/Or/Not) holds for ``data``."""
    if "And" in rule:
        return all(evaluate_rule(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate_rule(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate_rule(rule["Not"], data, context)
    variable = rule["Variable"]
    operator = next(k for k in rule if k in COMPARISON_OPERATORS)
    expected = rule[operator]
    try:
        value = select(variable, data, context)
        present = True
    except PathNotFound:
        present = False
    if operator == "IsPresent":
        return present is bool(expected)
    if not present:
        raise _missing(variable)
    if operator == "IsNull":
        return (value is None) is bool(expected)
    if operator == "IsNumeric":
        return _is_number(value) is bool(expected)
    if operator == "IsString":
        return isinstance(value, str) is bool(expected)
    if operator == "IsBoolean":
        return isinstance(value, bool) is bool(expected)
    if operator == "IsTimestamp":
        return (_timestamp(value) is not None) is bool(expected)
    if operator == "StringMatches":
        return isinstance(value, str) and string_matches(value, expected)
    if operator.endswith("Path"):
        try:
            expected = select(expected, data, context)
        except PathNotFound:
            raise _missing(expected) from None
        operator = operator[:-4]
    kind = next(k for k in _KINDS if operator.startswith(k))
    read = _KINDS[kind]
    left, right = read(value), read(expected)
    if left is None or right is None:
        return False
    return _ORDER[operator[len(kind):]](left, right)


class ChoiceState(State):
    type = "Choice"

    def __init__(self, name: str, raw: dict[str, Any]) -> None:
        super().__init__(name, raw)
        self.choices: list[dict[str, Any]] = raw["Choices"]
        self.default: str | None = raw.get("Default")

    def run(self, visit: Visit) -> tuple[Any, str | None]:
        data = visit.effective_input()
        context = visit.context()
        for rule in self.choices:
            if evaluate_rule(rule, data, context):
                return apply_input_path(self.output_path, data, context), rule["Next"]
        if self.default is None:
            raise StatesError(StatesErrorName.NO_CHOICE_MATCHED, "No Matches!")
        return apply_input_path(self.output_path, data, context), self.default
