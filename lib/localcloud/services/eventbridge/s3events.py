"""The events S3 sends to EventBridge when a bucket's notification configuration has
``EventBridgeConfiguration`` (S3 user guide, "Using EventBridge" and "EventBridge event message structure").

The shape is the one recorded on AWS (localstack ``tests/aws/services/s3/test_s3_notifications_eventbridge.
snapshot.json``, recorded 2025-01-21): ``version``, ``bucket.name``, ``object`` (``key``, ``size``, ``etag``,
``sequencer``; ``version-id`` only in a versioned bucket), ``request-id``, ``requester``, ``source-ip-address`` and
``reason``, the API that made the object (``PutObject``, ``POST Object``, ``CopyObject``,
``CompleteMultipartUpload``, per the guide's detail field table). Events go to the default bus of the bucket's
account and Region.
"""

from __future__ import annotations

import itertools
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

#: moto's event name → the ``reason`` S3 writes
_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated": "DeleteObject",
}
_SEQUENCE = itertools.count()


def iso_now() -> str:
    """An event's ``time``: ISO 8601 in UTC to the second (as every recorded event shows it)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sequencer() -> str:
    """Increasing per object change, as S3's ``sequencer`` is (its value is opaque)."""
    return f"{time.time_ns() // 1000:X}{next(_SEQUENCE) % 256:02X}"


def is_inner_put(event_name: str, key: Any) -> bool:
    """moto's CompleteMultipartUpload stores the object with a PutObject that notifies too; S3 sends one event
    for the upload (the CompleteMultipartUpload one), so that inner PutObject is not sent."""
    return event_name == "s3:ObjectCreated:Put" and getattr(key, "multipart", None) is not None


def s3_event(*, account: str, region: str, bucket: str, versioned: bool, event_name: str, detail_type: str,
             key: Any) -> dict[str, Any]:
    """The whole event for ``key`` (moto's stored object) of ``bucket``."""
    obj: dict[str, Any] = {"key": key.name}
    created = event_name.startswith("s3:ObjectCreated")
    removed = event_name.startswith("s3:ObjectRemoved")
    if not removed:
        obj["etag"] = key.etag.replace('"', "")
    if created:
        obj["size"] = key.size
    if versioned and getattr(key, "version_id", None) not in (None, "null"):
        obj["version-id"] = key.version_id
    if created or removed:
        obj["sequencer"] = _sequencer()
    detail: dict[str, Any] = {"version": "0", "bucket": {"name": bucket}, "object": obj,
                              "request-id": secrets.token_hex(8).upper(), "requester": account,
                              "source-ip-address": "127.0.0.1"}
    if event_name in _REASONS:
        detail["reason"] = _REASONS[event_name]
    if removed:
        detail["deletion-type"] = ("Delete Marker Created" if event_name.endswith("DeleteMarkerCreated")
                                   else "Permanently Deleted")
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": "aws.s3",
            "account": account, "time": iso_now(), "region": region, "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": detail}
