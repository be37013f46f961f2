"""The server's IAM gate: a request signed with a role session's credentials is authorized before it is served.

Only requests made with a role (:mod:`localcloud.core.sessions`: a Lambda handler's, a Glue script's, a training
job's transfers, a Step Functions task's) are checked, and only when the server enforces IAM; the user's own
requests (any other access key) are not, as localcloud has no users. The operation a request makes is read off
the wire (``X-Amz-Target`` for JSON services, method and path for S3 and Lambda), its needs from
:mod:`localcloud.core.permissions`. A denial is answered in the service's own wire format.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl, unquote

from localcloud.core import multidelete
from localcloud.core.authorizer import Authorizer, Denial
from localcloud.core.context import ServerContext
from localcloud.core.permissions import needs_of, s3_operation

_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")
_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations/?$")


def access_key(authorization: str | None) -> str | None:
    match = _ACCESS_KEY.search(authorization or "")
    return match.group(1) if match else None


def _operation(service: str, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
               target: str | None) -> tuple[str, dict[str, Any]] | None:
    if target:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return None
        return target.rsplit(".", 1)[-1], params if isinstance(params, dict) else {}
    if service == "s3":
        return s3_operation(method, path, query, headers, body)
    if service == "lambda":
        match = _INVOKE.match(path)
        if match and method == "POST":
            return "Invoke", {"FunctionName": unquote(match.group(1)), "Qualifier": query.get("Qualifier")}
    return None


class Gate:
    """Authorizes role-session requests of one server."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.authorizer = Authorizer(ctx.endpoint_url)

    def wants_body(self, authorization: str | None) -> bool:
        """Whether a request must be read (and checked) before it is served."""
        return self.ctx.enforce_iam and self.ctx.sessions.find(access_key(authorization)) is not None

    def check(self, *, service: str, region: str, method: str, path: str, query_string: str,
              headers: dict[str, str], body: bytes, target: str | None) -> Denial | None:
        session = self.ctx.sessions.find(access_key(headers.get("Authorization")))
        if not self.ctx.enforce_iam or session is None:
            return None
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        found = _operation(service, method, path, query, headers, body, target)
        if found is None:
            return None
        operation, params = found
        if service == "s3" and operation == "DeleteObjects":
            return None  # each object on its own: object_denials
        needs = needs_of(service, operation, params, region, session.account)
        if not needs:
            return None
        return self.authorizer.denial(session.role_arn, session.principal, needs, region)

    def object_denials(self, *, region: str, path: str, query_string: str, headers: dict[str, str], body: bytes
                       ) -> dict[str, Denial]:
        """For an S3 DeleteObjects request of a role session: ``{key: denial}`` of the objects the role may not
        delete (:mod:`localcloud.core.multidelete`); empty for any other request."""
        session = self.ctx.sessions.find(access_key(headers.get("Authorization")))
        if not self.ctx.enforce_iam or session is None:
            return {}
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        found = s3_operation("POST", path, query, headers, body)
        if not found or found[0] != "DeleteObjects":
            return {}
        bucket, denials = found[1]["Bucket"], {}
        for key in found[1]["Keys"]:
            needs = needs_of("s3", "DeleteObject", {"Bucket": bucket, "Key": key}, region, session.account) or []
            denial = self.authorizer.denial(session.role_arn, session.principal, needs, region)
            if denial is not None:
                denials[key] = denial
        return denials


def denied_response(service: str, target: str | None, denial: Denial) -> tuple[int, dict[str, str], bytes]:
    """The access-denied answer in the service's wire protocol: S3 XML, Lambda REST-JSON, JSON services."""
    request_id = str(uuid.uuid4())
    if service == "s3":
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>"
                f"<Message>{multidelete.xml_text(denial.message)}</Message><RequestId>{request_id}</RequestId></Error>")
        return 403, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body.encode()
    status = 403 if service == "lambda" else 400
    content_type = "application/json" if not target else "application/x-amz-json-1.1"
    body = json.dumps({"__type": "AccessDeniedException", "message": denial.message, "Message": denial.message,
                       "Type": "User"})
    return status, {"Content-Type": content_type, "x-amzn-RequestId": request_id,
                    "x-amzn-ErrorType": "AccessDeniedException"}, body.encode()

