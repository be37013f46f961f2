"""Request checks of the Model Registry operations, with the limits of the botocore model ``sagemaker/2017-07-24``.

Names: ``ModelPackageGroupName`` is an EntityName at creation and an ``ArnOrName`` elsewhere; ``ModelPackageName``
of Describe/Delete and of a model's container is a ``VersionedArnOrName`` (``<group>/<version>`` or an ARN). A
pattern refused is answered in AWS's one-field form, the pattern followed by ``$`` as AWS prints it (recorded on
AWS for DescribeModelPackage: github aws/amazon-sagemaker-examples issue 2289).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from localcloud.errors import AWSError
from localcloud.services.sagemaker.validation import constraint, invalid

ARN_OR_NAME = (r"(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?"
               r"([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)")
VERSIONED_ARN_OR_NAME = ARN_OR_NAME + r"(\/[0-9]{1,9})?"
PACKAGE_ARN = r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]{9,16}:[0-9]{12}:model-package/[\S]{1,2048}"
S3_URI = r"(https|s3)://([^/]+)/?(.*)"
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
PACKAGE_TYPES = ("Versioned", "Unversioned", "Both")
#: ModelMetrics: each report is a MetricsSource {ContentType, S3Uri (both required), ContentDigest}
METRICS = {"ModelQuality": ("Statistics", "Constraints"), "ModelDataQuality": ("Statistics", "Constraints"),
           "Bias": ("Report", "PreTrainingReport", "PostTrainingReport"), "Explainability": ("Report",)}
#: CustomerMetadataMap: 1-50 entries, keys 1-128 and values 1-256 characters of [\p{L}\p{Z}\p{N}_.:/=+\-@]
METADATA_CHARS = frozenset("_.:/=+-@")


def _member(key: str) -> str:
    return key[:1].lower() + key[1:]


def reference(params: Mapping[str, Any], key: str, pattern: str = ARN_OR_NAME, max_len: int = 170,
              member: str | None = None) -> str:
    """A required name-or-ARN member, checked against its botocore pattern and length."""
    member = member or _member(key)
    value = params.get(key)
    if value is None or value == "":
        raise constraint(None, member, "not be null")
    if not isinstance(value, str):
        raise invalid(f"Invalid type for parameter {key}: {type(value).__name__} is not the expected type.")
    if len(value) > max_len:
        raise constraint(value, member, f"have length less than or equal to {max_len}")
    if not re.fullmatch(pattern, value):
        raise constraint(value, member, f"satisfy regular expression pattern: {pattern}$")
    return value


def split_reference(value: str) -> tuple[str, int | None]:
    """``arn:...:model-package/grp/3``, ``grp/3`` → ``("grp", 3)``; ``name`` or a group's ARN → ``(name, None)``."""
    rest = value.split(":", 5)[5].split("/", 1)[1] if value.startswith("arn:") else value
    name, _, version = rest.partition("/")
    return name, int(version) if version else None


def package_arn(params: Mapping[str, Any]) -> str:
    """UpdateModelPackage's required ``ModelPackageArn``."""
    return reference(params, "ModelPackageArn", PACKAGE_ARN, 2048)


def enum(params: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(key)
    if value is not None and value not in allowed:
        raise constraint(value, _member(key), f"satisfy enum value set: [{', '.join(allowed)}]")
    return value


def text(params: Mapping[str, Any], key: str, max_len: int = 1024) -> None:
    value = params.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > max_len):
        raise constraint(value, _member(key), f"have length less than or equal to {max_len}")


def _metadata_text(value: Any, limit: int) -> bool:
    return (isinstance(value, str) and 1 <= len(value) <= limit
            and all(c in METADATA_CHARS or unicodedata.category(c)[0] in "LZN" for c in value))


def metadata(params: Mapping[str, Any], key: str = "CustomerMetadataProperties") -> dict[str, str] | None:
    """A CustomerMetadataMap (None when absent)."""
    value = params.get(key)
    if value is None:
        return None
    member = _member(key)
    if not isinstance(value, dict):
        raise invalid(f"Invalid type for parameter {key}: {type(value).__name__} is not the expected type.")
    if not 1 <= len(value) <= 50:
        rule = "greater than or equal to 1" if not value else "less than or equal to 50"
        raise constraint(value, member, f"have length {rule}")
    for k, v in value.items():
        if not _metadata_text(k, 128):
            raise constraint(k, f"{member}.key", r"satisfy regular expression pattern: "
                             r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,128}")
        if not _metadata_text(v, 256):
            raise constraint(v, f"{member}.value", r"satisfy regular expression pattern: "
                             r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}")
    return {str(k): str(v) for k, v in value.items()}


def _source(source: Any, member: str) -> None:
    if not isinstance(source, dict):
        raise invalid(f"Invalid type for parameter {member}: {type(source).__name__} is not the expected type.")
    for key in ("ContentType", "S3Uri"):
        if source.get(key) is None:
            raise constraint(None, f"{member}.{_member(key)}", "not be null")
    if not re.fullmatch(S3_URI, str(source["S3Uri"])):
        raise constraint(source["S3Uri"], f"{member}.s3Uri", f"satisfy regular expression pattern: {S3_URI}")


def model_metrics(params: Mapping[str, Any]) -> None:
    """ModelMetrics: every report given must name its ContentType and an S3 (or HTTPS) URI."""
    metrics = params.get("ModelMetrics")
    if metrics is None:
        return
    if not isinstance(metrics, dict):
        raise invalid("Invalid type for parameter ModelMetrics: not the expected type.")
    for kind, reports in METRICS.items():
        part = metrics.get(kind)
        if part is None:
            continue
        for report in reports:
            if part.get(report) is not None:
                _source(part[report], f"modelMetrics.{_member(kind)}.{_member(report)}")


def inference_specification(value: Any, member: str = "inferenceSpecification") -> None:
    """An InferenceSpecification needs 1-15 Containers (botocore: required, min 1, max 15)."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise invalid(f"Invalid type for parameter {member}: not the expected type.")
    containers = value.get("Containers")
    if not containers:
        raise constraint(None, f"{member}.containers", "not be null")
    if not isinstance(containers, list) or len(containers) > 15:
        raise constraint(containers, f"{member}.containers", "have length less than or equal to 15")
    for container in containers:
        url = container.get("ModelDataUrl") if isinstance(container, dict) else None
        if url is not None and not re.fullmatch(S3_URI, str(url)):
            raise constraint(url, f"{member}.containers.member.modelDataUrl",
                             f"satisfy regular expression pattern: {S3_URI}")


def conflict(message: str) -> AWSError:
    return AWSError("ConflictException", message)
