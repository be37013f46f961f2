"""``s3://`` and ``s3a://`` paths in job arguments: staged to local folders before a run, synced back after it.

Local Spark cannot read S3, so before a run every S3 object or prefix an argument names is downloaded into a
mirror folder (``<run>/s3/<bucket>/<key>``) and the argument is rewritten to the local path, trailing slash kept
(scripts concatenate ``S3_DEST + TRAIN_KEY``). Nested arguments share one download. After the script ends — with
success or with an exception, since a job writing to S3 leaves what it wrote either way — each staged prefix is
synced back so S3 mirrors what the script left: new and changed files are uploaded, objects the
script removed (Spark's ``overwrite`` does that) are deleted, Spark's hidden ``.crc`` checksum files are skipped and
``_SUCCESS`` markers are kept, as a Glue job writing to S3 would leave them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from localcloud.core import s3uri
from localcloud.errors import LocalCloudError

LOG = logging.getLogger(__name__)

#: the URI schemes of S3 paths in a Glue job (Spark's Hadoop file systems)
HADOOP_SCHEMES = ("s3", "s3a")
#: one request below this size, a multi-part transfer above it
SMALL_OBJECT = 8 * 1024 * 1024
THREADS = 8


class StagingError(LocalCloudError):
    """An S3 path of the job could not be staged or synced back."""


def parse_s3(value: str) -> tuple[str, str] | None:
    """``(bucket, key)`` of an ``s3://``/``s3a://`` URI (key may be empty or end in ``/``), else None. A job's paths
    are Hadoop paths: an HTTPS URL in an argument is only text to the script, as on Glue."""
    parsed = s3uri.parse(value, schemes=HADOOP_SCHEMES)
    return (parsed[0], parsed[1].lstrip("/")) if parsed else None


def is_checksum(name: str) -> bool:
    """Hadoop's hidden checksum files (``.part-0000.csv.crc``, ``._SUCCESS.crc``)."""
    return name.startswith(".") and name.endswith(".crc")


@dataclass
class Root:
    """One downloaded object or prefix; everything an argument names lies in one root."""

    bucket: str
    key: str  # object key, or prefix ("" or ending in "/")
    kind: str  # "object", "prefix", or "new" (nothing there yet: the script decides file or folder)
    local: Path
    manifest: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (size, mtime_ns) as staged

    def covers(self, key: str) -> bool:
        """Whether the object or prefix ``key`` lies inside this root (and so needs no download of its own)."""
        if self.kind == "object":
            return key == self.key
        if self.kind == "prefix":
            return key.startswith(self.key)
        return key == self.key or key.startswith(self.key + "/")


