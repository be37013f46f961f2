"""The state of the services moto serves (S3, IAM, STS, CloudWatch Logs, DynamoDB, SNS, SQS, EventBridge,
EventBridge Scheduler), snapshotted and restored.

moto has no persistence of its own. Its state is plain Python: per service a ``BackendDict`` (account → region →
backend object, ``moto/core/base_backend.py``), and its S3 keys already know how to be pickled (``FakeKey``
defines ``__getstate__``/``__setstate__`` "due to some implementation details of boto3", ``moto/s3/models.py``).
So a service's snapshot is the pickle of its ``(account, region) → backend`` objects, with two exceptions that keep
a snapshot small and cheap:

- an S3 object's body goes to a content-addressed blob (written and fsynced once, when the object is first
  snapshotted); the snapshot holds the blob's name;
- an AWS managed IAM policy (1,000+ of them in every IAM backend, ``MOTO_IAM_LOAD_MANAGED_POLICIES``) is held by
  ARN and attachment count: a restored backend takes the policy object of the fresh backend moto makes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from localcloud.core.durable import Blobs, dumps, loads

LOG = logging.getLogger(__name__)

#: the attribute a snapshotted S3 key keeps its blob's name in (with what the body was when it was written)
_BLOB_ATTR = "_localcloud_blob"
#: the blobs the restored S3 keys use (every other blob is an object deleted before the last snapshot)
RESTORED_BLOBS: set[str] = set()


class MotoState:
    """Snapshots of one moto service's backends, with S3 bodies in ``blobs``."""

    def __init__(self, service: str, blobs: Blobs) -> None:
        from moto.backends import get_backend

        self.service = service
        self.blobs = blobs
        self.backends: Any = get_backend(service)  # type: ignore[call-overload]
        self.referenced: set[str] = set()

    # ------------------------------------------------------------------------------------------- snapshot
    def snapshot(self) -> bytes:
        state = {(account, region): backend for account, region, backend in list(self.backends.iter_backends())}
        return dumps(state, self._reduce)

    def _reduce(self, obj: Any) -> Any:
        kind = type(obj).__name__
        if kind == "FakeKey" and type(obj).__module__ == "moto.s3.models":
            return self._reduce_key(obj)
        if kind == "AWSManagedPolicy":
            return (_managed_policy, (obj.account_id, obj.partition, obj.arn, obj.attachment_count))
        return NotImplemented

    def _reduce_key(self, key: Any) -> Any:
        marker = (key.contentsize, key._etag, key.last_modified)
        kept = key.__dict__.get(_BLOB_ATTR)
        if kept is None or kept[0] != marker:
            try:
                body = key.value
            except ValueError:  # a deleted key's buffer is closed (moto's own __getstate__ says the same)
                body = b""
            kept = (marker, self.blobs.put(body))
            key.__dict__[_BLOB_ATTR] = kept
        state = {k: v for k, v in key.__dict__.items() if k not in ("_value_buffer", "lock", "value")}
        return (_restore_key, (type(key), state, str(self.blobs.folder), kept[1]))

    # ------------------------------------------------------------------------------------------- restore
    def restore(self, data: bytes) -> int:
        """Put the snapshot's backends in place of moto's; returns how many backends came back."""
        state: dict[tuple[str, str], Any] = loads(data)
        for (account, region), backend in state.items():
            dict.__setitem__(self.backends[account], region, backend)
        return len(state)


def _managed_policy(account: str, partition: str, arn: str, attachments: int) -> Any:
    """The AWS managed policy ``arn`` of a fresh IAM backend, with the snapshot's attachment count."""
    from moto.iam.models import iam_backends

    policy = iam_backends[account][partition].managed_policies[arn]
    policy.attachment_count = attachments
    return policy


def _restore_key(kind: type, state: dict[str, Any], folder: str, blob: str) -> Any:
    """An S3 key whose body is the blob (through moto's own ``__setstate__``)."""
    key = kind.__new__(kind)
    key.__setstate__({**state, "value": (Path(folder) / blob).read_bytes()})
    RESTORED_BLOBS.add(blob)
    return key
