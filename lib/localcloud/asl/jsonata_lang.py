"""The JSONata query language: Arguments, Output, Assign, Items, ItemSelector, Condition and ``{% %}`` fields.

"After selecting JSONata, your workflow fields will be reduced from five JSONPath fields (InputPath, Parameters,
ResultSelector, ResultPath, and OutputPath) to only two fields: Arguments and Output" (developer guide,
transforming-data).  An expression sees ``$states.input`` (the state's input), ``$states.context`` (the context
object), ``$states.result`` in the Output and Assign of a Task, Map or Parallel state, ``$states.errorOutput`` in
a Catcher's Output and Assign, and the workflow variables (developer guide, workflow-variables: Reserved variable
$states).  Without Output, a state's output is its result (a Catcher's, the error output); Assign and Output
both see the variables as they were when the state was entered.  Recorded on AWS: localstack snapshots
v2/outputdecl/test_output.snapshot.json, v2/states_variables/test_error_output.snapshot.json,
v2/evaluate_jsonata/test_base_evaluate_expressions.snapshot.json and v2/assign/*.snapshot.json.
Layer: above :mod:`.jsonata_eval` and :mod:`.query`; the states reach it only through
:class:`~localcloud.asl.query.QueryLanguage`.
"""

from __future__ import annotations

import logging
from typing import Any

from localcloud.asl.jsonata_eval import (
    UNDEFINED,
    QueryEvaluationFailure,
    bindings,
    evaluate,
    evaluate_field,
    is_expression,
    nothing,
    source,
    unexpected_type,
)
from localcloud.asl.query import ABSENT, StateView, variables_of
from localcloud.asl.values import TIMESTAMP_RE, is_int, is_number, parse_timestamp, to_json

LOG = logging.getLogger(__name__)

#: the states whose Output and Assign see ``$states.result``
_PRODUCERS = frozenset({"Task", "Map", "Parallel"})


def _at(where: str, field: str) -> str:
    return f"{where}/{field}" if where else field


def _scope(visit: StateView, *, extra: dict[str, Any] | None = None, result: Any = ABSENT,
           error_output: Any = ABSENT) -> dict[str, Any]:
    states: dict[str, Any] = {"input": visit.input, "context": visit.context(extra)}
    if result is not ABSENT:
        states["result"] = result
    if error_output is not ABSENT:
        states["errorOutput"] = error_output
    return bindings(states, variables_of(visit))


def _value(value: Any, scope: dict[str, Any], location: str) -> tuple[str | None, Any]:
    """(expression text or None, value) of a field that is either an expression or a literal."""
    if is_expression(value):
        return source(value), evaluate_field(value, scope, location)
    return None, evaluate_field(value, scope, location)


def _checked(field: str, text: str | None, value: Any) -> Any:
    """A number or text field given as an expression, checked for the type the field needs."""
    if field == "Timestamp":
        if not isinstance(value, str) or not TIMESTAMP_RE.match(value) or parse_timestamp(value) is None:
            # recorded on AWS: localstack snapshot v2/scenarios/test_base_scenarios.snapshot.json,
            # test_wait_timestamp_jsonata (NO_T, NO_Z, INVALID_DATE, INVALID_TIME, INVALID_ISO)
            shown = value if isinstance(value, str) else str(value)
            raise QueryEvaluationFailure("The Timestamp field cannot be parsed as an ISO-8601 extended offset "
                                         f"date-time format string: {shown}", field)
        return value
    if field in ("Error", "Cause"):
        if not isinstance(value, str):
            raise unexpected_type(text, value, field, "string")
        return value
    if field == "ToleratedFailurePercentage":
        if not is_number(value) or not 0 <= value <= 100:
            raise unexpected_type(text, value, field, "number between 0 and 100")
        return value
    positive = field in ("TimeoutSeconds", "HeartbeatSeconds")
    if not is_int(value) or value < 0 or (positive and value == 0):
        raise unexpected_type(text, value, field, "positive integer" if positive else "non-negative integer")
    return value


class JSONata:
    """QueryLanguage "JSONata" (introduced to Step Functions in November 2024)."""

    name = "JSONata"

    def state_input(self, visit: StateView, *, arguments: bool = False,
                    extra: dict[str, Any] | None = None) -> Any:
        raw = visit.raw
        if arguments and "Arguments" in raw:
            return evaluate_field(raw["Arguments"], _scope(visit, extra=extra), "Arguments")
        return visit.input

    def finish(self, visit: StateView, result: Any, fields: dict[str, Any] | None = None,
               where: str = "") -> tuple[Any, dict[str, Any] | None]:
        fields = visit.raw if fields is None else fields
        if "Assign" not in fields and "Output" not in fields:
            return result, None
        produced = result if visit.raw.get("Type") in _PRODUCERS else ABSENT
        scope = _scope(visit, result=produced)
        assigned = evaluate_field(fields["Assign"], scope, _at(where, "Assign")) if "Assign" in fields else None
        output = evaluate_field(fields["Output"], scope, _at(where, "Output")) if "Output" in fields else result
        return output, assigned

    def catch(self, visit: StateView, catcher: dict[str, Any], error_output: dict[str, Any],
              where: str = "") -> tuple[Any, dict[str, Any] | None]:
        if "Assign" not in catcher and "Output" not in catcher:
            return error_output, None
        scope = _scope(visit, error_output=error_output)
        assigned = evaluate_field(catcher["Assign"], scope, _at(where, "Assign")) if "Assign" in catcher else None
        output = evaluate_field(catcher["Output"], scope, _at(where, "Output")) if "Output" in catcher else error_output
        return output, assigned

    def state_output(self, visit: StateView, result: Any) -> Any:
        return self.finish(visit, result)[0]

    def items(self, visit: StateView, data: Any) -> list[Any]:
        """Map ``Items``: an array (its elements may be expressions) or an expression; without it, the input."""
        raw = visit.raw
        if "Items" not in raw:
            if not isinstance(visit.input, list):
                # recorded on AWS: localstack snapshot v2/scenarios/test_base_scenarios.snapshot.json,
                # test_map_state_items_input_types (an EvaluationFailed event without a location)
                raise QueryEvaluationFailure(f"Map state input must be an array but was: {to_json(visit.input)}",
                                             None)
            return visit.input
        text, value = _value(raw["Items"], _scope(visit), "Items")
        if not isinstance(value, list):
            raise unexpected_type(text, value, "Items", "array")
        return value

    def item_input(self, visit: StateView, data: Any, item: Any, extra: dict[str, Any]) -> Any:
        raw = visit.raw
        if "ItemSelector" not in raw:
            return item
        return evaluate_field(raw["ItemSelector"], _scope(visit, extra=extra), "ItemSelector")

    def expression_field(self, field: str) -> str:
        return field

    def expression(self, visit: StateView, field: str, label: str | None = None) -> Any:
        value = visit.raw.get(field, ABSENT)
        if not is_expression(value):
            return ABSENT
        text, result = _value(value, _scope(visit), field)
        return _checked(field, text, result)

    def matches(self, visit: StateView, rule: dict[str, Any], data: Any, where: str = "") -> bool:
        condition = rule.get("Condition")
        if not is_expression(condition):
            return condition is True
        location = _at(where, "Condition")
        text = source(condition)
        result = evaluate(text, _scope(visit), location)
        if result is UNDEFINED:
            raise nothing(text, location)
        if not isinstance(result, bool):
            raise unexpected_type(text, result, location, "boolean")
        return result
