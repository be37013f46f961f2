"""The JSONPath query language: InputPath, Parameters, ResultSelector, ResultPath, OutputPath and ``*Path`` fields.

Variables (``Assign``, ``$name``) follow the developer guide (workflow-variables): an ``Assign`` value whose key
ends in ``.$`` is a path or intrinsic function evaluated against the state's result (``$``) and context (``$$``),
every other value is kept as it is (recorded on AWS: localstack snapshot v2/assign/test_assign_base.snapshot.json,
BASE_CONSTANT_LITERALS and BASE_PATHS); it is evaluated after ResultSelector and before ResultPath and OutputPath,
which still see the variables as they were (v2/assign/test_assign_reference_variables.snapshot.json,
BASE_EVALUATION_ORDER_PASS_STATE: OutputPath "$answer" gives the old 42).
Layer: above :mod:`.templates`, :mod:`.choice`, :mod:`.varpaths` and :mod:`.query`; the states reach it only
through :class:`~localcloud.asl.query.QueryLanguage`.
"""

from __future__ import annotations

import logging
from typing import Any

from localcloud.asl import intrinsics
from localcloud.asl.choice import evaluate_rule
from localcloud.asl.errors import EvaluationError, PathMissing, StatesErrorName
from localcloud.asl.intrinsics import is_intrinsic
from localcloud.asl.paths import PathNotFound, apply_result_path
from localcloud.asl.query import ABSENT, StateView, variables_of
from localcloud.asl.templates import render_template
from localcloud.asl.varpaths import Context, apply_input_path, select

LOG = logging.getLogger(__name__)


def _context(visit: StateView, extra: dict[str, Any] | None = None) -> Context:
    """The context object of a visit, carrying the variables its paths may read."""
    return Context(visit.context(extra), variables_of(visit))


class JSONPath:
    """The default query language of Amazon States Language (the only one Step Functions had before 2024)."""

    name = "JSONPath"

    def state_input(self, visit: StateView, *, arguments: bool = False,
                    extra: dict[str, Any] | None = None) -> Any:
        raw = visit.raw
        data = apply_input_path(raw.get("InputPath", "$"), visit.input, _context(visit))
        if arguments and "Parameters" in raw:
            data = render_template(raw["Parameters"], data, _context(visit, extra))
        return data

    def finish(self, visit: StateView, result: Any, fields: dict[str, Any] | None = None,
               where: str = "") -> tuple[Any, dict[str, Any] | None]:
        raw = visit.raw
        fields = raw if fields is None else fields
        if "ResultSelector" in raw:
            result = render_template(raw["ResultSelector"], result, _context(visit))
        assigned = render_template(fields["Assign"], result, _context(visit)) if "Assign" in fields else None
        output = apply_result_path(raw.get("ResultPath", "$"), visit.input, result)
        return apply_input_path(raw.get("OutputPath", "$"), output, _context(visit)), assigned

    def catch(self, visit: StateView, catcher: dict[str, Any], error_output: dict[str, Any],
              where: str = "") -> tuple[Any, dict[str, Any] | None]:
        # a Catcher's Assign reads the error output as "$" (as its ResultPath places it)
        assigned = render_template(catcher["Assign"], error_output, _context(visit)) if "Assign" in catcher else None
        return apply_result_path(catcher.get("ResultPath", "$"), visit.input, error_output), assigned

    def state_output(self, visit: StateView, result: Any) -> Any:
        return self.finish(visit, result)[0]

    def items(self, visit: StateView, data: Any) -> list[Any]:
        path = visit.raw.get("ItemsPath", "$")
        items = apply_input_path(path, data, _context(visit))
        if not isinstance(items, list):
            # a context path is named as read inside the context object (recorded on AWS: localstack snapshot
            # v2/test_state/test_state_context_object.snapshot.json, test_state_map_context_object: ItemsPath "$$"
            # gives 'Reference path "$" must point to array.')
            shown = path[1:] if path.startswith("$$") else path
            raise EvaluationError(StatesErrorName.RUNTIME, f'Reference path "{shown}" must point to array.')
        return items

    def item_input(self, visit: StateView, data: Any, item: Any, extra: dict[str, Any]) -> Any:
        raw = visit.raw
        key = "ItemSelector" if "ItemSelector" in raw else "Parameters" if "Parameters" in raw else None
        if key is None:
            return item
        return render_template(raw[key], data, _context(visit, extra))

    def expression_field(self, field: str) -> str:
        return field + "Path"

    def expression(self, visit: StateView, field: str, label: str | None = None) -> Any:
        path = visit.raw.get(field + "Path")
        if path is None:
            return ABSENT
        if is_intrinsic(path):  # only ErrorPath and CausePath of a Fail state pass validation with one
            return intrinsics.evaluate(path, visit.input, _context(visit))
        try:
            return select(path, visit.input, _context(visit))
        except PathNotFound as exc:
            # as AWS words TimeoutSecondsPath/HeartbeatSecondsPath (recorded on AWS: localstack snapshot
            # v2/scenarios/test_base_scenarios.snapshot.json, test_invalid_jsonpath); Wait and Fail reword it
            raise PathMissing(StatesErrorName.RUNTIME, f"Invalid path '{path}' : {exc.reason}", path) from None

    def matches(self, visit: StateView, rule: dict[str, Any], data: Any, where: str = "") -> bool:
        return evaluate_rule(rule, data, _context(visit))
