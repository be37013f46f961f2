"""JSONata expressions of JSONata states: ``"{% expression %}"`` strings, evaluated with the jsonata-python library.

"JSONata syntax: "{% <JSONata expression> %}"" (developer guide, transforming-data): a string value that starts with
``{%`` and ends with ``%}`` is an expression, at any depth of a field; every other value is copied as it is (recorded
on AWS: localstack snapshot v2/outputdecl/test_output.snapshot.json, BASE_LITERALS, where ``" {% states.input %} "``
with spaces around stays a string).  An expression sees ``$states`` (input, result, errorOutput, context) and the
workflow variables as ``$name``; it has no input document of its own.

A failed evaluation is the error ``States.QueryEvaluationError`` with the causes AWS writes, recorded on AWS in
localstack snapshots v2/assign/test_assign_reference_variables.snapshot.json (test_undefined_reference: "returned
nothing (undefined)"), v2/intrinsic_functions/test_math_operations_jsonata.snapshot.json ("threw an error during
evaluation. T1006: Attempted to invoke a non-function") and v2/scenarios/test_base_scenarios.snapshot.json
(test_map_state_items_eval_jsonata_fail: "returned an unexpected result type", "returned an unsupported result
type"); the field is named relative to the state (``Output/result``, ``Assign/x``, ``Arguments/FunctionName``).
Layer: above :mod:`.errors`, :mod:`.values` and :mod:`.jsonata_functions`.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Mapping
from typing import Any, Final

import jsonata
from jsonata import jexception, parser

from localcloud.asl.errors import EvaluationError
from localcloud.asl.jsonata_functions import DISABLED, FUNCTIONS, NULL, FunctionError
from localcloud.asl.values import to_json

LOG = logging.getLogger(__name__)

#: the error of a JSONata expression that failed (developer guide, error-handling: States.QueryEvaluationError)
QUERY_EVALUATION_ERROR: Final = "States.QueryEvaluationError"
#: the largest integer a JSON number keeps exactly as a double: integral results within it are written as integers
_EXACT = 2**53


class _Undefined:
    def __repr__(self) -> str:
        return "UNDEFINED"


#: what an expression that returns nothing evaluates to
UNDEFINED: Final = _Undefined()


class QueryEvaluationFailure(EvaluationError):
    """States.QueryEvaluationError at a field of the state (``location``, e.g. ``Output/result``; None when the
    failure is not about one field); the state records it in an EvaluationFailed event."""

    def __init__(self, cause: str, location: str | None) -> None:
        super().__init__(QUERY_EVALUATION_ERROR, cause)
        self.location = location


class _Unsupported(Exception):
    pass


def is_expression(value: Any) -> bool:
    """Whether a JSON value is a JSONata expression: a string that starts with ``{%`` and ends with ``%}``."""
    return isinstance(value, str) and len(value) >= 4 and value.startswith("{%") and value.endswith("%}")


def source(value: str) -> str:
    """The expression inside ``{% ... %}``, as AWS quotes it in a cause."""
    return value[2:-2].strip()


def compile_expression(text: str) -> jsonata.Jsonata:
    """A compiled expression with the Step Functions functions; raises ``jexception.JException`` on bad syntax.

    Compiled anew for every evaluation: the library keeps the evaluation time (``$now()``) on the instance most
    recently built in the thread, so one instance per evaluation keeps ``$now()`` right in concurrent branches.
    """
    expression = jsonata.Jsonata(text)
    expression.set_output_convert_nulls(False)
    for name, implementation in FUNCTIONS.items():
        expression.register_lambda(name, implementation)
    return expression


def _to_library(value: Any) -> Any:
    if value is None:
        return NULL
    if isinstance(value, dict):
        return {k: _to_library(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_library(v) for v in value]
    return value


def _from_library(value: Any) -> Any:
    if value is NULL:
        return None
    if isinstance(value, dict):
        return {k: _from_library(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_from_library(v) for v in value if v is not None]
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < _EXACT else value
    raise _Unsupported(type(value).__name__)


def bindings(states: Mapping[str, Any], variables: Mapping[str, Any]) -> dict[str, Any]:
    """What an expression sees: the workflow variables as ``$name`` and ``$states``; ``$eval`` is taken away."""
    out = {name: _to_library(copy.deepcopy(variables[name])) for name in variables}
    out["states"] = _to_library(dict(states))
    for name in DISABLED:
        out[name] = None
    return out


def _cause(text: str, location: str, what: str) -> str:
    return f"The JSONata expression '{text}' specified for the field '{location}' {what}"


def evaluate(text: str, scope: dict[str, Any], location: str) -> Any:
    """The value of expression ``text`` with ``scope`` (from :func:`bindings`), or :data:`UNDEFINED`."""
    try:
        result = compile_expression(text).evaluate(None, scope)
    except jexception.JException as exc:
        raise QueryEvaluationFailure(
            _cause(text, location, f"threw an error during evaluation. {exc.error}: {_message(exc)}"), location) from None
    except FunctionError as exc:
        detail = f"{exc.code}: {exc}" if exc.code else str(exc)
        raise QueryEvaluationFailure(_cause(text, location, f"threw an error during evaluation. {detail}"),
                                     location) from None
    except (ValueError, TypeError, ArithmeticError, KeyError, IndexError, RecursionError) as exc:
        # the library lets a few failures of its own functions out as Python errors ($number("x"), 1/0)
        LOG.debug("JSONata %r failed with %r", text, exc)
        raise QueryEvaluationFailure(_cause(text, location, f"threw an error during evaluation. {exc}"),
                                     location) from None
    if result is None:
        return UNDEFINED
    try:
        return _from_library(result)
    except _Unsupported:
        raise QueryEvaluationFailure(_cause(text, location, "returned an unsupported result type."),
                                     location) from None


def _message(exc: jexception.JException) -> str:
    """The error's message as jsonata-js words it (and AWS quotes it: ``Expected "]", got ","``): the library's
    template with its Java port's "Object" put back to "function" and string values in JSON quotes, as
    jsonata-js's ``{{token}}`` placeholders render them."""
    template = jexception.JException.error_codes.get(exc.error)
    if not template or template == "{{{message}}}":
        return str(exc)
    values = [exc.current, exc.expected] + ([exc.extra] if exc.extra is not None else [])
    shown = [_quoted(value) for value in values]
    try:
        return re.sub(r"\{\{\w+\}\}", "{}", template.replace("Object", "function")).format(*shown)
    except (IndexError, KeyError, ValueError):
        return str(exc)


