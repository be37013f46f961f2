"""One execution environment: a warm :mod:`~localcloud.services.awslambda.bootstrap` child process.

The process is a :class:`~localcloud.core.children.Child` of the interpreter localcloud runs on (``sys.executable``;
it is this machine's Python, not an AWS python3.x sandbox), in its own process group so a kill also ends what the
handler started. Its stdout and stderr go to a scratch file, read back after each phase as the function's log.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.core.children import Child, ChildSpec
from localcloud.core.clients import child_env
from localcloud.core.jobs import utcnow
from localcloud.core.sessions import RoleSession

from .models import LATEST

LOG = logging.getLogger(__name__)

BOOTSTRAP = "localcloud.services.awslambda.bootstrap"
RUNTIME_DIR = Path(__file__).parent
#: the folder holding the ``localcloud`` package: the environment's interpreter imports its bootstrap from there
_LIB = str(Path(__file__).resolve().parents[3])
#: Lambda's init phase limit; past it the init is retried within the invocation, so we allow this + Timeout
INIT_SECONDS = 10.0


@dataclass(frozen=True)
class FunctionSpec:
    """What an environment needs to know of its function (a snapshot of one generation)."""

    name: str
    arn: str
    region: str
    runtime: str
    handler: str
    code_root: Path
    environment: dict[str, str]
    timeout: int
    memory_size: int
    generation: int
    log_path: Path
    scratch: Path  # folder for the environments' raw output
    #: the execution role's credentials, as Lambda hands them to the handler (AWS_ACCESS_KEY_ID, ..._SESSION_TOKEN)
    session: RoleSession | None = None


def trace_header() -> str:
    """A new X-Ray trace header (X-Ray developer guide, "Tracing header": ``Root=1-<8 hex: epoch seconds>-<24 hex>``,
    ``Parent=<16 hex>``, ``Sampled=0|1``): ``_X_AMZN_TRACE_ID`` in the handler and ``X-Amzn-Trace-Id`` in Invoke's
    answer."""
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    invoked_arn: str
    client_context: Any = None
    trace_id: str = field(default_factory=trace_header)


def platform_error(error_type: str, message: str) -> bytes:
    """An error payload written by the Lambda service itself (compact JSON, no stack trace)."""
    return json.dumps({"errorType": error_type, "errorMessage": message}, separators=(",", ":")).encode()


def exit_reason(code: int | None) -> str:
    """What Lambda says of a runtime process that ended with ``code``."""
    if code is None or code == 0:
        return "Runtime exited without providing a reason"
    if code < 0:
        try:
            name = (signal.strsignal(-code) or f"signal {-code}").lower()
        except ValueError:
            name = f"signal {-code}"
        return f"Runtime exited with error: signal: {name}"
    return f"Runtime exited with error: exit status {code}"


class Environment:
    """One handler process (started by :meth:`start`) and its scratch output."""

    def __init__(self, spec: FunctionSpec, endpoint_url: str) -> None:
        self.spec = spec
        self.id = uuid.uuid4().hex
        self.log_stream = f"{utcnow():%Y/%m/%d}/[{LATEST}]{self.id}"
        self.output_path = spec.scratch / f"{self.id}.out"
        self.endpoint_url = endpoint_url
        self.child: Child | None = None
        self.init_ms = 0.0
        self.max_memory_mb = 0
        self.last_used = time.monotonic()

    def environ(self) -> dict[str, str]:
        """The handler's environment: the server's without AWS settings, then Lambda's own variables."""
        spec = self.spec
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "LAMBDA_", "_X_AMZN")) and k != "_HANDLER"}
        env.update(child_env(self.endpoint_url, spec.region, spec.session))
        env.update({
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": LATEST,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "LAMBDA_TASK_ROOT": str(spec.code_root),
            "LAMBDA_RUNTIME_DIR": str(RUNTIME_DIR),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        env.update(spec.environment)
        path = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if _LIB not in path:  # last: the handler's own packages keep their precedence
            env["PYTHONPATH"] = os.pathsep.join([*path, _LIB])
        return env

    def start(self) -> dict[str, Any] | None:
        """Start the process and run the init phase; the init error payload, or None when ready.

        Raises :class:`~localcloud.core.children.ChildError` when the process dies or outlasts the init limit."""
        self.spec.scratch.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self.child = Child.start(ChildSpec(
            module=BOOTSTRAP, log_path=self.output_path, python=sys.executable, base_env=self.environ(),
            cwd=self.spec.code_root, new_group=True, ready_timeout=INIT_SECONDS + self.spec.timeout,
            name=f"the execution environment of {self.spec.name}"), wait=False)
        ready = self.child.wait_ready()
        self.init_ms = (time.monotonic() - started) * 1000  # interpreter start + the handler's import
        self._note_memory(ready)
        init_error: dict[str, Any] | None = ready.get("init_error")
        return init_error

    def invoke(self, invocation: Invocation) -> tuple[dict[str, Any], bytes | None]:
        """Run one invocation (its Timeout is the call's); the runtime's answer and the result's bytes."""
        assert self.child is not None, "start the environment first"
        message = {"op": "invoke", "id": invocation.request_id, "arn": invocation.invoked_arn,
                   "deadline_ms": int(time.time() * 1000) + self.spec.timeout * 1000,
                   "client_context": invocation.client_context,
                   "trace_id": invocation.trace_id}
        answer, out = self.child.call(message, invocation.payload, timeout=self.spec.timeout)
        self._note_memory(answer)
        return answer, out

    def _note_memory(self, message: dict[str, Any]) -> None:
        if message.get("max_rss_kb"):
            self.max_memory_mb = max(self.max_memory_mb, math.ceil(message["max_rss_kb"] / 1024))

    def exit_reason(self) -> str:
        return exit_reason(self.child.proc.returncode if self.child is not None else None)

    def kill(self) -> None:
        """Kill the process group and release the pipes (idempotent)."""
        if self.child is not None:
            self.child.kill()

    @property
    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def discard_output(self) -> None:
        self.output_path.unlink(missing_ok=True)

    def take_output(self) -> str:
        """What the process wrote since the last call (its stdout/stderr go to a scratch file)."""
        try:
            with open(self.output_path, "r+b") as out:
                data = out.read()
                out.truncate(0)
        except FileNotFoundError:
            return ""
        return data.decode("utf-8", "replace")
