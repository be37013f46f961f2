"""SageMaker Runtime: ``POST /endpoints/{EndpointName}/invocations`` (REST-JSON), answered by the variant's model server.

It shares the ``sagemaker`` signing name with the SageMaker API, so it claims requests by path only. Errors follow
the service model: ``ValidationError`` (400) for a missing or not-serving endpoint, ``ModelError`` (424, with
``OriginalStatusCode``/``OriginalMessage``/``LogStreamArn``) when the model container rejects the payload.

Each invocation publishes the endpoint metrics (:mod:`~localcloud.services.sagemaker.endpoint_metrics`); a request
answered by a fleet with shadow variants is copied to them off the request thread, their answers kept out of the
response ("routes a copy of the inference requests to it in real time within the same endpoint. Only the responses
of the production variant are returned to the calling application": SageMaker Developer Guide, "Shadow tests") and
measured under their own variant names. With a ``DataCaptureConfig`` the answered requests of each variant,
shadows included, are captured (:mod:`~localcloud.services.sagemaker.capture`); a request's ``InferenceId``
goes into the records of both, which is how a shadow's answer is paired with production's.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from localcloud import settings
from localcloud.core.jobs import utcnow
from localcloud.core.protocol import AWSRequest, AWSResponse, Service, dumps, path_param
from localcloud.services.sagemaker import endpoint_metrics
from localcloud.services.sagemaker.backend import SageMakerBackend
from localcloud.services.sagemaker.capture import Invocation
from localcloud.services.sagemaker.hosting import LiveVariant

LOG = logging.getLogger(__name__)

_PATH = re.compile(r"^/endpoints/([^/]+)/([^/]+)$")
MAX_BODY = 6 * 1024 * 1024
SERVING = ("InService", "Updating")
#: copies to shadow variants waiting at most; more are dropped (a slow shadow must not hold memory without bound)
MAX_SHADOW_BACKLOG = 64


class InvokeError(Exception):
    """An InvokeEndpoint error in the SageMaker Runtime wire format."""

    def __init__(self, code: str, status: int, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.extra = code, status, message, extra or {}


def _header(request: AWSRequest, name: str) -> str | None:
    headers = request.headers
    value = headers.get(name)
    return value if value is not None else request.header(name)


class SageMakerRuntimeAPI(Service):
    """InvokeEndpoint against the models the SageMaker backend has loaded."""

    signing_names = ()
    target_prefixes = ()

    def __init__(self, backend: SageMakerBackend) -> None:
        self.backend = backend
        self.shadow_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="shadow-copy")
        self._backlog = threading.BoundedSemaphore(MAX_SHADOW_BACKLOG)

    def matches(self, request: AWSRequest) -> bool:
        return not request.target and request.path.startswith("/endpoints/")

    def health(self) -> dict[str, Any]:
        return {"status": "running", "endpoints_loaded": len(self.backend.router)}

    def handle(self, request: AWSRequest) -> AWSResponse:
        try:
            match = _PATH.match(request.path)
            if not match or match.group(2) != "invocations" or request.method != "POST":
                operation = match.group(2) if match else request.path
                raise InvokeError("UnknownOperationException", 404,
                                    f"SageMaker Runtime operation {request.method} {operation} is not supported by "
                                    "localcloud; it serves InvokeEndpoint (POST /endpoints/<name>/invocations).")
            return self._invoke(request, path_param(match.group(1)))
        except InvokeError as exc:
            return self._error(exc, request)
        except Exception as exc:  # a bug: answer in AWS form and keep serving
            LOG.exception("internal error in SageMaker Runtime")
            return self._error(InvokeError("InternalFailure", 500, f"localcloud internal error: {exc}"), request)

    def _invoke(self, request: AWSRequest, name: str) -> AWSResponse:
        started = time.perf_counter()
        endpoint, live = self.backend.serving(name)
        if endpoint is None:
            raise InvokeError("ValidationError", 400, f"Endpoint {name} of account {settings.ACCOUNT_ID} not found.")
        if endpoint.status not in SERVING or live is None:
            raise InvokeError("ValidationError", 400,
                                f"Endpoint {name} of account {settings.ACCOUNT_ID} is not in service (status: "
                                f"{endpoint.status}). Wait for DescribeEndpoint to report InService.")
        if len(request.body) > MAX_BODY:
            raise InvokeError("ValidationError", 400, f"Request body of {len(request.body)} bytes is larger than "
                                                        f"the {MAX_BODY} bytes InvokeEndpoint accepts.")
        target = _header(request, "X-Amzn-SageMaker-Target-Variant")
        variant, shadows = live.route(target)
        if variant is None:
            raise InvokeError("ValidationError", 400, f"The variant {target} is not present in endpoint {name}: "
                                                        f"it has {', '.join(live.names)}.")
        content, accept = _header(request, "Content-Type"), _header(request, "Accept")
        called = time.perf_counter()
        status, content_type, body = variant.model.invoke(request.body, content, accept)
        answered = time.perf_counter()
        model_us = (answered - called) * 1e6
        endpoint_metrics.publish(self.backend.ctx.metrics, request.region, endpoint.name, variant.name,
                                 variant.config, status, model_us, (answered - started) * 1e6 - model_us)
        inference_id = _header(request, "X-Amzn-SageMaker-Inference-Id")
        if status < 300:
            self._capture(variant, Invocation(endpoint.name, variant.name, request.body, content, body, content_type,
                                              utcnow(), inference_id), request.region)
        for shadow in shadows:
            self._copy(shadow, endpoint.name, request.region, request.body, content, accept, inference_id)
        if status >= 300:
            message = body.decode("utf-8", errors="replace")
            raise self._model_error(name, variant.name, request.region, status, message)
        headers = {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": variant.name,
                   "x-amzn-RequestId": request.request_id}
        return AWSResponse(status=200, body=body, headers=headers)

    def _capture(self, variant: LiveVariant, call: Invocation, region: str) -> None:
        """The variant's data capture, when its endpoint config has one (answered requests only)."""
        if variant.capture is not None:
            self.backend.capture.add(variant.capture, call, region, variant.role)

    def _copy(self, shadow: LiveVariant, endpoint: str, region: str, body: bytes, content: str | None,
              accept: str | None, inference_id: str | None = None) -> None:
        """Send a copy of the request to a shadow variant; its answer feeds its metrics and its data capture."""
        if not self._backlog.acquire(blocking=False):
            LOG.warning("shadow variant %s of %s is behind; a copy was dropped", shadow.name, endpoint)
            return

        def run() -> None:
            try:
                called = time.perf_counter()
                status, answer_type, answer = shadow.model.invoke(body, content, accept)
                model_us = (time.perf_counter() - called) * 1e6
                endpoint_metrics.publish(self.backend.ctx.metrics, region, endpoint, shadow.name, shadow.config,
                                         status, model_us, 0.0)
                if status < 300:
                    self._capture(shadow, Invocation(endpoint, shadow.name, body, content, answer, answer_type,
                                                     utcnow(), inference_id), region)
            finally:
                self._backlog.release()

        try:
            self.shadow_pool.submit(run)
        except RuntimeError:  # the server is stopping
            self._backlog.release()

    @staticmethod
    def _model_error(name: str, variant: str, region: str, status: int, message: str) -> InvokeError:
        kind = "client" if status < 500 else "server"
        stream = (f"arn:aws:logs:{region}:{settings.ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/{name}:"
                  f"log-stream:{variant}/{uuid.uuid5(uuid.NAMESPACE_URL, name).hex}")
        return InvokeError("ModelError", 424, f'Received {kind} error ({status}) from primary with message '
                                                f'"{message}".',
                             {"OriginalStatusCode": status, "OriginalMessage": message, "LogStreamArn": stream})

    @staticmethod
    def _error(exc: InvokeError, request: AWSRequest) -> AWSResponse:
        body = {"__type": exc.code, "message": exc.message, "Message": exc.message, **exc.extra}
        return AWSResponse(status=exc.status, body=dumps(body).encode(),
                           headers={"Content-Type": "application/json", "x-amzn-RequestId": request.request_id,
                                    "x-amzn-ErrorType": exc.code})
