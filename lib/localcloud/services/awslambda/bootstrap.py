"""The runtime inside one Lambda execution environment (run as a script, never imported by localcloud).

``python bootstrap.py REQUEST_FD RESPONSE_FD`` with the function's environment (``_HANDLER``,
``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_*``). Like AWS's Python runtime interface client it imports the handler once
(the init phase), then runs one invocation per request line read from REQUEST_FD and answers one JSON line on
RESPONSE_FD. The handler's stdout/stderr and the root logger go to this process's stdout, which the parent keeps
as the function's log. The payload shapes of errors are those of AWS's Python runtime.

This file uses the standard library only: it runs with the function's code first on ``sys.path``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import signal
import sys
import threading
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


def _fault_result(exc: BaseException, request_id: str | None) -> dict[str, Any]:
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(exc.__traceback__)]
    for i, frame in enumerate(frames):  # drop this runtime's own frames, as AWS's runtime does
        if frame[0] != __file__:
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
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}",
                         trace) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise FaultError("Runtime.HandlerNotFound",
                         f"Handler '{function_name}' missing on module '{module_name}'") from None


def invoke(handler: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Run one invocation; the answer carries the marshalled result or the error payload."""
    global _REQUEST_ID
    _REQUEST_ID = request["id"]
    if request.get("trace_id"):
        os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
    error: dict[str, Any] | None = None
    try:
        try:
            event = json.loads(request["event"])
        except ValueError as exc:
            raise FaultError("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}") from None
        result = handler(event, LambdaContext(request))
        if isinstance(result, bytes):
            answer = {"type": "result", "payload_b64": _b64(result), "content_type": "application/unknown"}
        else:
            try:
                answer = {"type": "result", "payload": json.dumps(result), "content_type": "application/json"}
            except (TypeError, ValueError, OverflowError) as exc:
                raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None
    except FaultError as exc:
        error = make_error(exc.message, exc.error_type, exc.trace, request["id"])
    except Exception as exc:
        error = _fault_result(exc, request["id"])
    if error is not None:
        _log_error(error)
        answer = {"type": "error", "error": error}
    return answer


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _peak_rss_kb() -> int:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss it does not carry the parent's over exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _send(stream: Any, message: dict[str, Any]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    message["max_rss_kb"] = _peak_rss_kb()
    stream.write(json.dumps(message).encode() + b"\n")
    stream.flush()


def _watch_parent(parent: int) -> None:
    """End this environment (and what its handler started) if localcloud dies without stopping it."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            try:
                os.killpg(0, signal.SIGKILL)
            finally:
                os._exit(1)


def main(argv: list[str]) -> int:
    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    requests = os.fdopen(int(argv[1]), "rb")
    responses = os.fdopen(int(argv[2]), "wb")
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path[0] = task_root  # the function's code first, in place of this runtime's folder
    os.chdir(task_root)
    _setup_logging()
    started = time.perf_counter()
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except FaultError as exc:
        error = make_error(exc.message, exc.error_type, exc.trace, None)
    except Exception as exc:  # the module raised while being imported
        error = _fault_result(exc, None)
    else:
        error = None
    if error is not None:
        _log_error(error)
    _send(responses, {"type": "ready", "init_error": error, "import_ms": (time.perf_counter() - started) * 1000})
    if error is not None:
        return 1
    for line in requests:
        _send(responses, invoke(handler, json.loads(line)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
