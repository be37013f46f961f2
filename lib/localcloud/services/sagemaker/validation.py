"""Request checks and list helpers shared by the SageMaker operations (AWS's messages and defaults)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from localcloud.errors import AWSError

NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
MODEL_NAME_PATTERN = r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?"
ROLE_PATTERN = r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
DEFAULT_MAX_RESULTS = 10


def invalid(message: str) -> AWSError:
    return AWSError("ValidationException", message)


def constraint(value: Any, member: str, rule: str) -> AWSError:
    """AWS's one-field validation message."""
    shown = "null" if value is None else repr(value) if not isinstance(value, str) else f"'{value}'"
    return invalid(f"1 validation error detected: Value {shown} at '{member}' failed to satisfy constraint: "
                   f"Member must {rule}")


def check_name(params: Mapping[str, Any], key: str, pattern: str = NAME_PATTERN, max_len: int = 63) -> str:
    """The required name ``params[key]``; a ValidationException when missing or malformed."""
    member = key[0].lower() + key[1:]
    value = params.get(key)
    if value is None or value == "":
        raise constraint(None, member, "not be null")
    if not isinstance(value, str):
        raise constraint(value, member, "be a string")
    if len(value) > max_len:
        raise constraint(value, member, f"have length less than or equal to {max_len}")
    if not re.fullmatch(pattern.removeprefix("^"), value):
        raise constraint(value, member, f"satisfy regular expression pattern: {pattern}")
    return value


def need(params: Mapping[str, Any], key: str, kind: type | tuple[type, ...] = str) -> Any:
    """A required member of the expected JSON type."""
    value = params.get(key)
    if value is None or value == "" or value == []:
        raise constraint(None, key[0].lower() + key[1:], "not be null")
    if not isinstance(value, kind):
        raise invalid(f"Invalid type for parameter {key}: {type(value).__name__} is not the expected type.")
    return value


def optional(params: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = params.get(key)
    if value is not None and not isinstance(value, kind):
        raise invalid(f"Invalid type for parameter {key}: {type(value).__name__} is not the expected type.")
    return value


def role_name(arn: str) -> str:
    """``arn:aws:iam::123:role/path/Name`` → ``Name``."""
    return arn.split(":role/", 1)[-1].rsplit("/", 1)[-1]


def timestamp(value: Any, member: str) -> datetime:
    """A request timestamp: epoch seconds (what botocore sends) or ISO 8601."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    raise invalid(f"Invalid timestamp for {member}: {value!r}. Use epoch seconds or ISO 8601.")


def page(items: Iterable[Any], params: Mapping[str, Any], *, sort_keys: Mapping[str, Callable[[Any], Any]],
         default_order: str, created: Callable[[Any], datetime], modified: Callable[[Any], datetime] | None = None,
         name: Callable[[Any], str], status: Callable[[Any], str] | None = None,
         ) -> tuple[list[Any], str | None]:
    """Filter, sort and page a List* request the way SageMaker does; returns (page, NextToken)."""
    rows = list(items)
    contains = params.get("NameContains")
    if contains:
        rows = [r for r in rows if str(contains).lower() in name(r).lower()]
    for key, getter, after in (("CreationTimeAfter", created, True), ("CreationTimeBefore", created, False),
                               ("LastModifiedTimeAfter", modified, True),
                               ("LastModifiedTimeBefore", modified, False)):
        if params.get(key) is not None and getter is not None:
            bound = timestamp(params[key], key)
            rows = [r for r in rows if (getter(r) > bound if after else getter(r) < bound)]
    if params.get("StatusEquals") and status is not None:
        rows = [r for r in rows if status(r) == params["StatusEquals"]]
    sort_by = params.get("SortBy") or "CreationTime"
    if sort_by not in sort_keys:
        raise constraint(sort_by, "sortBy", f"satisfy enum value set: [{', '.join(sort_keys)}]")
    order = params.get("SortOrder") or default_order
    if order not in ("Ascending", "Descending"):
        raise constraint(order, "sortOrder", "satisfy enum value set: [Ascending, Descending]")
    rows.sort(key=sort_keys[sort_by], reverse=order == "Descending")
    limit = params.get("MaxResults") or DEFAULT_MAX_RESULTS
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        raise constraint(limit, "maxResults", "have value less than or equal to 100 and greater than or equal to 1")
    start = 0
    token = params.get("NextToken")
    if token:
        try:
            start = int(str(token).removeprefix("page-"))
        except ValueError:
            raise invalid(f"Invalid pagination token {token!r}: pass the NextToken of the previous response.") \
                from None
    chunk = rows[start:start + limit]
    more = start + limit < len(rows)
    return chunk, (f"page-{start + limit}" if more else None)
