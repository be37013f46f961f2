"""Variables in JSONPath states: ``$name`` (and ``$name.field[0]``) wherever a path or an intrinsic argument goes.

JSONPath states read a variable as ``$variableName`` in their paths and intrinsic function arguments
(developer guide, workflow-variables); recorded on AWS: localstack snapshot
v2/assign/test_assign_reference_variables.snapshot.json (InputPath "$theAnswer", OutputPath "$theAnswer",
Choice Variable "$guess", SecondsPath "$waitTime", ItemsPath "$PokemonList", States.Format($AnswerTemplate, ...)).
A path that starts with ``$`` followed by a name reads that variable; ``$.``, ``$[`` and ``$$`` keep their meaning.
Layer: above :mod:`.paths`, below the intrinsics, templates and choice rules that read paths.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from localcloud.asl import paths
from localcloud.asl.errors import EvaluationError, StatesErrorName
from localcloud.asl.paths import PathNotFound

_VARIABLE = re.compile(r"\$([^\W\d]\w*)")


class Context(dict):
    """The context object (``$$``) of a JSONPath evaluation, carrying the variables in scope (``$name``)."""

    def __init__(self, context: Mapping[str, Any] | None, variables: Mapping[str, Any] | None) -> None:
        super().__init__(context or {})
        self.variables: Mapping[str, Any] = variables if variables is not None else {}


def variable_of(path: Any) -> str | None:
    """The variable a path reads (``$name.a`` → ``name``), or None for an input or context path."""
    if not isinstance(path, str):
        return None
    m = _VARIABLE.match(path)
    return m.group(1) if m else None


def _rest(path: str, name: str) -> str:
    return "$" + path[1 + len(name):]


def select(path: str, document: Any, context: Any = None) -> Any:
    """:func:`.paths.select`, reading ``$name...`` from the variables carried by ``context``."""
    name = variable_of(path)
    if name is None:
        return paths.select(path, document, context)
    variables = getattr(context, "variables", None) or {}
    if name not in variables:
        raise PathNotFound(path)
    return paths.select(_rest(path, name), variables[name], None)


def path_problem(path: Any, *, reference: bool = False, context: bool = True) -> str | None:
    """:func:`.paths.path_problem`, accepting a variable reference as a path."""
    name = variable_of(path)
    if name is None:
        return paths.path_problem(path, reference=reference, context=context)
    if paths.path_problem(_rest(path, name), reference=reference, context=False) is None:
        return None
    return f"'{path}' is not a valid {'reference path' if reference else 'JSONPath'}"


def apply_input_path(path: str | None, data: Any, context: Any) -> Any:
    """:func:`.paths.apply_input_path` for InputPath, OutputPath and ItemsPath, which may read a variable."""
    if variable_of(path) is None:
        return paths.apply_input_path(path, data, context)
    assert path is not None
    try:
        return select(path, data, context)
    except PathNotFound:
        raise EvaluationError(StatesErrorName.RUNTIME,
                              f"Invalid path '{path}' : No results for path: {path}") from None
