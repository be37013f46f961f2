"""Execution environments: warm handler processes, reused across invocations as Lambda reuses its sandboxes.

Each environment is one ``bootstrap.py`` process of the interpreter localcloud runs on (``sys.executable``; it
is this machine's Python, not an AWS python3.x sandbox). It imports the handler once, then serves one invocation
at a time over a pair of pipes. A :class:`FunctionRuntime` keeps the environments of one function generation:
it reuses an idle one, starts another for concurrent invocations (up to ``MAX_ENVIRONMENTS``), kills one that
timed out or crashed, and is retired as a whole when the function's code or configuration changes.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import platform
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.core.clients import child_env
from localcloud.core.jobs import utcnow
from localcloud.core.sessions import RoleSession
from localcloud.errors import AWSError

from .models import LATEST

LOG = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
#: concurrent execution environments per function (AWS scales to the account's concurrency; we stay small)
MAX_ENVIRONMENTS = int(os.environ.get("LOCALCLOUD_LAMBDA_MAX_ENVIRONMENTS", "4"))
#: Lambda's init phase limit; past it the init is retried within the invocation, so we allow this + Timeout
INIT_SECONDS = 10.0
#: an idle environment is reclaimed after this long, as Lambda reclaims unused sandboxes
IDLE_SECONDS = float(os.environ.get("LOCALCLOUD_LAMBDA_IDLE_SECONDS", "600"))
#: how long an invocation waits for a free environment before it is throttled
ACQUIRE_SECONDS = 60.0
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
TAIL_BYTES = 4096
_LOG_LOCK = threading.Lock()


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


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    invoked_arn: str
    client_context: Any = None


@dataclass
class InvocationResult:
    """The outcome of one synchronous invocation, in Invoke's terms."""

    payload: bytes
    function_error: str | None = None
    log: str = ""
    content_type: str = "application/json"
    duration_ms: float = 0.0

    @property
    def log_tail(self) -> str:
        """``X-Amz-Log-Result``: base64 of the last 4 KB of this invocation's log."""
        return base64.b64encode(self.log.encode()[-TAIL_BYTES:]).decode()


def _platform_error(error_type: str, message: str) -> bytes:
    """An error payload written by the Lambda service itself (compact JSON, no stack trace)."""
    return json.dumps({"errorType": error_type, "errorMessage": message}, separators=(",", ":")).encode()


def _exit_reason(code: int | None) -> str:
    if code is None or code == 0:
        return "Runtime exited without providing a reason"
    if code < 0:
        try:
            name = (signal.strsignal(-code) or f"signal {-code}").lower()
        except ValueError:
            name = f"signal {-code}"
        return f"Runtime exited with error: signal: {name}"
    return f"Runtime exited with error: exit status {code}"


class RuntimeRetired(Exception):
    """The function changed before an environment could be had: invoke its new generation instead."""


