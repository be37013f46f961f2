"""The intrinsic functions themselves (``States.Format``, ``States.Array``, ...): one plain function each.

Each takes the evaluated arguments and returns a JSON value or raises :class:`ArgumentError`; the parser and
evaluator live in :mod:`.intrinsics`.  Layer: above :mod:`.values` only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from localcloud.asl.values import is_int, is_number, to_json

MAX_STRING = 10000
MAX_RANGE = 1000
HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


class ArgumentError(Exception):
    """An argument a function cannot use; the evaluator reports it as States.IntrinsicFailure."""


def _want(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise ArgumentError(f"{what} must be of type {_kind_name(kind)}, got {to_json(value)}")
    if not isinstance(value, kind):
        raise ArgumentError(f"{what} must be of type {_kind_name(kind)}, got {to_json(value)}")
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
    if is_int(value):
        return value
    if is_number(value):
        return _java_round(value)
    raise ArgumentError(f"{what} must be a number, got {to_json(value)}")


def _format_value(value: Any) -> str:
    """How States.Format renders a non-string argument (Java's toString of the JSON value)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_format_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _format(args: list[Any]) -> str:
    template = args[0]  # a literal template arrives as its source text, escapes kept (Spec.raw_template)
    if not isinstance(template, str):
        raise ArgumentError(f"the first argument must be a string, got {to_json(template)}")
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
                raise ArgumentError(f"the template has more '{{}}' placeholders than the {len(values)} argument(s) given")
            out.append(_format_value(values[used]))
            used += 1
            i += 2
            continue
        out.append(ch)
        i += 1
    if used != len(values):
        raise ArgumentError(f"the template has {used} '{{}}' placeholder(s) but {len(values)} argument(s) were given")
    return "".join(out)


def _string_to_json(args: list[Any]) -> Any:
    text = _want(args[0], str, "the argument")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ArgumentError(f"the string is not valid JSON ({exc})") from None


def _json_to_string(args: list[Any]) -> str:
    return to_json(args[0])


def _array_partition(args: list[Any]) -> list[list[Any]]:
    array = _want(args[0], list, "the first argument")
    size = args[1]
    if not is_int(size) or size <= 0:
        raise ArgumentError(f"the chunk size must be a positive integer, got {to_json(size)}")
    return [array[i : i + size] for i in range(0, len(array), size)]


def _array_contains(args: list[Any]) -> bool:
    array = _want(args[0], list, "the first argument")
    return any(_same(item, args[1]) for item in array)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _array_range(args: list[Any]) -> list[int]:
    start, end, step = (_integer(v, name) for v, name in zip(args, ("the start", "the end", "the step"), strict=True))
    if step == 0:
        raise ArgumentError("the step must not be 0")
    count = max(0, (end - start) // step + 1)
    if count > MAX_RANGE:
        raise ArgumentError(f"the range would have {count} items; at most {MAX_RANGE} are allowed")
    return list(range(start, end + (1 if step > 0 else -1), step))


def _array_get_item(args: list[Any]) -> Any:
    array = _want(args[0], list, "the first argument")
    index = args[1]
    if not is_int(index) or index < 0:
        raise ArgumentError(f"the index must be a non-negative integer, got {to_json(index)}")
    if index >= len(array):
        raise ArgumentError(f"the index {index} is out of bounds for an array of length {len(array)}")
    return array[index]


def _array_length(args: list[Any]) -> int:
    return len(_want(args[0], list, "the argument"))


def _array_unique(args: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in _want(args[0], list, "the argument"):
        if not any(_same(item, seen) for seen in out):
            out.append(item)
    return out


def _base64_encode(args: list[Any]) -> str:
    text = _want(args[0], str, "the argument")
    if len(text) > MAX_STRING:
        raise ArgumentError(f"the input is {len(text)} characters; at most {MAX_STRING} are allowed")
    return base64.b64encode(text.encode()).decode()


def _base64_decode(args: list[Any]) -> str:
    text = _want(args[0], str, "the argument")
    if len(text) > MAX_STRING:
        raise ArgumentError(f"the input is {len(text)} characters; at most {MAX_STRING} are allowed")
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ArgumentError(f"the input is not valid base64 text ({exc})") from None


def _hash(args: list[Any]) -> str:
    data = args[0]
    if not isinstance(data, str):
        if data is None:
            raise ArgumentError("the data to hash must not be null")
        data = to_json(data)
    if len(data) > MAX_STRING:
        raise ArgumentError(f"the input is {len(data)} characters; at most {MAX_STRING} are allowed")
    algorithm = args[1]
    if algorithm not in HASH_ALGORITHMS:
        raise ArgumentError(f"the algorithm must be one of {', '.join(HASH_ALGORITHMS)}, got {to_json(algorithm)}")
    return hashlib.new(HASH_ALGORITHMS[algorithm], data.encode()).hexdigest()


def _json_merge(args: list[Any]) -> dict[str, Any]:
    left = _want(args[0], dict, "the first argument")
    right = _want(args[1], dict, "the second argument")
    deep = args[2]
    if not isinstance(deep, bool):
        raise ArgumentError(f"the third argument must be a boolean, got {to_json(deep)}")
    if deep:
        raise ArgumentError("only a shallow merge is supported: set the third argument to false")
    return {**left, **right}


def _math_random(args: list[Any]) -> int:
    start = _integer(args[0], "the start")
    end = _integer(args[1], "the end")
    seed = _integer(args[2], "the seed") if len(args) > 2 else None
    if start > end:
        raise ArgumentError(f"the start {start} is greater than the end {end}")
    return random.Random(seed).randint(start, end)


def _math_add(args: list[Any]) -> int:
    return _integer(args[0], "the first argument") + _integer(args[1], "the second argument")


def _string_split(args: list[Any]) -> list[str]:
    text = _want(args[0], str, "the first argument")
    delimiters = _want(args[1], str, "the second argument")
    if not delimiters:
        return [text] if text else []
    parts = re.split("|".join(re.escape(c) for c in delimiters), text)
    return [p for p in parts if p]


def _uuid(args: list[Any]) -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Spec:
    """One intrinsic function: its implementation and how many arguments it takes (None: no upper bound)."""

    fn: Callable[[list[Any]], Any]
    arity: tuple[int, int | None]
    #: the first argument, when a string literal, is passed as its source text with escapes kept
    raw_template: bool = False


FUNCTIONS: dict[str, Spec] = {
    "States.Format": Spec(_format, (1, None), raw_template=True),
    "States.StringToJson": Spec(_string_to_json, (1, 1)),
    "States.JsonToString": Spec(_json_to_string, (1, 1)),
    "States.Array": Spec(lambda args: list(args), (0, None)),
    "States.ArrayPartition": Spec(_array_partition, (2, 2)),
    "States.ArrayContains": Spec(_array_contains, (2, 2)),
    "States.ArrayRange": Spec(_array_range, (3, 3)),
    "States.ArrayGetItem": Spec(_array_get_item, (2, 2)),
    "States.ArrayLength": Spec(_array_length, (1, 1)),
    "States.ArrayUnique": Spec(_array_unique, (1, 1)),
    "States.Base64Encode": Spec(_base64_encode, (1, 1)),
    "States.Base64Decode": Spec(_base64_decode, (1, 1)),
    "States.Hash": Spec(_hash, (2, 2)),
    "States.JsonMerge": Spec(_json_merge, (3, 3)),
    "States.MathRandom": Spec(_math_random, (2, 3)),
    "States.MathAdd": Spec(_math_add, (2, 2)),
    "States.StringSplit": Spec(_string_split, (2, 2)),
    "States.UUID": Spec(_uuid, (0, 0)),
}
