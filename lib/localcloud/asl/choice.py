"""Choice rules of JSONPath states: comparison operators on a ``Variable``, And/Or/Not, and their evaluation.

Layer: above :mod:`.paths`; the Choice state itself (in :mod:`.states`) reaches these through its query language.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from localcloud.asl.errors import EvaluationError, StatesErrorName
from localcloud.asl.paths import PathNotFound
from localcloud.asl.values import is_number, parse_timestamp
from localcloud.asl.varpaths import select  # Variable and *Path operands may read a variable ($name)

LOG = logging.getLogger(__name__)


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
    "Numeric": lambda v: v if is_number(v) else None,
    "Boolean": lambda v: v if isinstance(v, bool) else None,
    "Timestamp": parse_timestamp,
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
        return is_number(value) is bool(expected)
    if operator == "IsString":
        return isinstance(value, str) is bool(expected)
    if operator == "IsBoolean":
        return isinstance(value, bool) is bool(expected)
    if operator == "IsTimestamp":
        return (parse_timestamp(value) is not None) is bool(expected)
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
