"""AWS wire protocols: the request every service receives, the responses it returns, and error encoding.

Two protocols matter here: the AWS JSON protocol (``X-Amz-Target: Prefix.Operation``, JSON body; SageMaker, Glue,
Step Functions) and REST-JSON (path routes; Lambda, SageMaker Runtime). S3/IAM/STS go to moto untouched.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from localcloud.errors import AWSError

LOG = logging.getLogger(__name__)

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class AWSRequest:
    """One HTTP request as a service sees it (no WSGI, no werkzeug)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""
    query: dict[str, str] = field(default_factory=dict)
    service: str = ""
    region: str = "us-east-1"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def target(self) -> str | None:
        """The ``X-Amz-Target`` header (``AWSGlue.CreateJob``), or None."""
        return self.headers.get("X-Amz-Target") or self.headers.get("x-amz-target")

    @property
    def operation(self) -> str | None:
        """The operation named by ``X-Amz-Target`` (``CreateJob``)."""
        target = self.target
        return target.rsplit(".", 1)[-1] if target else None

    def header(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return default

    def json(self) -> dict[str, Any]:
        """The body parsed as a JSON object; a clear ``SerializationException`` when it is not one."""
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise AWSError("SerializationException", f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise AWSError("SerializationException", "The request body must be a JSON object.")
        return data


@dataclass
class AWSResponse:
    """What a service returns; the server turns it into HTTP."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def signing_scope(authorization: str | None) -> tuple[str, str] | None:
    """``(region, service)`` from a SigV4 ``Authorization`` header, or None when unsigned."""
    if not authorization:
        return None
    match = _SCOPE.search(authorization)
    return (match.group(1), match.group(2)) if match else None


def parse_query(raw: str) -> dict[str, str]:
    return {k: v for k, v in parse_qsl(raw, keep_blank_values=True)}


def path_param(value: str) -> str:
    return unquote(value)


# --------------------------------------------------------------------------------------------------- encoding


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).timestamp()
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(data: Any) -> str:
    """JSON with datetimes as epoch seconds, the AWS JSON protocols' timestamp form."""
    return json.dumps(data, default=_default, separators=(",", ":"))


def json_response(
    data: Any, request: AWSRequest, *, status: int = 200, content_type: str = "application/x-amz-json-1.1"
) -> AWSResponse:
    return AWSResponse(
        status=status,
        body=dumps(data if data is not None else {}).encode(),
        headers={"Content-Type": content_type, "x-amzn-RequestId": request.request_id},
    )


def error_response(error: AWSError, request: AWSRequest, *, content_type: str = "application/x-amz-json-1.1") -> AWSResponse:
    """An error in the shape botocore's JSON and REST-JSON parsers both read (``__type`` + header)."""
    body = {"__type": error.code, "message": error.message, "Message": error.message}
    if not error.sender_fault:
        body["Type"] = "Service"
    else:
        body["Type"] = "User"
    return AWSResponse(
        status=error.status,
        body=dumps(body).encode(),
        headers={
            "Content-Type": content_type,
            "x-amzn-RequestId": request.request_id,
            "x-amzn-ErrorType": error.code,
        },
    )


# --------------------------------------------------------------------------------------------------- services


def snake(name: str) -> str:
    """``CreateTrainingJob`` → ``create_training_job``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Service:
    """Base of every service's API object: ``handle`` one request (its backend, which the server owns, does the
    work)."""

    #: the signing names (SigV4 scope) this service answers
    signing_names: tuple[str, ...] = ()
    #: X-Amz-Target prefixes this service answers (``AWSGlue``)
    target_prefixes: tuple[str, ...] = ()

    def matches(self, request: AWSRequest) -> bool:
        """Whether this service owns the request (the server asks each service in turn)."""
        target = request.target
        if target and self.target_prefixes:
            return target.split(".", 1)[0] in self.target_prefixes
        return request.service in self.signing_names

    def handle(self, request: AWSRequest) -> AWSResponse:  # pragma: no cover - abstract
        raise NotImplementedError

    def health(self) -> dict[str, Any]:
        return {"status": "running"}


class JsonService(Service):
    """A service on the AWS JSON protocol: ``X-Amz-Target: Prefix.Operation`` → method ``operation(params)``.

    Subclasses define one method per operation, named in snake case, taking the request parameters as a dict and
    returning the response dict. Raise :class:`AWSError` for failures.
    """

    content_type = "application/x-amz-json-1.1"
    service_label = "service"

    def handle(self, request: AWSRequest) -> AWSResponse:
        try:
            operation = request.operation
            if not operation:
                raise AWSError("UnknownOperationException", "Missing X-Amz-Target header.")
            name = snake(operation)
            method: Callable[..., Any] | None = None if name in _NOT_OPERATIONS else getattr(self, name, None)
            if method is None or not operation[:1].isupper():
                raise AWSError(
                    "UnknownOperationException",
                    f"{self.service_label} operation {operation} is not supported by localcloud.",
                )
            params = request.json()
            LOG.debug("%s %s", self.service_label, operation)
            result = method(params, request) if _wants_request(method) else method(params)
            return json_response(result, request, content_type=self.content_type)
        except AWSError as exc:
            if exc.status >= 500:
                LOG.error("%s: %s", exc.code, exc.message)
            return error_response(exc, request, content_type=self.content_type)
        except Exception as exc:  # a bug: answer 500 in AWS form, keep serving
            LOG.exception("internal error in %s", self.service_label)
            return error_response(
                AWSError("InternalFailure", f"localcloud internal error: {exc}", 500, sender_fault=False),
                request,
                content_type=self.content_type,
            )


#: methods every service has that are not AWS operations (``SageMaker.Shutdown`` must not reach ``shutdown``)
_NOT_OPERATIONS = frozenset(name for name in dir(JsonService) if not name.startswith("__"))


def _wants_request(method: Callable[..., Any]) -> bool:
    code = getattr(method, "__code__", None)
    return bool(code and code.co_argcount >= 3)


def require(params: Mapping[str, Any], *names: str) -> None:
    """Raise a ``ValidationException`` naming every missing required parameter."""
    missing = [n for n in names if params.get(n) in (None, "")]
    if missing:
        raise AWSError(
            "ValidationException",
            f"1 validation error detected: Value null at '{missing[0]}' failed to satisfy constraint: "
            f"Member must not be null" if len(missing) == 1 else
            f"{len(missing)} validation errors detected: missing required parameters {', '.join(missing)}",
        )
