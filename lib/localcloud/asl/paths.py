"""JSONPath for the Amazon States Language: reference paths, general paths, InputPath/OutputPath, ResultPath.

A *definite* path (only fields and single indices, e.g. ``$.a.b``, ``$['a'][0]``) selects one value and yields it
as is; an *indefinite* path (wildcards, filters, slices, unions, ``..``) yields the list of every match, as the
JSONPath implementation behind Step Functions does.  ``$$``-paths read the context object instead of the input.

Layer: above :mod:`.values` and :mod:`.errors`; below intrinsics, templates and the query languages.
"""

from __future__ import annotations

import copy
import logging
import re
from functools import lru_cache
from typing import Any

from localcloud.asl.errors import EvaluationError, StatesErrorName
from localcloud.asl.values import to_json

LOG = logging.getLogger(__name__)

_FIELD = r"[^.\[\]\s'\"()@$*?,]+"
_TOKEN_RE = re.compile(
    r"\.(?P<dot>" + _FIELD + r")"
    r"|\[\s*'(?P<sq>(?:[^'\\]|\\.)*)'\s*\]"
    r'|\[\s*"(?P<dq>(?:[^"\\]|\\.)*)"\s*\]'
    r"|\[\s*(?P<idx>-?\d+)\s*\]"
)


class PathNotFound(Exception):
    """A definite path that selects nothing in the given document; ``reason`` says why in the words of the
    JSONPath library behind Step Functions: ``No results for path: $['a']['b']`` when the last step is missing,
    ``Missing property in path $['a']`` when an earlier one is (recorded on AWS: localstack snapshot
    v2/scenarios/test_base_scenarios.snapshot.json, test_invalid_jsonpath and test_catch_states_runtime)."""

    def __init__(self, path: str, reason: str | None = None) -> None:
        super().__init__(path)
        self.path = path
        self.reason = reason or f"No results for path: {bracketed(path)}"


def _unquote(text: str, quote: str) -> str:
    """A bracketed field name: only an escaped quote of its own kind is unescaped, every other backslash stays
    (``$['Test\\""Name"']`` names the key ``Test\\""Name"``; recorded on AWS: localstack snapshot
    v2/scenarios/test_base_scenarios.snapshot.json, test_escape_sequence_parsing[ESCAPE_SEQUENCES_JSONPATH])."""
    return text.replace("\\" + quote, quote)


@lru_cache(maxsize=4096)
def reference_tokens(path: str) -> tuple[str | int, ...] | None:
    """The steps of a definite path (``$.a['b'][0]`` → ``('a', 'b', 0)``), or None if it is not definite."""
    if not path.startswith("$"):
        return None
    pos = 1
    tokens: list[str | int] = []
    while pos < len(path):
        m = _TOKEN_RE.match(path, pos)
        if not m:
            return None
        if m.group("dot") is not None:
            tokens.append(m.group("dot"))
        elif m.group("sq") is not None:
            tokens.append(_unquote(m.group("sq"), "'"))
        elif m.group("dq") is not None:
            tokens.append(_unquote(m.group("dq"), '"'))
        else:
            tokens.append(int(m.group("idx")))
        pos = m.end()
    return tuple(tokens)


@lru_cache(maxsize=1024)
def _compiled(path: str) -> Any:
    from jsonpath_ng.ext import parse  # lazy: only indefinite paths need the JSONPath library

    return parse(path)


def path_problem(path: Any, *, reference: bool = False, context: bool = True) -> str | None:
    """Why ``path`` is not a valid (reference) path, or None when it is."""
    if not isinstance(path, str):
        return "must be a string path starting with '$'"
    body = path
    if path.startswith("$$"):
        if not context:
            return f"'{path}' may not refer to the context object"
        body = path[1:]
    if not body.startswith("$"):
        return f"'{path}' is not a valid JSONPath (it must start with '$')"
    if reference_tokens(body) is not None:
        return None
    if reference:
        return f"'{path}' is not a valid reference path (only fields and single indices are allowed)"
    try:
        _compiled(body)
    except Exception as exc:  # jsonpath-ng raises several exception types for a bad path
        return f"'{path}' is not a valid JSONPath ({exc})"
    return None


def select(path: str, document: Any, context: Any = None) -> Any:
    """The value ``path`` selects: the value itself for a definite path, the list of matches otherwise.

    Raises PathNotFound when a definite path selects nothing.
    """
    if path.startswith("$$"):
        return select(path[1:], context, None)
    tokens = reference_tokens(path)
    if tokens is not None:
        current = document
        for i, token in enumerate(tokens):
            if isinstance(token, int):
                if not isinstance(current, list) or not -len(current) <= token < len(current):
                    raise PathNotFound(path)
            elif not isinstance(current, dict):
                raise PathNotFound(path)
            elif token not in current:
                if i < len(tokens) - 1:  # a missing step before the last one
                    raise PathNotFound(path, f"Missing property in path {_bracketed(tokens[:i + 1])}")
                raise PathNotFound(path)
            current = current[token]
        return current
    return [m.value for m in _compiled(path).find(document)]


def bracketed(path: str) -> str:
    """``$.a.b[0]`` written the way Step Functions echoes a path in an error: ``$['a']['b'][0]``."""
    body = path[1:] if path.startswith("$$") else path
    tokens = reference_tokens(body)
    if tokens is None:
        return path
    return _bracketed(tokens)


def _bracketed(tokens: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{t}]" if isinstance(t, int) else f"['{t}']" for t in tokens)


def apply_input_path(path: str | None, data: Any, context: Any) -> Any:
    """InputPath/OutputPath: None (JSON null) gives ``{}``; a path that selects nothing is a States.Runtime error."""
    if path is None:
        return {}
    if path == "$":
        return data
    try:
        return select(path, data, context)
    except PathNotFound as exc:
        raise EvaluationError(StatesErrorName.RUNTIME, f"Invalid path '{path}' : {exc.reason}") from None


def apply_result_path(result_path: str | None, state_input: Any, result: Any) -> Any:
    """Place ``result`` into a copy of ``state_input`` at ``result_path`` (None: discard the result)."""
    if result_path is None:
        return state_input
    tokens = reference_tokens(result_path)
    if not tokens:
        return result
    output = copy.deepcopy(state_input)
    fail = EvaluationError(
        StatesErrorName.RESULT_PATH_MATCH_FAILURE,
        f"Unable to apply ReferencePath {result_path} to input {to_json(state_input)}",
    )
    current = output
    for i, token in enumerate(tokens):
        last = i == len(tokens) - 1
        if isinstance(token, int):
            if not isinstance(current, list) or not -len(current) <= token < len(current):
                raise fail
            if last:
                current[token] = result
            else:
                current = current[token]
            continue
        if not isinstance(current, dict):
            raise fail
        if last:
            current[token] = result
        else:
            if token not in current:
                current[token] = {}
            current = current[token]
    return output
