"""The JSONPath query language: InputPath, Parameters, ResultSelector, ResultPath, OutputPath and ``*Path`` fields.

Layer: above :mod:`.templates`, :mod:`.choice` and :mod:`.query`; the states reach it only through
:class:`~localcloud.asl.query.QueryLanguage`.
"""

from __future__ import annotations

import logging
from typing import Any

from localcloud.asl import intrinsics
from localcloud.asl.choice import evaluate_rule
from localcloud.asl.errors import EvaluationError, StatesErrorName
from localcloud.asl.intrinsics import is_intrinsic
from localcloud.asl.paths import PathNotFound, apply_input_path, apply_result_path, bracketed, select
from localcloud.asl.query import ABSENT, StateView
from localcloud.asl.templates import render_template
from localcloud.asl.values import to_json

LOG = logging.getLogger(__name__)


class JSONPath:
    """The default query language of Amazon States Language (the only one Step Functions had before 2024)."""

    name = "JSONPath"

    def state_input(self, visit: StateView, *, arguments: bool = False,
                    extra: dict[str, Any] | None = None) -> Any:
        raw = visit.raw
        data = apply_input_path(raw.get("InputPath", "$"), visit.input, visit.context())
        if arguments and "Parameters" in raw:
            data = render_template(raw["Parameters"], data, visit.context(extra))
        return data

    def state_output(self, visit: StateView, result: Any) -> Any:
        raw = visit.raw
        if "ResultSelector" in raw:
            result = render_template(raw["ResultSelector"], result, visit.context())
        output = apply_result_path(raw.get("ResultPath", "$"), visit.input, result)
        return apply_input_path(raw.get("OutputPath", "$"), output, visit.context())

    def catch_output(self, visit: StateView, catcher: dict[str, Any], error_output: dict[str, Any]) -> Any:
        return apply_result_path(catcher.get("ResultPath", "$"), visit.input, error_output)

    def items(self, visit: StateView, data: Any) -> list[Any]:
        path = visit.raw.get("ItemsPath", "$")
        items = apply_input_path(path, data, visit.context())
        if not isinstance(items, list):
            raise EvaluationError(StatesErrorName.RUNTIME,
                                  f"Invalid path '{path}' : The ItemsPath value must point to a JSON "
                                  f"array, but it selects {to_json(items)}")
        return items

    def item_input(self, visit: StateView, data: Any, item: Any, extra: dict[str, Any]) -> Any:
        raw = visit.raw
        key = "ItemSelector" if "ItemSelector" in raw else "Parameters" if "Parameters" in raw else None
        if key is None:
            return item
        return render_template(raw[key], data, visit.context(extra))

    def expression_field(self, field: str) -> str:
        return field + "Path"

    def expression(self, visit: StateView, field: str, label: str | None = None) -> Any:
        path = visit.raw.get(field + "Path")
        if path is None:
            return ABSENT
        if is_intrinsic(path):  # only ErrorPath and CausePath of a Fail state pass validation with one
            return intrinsics.evaluate(path, visit.input, visit.context())
        try:
            return select(path, visit.input, visit.context())
        except PathNotFound:
            raise EvaluationError(StatesErrorName.RUNTIME,
                                  f"Invalid path '{path}' : No results for path: {bracketed(path)} "
                                  f"(referenced by {label or self.expression_field(field)})") from None

    def matches(self, rule: dict[str, Any], data: Any, context: dict[str, Any]) -> bool:
        return evaluate_rule(rule, data, context)
