"""Does an event match an EventBridge event pattern?

moto's matcher is used (prefix, suffix, anything-but, numeric, exists, equals-ignore-case, wildcard, cidr, $or),
with two corrections its flattening needs to agree with AWS: a pattern reaches into arrays of objects (a field
matches when any element's field does), and an empty array is no value at all (``exists: true`` does not match
it). Both are recorded on AWS by TestEventPattern (localstack ``tests/aws/services/events/
test_events_patterns.py``, templates ``list_within_dict`` and ``exists_list_empty_NEG``, recorded 2025-10-15);
``tests/localcloud/test_eventbridge_patterns.py`` runs every recorded match and non-match through this module.
"""

from __future__ import annotations

import json
from typing import Any

from moto.events.models import EventPattern


class _Pattern(EventPattern):
    @staticmethod
    def _flatten_dict(node: Any, prefix: str = "", result: dict[str, Any] | None = None) -> dict[str, Any]:
        return flatten(node, prefix, result)


def flatten(node: Any, prefix: str = "", result: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; the leaves under an array of objects gather into lists, and an empty
    array or object leaves no key (AWS treats them as absent)."""
    result = {} if result is None else result
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict) and value:
                flatten(value, path, result)
            elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
                for item in value:
                    if isinstance(item, dict):
                        for leaf, found in flatten(item, path).items():
                            _gather(result, leaf, found)
                    else:
                        _gather(result, path, item)
            elif value != [] and value != {}:
                result[path] = value
    return result


def _gather(result: dict[str, Any], key: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    existing = result.get(key)
    result[key] = (existing if isinstance(existing, list) else ([] if key not in result else [existing])) + values


def load(raw: str | dict[str, Any] | None) -> _Pattern:
    """A pattern from its JSON text (as PutRule stores it) or its parsed form."""
    text = json.dumps(raw) if isinstance(raw, dict) else raw
    return _Pattern.load(text)  # type: ignore[return-value]


def matches(pattern: str | dict[str, Any] | None, event: dict[str, Any]) -> bool:
    """Whether ``event`` (the event as EventBridge delivers it) matches ``pattern``; no pattern matches nothing
    (a rule without one is a scheduled rule)."""
    if not pattern:
        return False
    return bool(load(pattern).matches_event(event))  # type: ignore[arg-type]
