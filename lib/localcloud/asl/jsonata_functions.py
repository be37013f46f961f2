"""The functions Step Functions adds to JSONata: ``$partition``, ``$range``, ``$hash``, ``$random``, ``$uuid``,
``$parse``; and ``$eval``, which it takes away.

Step Functions implements the JSONata 2.0.6 specification with every built-in function but ``$eval`` (use
``$parse``), and adds the six functions above (developer guide, transforming-data: "JSONata functions provided by
Step Functions"; their descriptions and examples: AWS's amazon-states-language-service,
src/asl-utils/utils/jsonata/functions.ts).  The JSONata library has none of them, so they are written here, each
a plain function of already evaluated arguments (the library hands arrays as lists and JSON null as its marker).
Layer: leaf (the JSONata library only).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable
from typing import Any

from jsonata import utils

#: JSON null as the JSONata library holds it (Python ``None`` is JSONata's undefined)
NULL = utils.Utils.NULL_VALUE
#: the algorithms of ``$hash``, as for States.Hash ("MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512")
HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
#: the most elements ``$range`` builds (AWS refuses one more than 360,145 elements: measured on AWS, reported in
#: floci-io/floci docs/services/stepfunctions.md, "Evaluation is bounded")
MAX_RANGE = 360145


class FunctionError(Exception):
    """A call with arguments the function cannot use; reported like a JSONata error (``code: message``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _number(value: Any, name: str, index: int) -> int:
    """An integer argument; a non-integer is truncated towards zero (measured on AWS, floci-io/floci
    docs/services/stepfunctions.md: ``$range(-1.7, 2, 1)`` starts at ``-1``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FunctionError("T0410", f'Argument {index} of function "{name}" does not match function signature')
    return int(value)


def _plain(value: Any) -> Any:
    """A value the library handed over, as plain JSON data (lists and dicts, None for null)."""
    if value is NULL:
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def partition(array: Any, size: Any = None) -> Any:
    """``$partition(array, chunkSize)``: ``[[1, 2], [3, 4], [5]]`` for ``([1, 2, 3, 4, 5], 2)``.

    Recorded on AWS: localstack snapshot v2/intrinsic_functions/test_array_jsonata.snapshot.json
    (test_array_partition).  An empty array or a chunk size below one gives nothing (undefined).
    """
    chunk = _number(size, "partition", 2)
    items = _plain(array) if isinstance(array, list) else [_plain(array)]
    if chunk < 1 or not items:
        return None
    return [items[i:i + chunk] for i in range(0, len(items), chunk)]


def range_(start: Any, end: Any, step: Any = None) -> Any:
    """``$range(start, end, step)``: every ``step`` from ``start`` up to and including ``end``.

    Recorded on AWS (test_array_jsonata.snapshot.json, test_array_range): ``$range(0, 9, 3)`` is
    ``[0,3,6,9]``, ``$range(0, 10, 3)`` is ``[0,3,6,9]``, and a single element is the bare number:
    ``$range(1, 9, 9)`` is ``1``.  No step, or one pointing away from ``end``, gives nothing; a zero step an
    empty array (AWS's function reference: ``$range(1, 9, 0) => []``).
    """
    first, last = _number(start, "range", 1), _number(end, "range", 2)
    if step is None:
        return None
    delta = _number(step, "range", 3)
    if delta == 0:
        return []
    if (last - first) * delta < 0:
        return None
    count = (last - first) // delta + 1
    if count > MAX_RANGE:
        raise FunctionError("", "Expression evaluation memory limit exceeded")
    values = [first + i * delta for i in range(count)]
    return values[0] if len(values) == 1 else values


def hash_(value: Any, algorithm: Any = None) -> Any:
    """``$hash(string, algorithm)``: the lower-case hex digest; no algorithm gives nothing."""
    if algorithm is None:
        return None
    if not isinstance(value, str):
        raise FunctionError("T0410", 'Argument 1 of function "hash" does not match function signature')
    if algorithm not in HASH_ALGORITHMS:
        raise FunctionError("T0410", f"The hashing algorithm provided is not supported: {algorithm}. "
                                     f"Use one of {', '.join(HASH_ALGORITHMS)}")
    return hashlib.new(HASH_ALGORITHMS[algorithm], value.encode()).hexdigest()


def random_(seed: Any = None) -> float:
    """``$random([seed])``: a number in [0, 1); the same seed gives the same number (not AWS's sequence)."""
    if seed is None:
        return random.random()
    return random.Random(_number(seed, "random", 1)).random()


def uuid_() -> str:
    """``$uuid()``: a random version 4 UUID."""
    return str(uuid.uuid4())


def parse(text: Any) -> Any:
    """``$parse(jsonString)``: the JSON value (recorded on AWS: localstack snapshot
    v2/intrinsic_functions/test_json_manipulation_jsonata.snapshot.json, test_parse: ``"-0"`` gives ``0``)."""
    if not isinstance(text, str):
        raise FunctionError("T0410", 'Argument 1 of function "parse" does not match function signature')
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise FunctionError("D3140", f"Unable to parse the string as JSON: {exc}") from None
    return _null_to_library(value)


def _null_to_library(value: Any) -> Any:
    if value is None:
        return NULL
    if isinstance(value, list):
        return [_null_to_library(v) for v in value]
    if isinstance(value, dict):
        return {k: _null_to_library(v) for k, v in value.items()}
    return value


#: name (without ``$``) → implementation, registered on every expression of a JSONata state
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "partition": partition, "range": range_, "hash": hash_, "random": random_, "uuid": uuid_, "parse": parse,
}
#: names bound to nothing, so that calling them fails with T1006 "Attempted to invoke a non-function"
DISABLED = ("eval",)
