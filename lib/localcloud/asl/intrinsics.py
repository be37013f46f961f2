"""Intrinsic function calls (``States.Format(...)`` and friends) in JSONPath states: parse and evaluate.

Layer: above :mod:`.paths` (path arguments) and :mod:`.intrinsic_functions` (the functions themselves).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from localcloud.asl.errors import EvaluationError, StatesErrorName
from localcloud.asl.intrinsic_functions import FUNCTIONS, ArgumentError
from localcloud.asl.paths import PathNotFound
from localcloud.asl.values import to_json
from localcloud.asl.varpaths import path_problem, select  # a path argument may read a variable ($name)

LOG = logging.getLogger(__name__)


class IntrinsicSyntaxError(ValueError):
    """An intrinsic function call that cannot be parsed (a definition problem)."""


def is_intrinsic(value: str) -> bool:
    """Whether a ``.$`` value is an intrinsic function call rather than a path."""
    return value.lstrip().startswith("States.")


@dataclass(frozen=True)
class Literal:
    value: Any
    raw: str | None = None  # the source text of a string literal, escapes kept (States.Format needs them)


@dataclass(frozen=True)
class PathArg:
    path: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]
    text: str


_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_NAME = re.compile(r"States\.[A-Za-z0-9]+")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, what: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"{what} at position {self.pos} of '{self.text}'")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def call(self) -> Call:
        self.skip()
        start = self.pos
        m = _NAME.match(self.text, self.pos)
        if not m:
            raise self.error("expected an intrinsic function name like States.Format")
        name = m.group(0)
        if name not in FUNCTIONS:
            raise IntrinsicSyntaxError(f"'{name}' is not a known intrinsic function")
        self.pos = m.end()
        self.skip()
        if self.text[self.pos : self.pos + 1] != "(":
            raise self.error("expected '('")
        self.pos += 1
        args: list[Any] = []
        self.skip()
        if self.text[self.pos : self.pos + 1] == ")":
            self.pos += 1
            return Call(name, (), self.text[start : self.pos])
        while True:
            args.append(self.argument())
            self.skip()
            ch = self.text[self.pos : self.pos + 1]
            self.pos += 1
            if ch == ")":
                return Call(name, tuple(args), self.text[start : self.pos])
            if ch != ",":
                self.pos -= 1
                raise self.error("expected ',' or ')'")

    def argument(self) -> Any:
        self.skip()
        ch = self.text[self.pos : self.pos + 1]
        if ch == "'":
            return self.string()
        if ch == "$":
            return self.path()
        if self.text.startswith("States.", self.pos):
            return self.call()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return Literal(value)
        m = _NUMBER.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            number = m.group(0)
            return Literal(float(number) if m.group(1) or m.group(2) else int(number))
        raise self.error("expected a string, number, boolean, null, path or function")

    def string(self) -> Literal:
        self.pos += 1
        start = self.pos
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == "'":
                raw = self.text[start : self.pos]
                self.pos += 1
                return Literal("".join(out), raw)
            out.append(ch)
            self.pos += 1
        raise self.error("unterminated string literal")

    def path(self) -> PathArg:
        start = self.pos
        depth = 0
        quote = ""
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if quote:
                if ch == "\\":
                    self.pos += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch in "[(":
                depth += 1
            elif ch in "])":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                break
            self.pos += 1
        path = self.text[start : self.pos].strip()
        problem = path_problem(path)
        if problem:
            raise IntrinsicSyntaxError(problem)
        return PathArg(path)


@lru_cache(maxsize=1024)
def parse(text: str) -> Call:
    """Parse an intrinsic function call; raises IntrinsicSyntaxError."""
    parser = _Parser(text)
    call = parser.call()
    parser.skip()
    if parser.pos != len(text):
        raise parser.error("unexpected text after the function call")
    return call


def problem(text: str) -> str | None:
    """Why ``text`` is not a valid intrinsic function call, or None."""
    try:
        parse(text)
    except IntrinsicSyntaxError as exc:
        return str(exc)
    return None


def evaluate(text: str, data: Any, context: Any) -> Any:
    """Evaluate an intrinsic function call against a state's data; failures raise States.IntrinsicFailure."""
    try:
        call = parse(text)
    except IntrinsicSyntaxError as exc:
        raise EvaluationError(StatesErrorName.INTRINSIC_FAILURE, str(exc)) from None
    return _eval(call, data, context)


def _fail(call: Call, reason: str) -> EvaluationError:
    return EvaluationError(
        StatesErrorName.INTRINSIC_FAILURE,
        f"The function '{call.text}' had the following error: {reason}",
    )


def _eval(call: Call, data: Any, context: Any) -> Any:
    values: list[Any] = []
    for arg in call.args:
        if isinstance(arg, Literal):
            values.append(arg.value)
        elif isinstance(arg, PathArg):
            try:
                values.append(select(arg.path, data, context))
            except PathNotFound:
                raise EvaluationError(
                    StatesErrorName.RUNTIME,
                    f"The JSONPath '{arg.path}' could not be found in the input "
                    f"'{to_json(context if arg.path.startswith('$$') else data)}' "
                    f"of the function '{call.text}'",
                ) from None
        else:
            values.append(_eval(arg, data, context))
    spec = FUNCTIONS[call.name]
    low, high = spec.arity
    if len(values) < low or (high is not None and len(values) > high):
        expected = f"{low}" if low == high else f"{low} to {high}" if high is not None else f"at least {low}"
        raise _fail(call, f"expected {expected} argument(s), got {len(values)}")
    first = call.args[0] if call.args else None
    if spec.raw_template and isinstance(first, Literal) and first.raw is not None:
        values[0] = first.raw
    try:
        return spec.fn(values)
    except ArgumentError as exc:
        raise _fail(call, str(exc)) from None
