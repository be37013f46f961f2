"""S3 locations written as URIs or URLs: ``s3://bucket/key`` and the HTTPS URLs of an object.

Which forms a field takes is the service's choice, so callers say it: SageMaker's S3 fields (``S3Uri``,
``S3OutputPath``, ``ModelDataUrl``) match ``(https|s3)://([^/]+)/?(.*)`` in botocore's model and take both; a Glue
job's paths are Hadoop paths (``s3://``, ``s3a://``). The HTTPS forms are S3's two addressing styles ("Methods for
accessing a bucket", Amazon S3 user guide): path-style ``https://s3.<region>.amazonaws.com/<bucket>/<key>`` (also
the legacy ``s3-<region>`` and global ``s3.amazonaws.com`` hosts) and virtual-hosted-style
``https://<bucket>.s3[.<region>|-<region>].amazonaws.com/<key>``, with the dual-stack and China (``.com.cn``)
endpoints. A URL's key is percent-encoded (``%20`` is a space); an ``s3://`` key is taken as it is written.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_S3 = re.compile(r"^(?P<scheme>[a-z0-9]+)://(?P<bucket>[^/]+)(?:/(?P<key>.*))?$", re.DOTALL)
#: the region part of an S3 endpoint host: ``.us-east-1``, ``-us-east-1``, ``.dualstack.us-east-1`` or nothing
_REGION = r"(?:[.-](?:dualstack\.)?(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+))?"
_DOMAIN = r"\.amazonaws\.com(?:\.cn)?"
_PATH_STYLE = re.compile(rf"^s3{_REGION}{_DOMAIN}$")
_VIRTUAL = re.compile(rf"^(?P<bucket>.+)\.s3{_REGION}{_DOMAIN}$")


def parse(uri: str, *, schemes: tuple[str, ...] = ("s3",), https: bool = False) -> tuple[str, str] | None:
    """``(bucket, key)`` of an S3 location (key may be empty or end in ``/``), or None when ``uri`` is not one of
    the accepted forms: ``<scheme>://bucket/key`` for each of ``schemes``, and S3's HTTPS URLs when ``https``."""
    if not isinstance(uri, str):
        return None
    text = uri.strip()
    match = _S3.match(text)
    if match and match.group("scheme") in schemes:
        return match.group("bucket"), match.group("key") or ""
    if https and text.lower().startswith("https://"):
        return _https(text)
    return None


def _https(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path)
    if parts.query or parts.fragment:  # a presigned or otherwise decorated URL is not a location
        return None
    virtual = _VIRTUAL.match(host)
    if virtual:
        return virtual.group("bucket"), path.lstrip("/")
    if _PATH_STYLE.match(host):
        bucket, _, key = path.lstrip("/").partition("/")
        return (bucket, key) if bucket else None
    return None


def to_s3(uri: str, *, https: bool = True) -> str | None:
    """The ``s3://bucket/key`` form of an S3 location (None when it is not one)."""
    parsed = parse(uri, https=https)
    return f"s3://{parsed[0]}/{parsed[1]}" if parsed else None
