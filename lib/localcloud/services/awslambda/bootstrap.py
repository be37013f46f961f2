"""The runtime inside one Lambda execution environment: a :mod:`localcloud.core.childmain` handler module.

Run as ``python -m localcloud.core.childmain localcloud.services.awslambda.bootstrap R W`` with the function's
environment (``_HANDLER``, ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_*``), never imported by the server. Like AWS's Python
runtime interface client it imports the handler once (:func:`prepare`, the init phase; its error goes back in the
"ready" frame as ``init_error``), then runs one invocation per ``{"op": "invoke"}`` request whose payload is the
event (:func:`handle`). The answer is ``{"type": "result", "content_type": ...}`` with the result's bytes, or
``{"type": "error", "fault": <AWS error payload>}``. The handler's stdout/stderr and the root logger go to this
process's stdout, which the parent keeps as the function's log. The payload shapes of errors are those of AWS's
Python runtime.

This file uses the standard library only: it runs with the function's code first on ``sys.path``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import sysconfig
import time
import traceback
from typing import Any

_REQUEST_ID: str | None = None
_NBSP = "\u00a0"


class FaultError(Exception):
    """A runtime fault reported with an AWS ``Runtime.*`` error type."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


class LambdaContext:
    """The ``context`` argument, with the attributes and method of AWS's Python runtime."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.aws_request_id: str = request["id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")  # a string, as on AWS
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn: str = request["arn"]
        self.client_context = request.get("client_context")
        self.identity = None
        self.tenant_id = None
        self._deadline_ms: int = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: Any) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
                f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
                f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
                f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
                f"identity={self.identity}])")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _REQUEST_ID or ""
        return True


def _setup_logging() -> None:
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)


def make_error(message: str, error_type: str, trace: list[str] | None, request_id: str | None) -> dict[str, Any]:
    return {"errorMessage": message or "", "errorType": error_type or "", "requestId": request_id or "",
            "stackTrace": trace or []}


def _aws_paths() -> list[tuple[str, str]]:
    """(this machine's folder, the folder AWS's runtime has there), most specific first: the function's code is in
    /var/task and the runtime's Python in /var/lang/lib/python3.x, as stack traces on AWS show them (Lambda
    developer guide, "AWS Lambda function errors in Python"; recorded on AWS: localstack snapshot
    tests/aws/services/lambda_/test_lambda.snapshot.json, test_lambda_handler_error, test_lambda_runtime_error)."""
    version = os.environ.get("AWS_EXECUTION_ENV", "").rpartition("python")[2] or sysconfig.get_python_version()
    lang = f"/var/lang/lib/python{version}"
    pairs = [(os.environ.get("LAMBDA_TASK_ROOT", ""), "/var/task")]
    paths = sysconfig.get_paths()
    pairs += [(paths["purelib"], f"{lang}/site-packages"), (paths["platlib"], f"{lang}/site-packages"),
              (paths["stdlib"], lang)]
    out: list[tuple[str, str]] = []
    for local, aws in pairs:
        for folder in {local, os.path.realpath(local)} if local else ():
            out.append((folder.rstrip("/") + "/", aws + "/"))
    return sorted(out, key=lambda pair: -len(pair[0]))


def shown_path(filename: str) -> str:
    """A source file's path as AWS's runtime would show it."""
    for local, aws in _aws_paths():
        if filename.startswith(local):
            return aws + filename[len(local):]
    return filename


def _fault_result(exc: BaseException, request_id: str | None) -> dict[str, Any]:
    frames = [(shown_path(f.filename), f.lineno, f.name, f.line) for f in traceback.extract_tb(exc.__traceback__)]
    here = shown_path(__file__)
    for i, frame in enumerate(frames):  # drop this runtime's own frames, as AWS's runtime does
        if frame[0] != here:
            frames = frames[i:]
            break
    else:
        frames = []
    return make_error(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


def _log_error(error: dict[str, Any]) -> None:
    """Write an error the way AWS's runtime does: one log event, lines joined by carriage returns."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}" if error["errorType"]
             else f"[ERROR] {error['errorMessage']}"]
    if error.get("stackTrace") is not None:
        lines.append("Traceback (most recent call last):")
        for element in error["stackTrace"]:
            for line in element.splitlines():
                stripped = line.lstrip(" ")
                lines.append(_NBSP * (len(line) - len(stripped)) + stripped)
    sys.stdout.write("\r".join(lines) + "\n")