class Environment:
    """One handler process and its pipes."""

    def __init__(self, spec: FunctionSpec, endpoint_url: str) -> None:
        self.spec = spec
        self.id = uuid.uuid4().hex
        self.log_stream = f"{utcnow():%Y/%m/%d}/[{LATEST}]{self.id}"
        self.output_path = spec.scratch / f"{self.id}.out"
        self.endpoint_url = endpoint_url
        self.process: subprocess.Popen[bytes] | None = None
        self.init_ms = 0.0
        self.max_memory_mb = 0
        self.last_used = time.monotonic()
        self._requests: Any = None
        self._responses = -1
        self._buffer = bytearray()

    # lifecycle -----------------------------------------------------------------------------------------------
    def environ(self) -> dict[str, str]:
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
            "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        env.update(spec.environment)
        return env

    def start(self) -> dict[str, Any] | None:
        """Start the process and run the init phase; the init error payload, or None when ready."""
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        self.spec.scratch.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            with open(self.output_path, "ab") as out:
                self.process = subprocess.Popen(
                    [sys.executable, str(BOOTSTRAP), str(request_read), str(response_write)],
                    pass_fds=(request_read, response_write), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, env=self.environ(), cwd=str(self.spec.code_root),
                    start_new_session=True,  # its own process group: a kill takes the handler's children too
                )
        except BaseException:
            for fd in (request_read, request_write, response_read, response_write):
                os.close(fd)
            raise
        finally:
            if self.process is not None:
                os.close(request_read)
                os.close(response_write)
        self._requests = os.fdopen(request_write, "wb")
        self._responses = response_read
        ready = self._read(started + INIT_SECONDS + self.spec.timeout)
        if ready is None:
            raise ProcessLookupError(_exit_reason(self.wait_exit()))
        self.init_ms = (time.monotonic() - started) * 1000  # interpreter start + the handler's import
        return ready.get("init_error")

    def kill(self) -> None:
        """Kill the process group and release the pipes (idempotent)."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
        if proc is not None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                LOG.warning("lambda environment %s (pid %s) did not exit after SIGKILL", self.id, proc.pid)
        if self._requests is not None:
            try:
                self._requests.close()
            except OSError:
                pass
            self._requests = None
        if self._responses >= 0:
            os.close(self._responses)
            self._responses = -1

    def discard_output(self) -> None:
        self.output_path.unlink(missing_ok=True)

    def wait_exit(self) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(2)
        except subprocess.TimeoutExpired:
            return None

    @property
    def alive(self) -> bool:
        """Running and still holding its end of the response pipe (a killed process hangs up at once, even
        before it can be reaped)."""
        if self.process is None or self.process.poll() is not None or self._responses < 0:
            return False
        poller = select.poll()
        poller.register(self._responses, select.POLLHUP | select.POLLERR)
        return not poller.poll(0)

    # one invocation -----------------------------------------------------------------------------------------
    def send(self, invocation: Invocation, deadline_ms: int) -> None:
        message = {"id": invocation.request_id, "event": invocation.payload.decode("utf-8", "replace"),
                   "arn": invocation.invoked_arn, "deadline_ms": deadline_ms,
                   "client_context": invocation.client_context,
                   "trace_id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"}
        self._requests.write(json.dumps(message).encode() + b"\n")
        self._requests.flush()

    def _read(self, deadline: float) -> dict[str, Any] | None:
        """The next message; None when the process closed its end; TimeoutError past ``deadline``."""
        poller = select.poll()
        poller.register(self._responses, select.POLLIN | select.POLLHUP | select.POLLERR)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise TimeoutError
            chunk = os.read(self._responses, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        message: dict[str, Any] = json.loads(line)
        if message.get("max_rss_kb"):
            self.max_memory_mb = max(self.max_memory_mb, math.ceil(message["max_rss_kb"] / 1024))
        return message

    def receive(self, deadline: float) -> dict[str, Any] | None:
        return self._read(deadline)

    def take_output(self) -> str:
        """What the process wrote since the last call (its stdout/stderr go to a scratch file)."""
        try:
            with open(self.output_path, "r+b") as out:
                data = out.read()
                out.truncate(0)
        except FileNotFoundError:
            return ""
        return data.decode("utf-8", "replace")


class FunctionRuntime:
    """The execution environments of one function generation."""

    def __init__(self, spec: FunctionSpec, endpoint_url: str, max_environments: int = MAX_ENVIRONMENTS) -> None:
        self.spec = spec
        self.endpoint_url = endpoint_url
        self.max_environments = max(1, max_environments)
        self._cond = threading.Condition()
        self._idle: list[Environment] = []
        self._all: set[Environment] = set()
        self.retired = False
        self._on_drained: Callable[[], None] | None = None

    # pool ----------------------------------------------------------------------------------------------------
    def _acquire(self) -> tuple[Environment, bool]:
        """The most recently used idle environment, else a new one (fresh=True), else wait for one."""
        deadline = time.monotonic() + ACQUIRE_SECONDS
        while True:
            with self._cond:
                while not self._idle and len(self._all) >= self.max_environments:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.retired:
                        break
                    self._cond.wait(remaining)
                if self.retired:
                    raise RuntimeRetired(self.spec.name)
                if self._idle:
                    env = self._idle.pop()
                    if env.alive:
                        return env, False
                elif len(self._all) >= self.max_environments:
                    raise AWSError("TooManyRequestsException", "Rate Exceeded.", 429)
                else:
                    env = Environment(self.spec, self.endpoint_url)
                    self._all.add(env)
                    return env, True
            self._destroy(env)  # it died while idle (killed from outside): try again

    def _release(self, env: Environment, healthy: bool) -> None:
        with self._cond:
            if healthy and not self.retired and env.alive:
                env.last_used = time.monotonic()
                self._idle.append(env)
                self._cond.notify()
                return
        self._destroy(env)

    def _destroy(self, env: Environment) -> None:
        env.kill()
        env.discard_output()
        with self._cond:
            self._all.discard(env)
            if env in self._idle:
                self._idle.remove(env)
            drained = self.retired and not self._all
            callback = self._on_drained if drained else None
            if drained:
                self._on_drained = None
            self._cond.notify_all()
        if callback is not None:
            try:
                callback()
            except Exception:
                LOG.exception("cleaning up after lambda function %s failed", self.spec.name)

    def retire(self, on_drained: Callable[[], None] | None = None, *, kill_busy: bool = False) -> None:
        """Stop reusing these environments: idle ones die now, busy ones when their invocation ends
        (or now with ``kill_busy``). ``on_drained`` runs once the last one is gone."""
        with self._cond:
            self.retired = True
            self._on_drained = on_drained
            victims = list(self._all) if kill_busy else list(self._idle)
            nothing_left = not self._all
            self._cond.notify_all()
        for env in victims:
            self._destroy(env)
        if nothing_left and on_drained is not None:
            with self._cond:
                self._on_drained = None
            on_drained()

    def reap_idle(self, idle_seconds: float = IDLE_SECONDS) -> int:
        """Kill environments idle for longer than ``idle_seconds``; how many were reaped."""
        now = time.monotonic()
        with self._cond:
            stale = [env for env in self._idle if now - env.last_used > idle_seconds]
            for env in stale:
                self._idle.remove(env)
        for env in stale:
            self._destroy(env)
        return len(stale)

    @property
    def environments(self) -> int:
        with self._cond:
            return len(self._all)

    # invocation ----------------------------------------------------------------------------------------------
    def invoke(self, invocation: Invocation) -> InvocationResult:
        """Run one invocation to its end (result, error, timeout or crash); never raises for handler faults."""
        env, fresh = self._acquire()
        log: list[str] = []
        healthy = False
        try:
            result, healthy = self._run(env, fresh, invocation, log)
        except BaseException:
            self._destroy(env)
            raise
        self._release(env, healthy)
        result.log = "".join(log)
        self._append_log(result.log)
        return result

    def _run(self, env: Environment, fresh: bool, invocation: Invocation,
             log: list[str]) -> tuple[InvocationResult, bool]:
        spec, request_id = self.spec, invocation.request_id
        if fresh:
            log.append(f"INIT_START Runtime Version: {spec.runtime} (localcloud: Python "
                       f"{platform.python_version()} at {sys.executable})\n")
            try:
                init_error = env.start()
            except TimeoutError:
                log.append(env.take_output())
                return self._finish(log, invocation, 0.0, env, _platform_error(
                    "Sandbox.Timedout",
                    f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"),
                    timed_out=True), False
            except ProcessLookupError as exc:
                log.append(env.take_output())
                return self._finish(log, invocation, 0.0, env, _platform_error(
                    "Runtime.ExitError", f"RequestId: {request_id} Error: {exc}")), False
            log.append(env.take_output())
            if init_error is not None:
                return self._finish(log, invocation, 0.0, env, json.dumps(init_error).encode()), False
        log.append(f"START RequestId: {request_id} Version: {LATEST}\n")
        started = time.monotonic()
        try:
            env.send(invocation, int(time.time() * 1000) + spec.timeout * 1000)
            answer = env.receive(started + spec.timeout)
        except TimeoutError:
            env.kill()
            elapsed = (time.monotonic() - started) * 1000
            log.append(env.take_output())
            return self._finish(log, invocation, elapsed, env, _platform_error(
                "Sandbox.Timedout", f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"),
                timed_out=True), False
        except (BrokenPipeError, ValueError):
            answer = None
        elapsed = (time.monotonic() - started) * 1000
        if answer is None:  # the process died during the invocation
            reason = _exit_reason(env.wait_exit())
            log.append(env.take_output())
            log.append(f"RequestId: {request_id} Error: {reason}\nRuntime.ExitError\n")
            return self._finish(log, invocation, elapsed, env, _platform_error(
                "Runtime.ExitError", f"RequestId: {request_id} Error: {reason}")), False
        log.append(env.take_output())
        if answer.get("type") == "error":
            return self._finish(log, invocation, elapsed, env, json.dumps(answer["error"]).encode()), True
        if "payload_b64" in answer:
            payload = base64.b64decode(answer["payload_b64"])
        else:
            payload = str(answer.get("payload", "null")).encode()
        if len(payload) > MAX_RESPONSE_BYTES:
            return self._finish(log, invocation, elapsed, env, _platform_error(
                "Function.ResponseSizeTooLarge",
                f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).")), True
        result = self._finish(log, invocation, elapsed, env, None)
        result.payload = payload
        result.content_type = answer.get("content_type") or "application/json"
        return result, True

    def _finish(self, log: list[str], invocation: Invocation, elapsed_ms: float, env: Environment,
                error: bytes | None, *, timed_out: bool = False) -> InvocationResult:
        spec, request_id = self.spec, invocation.request_id
        if log and log[-1] and not log[-1].endswith("\n"):
            log.append("\n")
        if not any(line.startswith("START RequestId") for line in log):
            log.append(f"START RequestId: {request_id} Version: {LATEST}\n")
        log.append(f"END RequestId: {request_id}\n")
        report = (f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\t"
                  f"Billed Duration: {max(1, math.ceil(elapsed_ms))} ms\tMemory Size: {spec.memory_size} MB\t"
                  f"Max Memory Used: {env.max_memory_mb} MB\t")
        if env.init_ms and log and log[0].startswith("INIT_START"):
            report += f"Init Duration: {env.init_ms:.2f} ms\t"
        if timed_out:
            report += "Status: timeout"
        log.append(report + "\n")
        if timed_out:
            log.append(f"{utcnow().strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z {request_id} "
                       f"Task timed out after {spec.timeout:.2f} seconds\n")
        return InvocationResult(payload=error or b"", function_error="Unhandled" if error is not None else None,
                                duration_ms=elapsed_ms)

    def _append_log(self, text: str) -> None:
        with _LOG_LOCK:
            try:
                with open(self.spec.log_path, "a", encoding="utf-8") as out:
                    out.write(text)
            except FileNotFoundError:  # the function was deleted meanwhile
                pass

