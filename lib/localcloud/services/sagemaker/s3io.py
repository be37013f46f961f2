"""S3 transfers of training channels and model artifacts, through boto3 back into localcloud (as SageMaker does)."""

from __future__ import annotations

import gzip
import io
import json
import logging
import tarfile
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.core import s3uri
from localcloud.errors import LocalCloudError

LOG = logging.getLogger(__name__)


class TransferError(LocalCloudError):
    """An S3 transfer failed; the message is the job's or endpoint's failure reason."""


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key/prefix`` or an S3 HTTPS URL (SageMaker's S3 fields take both: their botocore pattern is
    ``(https|s3)://([^/]+)/?(.*)``) → ``("bucket", "key/prefix")``."""
    parsed = s3uri.parse(uri or "", https=True)
    if parsed is None:
        raise TransferError(f"'{uri}' is not an S3 location; expected s3://bucket/prefix or an S3 URL such as "
                            "https://bucket.s3.region.amazonaws.com/prefix.")
    return parsed


def is_object_key(key: str) -> bool:
    """Whether a listed key is a file SageMaker downloads into a channel: every object but a folder marker
    (``prefix/``). Empty objects and ``_SUCCESS`` or hidden files are downloaded too: what the algorithm makes of
    them is the algorithm's business, as in File mode on SageMaker."""
    return bool(key) and not key.endswith("/")


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message") or exc)
    return str(exc)


def _no_objects(uri: str, region: str, role: str, bucket: str, detail: str = "") -> TransferError:
    text = (f'No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure that the bucket '
            f"exists in the selected region ({region}), that objects exist under that S3 prefix, and that the role "
            f'"{role}" has "s3:ListBucket" permissions on bucket "{bucket}".')
    return TransferError(text + (f" Error message from S3: {detail}" if detail else ""))


def download_prefix(s3: Any, uri: str, dest: Path, *, region: str, role: str) -> int:
    """Download every data object under an S3 prefix into ``dest``; return how many were kept."""
    bucket, prefix = split_uri(uri)
    found = kept = 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                found += 1
                key = obj["Key"]
                if not is_object_key(key):
                    continue
                relative = key[len(prefix):].lstrip("/") or key.rsplit("/", 1)[-1]
                target = dest / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                kept += 1
    except (ClientError, BotoCoreError) as exc:
        raise _no_objects(uri, region, role, bucket, _error_text(exc)) from exc
    if not found:
        raise _no_objects(uri, region, role, bucket)
    return kept


def download_manifest(s3: Any, uri: str, dest: Path, *, region: str, role: str) -> int:
    """Download the objects a manifest file lists (``[{"prefix": "s3://b/p/"}, "rel/key", ...]``)."""
    bucket, key = split_uri(uri)
    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        prefix_uri = manifest[0]["prefix"]
        entries = [str(e) for e in manifest[1:]]
    except (ClientError, BotoCoreError) as exc:
        raise TransferError(f'Data download failed: could not read the manifest file "{uri}": '
                            f"{_error_text(exc)}") from exc
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise TransferError(f'The manifest file "{uri}" is not a SageMaker manifest: expected a JSON list '
                            '[{"prefix": "s3://bucket/prefix/"}, "relative/key", ...].') from exc
    src_bucket, src_prefix = split_uri(prefix_uri)
    kept = 0
    for relative in entries:
        try:
            body = s3.get_object(Bucket=src_bucket, Key=src_prefix + relative)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise TransferError(f'Data download failed: could not download "{prefix_uri}{relative}" listed in '
                                f'manifest "{uri}": {_error_text(exc)}') from exc
        if is_object_key(relative):
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            kept += 1
    return kept


def model_tarball(folder: Path) -> bytes:
    """``model.tar.gz`` of a folder's files, byte-identical for identical files (fixed times and owners)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(str(path.relative_to(folder)))
            data = path.read_bytes()
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upload(s3: Any, uri: str, body: bytes) -> None:
    bucket, key = split_uri(uri)
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except (ClientError, BotoCoreError) as exc:
        raise TransferError(f'Failed to upload the model artifact to "{uri}": {_error_text(exc)}. Please ensure '
                            "that the output bucket exists in the job's region.") from exc


def fetch(s3: Any, uri: str) -> bytes:
    bucket, key = split_uri(uri)
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise TransferError(f"Could not access model data at {uri}: {_error_text(exc)}. Please ensure that the "
                            "object exists in the endpoint's region.") from exc


def fetch_prefix(s3: Any, uri: str) -> dict[str, bytes]:
    """Every object under a prefix, by key relative to it (uncompressed model data)."""
    bucket, prefix = split_uri(uri)
    out: dict[str, bytes] = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/"):
                    continue
                out[obj["Key"][len(prefix):].lstrip("/")] = s3.get_object(Bucket=bucket, Key=obj["Key"])[
                    "Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise TransferError(f"Could not access model data at {uri}: {_error_text(exc)}.") from exc
    return out
