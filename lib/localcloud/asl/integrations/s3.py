"""Amazon S3 for a Distributed Map: ``arn:aws:states:::s3:getObject`` and ``arn:aws:states:::s3:listObjectsV2``
(ItemReader) and ``arn:aws:states:::s3:putObject`` (ResultWriter).

These resources are valid only in those two fields, not as a Task's resource (ItemReader (Map), ResultWriter
(Map), developer guide), so :func:`localcloud.asl.integrations.ServiceIntegrations.check` does not accept them. The
calls are made with the execution role's credentials like every other integration ("IAM policies for ItemReader /
ResultWriter": ``s3:GetObject``, ``s3:ListBucket``, ``s3:PutObject`` on the role).

Results are for the engine's reader: getObject gives ``{"Body": <text>}`` (a gzipped object, as the CSV files of an
S3 inventory are, is unzipped); listObjectsV2 gives every object of every page as the ItemReader hands them to the
child executions: ``{"Etag", "LastModified", "Key", "Size", "StorageClass"}`` (recorded on AWS: localstack snapshot
test_base_scenarios.snapshot.json test_map_item_reader_base_list_objects_v2).
"""

from __future__ import annotations

import gzip
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.asl.errors import TaskFailed
from localcloud.asl.integrations.base import Call, ErrorNaming, iso_text

LOG = logging.getLogger(__name__)

ERRORS = ErrorNaming(prefix="S3", base="AmazonS3Exception", sdk_service="Amazon S3")
#: resource → what it does, for the ItemReader and ResultWriter only
ACTIONS = {
    "arn:aws:states:::s3:getObject": "getObject",
    "arn:aws:states:::s3:listObjectsV2": "listObjectsV2",
    "arn:aws:states:::s3:putObject": "putObject",
}


def _params(call: Call) -> dict[str, Any]:
    params = call.parameters if isinstance(call.parameters, dict) else {}
    if not isinstance(params.get("Bucket"), str):
        raise TaskFailed("States.Runtime", "The S3 parameters need a Bucket.")
    return params


def run(call: Call) -> Any:
    """Serve one reader/writer call."""
    client = call.client("s3")
    params = _params(call)
    try:
        if call.action == "getObject":
            extra = {"VersionId": params["VersionId"]} if params.get("VersionId") else {}
            body = client.get_object(Bucket=params["Bucket"], Key=str(params.get("Key", "")), **extra)["Body"].read()
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            return {"Body": body.decode("utf-8", errors="replace")}
        if call.action == "listObjectsV2":
            return {"Contents": _list(client, params)}
        client.put_object(Bucket=params["Bucket"], Key=str(params["Key"]), Body=str(params["Body"]).encode())
        return {}
    except ClientError as exc:
        raise ERRORS.from_client_error(client, exc) from None
    except BotoCoreError as exc:
        raise TaskFailed("S3.SdkClientException", f"Unable to execute HTTP request: {exc}") from None


def _list(client: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    args = {k: v for k, v in params.items() if k in ("Bucket", "Prefix", "Delimiter", "StartAfter")}
    out: list[dict[str, Any]] = []
    for page in client.get_paginator("list_objects_v2").paginate(**args):
        for obj in page.get("Contents", []):
            out.append({"Etag": obj.get("ETag"), "LastModified": iso_text(obj["LastModified"]), "Key": obj["Key"],
                        "Size": obj.get("Size", 0), "StorageClass": obj.get("StorageClass", "STANDARD")})
    return out
