"""IAM identity-policy evaluation: does a set of policy documents allow ``action`` on ``resource``?

The rules of AWS's evaluation logic for one account and identity-based policies: an explicit ``Deny`` wins, then an
``Allow`` is needed, else the request is implicitly denied. Statements may use ``Action``/``NotAction``,
``Resource``/``NotResource`` (``*`` and ``?`` wildcards; actions compare without regard to case, resources with)
and ``Condition`` blocks with the string, ARN, Bool and Null operators, their ``IfExists`` forms and the
``ForAnyValue:``/``ForAllValues:`` set qualifiers. A condition on a key the request does not carry is false (true
for ``...IfExists``), as on AWS. Operators not listed here never match, so a statement using one does not apply.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

LOG = logging.getLogger(__name__)

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "allow", "explicit-deny", "implicit-deny"


@dataclass(frozen=True)
class Decision:
    outcome: str  # ALLOW, EXPLICIT_DENY or IMPLICIT_DENY
    statement: str | None = None  # the Sid (or index) of the deciding statement

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOW


def parse_document(document: Any) -> dict[str, Any]:
    """A policy document as IAM hands it out: a dict, JSON text, or URL-encoded JSON text."""
    if isinstance(document, Mapping):
        return dict(document)
    text = str(document)
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(unquote(text))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@lru_cache(maxsize=512)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: ``*`` any run of characters, ``?`` any one character."""
    return bool(_glob(str(pattern), ignore_case).match(value))


# ---------------------------------------------------------------------------------------------- conditions


def _string_equals(expected: str, actual: str) -> bool:
    return expected == actual


def _string_equals_ci(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


def _string_like(expected: str, actual: str) -> bool:
    return matches(expected, actual)


def _bool(expected: str, actual: str) -> bool:
    return str(expected).lower() == str(actual).lower()


_POSITIVE = {
    "stringequals": _string_equals,
    "stringequalsignorecase": _string_equals_ci,
    "stringlike": _string_like,
    "arnequals": _string_like,  # ARN operators take wildcards too
    "arnlike": _string_like,
    "bool": _bool,
}
_NEGATED = {
    "stringnotequals": _string_equals,
    "stringnotequalsignorecase": _string_equals_ci,
    "stringnotlike": _string_like,
    "arnnotequals": _string_like,
    "arnnotlike": _string_like,
}


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    qualifier, _, op = operator.rpartition(":")
    op = op.lower()
    if_exists = op.endswith("ifexists")
    op = op.removesuffix("ifexists")
    values = [str(v) for v in _as_list(expected)]
    present = {k.lower(): v for k, v in context.items()}
    actual_raw = present.get(key.lower())
    if op == "null":
        want_absent = any(v.lower() == "true" for v in values)
        return (actual_raw is None) == want_absent
    if actual_raw is None:
        return if_exists or qualifier.lower() == "forallvalues"
    actual = [str(v) for v in _as_list(actual_raw)]
    if op in _POSITIVE:
        test, negate = _POSITIVE[op], False
    elif op in _NEGATED:
        test, negate = _NEGATED[op], True
    else:
        LOG.warning("IAM condition operator %s is not evaluated by localcloud; the statement does not apply",
                    operator)
        return False

    def one(value: str) -> bool:
        hit = any(test(e, value) for e in values)
        return not hit if negate else hit

    if qualifier.lower() == "forallvalues":
        return all(one(v) for v in actual)
    return any(one(v) for v in actual)


def conditions_hold(block: Any, context: Mapping[str, Any]) -> bool:
    if not block:
        return True
    if not isinstance(block, Mapping):
        return False
    for operator, pairs in block.items():
        if not isinstance(pairs, Mapping):
            return False
        for key, expected in pairs.items():
            if not _condition_holds(str(operator), str(key), expected, context):
                return False
    return True


# ---------------------------------------------------------------------------------------------- statements


def _applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    if "Action" in statement:
        if not any(matches(a, action, ignore_case=True) for a in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(matches(a, action, ignore_case=True) for a in _as_list(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(matches(r, resource) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(matches(r, resource) for r in _as_list(statement["NotResource"])):
            return False
    else:
        return False
    return conditions_hold(statement.get("Condition"), context)


def evaluate(documents: Iterable[Any], action: str, resource: str,
             context: Mapping[str, Any] | None = None) -> Decision:
    """The decision of identity-based ``documents`` on ``action`` (``glue:StartJobRun``) on ``resource``."""
    context = context or {}
    allowed_by: str | None = None
    for document in documents:
        parsed = parse_document(document)
        for index, statement in enumerate(_as_list(parsed.get("Statement"))):
            if not isinstance(statement, Mapping) or not _applies(statement, action, resource, context):
                continue
            sid = str(statement.get("Sid") or index)
            if statement.get("Effect") == "Deny":
                return Decision(EXPLICIT_DENY, sid)
            if statement.get("Effect") == "Allow" and allowed_by is None:
                allowed_by = sid
    return Decision(ALLOW, allowed_by) if allowed_by is not None else Decision(IMPLICIT_DENY)
