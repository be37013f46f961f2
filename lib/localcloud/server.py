"""The localcloud HTTP server: one loopback endpoint, routed by SigV4 scope or X-Amz-Target.

S3, IAM and STS go to moto's in-process WSGI app; everything else goes to our services (``localcloud.services``).
``LocalCloud`` runs the server on a thread of the current process (tests, the runner); ``lifecycle`` runs it as a
background process (the CLI).
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from werkzeug.serving import BaseWSGIServer, make_server  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

from localcloud import settings  # noqa: E402
from localcloud.core import clients, multidelete  # noqa: E402
from localcloud.core.authorizer import Denial  # noqa: E402
from localcloud.core.context import ServerContext  # noqa: E402
from localcloud.core.gate import Gate, denied_response  # noqa: E402
from localcloud.core.protocol import AWSRequest, parse_query, signing_scope  # noqa: E402
from localcloud.errors import LocalCloudError  # noqa: E402
from localcloud.persist import Persistence, changes_state  # noqa: E402
from localcloud.services import (  # noqa: E402
    DURABILITY,
    MOTO_SERVICES,
    backend_of,
    drain_backends,
    load_services,
    shutdown_backends,
)
from localcloud.services.eventbridge.hooks import serving  # noqa: E402

LOG = logging.getLogger(__name__)
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise

HEALTH_PATH = "/_localcloud/health"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class LocalCloudApp:
    """The WSGI application: health, moto pass-through, our services."""

    def __init__(self, ctx: ServerContext, persistence: Persistence | None = None) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.ctx = ctx
        self.moto = DomainDispatcherApplication(create_backend_app)
        #: the state folder (None: this server keeps its state in memory only)
        self.persistence = persistence
        if persistence is not None:
            persistence.restore_moto()  # first: backends may read moto's state when they are made
        self.backends, self.services = load_services(ctx)
        self._unit = backend_of(self.services)
        if persistence is not None:
            persistence.restore_backends(dict(self.backends), DURABILITY)
        self.gate = Gate(ctx)
        self.started = time.time()
        #: False until the restored state is running again (endpoints loaded); health says "starting" meanwhile
        self.ready = persistence is None

    # routing -------------------------------------------------------------------------------------------------
    def _scope(self, environ: dict[str, Any]) -> tuple[str, str]:
        scope = signing_scope(environ.get("HTTP_AUTHORIZATION"))
        if scope is None:  # presigned URL
            query = parse_query(environ.get("QUERY_STRING", ""))
            scope = signing_scope("Credential=" + query.get("X-Amz-Credential", "")) if query else None
        return scope if scope else (settings.DEFAULT_REGION, "")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            return self._health(environ, start_response)
        region, service = self._scope(environ)
        target = environ.get("HTTP_X_AMZ_TARGET")
        if self.gate.wants_body(environ.get("HTTP_AUTHORIZATION")):
            denied = self._authorize(environ, service, region, target)
            if denied is not None:
                return denied(environ, start_response)
        if service in MOTO_SERVICES:
            if service == "s3" and multidelete.is_request(environ.get("REQUEST_METHOD", ""),
                                                          environ.get("QUERY_STRING", "")):
                return self._multi_delete(environ, start_response, {})
            return self._moto(environ, start_response, service, target)
        request = Request(environ)
        aws = AWSRequest(method=request.method, path=request.path, headers=dict(request.headers),
                         query=dict(request.args), service=service, region=region)
        owner = next((svc for svc in self.services if svc.matches(aws)), None)
        if owner is None and not service and not target:
            return self._moto(environ, start_response, "s3", None)  # unsigned: S3 (presigned or anonymous)
        if owner is not None:
            aws.body = request.get_data()
            out = owner.handle(aws)
            if self.persistence is not None and out.status < 300 and changes_state(
                    aws.method, aws.path, target, environ.get("QUERY_STRING", ""), None):
                self.persistence.committed(self._unit[id(owner)])
            return Response(out.body, status=out.status, headers=out.headers)(environ, start_response)
        message = (f"localcloud does not serve '{service or target}'. It serves: "
                   f"{', '.join(self.service_names())}.")
        return not_served(environ, service, target, message)(environ, start_response)

    def _moto(self, environ: dict[str, Any], start_response: Callable[..., Any], service: str,
              target: str | None) -> Iterable[bytes]:
        """moto serves the request; the events it raises (a PutEvents entry, an S3 object written, an SNS
        publish, a schedule created) are this server's to deliver. A request that changed moto's state is
        answered once that state is on disk (when the server persists)."""
        writes = self.persistence is not None and self._moto_writes(environ, target)
        with serving(self.backends.get("eventbridge")):  # type: ignore[arg-type]
            out = self.moto(environ, start_response)
        if writes:
            assert self.persistence is not None
            self.persistence.committed(f"moto-{service}")
        return out

    @staticmethod
    def _moto_writes(environ: dict[str, Any], target: str | None) -> bool:
        form = None
        if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "") and not target:
            length = int(environ.get("CONTENT_LENGTH") or 0)  # a query-protocol Action is in the form body
            form = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(form)
        return changes_state(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""), target,
                             environ.get("QUERY_STRING", ""), form)

    def _authorize(self, environ: dict[str, Any], service: str, region: str, target: str | None
                   ) -> Callable[..., Iterable[bytes]] | None:
        """Check a role session's request against the role's policies (the body is read, then put back): None
        to serve it, else what answers it instead."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        request = Request(environ)
        query, headers = environ.get("QUERY_STRING", ""), dict(request.headers)
        denial = self.gate.check(service=service, region=region, method=request.method, path=request.path,
                                 query_string=query, headers=headers, body=body, target=target)
        if denial is not None:
            status, answer_headers, data = denied_response(service, target, denial)
            return Response(data, status=status, headers=answer_headers)
        if service == "s3" and request.method == "POST":
            refused = self.gate.object_denials(region=region, path=request.path, query_string=query,
                                               headers=headers, body=body)
            if refused:
                return lambda env, start: self._multi_delete(env, start, refused)
        return None

    def _multi_delete(self, environ: dict[str, Any], start_response: Callable[..., Any],
                      refused: dict[str, Denial]) -> Iterable[bytes]:
        """S3 DeleteObjects (:mod:`localcloud.core.multidelete`): moto deletes the objects that are not
        ``refused`` (the role may not delete them), and the answer lists the refused ones as errors; a quiet
        answer lists nothing else."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        errors = [(key, version, refused[key].message) for key, version in multidelete.objects_of(body)
                  if key in refused]
        rest = multidelete.without(body, set(refused)) if refused else body
        if refused and not multidelete.objects_of(rest):
            return Response(multidelete.result(errors), status=200, content_type="application/xml")(
                environ, start_response)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(rest), str(len(rest))
        if refused:
            for name in [k for k in environ if k == "HTTP_CONTENT_MD5" or k.startswith("HTTP_X_AMZ_CHECKSUM_")]:
                del environ[name]  # they were the whole body's
        got: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            got.update(status=status, headers=headers)
            return lambda data: None

        answer = b"".join(self._moto(environ, capture, "s3", None))
        if got["status"].startswith("200"):
            answer = multidelete.merged(answer, errors) if errors else answer
            answer = multidelete.quiet(answer) if multidelete.is_quiet(body) else answer
        start_response(got["status"], [(k, v) for k, v in got["headers"] if k.lower() != "content-length"]
                       + [("Content-Length", str(len(answer)))])
        return [answer]

    def service_names(self) -> list[str]:
        names = list(MOTO_SERVICES)
        for svc in self.services:
            names.extend(n for n in (*svc.signing_names, *svc.target_prefixes) if n not in names)
        return names

    def health(self) -> dict[str, Any]:
        services: dict[str, Any] = {name: {"status": "running", "provider": "moto"} for name in MOTO_SERVICES}
        for svc in self.services:
            services[type(svc).__name__.removesuffix("API")] = {**svc.health(), "provider": "localcloud"}
        return {
            "localcloud": True,
            "status": "running" if self.ready else "starting",
            "endpoint": self.ctx.endpoint_url,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started, 1),
            "home": str(self.ctx.home),
            "enforce_iam": self.ctx.enforce_iam,
            "persist": self.persistence.stats() if self.persistence is not None else False,
            "clients": clients.cached(),
            "services": services,
        }

    def _health(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return Response(json.dumps(self.health()), mimetype="application/json")(environ, start_response)

    def shutdown(self) -> None:
        if self.persistence is not None:
            self.persistence.close()  # before the services stop: what was running is kept as running
        shutdown_backends(self.backends)


# ------------------------------------------------------------------------------------------ not served
#: the error code of the answer to a request for a service localcloud does not serve
NOT_SERVED = "UnknownServiceException"


def wire_protocol(environ: dict[str, Any], service: str, target: str | None) -> str:
    """The wire protocol a request was sent in (botocore's names): from the request itself where it says so
    (``smithy-protocol`` header, ``X-Amz-Target``, a form-encoded query body), else from botocore's model of the
    service its signing name names (REST services), else ``rest-json``."""
    if environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor":
        return "smithy-rpc-v2-cbor"
    if target:
        return "json"
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "") or "Action=" in environ.get("QUERY_STRING", ""):
        return "ec2" if service == "ec2" else "query"
    return _model_protocol(service) if service else "rest-json"


@lru_cache(maxsize=64)
def _model_protocol(service: str) -> str:
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        protocol = botocore.session.get_session().get_service_model(service).protocol
    except UnknownServiceError:
        return "rest-json"
    return protocol if protocol in ("rest-xml", "rest-json") else "rest-json"


def _cbor_text(text: str) -> bytes:
    """A CBOR text string (major type 3; RFC 8949 section 3.1)."""
    data = text.encode()
    size = len(data)
    if size < 24:
        head = bytes([0x60 + size])
    elif size < 0x100:
        head = bytes([0x78, size])
    elif size < 0x10000:
        head = bytes([0x79]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x7A]) + size.to_bytes(4, "big")
    return head + data


def not_served(environ: dict[str, Any], service: str, target: str | None, message: str) -> Response:
    """The answer to a request for a service localcloud does not serve, as an error of the caller's own protocol
    (the error shapes botocore's parsers read: ``botocore/parsers.py``), so SDKs show ``message`` rather than a
    parse failure. Query: ``<ErrorResponse><Error>``; EC2: ``<Response><Errors><Error>``; REST-XML:
    ``<Error>``; JSON and REST-JSON: ``__type``/``message``; Smithy RPC v2 CBOR: the same map in CBOR."""
    request_id = str(uuid.uuid4())
    protocol = wire_protocol(environ, service, target)
    headers = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id}
    code, text = NOT_SERVED, xml_escape(message)
    if protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{text}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
        return Response(body, status=400, headers={**headers, "Content-Type": "text/xml"})
    if protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{text}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>").encode()
        return Response(body, status=400, headers={**headers, "Content-Type": "text/xml"})
    if protocol == "rest-xml":
        body = (f"<Error><Code>{code}</Code><Message>{text}</Message><RequestId>{request_id}</RequestId>"
                "</Error>").encode()
        return Response(body, status=400, headers={**headers, "Content-Type": "application/xml"})
    if protocol == "smithy-rpc-v2-cbor":
        body = b"\xa2" + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
        return Response(body, status=400, headers={**headers, "Content-Type": "application/cbor",
                                                   "smithy-protocol": "rpc-v2-cbor"})
    content_type = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
    body = json.dumps({"__type": code, "message": message}).encode()
    return Response(body, status=400, headers={**headers, "Content-Type": content_type, "x-amzn-ErrorType": code})


def free_port(host: str = settings.DEFAULT_HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalCloud:
    """A localcloud server on a thread of this process.

    >>> with LocalCloud(port=0) as cloud:      # port 0: any free port
    ...     boto3.client("s3", endpoint_url=cloud.endpoint_url)
    """

    def __init__(self, port: int = settings.DEFAULT_PORT, host: str = settings.DEFAULT_HOST,
                 home: Path | None = None, *, enforce_iam: bool | None = None, persist: bool | None = None) -> None:
        if host not in LOOPBACK:
            raise LocalCloudError(f"localcloud only listens on loopback; '{host}' is not a loopback address.")
        self.host = host
        self.port = port or free_port(host)
        self.home = (home or settings.instance_dir(self.port)).resolve()
        self.enforce_iam = settings.enforce_iam() if enforce_iam is None else enforce_iam
        #: keep state under ``home``/state across restarts (``LOCALCLOUD_PERSIST=0`` or ``persist=False``: memory)
        self.persist = settings.persist() if persist is None else persist
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app: LocalCloudApp | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Bind, serve on a daemon thread, return the endpoint URL."""
        from localcloud.core import keepalive

        self.home.mkdir(parents=True, exist_ok=True)
        ctx = ServerContext(endpoint_url=self.endpoint_url, home=self.home, port=self.port,
                            enforce_iam=self.enforce_iam)
        self.app = LocalCloudApp(ctx, Persistence(self.home, MOTO_SERVICES) if self.persist else None)
        try:
            self._server = make_server(self.host, self.port, self.app, threaded=True,
                                       request_handler=keepalive.KeepAliveRequestHandler)
        except (OSError, SystemExit) as exc:  # werkzeug exits when the port is taken
            self.app.shutdown()
            raise LocalCloudError(
                f"cannot listen on {self.endpoint_url}: the port is in use. Is another localcloud running? "
                f"Try `localcloud status --port {self.port}` or pick another port with --port."
            ) from exc
        self._server.daemon_threads = True
        keepalive.attach(self._server)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"localcloud-{self.port}",
                                        daemon=True)
        self._thread.start()
        if self.app.persistence is not None:
            self.app.persistence.recover()  # needs the server answering: endpoints load models over S3
            self.app.ready = True
        LOG.info("localcloud serving on %s (state in %s%s)", self.endpoint_url, self.home,
                 "" if self.persist else ", in memory only")
        return self.endpoint_url

    def serve_forever(self) -> None:
        """Serve on the calling thread until interrupted (``localcloud serve``)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def stop(self) -> None:
        if self.app is not None and self._server is not None:
            drain_backends(self.app.backends)  # buffered writes to S3 while S3 still answers
        if self._server is not None:
            from localcloud.core.keepalive import close_connections

            self._server.shutdown()
            close_connections(self._server)  # kept-alive connections must not reach the stopped services
            self._server.server_close()
            self._server = None
        if self.app is not None:
            self.app.shutdown()
            self.app = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