class Staging:
    """The S3 mirror of one run.

    What the job does with its role goes through ``role_s3`` (the role's credentials, checked when the server
    enforces IAM): the objects its arguments name, the listings of the prefixes they name, and every write and
    delete of the sync-back. The contents of a staged prefix are mirrored with the server's own ``s3`` client:
    localcloud cannot see which of those files the script will open, and on AWS it reads only those.
    """

    def __init__(self, s3: Any, folder: Path, role_s3: Any = None) -> None:
        self.s3 = s3
        self.role = role_s3 or s3
        self.folder = folder.resolve()
        self.roots: list[Root] = []

    # ------------------------------------------------------------------------------------------- paths
    def local(self, bucket: str, key: str) -> Path:
        path = (self.folder / bucket / key).resolve()
        if path != self.folder and self.folder not in path.parents:
            raise StagingError(f"the S3 key {key!r} cannot be staged: it leaves its bucket folder")
        return path

    def rewrite_value(self, value: str) -> str:
        """The local path standing for an S3 URI (the same text after the scheme, trailing slash kept)."""
        parsed = parse_s3(value)
        if parsed is None:
            return value
        bucket, key = parsed
        return f"{self.folder}/{bucket}" + (f"/{key}" if key or value.rstrip().endswith("/") else "")

    def to_uris(self, text: str) -> str:
        """Replace local mirror paths in ``text`` (error messages, logs) by the S3 URIs they stand for."""
        for local in (f"file://{self.folder}/", f"file:{self.folder}/", f"{self.folder}/"):
            text = text.replace(local, "s3://")
        return text

    # ------------------------------------------------------------------------------------------- stage
    def stage(self, arguments: dict[str, str], skip: Iterable[str] = ()) -> dict[str, str]:
        """Download what the arguments name; return the arguments with S3 URIs rewritten to local paths."""
        skipped = set(skip)
        wanted: list[tuple[str, str]] = []
        for name, value in arguments.items():
            parsed = parse_s3(value) if name not in skipped else None
            if parsed:
                wanted.append(parsed)
        for bucket, key in sorted(set(wanted), key=lambda bk: (bk[0], len(bk[1]), bk[1])):
            if any(r.bucket == bucket and r.covers(key) for r in self.roots):
                continue
            self.roots.append(self._root(bucket, key))
        jobs: list[tuple[Root, str, int]] = []
        for root in self.roots:
            jobs.extend(self._listing(root))
        self._parallel(lambda job: self._download(*job), jobs)
        return {name: (value if name in skipped else self.rewrite_value(value)) for name, value in arguments.items()}

    def _root(self, bucket: str, key: str) -> Root:
        if key and not key.endswith("/"):
            try:
                self.role.head_object(Bucket=bucket, Key=key)
                return Root(bucket, key, "object", self.local(bucket, key))
            except ClientError as exc:
                if _code(exc) not in ("404", "NoSuchKey", "NotFound"):
                    raise StagingError(f"cannot read s3://{bucket}/{key}: {_message(exc)}") from exc
            if self._exists(bucket, key + "/"):
                return Root(bucket, key + "/", "prefix", self.local(bucket, key))
            return Root(bucket, key, "new", self.local(bucket, key))
        return Root(bucket, key, "prefix", self.local(bucket, key))

    def _exists(self, bucket: str, prefix: str) -> bool:
        try:
            listing = self.role.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except ClientError as exc:
            raise StagingError(f"cannot list s3://{bucket}/{prefix}: {_message(exc)}") from exc
        return bool(listing.get("KeyCount"))

    def _listing(self, root: Root) -> list[tuple[Root, str, int]]:
        if root.kind == "object":
            head = self.role.head_object(Bucket=root.bucket, Key=root.key)
            return [(root, root.key, int(head.get("ContentLength", 0)))]
        if root.kind == "new":
            root.local.parent.mkdir(parents=True, exist_ok=True)
            return []
        root.local.mkdir(parents=True, exist_ok=True)
        found: list[tuple[Root, str, int]] = []
        try:
            for page in self.role.get_paginator("list_objects_v2").paginate(Bucket=root.bucket, Prefix=root.key):
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith("/"):
                        self.local(root.bucket, obj["Key"]).mkdir(parents=True, exist_ok=True)
                    else:
                        found.append((root, obj["Key"], int(obj.get("Size", 0))))
        except ClientError as exc:
            raise StagingError(f"cannot list s3://{root.bucket}/{root.key}: {_message(exc)}") from exc
        return found

    def _download(self, root: Root, key: str, size: int) -> None:
        path = self.local(root.bucket, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            LOG.warning("s3://%s/%s not staged: a file stands where its folder would be", root.bucket, key)
            return
        if path.is_dir():
            LOG.warning("s3://%s/%s not staged: a folder of the same name exists", root.bucket, key)
            return
        reader = self.role if root.kind == "object" else self.s3  # a named object is the job's own read
        try:
            if size <= SMALL_OBJECT:
                body = reader.get_object(Bucket=root.bucket, Key=key)["Body"].read()
                path.write_bytes(body)
            else:
                reader.download_file(root.bucket, key, str(path))
        except ClientError as exc:
            raise StagingError(f"cannot download s3://{root.bucket}/{key}: {_message(exc)}") from exc
        stat = path.stat()
        root.manifest[key] = (stat.st_size, stat.st_mtime_ns)

    # ------------------------------------------------------------------------------------------- sync back
    def sync_back(self) -> dict[str, int]:
        """Make each staged prefix in S3 mirror its local folder; return counts of uploads and deletes."""
        uploads: list[tuple[str, str, Path]] = []
        deletes: dict[str, list[str]] = {}
        for root in self.roots:
            present: dict[str, Path] = {}
            if root.local.is_file():
                present[root.key.rstrip("/")] = root.local
            elif root.local.is_dir():
                prefix = root.key if root.kind == "prefix" else root.key + "/"
                if prefix == "/":
                    prefix = ""
                for dirpath, _dirs, files in os.walk(root.local):
                    for name in files:
                        if is_checksum(name):
                            continue
                        path = Path(dirpath) / name
                        present[prefix + path.relative_to(root.local).as_posix()] = path
            for key, path in present.items():
                stat = path.stat()
                if root.manifest.get(key) != (stat.st_size, stat.st_mtime_ns):
                    uploads.append((root.bucket, key, path))
            gone = [key for key in root.manifest if key not in present]
            if gone:
                deletes.setdefault(root.bucket, []).extend(gone)
        self._parallel(lambda job: self._upload(*job), uploads)
        removed = 0
        for bucket, keys in deletes.items():
            for start in range(0, len(keys), 1000):
                batch = keys[start:start + 1000]
                try:
                    answer = self.role.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch],
                                                                              "Quiet": True})
                except ClientError as exc:
                    raise StagingError(f"cannot delete objects in s3://{bucket}: {_message(exc)}") from exc
                # S3 answers 200 and lists what it could not delete (core/multidelete.py); a Glue job's S3
                # connector fails then: the AWS SDK for Java under it throws MultiObjectDeleteException "One or more
                # objects could not be deleted" on such an answer (Cloudera's S3A guide, "Errors During Delete or
                # Rename of Files": "the caller lacks the permission to delete these objects")
                refused = answer.get("Errors") or []
                if refused:
                    first = refused[0]
                    raise StagingError(f"cannot delete s3://{bucket}/{first.get('Key')} ({len(refused)} of "
                                       f"{len(batch)} objects refused): {first.get('Code')}: {first.get('Message')}")
                removed += len(batch)
        LOG.info("synced %d files to S3, deleted %d objects", len(uploads), removed)
        return {"uploaded": len(uploads), "deleted": removed}

    def _upload(self, bucket: str, key: str, path: Path) -> None:
        try:
            if path.stat().st_size <= SMALL_OBJECT:
                self.role.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            else:
                self.role.upload_file(str(path), bucket, key)
        except ClientError as exc:
            raise StagingError(f"cannot upload s3://{bucket}/{key}: {_message(exc)}") from exc

    @staticmethod
    def _parallel(func: Callable[[Any], None], jobs: list[Any]) -> None:
        if len(jobs) <= 1:
            for job in jobs:
                func(job)
            return
        with ThreadPoolExecutor(max_workers=min(THREADS, len(jobs)), thread_name_prefix="glue-s3") as pool:
            for future in [pool.submit(func, job) for job in jobs]:
                future.result()

    def staged_bytes(self) -> int:
        return sum(size for root in self.roots for size, _ in root.manifest.values())


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', str(exc))}"
