"""Payload templates of JSONPath states (Parameters, ResultSelector, ItemSelector): evaluate and check them.

A field whose name ends in ``.$`` takes the value of its path or intrinsic function call; every other field is
copied as it is, at any depth, also inside arrays.  Layer: above :mod:`.paths` and :mod:`.intrinsics`.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from localcloud.asl import intrinsics
from localcloud.asl.errors import EvaluationError, StatesErrorName
from localcloud.asl.intrinsics import is_intrinsic
from localcloud.asl.paths import PathNotFound
from localcloud.asl.values import java_hash_order, to_json
from localcloud.asl.varpaths import path_problem, select  # a ".$" value may read a variable ($name)

LOG = logging.getLogger(__name__)


def render_template(template: Any, data: Any, context: Any) -> Any:
    """Evaluate a payload template against ``data`` (``$``) and ``context`` (``$$``).

    The result's fields come in the order AWS writes them: the plain fields as the template has them, then the
    ``.$`` fields in the order of a Java HashMap of their names (recorded on AWS: localstack snapshots
    v2/base/test_base.snapshot.json, test_query_context_object_values, 13 fields; v2/scenarios/
    test_base_scenarios.snapshot.json, test_map_state_item_selector; test_retry_interval_features_max_attempts_zero,
    ``{"FunctionName.$", "Payload"}`` written as ``{"Payload", "FunctionName"}``)."""
    if isinstance(template, dict):
        plain = [key for key, value in template.items() if not _is_expression(key, value)]
        named = {_name(key, value): key for key, value in template.items() if _is_expression(key, value)}
        keys = plain + [named[name] for name in java_hash_order(list(named))]
        return {_name(key, template[key]): _field(key, template[key], data, context) for key in keys}
    if isinstance(template, list):
        return [render_template(item, data, context) for item in template]
    return copy.deepcopy(template)


def _is_expression(key: str, value: Any) -> bool:
    return key.endswith(".$") and isinstance(value, str)


def _name(key: str, value: Any) -> str:
    return key[:-2] if _is_expression(key, value) else key


def _field(key: str, value: Any, data: Any, context: Any) -> Any:
    if not (key.endswith(".$") and isinstance(value, str)):
        return render_template(value, data, context)
    if is_intrinsic(value):
        return intrinsics.evaluate(value, data, context)
    try:
        return copy.deepcopy(select(value, data, context))
    except PathNotFound:
        source = context if value.startswith("$$") else data
        raise EvaluationError(
            StatesErrorName.RUNTIME,
            f"The JSONPath '{value}' specified for the field '{key}' could not be found "
            f"in the input '{to_json(source)}'",
        ) from None


def expression_problem(value: Any) -> str | None:
    """Why a ``.$`` value (a path or an intrinsic function call) is not valid, or None when it is."""
    if isinstance(value, str) and is_intrinsic(value):
        problem = intrinsics.problem(value.strip())
        return f"invalid intrinsic function: {problem}" if problem else None
    return path_problem(value)


def template_problems(where: str, node: Any) -> list[tuple[str, str]]:
    """Every (location, problem) of a payload template, depth first."""
    out: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if not key.endswith(".$"):
                out += template_problems(f"{where}/{key}", value)
            elif not isinstance(value, str):
                out.append((f"{where}/{key}", "the value of a field ending in '.$' must be a path or an "
                                              "intrinsic function string"))
            elif (problem := expression_problem(value)) is not None:
                out.append((f"{where}/{key}", problem))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            out += template_problems(f"{where}[{i}]", item)
    return out
