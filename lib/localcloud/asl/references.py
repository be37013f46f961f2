"""The workflow variables each state of a definition reads: DescribeStateMachine's ``variableReferences``.

"A map of state name to a list of variables referenced by that state. States that do not use variable references
will not be shown in the response." (botocore stepfunctions model, DescribeStateMachineOutput.variableReferences).  Recorded on AWS:
localstack snapshot v2/test_sfn_api_variable_references.snapshot.json: names sorted, states in definition order
with their nested states after them, nothing for a ``"$bucket"`` that is a plain string (no ``.$``), and no map at
all when no state reads a variable.
Layer: above the JSONPath and JSONata modules it reads expressions with; used by the Step Functions service.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from localcloud.asl import intrinsics
from localcloud.asl.jsonata_check import variables_read
from localcloud.asl.jsonata_eval import is_expression, source
from localcloud.asl.varpaths import variable_of

LOG = logging.getLogger(__name__)

#: fields that hold the states of a nested block rather than this state's own expressions
_NESTED = ("Branches", "ItemProcessor", "Iterator")


def _intrinsic_reads(call: Any, found: set[str]) -> None:
    for arg in call.args:
        if isinstance(arg, intrinsics.PathArg):
            name = variable_of(arg.path)
            if name:
                found.add(name)
        elif isinstance(arg, intrinsics.Call):
            _intrinsic_reads(arg, found)


def _jsonpath_value(value: Any, found: set[str]) -> None:
    """A path or an intrinsic function call (a ``*Path`` field, a ``.$`` value, a Choice Variable)."""
    if not isinstance(value, str):
        return
    if intrinsics.is_intrinsic(value):
        try:
            _intrinsic_reads(intrinsics.parse(value.strip()), found)
        except intrinsics.IntrinsicSyntaxError:
            return
        return
    name = variable_of(value)
    if name:
        found.add(name)


def _jsonpath_reads(node: Any, found: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _jsonpath_reads(item, found)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in _NESTED:
            continue
        if key.endswith(".$") or key.endswith("Path") or key == "Variable":
            _jsonpath_value(value, found)
        else:
            _jsonpath_reads(value, found)


def _jsonata_reads(node: Any, found: set[str]) -> None:
    if is_expression(node):
        found.update(variables_read(source(node)))
    elif isinstance(node, list):
        for item in node:
            _jsonata_reads(item, found)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in _NESTED:
                _jsonata_reads(value, found)


def _block(block: Any, machine: str, out: dict[str, list[str]]) -> None:
    states = block.get("States") if isinstance(block, dict) else None
    if not isinstance(states, dict):
        return
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        found: set[str] = set()
        if state.get("QueryLanguage", machine) == "JSONata":
            _jsonata_reads(state, found)
        else:
            _jsonpath_reads(state, found)
        if found:
            out[name] = sorted(found)
        for key in _NESTED:
            nested = state.get(key)
            for sub in nested if isinstance(nested, list) else [nested]:
                _block(sub, machine, out)


def variable_references(definition: str | dict[str, Any]) -> dict[str, list[str]]:
    """State name → the sorted names of the variables it reads; empty when none does (or the text is not JSON)."""
    try:
        document = json.loads(definition) if isinstance(definition, str) else definition
    except ValueError:
        return {}
    out: dict[str, list[str]] = {}
    if isinstance(document, dict):
        _block(document, document.get("QueryLanguage", "JSONPath"), out)
    return out
