"""Lambda's REST-JSON wire protocol: routes under ``/2015-03-31/functions`` → :class:`LambdaBackend` calls.

The only Lambda module that speaks HTTP: the backend returns plain results and raises :class:`AWSError`; this module
picks status codes and headers. Errors go out as AWS Lambda sends them: the code in ``x-amzn-ErrorType``,
``{"Type", "Message"}`` in the body.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from localcloud.core.protocol import AWSRequest, AWSResponse, Service, error_response, json_response
from localcloud.errors import AWSError

from . import checks
from .backend import InvokeOutcome, LambdaBackend

LOG = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"
_FUNCTIONS = "/2015-03-31/functions"
_NAME = r"(?P<name>[^/]+)"
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern + "/?$"), operation) for method, pattern, operation in (
        ("POST", f"^{_FUNCTIONS}", "create_function"),
        ("GET", f"^{_FUNCTIONS}", "list_functions"),
        ("GET", f"^{_FUNCTIONS}/{_NAME}", "get_function"),
        ("DELETE", f"^{_FUNCTIONS}/{_NAME}", "delete_function"),
        ("GET", f"^{_FUNCTIONS}/{_NAME}/configuration", "get_function_configuration"),
        ("PUT", f"^{_FUNCTIONS}/{_NAME}/configuration", "update_function_configuration"),
        ("PUT", f"^{_FUNCTIONS}/{_NAME}/code", "update_function_code"),
        ("POST", f"^{_FUNCTIONS}/{_NAME}/invocations", "invoke"),
        ("GET", r"^/2017-03-31/tags/(?P<name>.+)", "list_tags"),
        ("POST", r"^/2017-03-31/tags/(?P<name>.+)", "tag_resource"),
        ("DELETE", r"^/2017-03-31/tags/(?P<name>.+)", "untag_resource"),
    )
)  # fmt: skip
SUPPORTED = ("CreateFunction, GetFunction, GetFunctionConfiguration, UpdateFunctionCode, "
             "UpdateFunctionConfiguration, DeleteFunction, ListFunctions, Invoke, ListTags, TagResource, UntagResource")


class LambdaAPI(Service):
    """AWS Lambda (signing name ``lambda``), handlers run for real in warm Python subprocesses."""

    signing_names = ("lambda",)

    def __init__(self, backend: LambdaBackend) -> None:
        self.backend = backend

    def handle(self, request: AWSRequest) -> AWSResponse:
        try:
            operation, name = self._route(request)
            method: Callable[[AWSRequest, str | None], AWSResponse] = getattr(self, operation)
            return method(request, name)
        except AWSError as exc:
            if exc.status >= 500:
                LOG.error("%s: %s", exc.code, exc.message)
            return error_response(exc, request, content_type=CONTENT_TYPE)
        except Exception as exc:  # a bug: answer in AWS form, keep serving
            LOG.exception("internal error in Lambda")
            return error_response(AWSError("ServiceException", f"localcloud internal error: {exc}", 500,
                                           sender_fault=False), request, content_type=CONTENT_TYPE)

    @staticmethod
    def _route(request: AWSRequest) -> tuple[str, str | None]:
        path_matched = False
        for method, pattern, operation in ROUTES:
            match = pattern.match(request.path)
            if match:
                path_matched = True
                if method == request.method:
                    return operation, match.groupdict().get("name")
        if path_matched:
            raise AWSError("MethodNotAllowedException", f"{request.method} is not allowed on {request.path}.", 405)
        raise AWSError("UnknownOperationException",
                       f"localcloud's Lambda does not serve {request.method} {request.path}. It supports {SUPPORTED}.",
                       404)

    def health(self) -> dict[str, Any]:
        return self.backend.health()

    # helpers -------------------------------------------------------------------------------------------------
    @staticmethod
    def _body(request: AWSRequest) -> dict[str, Any]:
        if not request.body.strip():
            return {}
        try:
            data = json.loads(request.body)
        except ValueError as exc:
            raise AWSError("InvalidRequestContentException", f"Could not parse request body into json: {exc}") from exc
        if not isinstance(data, dict):
            raise AWSError("InvalidRequestContentException",
                           "Could not parse request body into json: the body must be a JSON object.")
        return data

    @staticmethod
    def _ok(request: AWSRequest, data: Any, status: int = 200) -> AWSResponse:
        return json_response(data, request, status=status, content_type=CONTENT_TYPE)

    # operations ----------------------------------------------------------------------------------------------
    def create_function(self, request: AWSRequest, _: str | None) -> AWSResponse:
        return self._ok(request, self.backend.create_function(self._body(request), request.region), 201)

    def list_functions(self, request: AWSRequest, _: str | None) -> AWSResponse:
        raw = request.query.get("MaxItems")
        try:
            max_items = int(raw) if raw not in (None, "") else None
        except ValueError as exc:
            raise AWSError("ValidationException", f"1 validation error detected: Value '{raw}' at 'maxItems' "
                           "failed to satisfy constraint: Member must be an integer") from exc
        return self._ok(request, self.backend.list_functions(request.region, request.query.get("Marker"),
                                                             max_items))

    def get_function(self, request: AWSRequest, name: str | None) -> AWSResponse:
        return self._ok(request, self.backend.get_function(name or "", request.region,
                                                           request.query.get("Qualifier")))

    def get_function_configuration(self, request: AWSRequest, name: str | None) -> AWSResponse:
        return self._ok(request, self.backend.get_function_configuration(name or "", request.region,
                                                                         request.query.get("Qualifier")))

    def update_function_configuration(self, request: AWSRequest, name: str | None) -> AWSResponse:
        return self._ok(request, self.backend.update_function_configuration(name or "", self._body(request),
                                                                            request.region))

    def update_function_code(self, request: AWSRequest, name: str | None) -> AWSResponse:
        return self._ok(request, self.backend.update_function_code(name or "", self._body(request), request.region))

    def delete_function(self, request: AWSRequest, name: str | None) -> AWSResponse:
        self.backend.delete_function(name or "", request.region, request.query.get("Qualifier"))
        return AWSResponse(status=204, headers={"x-amzn-RequestId": request.request_id})

    def invoke(self, request: AWSRequest, name: str | None) -> AWSResponse:
        invocation_type = request.header("X-Amz-Invocation-Type") or "RequestResponse"
        log_type = request.header("X-Amz-Log-Type")
        checks.check_invocation_type(invocation_type)
        checks.check_log_type(log_type)
        outcome = self.backend.invoke(
            name or "", request.region,
            qualifier=request.query.get("Qualifier"),
            payload=request.body,
            invocation_type=invocation_type,
            client_context=request.header("X-Amz-Client-Context"),
            request_id=request.request_id,
        )
        return self._invoked(outcome, log_type)

    @staticmethod
    def _invoked(outcome: InvokeOutcome, log_type: str | None) -> AWSResponse:
        """``RequestResponse`` → 200 with the result, ``Event`` → 202, ``DryRun`` → 204.

        A result carries the headers AWS sends with it (recorded on AWS: localstack snapshot
        tests/aws/services/stepfunctions/v2/services/test_lambda_task_service.snapshot.json, the SdkHttpMetadata of
        a lambda:invoke task: X-Amz-Executed-Version, x-amzn-Remapped-Content-Length, X-Amzn-Trace-Id, ...)."""
        headers = {"x-amzn-RequestId": outcome.request_id}
        result = outcome.result
        if result is None:
            return AWSResponse(status=202 if outcome.invocation_type == "Event" else 204, headers=headers)
        headers["X-Amz-Executed-Version"] = outcome.executed_version
        headers["x-amzn-Remapped-Content-Length"] = "0"
        if outcome.trace_id:
            headers["X-Amzn-Trace-Id"] = outcome.trace_id
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if log_type == "Tail":
            headers["X-Amz-Log-Result"] = result.log_tail
        headers["Content-Type"] = result.content_type
        return AWSResponse(status=200, body=result.payload, headers=headers)

    # tags ------------------------------------------------------------------------------------------------------
    def list_tags(self, request: AWSRequest, arn: str | None) -> AWSResponse:
        return self._ok(request, {"Tags": self.backend.list_tags(unquote(arn or ""))})

    def tag_resource(self, request: AWSRequest, arn: str | None) -> AWSResponse:
        tags = self._body(request).get("Tags")
        if not isinstance(tags, dict):
            raise AWSError("InvalidParameterValueException", "Tags must be a map of key to value.")
        self.backend.tag_resource(unquote(arn or ""), tags)
        return self._ok(request, None, status=204)

    def untag_resource(self, request: AWSRequest, arn: str | None) -> AWSResponse:
        keys = request.query.get("tagKeys")
        self.backend.untag_resource(unquote(arn or ""), keys if isinstance(keys, list) else [keys] if keys else [])
        return self._ok(request, None, status=204)
