"""Tags of SageMaker resources: given at creation (``Tags``) or with AddTags, read with ListTags, removed with
DeleteTags, gone with the resource. Keyed by the resource's ARN (names in lower case, as SageMaker writes them)."""

from __future__ import annotations

import threading
from typing import Any

from localcloud.errors import AWSError
from localcloud.services.sagemaker.validation import invalid

#: SageMaker allows 50 tags per resource (AddTags API reference)
MAX_TAGS = 50


def check(tags: Any) -> list[dict[str, str]]:
    if not isinstance(tags, list) or not all(isinstance(t, dict) and "Key" in t for t in tags):
        raise invalid("Tags must be a list of objects with Key and Value.")
    for tag in tags:
        if str(tag["Key"]).lower().startswith("aws:"):
            raise invalid(f"Tag keys starting with 'aws:' are reserved for system use: {tag['Key']}")
    return [{"Key": str(t["Key"]), "Value": str(t.get("Value", ""))} for t in tags]


class Tags:
    """The tags of every SageMaker resource of one server."""

    def __init__(self) -> None:
        self._tags: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def created(self, arn: str, tags: Any) -> None:
        """Record the ``Tags`` of a create request (validated)."""
        checked = check(tags or [])
        with self._lock:
            self._tags[arn.lower()] = {t["Key"]: t["Value"] for t in checked}

    def deleted(self, arn: str) -> None:
        with self._lock:
            self._tags.pop(arn.lower(), None)

    def _known(self, arn: str) -> dict[str, str]:
        found = self._tags.get(arn.lower())
        if found is None:
            raise AWSError("ValidationException", f"Requested resource not found: {arn}", 400)
        return found

    def add(self, arn: str, tags: Any) -> list[dict[str, str]]:
        checked = check(tags)
        with self._lock:
            current = self._known(arn)
            merged = {**current, **{t["Key"]: t["Value"] for t in checked}}
            if len(merged) > MAX_TAGS:
                raise AWSError("ResourceLimitExceeded", f"A resource can have at most {MAX_TAGS} tags.", 400)
            current.update(merged)
        return checked

    def list(self, arn: str, max_results: int = 50, token: str | None = None) -> dict[str, Any]:
        with self._lock:
            items = [{"Key": k, "Value": v} for k, v in self._known(arn).items()]
        start = int(token) if token and token.isdigit() else 0
        page = items[start:start + max_results]
        out: dict[str, Any] = {"Tags": page}
        if start + max_results < len(items):
            out["NextToken"] = str(start + max_results)
        return out

    def delete(self, arn: str, keys: list[str]) -> None:
        with self._lock:
            current = self._known(arn)
            for key in keys:
                current.pop(key, None)
