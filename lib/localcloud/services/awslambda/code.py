"""Deployment packages: read them (inline base64 zip or an S3 object), check them, unpack them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from localcloud.core.clients import client
from localcloud.core.durable import write_atomic
from localcloud.errors import AWSError

from .models import CodePackage

LOG = logging.getLogger(__name__)

#: AWS's quota on the unzipped size of a deployment package
MAX_UNZIPPED_BYTES = 262_144_000
#: AWS's quota on a zip uploaded directly in the request
MAX_ZIP_BYTES = 50 * 1024 * 1024


def invalid(message: str) -> AWSError:
    return AWSError("InvalidParameterValueException", message)


def read_package(code: dict[str, Any], endpoint_url: str, region: str) -> bytes:
    """The zip bytes named by a ``FunctionCode`` (or UpdateFunctionCode) request."""
    if code.get("ImageUri"):
        raise invalid("localcloud runs zip packages only (PackageType Zip); container images (ImageUri) are not "
                      "supported. Upload the handler as a zip with ZipFile or S3Bucket/S3Key.")
    inline = code.get("ZipFile")
    bucket, key = code.get("S3Bucket"), code.get("S3Key")
    if inline and (bucket or key):
        raise invalid("Please provide only one source for function code: ZipFile, or S3Bucket and S3Key.")
    if inline:
        try:
            data = base64.b64decode(inline, validate=True) if isinstance(inline, str) else bytes(inline)
        except (binascii.Error, ValueError) as exc:
            raise invalid("Could not unzip uploaded file. Please check your file, then try to upload again. "
                          "(ZipFile must be the base64 of a zip archive.)") from exc
        if len(data) > MAX_ZIP_BYTES:
            raise AWSError("RequestEntityTooLargeException",
                           f"Request must be smaller than {MAX_ZIP_BYTES} bytes for the CreateFunction operation",
                           413)
        return data
    if bucket and key:
        return _read_s3(bucket, key, code.get("S3ObjectVersion"), endpoint_url, region)
    if bucket or key:
        raise invalid("Both S3Bucket and S3Key are required to take function code from S3.")
    raise invalid("Please provide a source for function code.")


def _read_s3(bucket: str, key: str, version: str | None, endpoint_url: str, region: str) -> bytes:
    params = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
    try:
        return client(endpoint_url, "s3", region).get_object(**params)["Body"].read()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise invalid(f"Error occurred while GetObject. S3 Error Code: {error.get('Code')}. "
                      f"S3 Error Message: {error.get('Message')}") from exc


def sha256_b64(data: bytes) -> str:
    """``CodeSha256``: the base64 of the package's SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def unpack(data: bytes, folder: Path) -> CodePackage:
    """Check the zip, keep it under ``folder`` and extract it next to it (once per distinct package)."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise invalid("Could not unzip uploaded file. Please check your file, then try to upload again.") from exc
    total = sum(m.file_size for m in members)
    if total > MAX_UNZIPPED_BYTES:
        raise invalid(f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")
    for member in members:
        path = PurePosixPath(member.filename)
        if path.is_absolute() or ".." in path.parts:
            raise invalid(f"Could not unzip uploaded file: the entry '{member.filename}' points outside the "
                          "package. Zip the handler's files with relative paths.")
    folder.mkdir(parents=True, exist_ok=True)
    root = folder / digest
    zip_path = folder / f"{digest}.zip"
    if not zip_path.exists():  # the package itself outlives a restart (the folder is extracted from it again)
        write_atomic(zip_path, data)
    if not root.is_dir():
        staging = folder / f".{digest}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            archive.extractall(staging)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise invalid(f"Could not unzip uploaded file ({exc}). Please check your file, then try to upload "
                          "again.") from exc
        staging.rename(root)
    LOG.debug("unpacked %d files (%d bytes) into %s", len(members), total, root)
    return CodePackage(sha256=sha256_b64(data), size=len(data), zip_path=zip_path, root=root)


def remove(package: CodePackage) -> None:
    """Delete an unpacked package (its zip and folder)."""
    shutil.rmtree(package.root, ignore_errors=True)
    package.zip_path.unlink(missing_ok=True)