def _quoted(value: Any) -> str:
    if value is None:
        return "undefined"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def nothing(text: str, location: str) -> QueryEvaluationFailure:
    """The failure of an expression that returned nothing where a value is needed."""
    return QueryEvaluationFailure(_cause(text, location, "returned nothing (undefined)."), location)


def evaluate_field(value: Any, scope: dict[str, Any], location: str) -> Any:
    """A field value of a JSONata state: an expression is evaluated (nothing is an error), any other value is
    copied, and objects and arrays are walked so that an expression at any depth is evaluated."""
    if is_expression(value):
        text = source(value)
        result = evaluate(text, scope, location)
        if result is UNDEFINED:
            raise nothing(text, location)
        return result
    if isinstance(value, dict):
        return {key: evaluate_field(item, scope, f"{location}/{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [evaluate_field(item, scope, f"{location}[{i}]") for i, item in enumerate(value)]
    return copy.deepcopy(value)


def type_name(value: Any) -> str:
    """The JSON type of a value as AWS names it in a cause ('array', 'object', 'string', 'number', ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def unexpected_type(text: str | None, value: Any, location: str, expected: str) -> QueryEvaluationFailure:
    """The failure of a field whose value (of expression ``text``, if it was one) has the wrong JSON type."""
    what = (f"returned an unexpected result type. Expected '{expected}', but was '{type_name(value)}' "
            f"for value: {to_json(value)}")
    if text is not None:
        return QueryEvaluationFailure(_cause(text, location, what), location)
    return QueryEvaluationFailure(f"The field '{location}' {what}", location)


def parse_tree(text: str) -> parser.Parser.Symbol:
    """The syntax tree of an expression (for the definition checks); raises ``jexception.JException``."""
    return compile_expression(text).ast


def syntax_problem(text: str) -> str | None:
    """The parser's message for an expression that does not parse, or None."""
    try:
        parse_tree(text)
    except jexception.JException as exc:
        return _message(exc)
    return None
