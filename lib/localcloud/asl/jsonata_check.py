"""What Step Functions checks of a JSONata expression when a definition is created, and the variables it reads.

Measured on AWS with ValidateStateMachineDefinition and CreateStateMachine, reported in floci-io/floci issues
#2670 and #2745 and its docs/services/stepfunctions.md ("JSONata expressions are validated when the state
machine is created"): an expression that does not parse is refused with the code INVALID_JSONATA_EXPRESSION and
the parser's message; a path that starts from neither ``$states`` nor a variable reads a context item that does
not exist and is refused with UNSUPPORTED_JSONATA_EXPRESSION ``Reference to 'phone' at the top level is not
supported.`` at the field (``/States/E/Output/v``), and so is ``$$`` (``Reference to '$$' is not supported.``).
The States Language says the same: "a JSONata expression MUST NOT reference "$" or unqualified field names at the
top level, but MAY reference them nested inside an expression" (states-language.net, JSONata).  Only the first
step of a path reads the top-level context: later steps, predicates, sort terms and object grouping read the
value before them; a function body keeps the context of the expression that defines it.
Layer: above :mod:`.jsonata_eval`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from jsonata import jexception

from localcloud.asl.jsonata_eval import is_expression, parse_tree, source, syntax_problem

LOG = logging.getLogger(__name__)

INVALID = "INVALID_JSONATA_EXPRESSION"
UNSUPPORTED = "UNSUPPORTED_JSONATA_EXPRESSION"
#: the children of a syntax tree node that are read in the same context as the node itself
_SAME_CONTEXT = ("lhs", "rhs", "expression", "expressions", "procedure", "arguments", "body", "condition", "then",
                 "_else", "lhs_object")
#: the children read against another value (the step before them, the object being transformed)
_OTHER_CONTEXT = ("stages", "predicate", "group", "terms", "expr", "pattern", "update", "delete")


def _nodes(value: Any) -> Iterator[Any]:
    """The syntax tree nodes in an attribute value (a node, a list of nodes, or a list of key/value pairs)."""
    if isinstance(value, list | tuple):
        for item in value:
            yield from _nodes(item)
    elif value is not None and hasattr(value, "type"):
        yield value


def _walk(node: Any, top: bool, found: dict[str, None]) -> None:
    """Collect the names ``node`` reads from the top-level context (``top``: ``node`` is read there)."""
    kind = getattr(node, "type", None)
    if kind == "variable" and node.value == "$":
        found["$$"] = None
    if kind == "name" and top:
        found[str(node.value)] = None
    if kind == "path":
        for i, step in enumerate(getattr(node, "steps", None) or []):
            _walk(step, top and i == 0, found)
    for attr in _SAME_CONTEXT:
        for child in _nodes(getattr(node, attr, None)):
            _walk(child, top, found)
    for attr in _OTHER_CONTEXT:
        for child in _nodes(getattr(node, attr, None)):
            _walk(child, False, found)


def expression_problems(text: str) -> list[tuple[str, str]]:
    """(code, message) for every reason Step Functions refuses the expression ``text``; [] when it is accepted."""
    problem = syntax_problem(text)
    if problem is not None:
        return [(INVALID, problem)]
    found: dict[str, None] = {}
    _walk(parse_tree(text), True, found)
    return [(UNSUPPORTED, "Reference to '$$' is not supported." if name == "$$" else
             f"Reference to '{name}' at the top level is not supported.") for name in found]


def field_problems(value: Any, location: str) -> list[tuple[str, str, str]]:
    """(location, code, message) for the expressions anywhere in a field value of a JSONata state."""
    if is_expression(value):
        return [(location, code, message) for code, message in expression_problems(source(value))]
    out: list[tuple[str, str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out += field_problems(item, f"{location}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += field_problems(item, f"{location}[{i}]")
    return out


def _bound(node: Any, names: set[str]) -> None:
    """The variables an expression binds itself (``$x := ...``, lambda parameters)."""
    kind = getattr(node, "type", None)
    if kind == "bind" and getattr(node.lhs, "type", None) == "variable":
        names.add(str(node.lhs.value))
    if kind == "lambda":
        names.update(str(arg.value) for arg in _nodes(getattr(node, "arguments", None)))
    for attr in _SAME_CONTEXT + _OTHER_CONTEXT + ("steps",):
        for child in _nodes(getattr(node, attr, None)):
            _bound(child, names)


def _read(node: Any, names: set[str], calls: set[str]) -> None:
    kind = getattr(node, "type", None)
    if kind == "variable" and node.value not in ("", "$"):
        names.add(str(node.value))
    if kind in ("function", "partial") and getattr(node.procedure, "type", None) == "variable":
        calls.add(str(node.procedure.value))
    for attr in _SAME_CONTEXT + _OTHER_CONTEXT + ("steps",):
        for child in _nodes(getattr(node, attr, None)):
            _read(child, names, calls)


def variables_read(text: str) -> set[str]:
    """The workflow variables expression ``text`` reads (not ``$states``, the functions it calls, nor the
    variables it binds itself); empty for an expression that does not parse."""
    try:
        tree = parse_tree(text)
    except jexception.JException:
        return set()
    names: set[str] = set()
    calls: set[str] = set()
    bound: set[str] = set()
    _read(tree, names, calls)
    _bound(tree, bound)
    return names - calls - bound - {"states"}
