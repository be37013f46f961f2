"""JSON values as the engine sees them: compact JSON text, number tests and RFC 3339 timestamps.

The bottom of the engine: it imports nothing from the engine.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

#: an RFC 3339 timestamp as Step Functions accepts it: upper-case ``T``, ``Z`` or a numeric offset
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def to_json(value: Any) -> str:
    """Compact JSON, as Step Functions writes payloads into history and error causes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def is_int(value: Any) -> bool:
    """A JSON integer (``true``/``false`` are not numbers)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A JSON number (``true``/``false`` are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (upper-case ``T``, ``Z`` or an offset), or None if ``value`` is not one."""
    if not isinstance(value, str) or not TIMESTAMP_RE.match(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_DECIMAL_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def as_number(value: Any, *, integer: bool) -> int | float | None:
    """A number a ``*Path`` field selected, read as Step Functions reads it: a JSON number, or text that parses as
    one (a MaxConcurrencyPath naming a variable that holds ``"1"`` runs with 1; recorded on AWS: localstack snapshot
    v2/assign/test_assign_reference_variables.snapshot.json, MAP_STATE_REFERENCE_IN_MAX_CONCURRENCY_PATH); None when
    it is not one (``integer``: a whole number is needed)."""
    if is_int(value) or (not integer and is_number(value)):
        return value
    if isinstance(value, str) and (_INTEGER_TEXT if integer else _DECIMAL_TEXT).match(value):
        return int(value) if integer else float(value)
    return None


def java_hash_order(keys: list[str]) -> list[str]:
    """The order in which a ``java.util.HashMap`` (16 buckets to start, load factor 0.75) holding ``keys`` iterates
    them: by bucket of ``String.hashCode()`` (its high half folded in), then in insertion order within a bucket."""
    capacity = 16
    while len(keys) > capacity * 0.75:
        capacity *= 2
    buckets: dict[int, list[str]] = {}
    for key in keys:
        code = 0
        for unit in _utf16_units(key):  # String.hashCode: s[0]*31^(n-1) + ... over UTF-16 code units, as int
            code = (31 * code + unit) & 0xFFFFFFFF
        buckets.setdefault((code ^ (code >> 16)) & (capacity - 1), []).append(key)
    return [key for index in sorted(buckets) for key in buckets[index]]


def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-be")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