def load_handler(spec: str) -> Any:
    """Import ``module.function`` (AWS's rules and messages)."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {exc}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError("Runtime.BuiltInModuleConflict",
                         f"Cannot use built-in module {module_name} as a handler module")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from None
    except SyntaxError as exc:
        trace = [f'  File "{shown_path(exc.filename or "")}" Line {exc.lineno}\n    {exc.text}']
        raise FaultError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}",
                         trace) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise FaultError("Runtime.HandlerNotFound",
                         f"Handler '{function_name}' missing on module '{module_name}'") from None


def invoke(handler: Any, request: dict[str, Any], event: bytes) -> tuple[dict[str, Any], bytes | None]:
    """Run one invocation; the answer carries the marshalled result or the error payload."""
    global _REQUEST_ID
    _REQUEST_ID = request["id"]
    if request.get("trace_id"):
        os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
    try:
        try:
            data = json.loads(event.decode("utf-8", "replace"))
        except ValueError as exc:
            raise FaultError("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}") from None
        result = handler(data, LambdaContext(request))
        if isinstance(result, bytes):
            return {"type": "result", "content_type": "application/unknown"}, result
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError, OverflowError) as exc:
            raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None
        return {"type": "result", "content_type": "application/json"}, payload.encode()
    except FaultError as exc:
        error = make_error(exc.message, exc.error_type, exc.trace, request["id"])
    except Exception as exc:
        error = _fault_result(exc, request["id"])
    _log_error(error)
    return {"type": "error", "fault": error}, None


_HANDLER: Any = None


def prepare() -> dict[str, Any]:
    """The init phase: the function's code first on ``sys.path``, logging as AWS sets it up, the handler imported.

    An init error is reported, not raised: the parent answers the invocation with it and retires this process.
    """
    global _HANDLER
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path[0] = task_root  # the function's code first (``-m`` put the working folder, the same, there)
    os.chdir(task_root)
    _setup_logging()
    started = time.perf_counter()
    error: dict[str, Any] | None = None
    try:
        _HANDLER = load_handler(os.environ["_HANDLER"])
    except FaultError as exc:
        error = make_error(exc.message, exc.error_type, exc.trace, None)
    except Exception as exc:  # the module raised while being imported
        error = _fault_result(exc, None)
    except BaseException as exc:  # noqa: BLE001 - sys.exit() or Ctrl-C while imported: the runtime ends as it would alone
        _end_process(exc)
    if error is not None:
        _log_error(error)
    return {"init_error": error, "import_ms": (time.perf_counter() - started) * 1000}


def handle(message: dict[str, Any], payload: bytes | None) -> tuple[dict[str, Any], bytes | None]:
    """One ``{"op": "invoke"}`` request; its payload is the event."""
    if message.get("op") != "invoke" or _HANDLER is None:
        raise ValueError(f"this Lambda runtime cannot answer {message.get('op')!r} (handler loaded: "
                         f"{_HANDLER is not None})")
    return invoke(_HANDLER, message, payload or b"")


def _end_process(exc: BaseException) -> None:
    """End the process as the interpreter does when ``exc`` goes uncaught (status, message or signal)."""
    code: Any = 1
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
    else:
        traceback.print_exception(exc)
    sys.stdout.flush()
    sys.stderr.flush()
    if isinstance(exc, KeyboardInterrupt):  # Python ends on SIGINT itself, so the parent sees the signal
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code or 0)
