"""S3 DeleteObjects when the server enforces IAM: each object is authorized on its own, as on AWS.

AWS does not refuse the whole request when the caller may not delete some of its objects: it answers 200, deletes
the others, and lists each refused object as an ``<Error>`` of the ``DeleteResult`` with Code ``AccessDenied``
(botocore's s3 model, DeleteObjects: ``Errors``, "Container for a failed delete action that describes the object
that Amazon S3 attempted to delete and the error it encountered", members Key, VersionId, Code, Message). Recorded:
the ``DeleteResult`` XML of such an answer (github.com/boto/boto issue 3586), boto3's parsed answer with
``HTTPStatusCode`` 200 and ``Errors`` ``[{Key, VersionId, Code: AccessDenied, Message}]`` (github.com/boto/boto3
issue 2884), and the Message in the form IAM writes it, "User: arn:aws:sts::…:assumed-role/… is not authorized to
perform: s3:DeleteObject on resource: "arn:aws:s3:::<bucket>/<key>" because no identity-based policy allows the
s3:DeleteObject action" (github.com/charles-001/backup-warden pull request 16, 2024). The Message here is the
authorizer's, as a refused single DeleteObject carries it. "In quiet mode the response includes only keys where the
delete action encountered an error" (boto3 reference, delete_objects): moto 5.2.5 lists the deleted ones too, so
every DeleteObjects answer goes through here.

This module reads and rewrites the request and answer bodies; :mod:`localcloud.server` serves the objects that
may be deleted through moto and adds the refused ones to its answer.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

_OBJECT = re.compile(rb"<Object>.*?</Object>", re.S)
_KEY = re.compile(rb"<Key>(.*?)</Key>", re.S)
_VERSION = re.compile(rb"<VersionId>(.*?)</VersionId>", re.S)
_QUIET = re.compile(rb"<Quiet>\s*true\s*</Quiet>", re.I)
_DELETED = re.compile(rb"<Deleted>.*?</Deleted>", re.S)
_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def _text(raw: bytes) -> str:
    return unescape(raw.decode())


def xml_text(text: str) -> str:
    """``text`` as XML element content (the S3 error bodies the gate and this module write)."""
    return escape(text, {'"': "&quot;"})


def is_request(method: str, query_string: str) -> bool:
    """Whether an S3 request to a bucket is DeleteObjects (``POST /<bucket>?delete``)."""
    return method == "POST" and "delete" in dict(parse_qsl(query_string, keep_blank_values=True))


def is_quiet(body: bytes) -> bool:
    return bool(_QUIET.search(body or b""))


def quiet(answer: bytes) -> bytes:
    """The answer without its ``<Deleted>`` elements: a quiet answer lists only the errors."""
    return _DELETED.sub(b"", answer)


def keys_of(body: bytes) -> list[str]:
    """The object keys a DeleteObjects request names (XML text, so ``&amp;`` is ``&``)."""
    return [key for key, _ in objects_of(body)]


def objects_of(body: bytes) -> list[tuple[str, str | None]]:
    """``(key, version id or None)`` of each ``<Object>`` of the request."""
    out = []
    for element in _OBJECT.finditer(body or b""):
        key, version = _KEY.search(element.group(0)), _VERSION.search(element.group(0))
        if key:
            out.append((_text(key.group(1)), _text(version.group(1)) if version else None))
    return out


def without(body: bytes, refused: set[str]) -> bytes:
    """The request's body without the ``<Object>`` elements of the ``refused`` keys."""
    def keep(element: re.Match[bytes]) -> bytes:
        key = _KEY.search(element.group(0))
        return b"" if key and _text(key.group(1)) in refused else element.group(0)

    return _OBJECT.sub(keep, body)


def errors(refused: list[tuple[str, str | None, str]]) -> str:
    """``<Error>`` elements for ``(key, version id, message)`` of each refused object."""
    return "".join(f"<Error><Key>{xml_text(key)}</Key>" + (f"<VersionId>{xml_text(version)}</VersionId>" if version else "")
                   + f"<Code>AccessDenied</Code><Message>{xml_text(message)}</Message></Error>"
                   for key, version, message in refused)


def result(refused: list[tuple[str, str | None, str]]) -> bytes:
    """The whole answer when every object was refused."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="{_NAMESPACE}">'
            f"{errors(refused)}</DeleteResult>").encode()


def merged(answer: bytes, refused: list[tuple[str, str | None, str]]) -> bytes:
    """moto's ``DeleteResult`` for the objects it deleted, with the refused ones added as errors."""
    extra = errors(refused).encode()
    if b"</DeleteResult>" in answer:
        head, _, tail = answer.rpartition(b"</DeleteResult>")
        return head + extra + b"</DeleteResult>" + tail
    empty = re.search(rb"<DeleteResult([^>]*)/>", answer)
    if empty:
        return answer[:empty.start()] + b"<DeleteResult" + empty.group(1) + b">" + extra + b"</DeleteResult>" + \
            answer[empty.end():]
    return result(refused)
