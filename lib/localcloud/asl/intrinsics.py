"""Intrinsic functions (``States.Format(...)`` and friends) for ``.$`` fields in JSONPath states."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from localcloud.asl.errors import StatesErrorName
from localcloud.asl.paths import EvaluationError, PathNotFound, path_problem, select, to_json

LOG = logging.getLogger(__name__)

MAX_STRING = 10000
MAX_RANGE = 1000
HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


class IntrinsicSyntaxError(ValueError):
    """An intrinsic function call that cannot be parsed (a definition problem)."""


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
    try:
        return spec.fn(call, values)
    except _ArgError as exc:
        raise _fail(call, str(exc)) from None


class _ArgError(Exception):
    pass


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _want(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise _ArgError(f"{what} must be of type {_kind_name(kind)}, got {to_json(value)}")
    if not isinstance(value, kind):
        raise _ArgError(f"{what} must be of type {_kind_name(kind)}, got {to_json(value)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", list: "array", dict: "object", int: "integer", float: "number", bool: "boolean"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def _java_round(value: float) -> int:
    rounding = ROUND_HALF_UP if value >= 0 else ROUND_HALF_DOWN
    return int(Decimal(value).quantize(Decimal(1), rounding=rounding))


def _integer(value: Any, what: str) -> int:
    """An integer argument; a non-integer number is rounded to the nearest integer, as Step Functions does."""
    if _is_int(value):
        return value
    if _is_number(value):
        return _java_round(value)
    raise _ArgError(f"{what} must be a number, got {to_json(value)}")


def _format_value(value: Any) -> str:
    """How States.Format renders a non-string argument (Java's toString of the JSON value)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_format_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _format(call: Call, args: list[Any]) -> str:
    first = call.args[0]
    template = first.raw if isinstance(first, Literal) and first.raw is not None else args[0]
    if not isinstance(template, str):
        raise _ArgError(f"the first argument must be a string, got {to_json(template)}")
    values = args[1:]
    out: list[str] = []
    used = 0
    i = 0
    while i < len(template):
        ch = template[i]
        if ch == "\\" and i + 1 < len(template):
            out.append(template[i + 1])
            i += 2
            continue
        if template.startswith("{}", i):
            if used >= len(values):
                raise _ArgError(f"the template has more '{{}}' placeholders than the {len(values)} argument(s) given")
            out.append(_format_value(values[used]))
            used += 1
            i += 2
            continue
        out.append(ch)
        i += 1
    if used != len(values):
        raise _ArgError(f"the template has {used} '{{}}' placeholder(s) but {len(values)} argument(s) were given")
    return "".join(out)


def _string_to_json(call: Call, args: list[Any]) -> Any:
    text = _want(args[0], str, "the argument")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _ArgError(f"the string is not valid JSON ({exc})") from None


def _json_to_string(call: Call, args: list[Any]) -> str:
    return to_json(args[0])


def _array_partition(call: Call, args: list[Any]) -> list[list[Any]]:
    array = _want(args[0], list, "the first argument")
    size = args[1]
    if not _is_int(size) or size <= 0:
        raise _ArgError(f"the chunk size must be a positive integer, got {to_json(size)}")
    return [array[i : i + size] for i in range(0, len(array), size)]


def _array_contains(call: Call, args: list[Any]) -> bool:
    array = _want(args[0], list, "the first argument")
    return any(_same(item, args[1]) for item in array)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _array_range(call: Call, args: list[Any]) -> list[int]:
    start, end, step = (_integer(v, name) for v, name in zip(args, ("the start", "the end", "the step"), strict=True))
    if step == 0:
        raise _ArgError("the step must not be 0")
    count = max(0, (end - start) // step + 1)
    if count > MAX_RANGE:
        raise _ArgError(f"the range would have {count} items; at most {MAX_RANGE} are allowed")
    return list(range(start, end + (1 if step > 0 else -1), step))


def _array_get_item(call: Call, args: list[Any]) -> Any:
    array = _want(args[0], list, "the first argument")
    index = args[1]
    if not _is_int(index) or index < 0:
        raise _ArgError(f"the index must be a non-negative integer, got {to_json(index)}")
    if index >= len(array):
        raise _ArgError(f"the index {index} is out of bounds for an array of length {len(array)}")
    return array[index]


def _array_length(call: Call, args: list[Any]) -> int:
    return len(_want(args[0], list, "the argument"))


def _array_unique(call: Call, args: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in _want(args[0], list, "the argument"):
        if not any(_same(item, seen) for seen in out):
            out.append(item)
    return out


def _base64_encode(call: Call, args: list[Any]) -> str:
    text = _want(args[0], str, "the argument")
    if len(text) > MAX_STRING:
        raise _ArgError(f"the input is {len(text)} characters; at most {MAX_STRING} are allowed")
    return base64.b64encode(text.encode()).decode()


def _base64_decode(call: Call, args: list[Any]) -> str:
    text = _want(args[0], str, "the argument")
    if len(text) > MAX_STRING:
        raise _ArgError(f"the input is {len(text)} characters; at most {MAX_STRING} are allowed")
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _ArgError(f"the input is not valid base64 text ({exc})") from None


def _hash(call: Call, args: list[Any]) -> str:
    data = args[0]
    if not isinstance(data, str):
        if data is None:
            raise _ArgError("the data to hash must not be null")
        data = to_json(data)
    if len(data) > MAX_STRING:
        raise _ArgError(f"the input is {len(data)} characters; at most {MAX_STRING} are allowed")
    algorithm = args[1]
    if algorithm not in HASH_ALGORITHMS:
        raise _ArgError(f"the algorithm must be one of {', '.join(HASH_ALGORITHMS)}, got {to_json(algorithm)}")
    return hashlib.new(HASH_ALGORITHMS[algorithm], data.encode()).hexdigest()


def _json_merge(call: Call, args: list[Any]) -> dict[str, Any]:
    left = _want(args[0], dict, "the first argument")
    right = _want(args[1], dict, "the second argument")
    deep = args[2]
    if not isinstance(deep, bool):
        raise _ArgError(f"the third argument must be a boolean, got {to_json(deep)}")
    if deep:
        raise _ArgError("only a shallow merge is supported: set the third argument to false")
    return {**left, **right}


def _math_random(call: Call, args: list[Any]) -> int:
    start = _integer(args[0], "the start")
    end = _integer(args[1], "the end")
    seed = _integer(args[2], "the seed") if len(args) > 2 else None
    if start > end:
        raise _ArgError(f"the start {start} is greater than the end {end}")
    return random.Random(seed).randint(start, end)


def _math_add(call: Call, args: list[Any]) -> int:
    return _integer(args[0], "the first argument") + _integer(args[1], "the second argument")


def _string_split(call: Call, args: list[Any]) -> list[str]:
    text = _want(args[0], str, "the first argument")
    delimiters = _want(args[1], str, "the second argument")
    if not delimiters:
        return [text] if text else []
    parts = re.split("|".join(re.escape(c) for c in delimiters), text)
    return [p for p in parts if p]


def _uuid(call: Call, args: list[Any]) -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class _Spec:
    fn: Callable[[Call, list[Any]], Any]
    arity: tuple[int, int | None]


FUNCTIONS: dict[str, _Spec] = {
    "States.Format": _Spec(_format, (1, None)),
    "States.StringToJson": _Spec(_string_to_json, (1, 1)),
    "States.JsonToString": _Spec(_json_to_string, (1, 1)),
    "States.Array": _Spec(lambda call, args: list(args), (0, None)),
    "States.ArrayPartition": _Spec(_array_partition, (2, 2)),
    "States.ArrayContains": _Spec(_array_contains, (2, 2)),
    "States.ArrayRange": _Spec(_array_range, (3, 3)),
    "States.ArrayGetItem": _Spec(_array_get_item, (2, 2)),
    "States.ArrayLength": _Spec(_array_length, (1, 1)),
    "States.ArrayUnique": _Spec(_array_unique, (1, 1)),
    "States.Base64Encode": _Spec(_base64_encode, (1, 1)),
    "States.Base64Decode": _Spec(_base64_decode, (1, 1)),
    "States.Hash": _Spec(_hash, (2, 2)),
    "States.JsonMerge": _Spec(_json_merge, (3, 3)),
    "States.MathRandom": _Spec(_math_random, (2, 3)),
    "States.MathAdd": _Spec(_math_add, (2, 2)),
    "States.StringSplit": _Spec(_string_split, (2, 2)),
    "States.UUID": _Spec(_uuid, (0, 0)),
}
