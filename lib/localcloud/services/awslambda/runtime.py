"""Execution environments of one function, reused across invocations as Lambda reuses its sandboxes.

A :class:`FunctionRuntime` keeps the environments (:mod:`.environment`) of one function generation: it reuses an
idle one, starts another for concurrent invocations (up to ``MAX_ENVIRONMENTS``), kills one that timed out or
crashed, reclaims idle ones, and is retired as a whole when the function's code or configuration changes. Each
invocation ends in an :class:`InvocationResult` (the handler's result or AWS's error payload) and its log lines
(``INIT_START``/``START``/``END``/``REPORT`` around the handler's output).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from localcloud.core.children import ChildError
from localcloud.core.jobs import utcnow
from localcloud.core.logs import LogShipper
from localcloud.errors import AWSError

from .environment import Environment, FunctionSpec, Invocation, platform_error
from .models import LATEST

LOG = logging.getLogger(__name__)

__all__ = ["FunctionRuntime", "FunctionSpec", "Invocation", "InvocationResult", "RuntimeRetired"]

#: concurrent execution environments per function (AWS scales to the account's concurrency; we stay small)
MAX_ENVIRONMENTS = int(os.environ.get("LOCALCLOUD_LAMBDA_MAX_ENVIRONMENTS", "4"))
#: an idle environment is reclaimed after this long, as Lambda reclaims unused sandboxes
IDLE_SECONDS = float(os.environ.get("LOCALCLOUD_LAMBDA_IDLE_SECONDS", "600"))
#: how long an invocation waits for a free environment before it is throttled
ACQUIRE_SECONDS = 60.0
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
TAIL_BYTES = 4096
_LOG_LOCK = threading.Lock()


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


class RuntimeRetired(Exception):
    """The function changed before an environment could be had: invoke its new generation instead."""


class FunctionRuntime:
    """The execution environments of one function generation."""

    def __init__(self, spec: FunctionSpec, endpoint_url: str, max_environments: int = MAX_ENVIRONMENTS,
                 logs: LogShipper | None = None) -> None:
        self.spec = spec
        self.endpoint_url = endpoint_url
        #: CloudWatch Logs: each environment writes its own stream of ``/aws/lambda/<function>`` ("Each instance of
        #: a Lambda function has a dedicated log stream", Lambda operator guide, How CloudWatch structures logs)
        self.logs = logs
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
        if self.logs is not None:
            self.logs.lines(self.spec.region, f"/aws/lambda/{self.spec.name}", env.log_stream, result.log)
        return result

    def _run(self, env: Environment, fresh: bool, invocation: Invocation,
             log: list[str]) -> tuple[InvocationResult, bool]:
        """The invocation in ``env`` (started first when ``fresh``); the result and whether ``env`` may serve on."""
        if fresh:
            failed = self._init(env, invocation, log)
            if failed is not None:
                return failed, False
        request_id = invocation.request_id
        log.append(f"START RequestId: {request_id} Version: {LATEST}\n")
        started = time.monotonic()
        try:
            answer, out = env.invoke(invocation)
        except ChildError as exc:
            elapsed = (time.monotonic() - started) * 1000
            log.append(env.take_output())
            if exc.kind == "timeout":  # the process (group) is already killed
                return self._finish(log, invocation, elapsed, env, self._timed_out(request_id), timed_out=True), False
            reason = env.exit_reason()  # the process died during the invocation
            log.append(f"RequestId: {request_id} Error: {reason}\nRuntime.ExitError\n")
            return self._finish(log, invocation, elapsed, env, platform_error(
                "Runtime.ExitError", f"RequestId: {request_id} Error: {reason}")), False
        elapsed = (time.monotonic() - started) * 1000
        log.append(env.take_output())
        if answer.get("type") == "error":
            return self._finish(log, invocation, elapsed, env, json.dumps(answer["fault"]).encode()), True
        payload = out if out is not None else b"null"
        if len(payload) > MAX_RESPONSE_BYTES:
            return self._finish(log, invocation, elapsed, env, platform_error(
                "Function.ResponseSizeTooLarge",
                f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).")), True
        result = self._finish(log, invocation, elapsed, env, None)
        result.payload = payload
        result.content_type = answer.get("content_type") or "application/json"
        return result, True

    def _init(self, env: Environment, invocation: Invocation, log: list[str]) -> InvocationResult | None:
        """Start ``env`` (the init phase); the invocation's result when the init failed, else None."""
        spec, request_id = self.spec, invocation.request_id
        log.append(f"INIT_START Runtime Version: {spec.runtime} (localcloud: Python "
                   f"{platform.python_version()} at {sys.executable})\n")
        try:
            init_error = env.start()
        except ChildError as exc:
            if exc.kind == "failed-start":  # the interpreter could not run at all: localcloud's fault
                raise
            log.append(env.take_output())
            if exc.kind == "timeout":
                return self._finish(log, invocation, 0.0, env, self._timed_out(request_id), timed_out=True)
            return self._finish(log, invocation, 0.0, env, platform_error(
                "Runtime.ExitError", f"RequestId: {request_id} Error: {env.exit_reason()}"))
        log.append(env.take_output())
        if init_error is not None:
            return self._finish(log, invocation, 0.0, env, json.dumps(init_error).encode())
        return None

    def _timed_out(self, request_id: str) -> bytes:
        return platform_error("Sandbox.Timedout",
                              f"RequestId: {request_id} Error: Task timed out after {self.spec.timeout:.2f} seconds")

    def _finish(self, log: list[str], invocation: Invocation, elapsed_ms: float, env: Environment,
                error: bytes | None, *, timed_out: bool = False) -> InvocationResult:
        """Close the invocation's log (``END``, ``REPORT``) and make its result (``error`` is an error payload)."""
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
