"""Warm child processes speaking framed JSON lines (the parent side of :mod:`localcloud.core.childmain`).

Every service that runs work outside the server process uses this one module: Lambda's execution environments,
Glue's Spark workers, SageMaker's training jobs and model servers. A :class:`Child` is started from a
:class:`ChildSpec` (interpreter, module, environment, log file), says it is ready once its module is imported, and
then answers :meth:`Child.call` one request at a time. A child that dies, hangs past a timeout, is cancelled or
breaks the protocol raises :class:`ChildError` (with its exit status and the tail of its log) and is gone for good:
the caller starts another. :class:`Spare` keeps one child started ahead of need, so its imports overlap other work.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.core.childmain import encode_frame
from localcloud.core.processes import TAIL_LINES, exit_text, group_alive, tail
from localcloud.errors import LocalCloudError

LOG = logging.getLogger(__name__)

CHILD_MAIN = "localcloud.core.childmain"
#: how often a cancellable call looks at its cancel event
CANCEL_POLL_SECONDS = 0.1
#: how long a kill waits for the rest of a process group (a JVM takes a moment to go)
GROUP_GONE_SECONDS = 10.0
#: variables never passed on from the server's own environment (they would mix another interpreter's packages in)
_SCRUBBED = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


class ChildError(LocalCloudError):
    """A child process could not do what was asked: it died, timed out, was cancelled, failed to start or broke
    the protocol. ``reason`` is the child's own word when it reported a failed start."""

    def __init__(self, message: str, *, exit_text: str = "", tail: str = "", kind: str = "crashed",
                 reason: str = "") -> None:
        super().__init__(message)
        self.exit_text = exit_text
        self.tail = tail
        self.kind = kind  # "crashed", "timeout", "cancelled", "failed-start", "protocol"
        self.reason = reason


class ChildRaised(LocalCloudError):
    """The child's handler raised; the child itself is still serving."""

    def __init__(self, error: str, message: str, trace: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error
        self.message = message
        self.trace = trace


@dataclass(frozen=True)
class ChildSpec:
    """How to start one kind of child."""

    module: str
    log_path: Path
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)
    #: the environment to start from (default: the server's, without Python's own path settings)
    base_env: Mapping[str, str] | None = None
    cwd: Path | None = None
    #: folders put first on the child's ``sys.path`` (``PYTHONPATH``)
    path: tuple[str, ...] = ()
    #: its own process group, so :meth:`Child.kill` also ends what it started (a JVM, a handler's subprocesses)
    new_group: bool = False
    #: seconds to wait for "ready" (imports, a Spark session)
    ready_timeout: float = 120.0
    log_mode: str = "ab"
    name: str = "child"

    def environment(self) -> dict[str, str]:
        if self.base_env is not None:
            env = dict(self.base_env)
        else:
            env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env.update(self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self.path:
            env["PYTHONPATH"] = os.pathsep.join(self.path)
        return env


class _Cancelled(Exception):
    """The caller's cancel event was set while a frame was awaited."""


class _Frames:
    """Frames read from a pipe with a deadline (``select`` on the raw descriptor, our own buffer)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def _fill(self, deadline: float | None, cancel: threading.Event | None) -> bool:
        """Read what is there; False at end of stream. Raises TimeoutError past ``deadline``, _Cancelled."""
        while True:
            if cancel is not None and cancel.is_set():
                raise _Cancelled
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if cancel is not None:
                wait = CANCEL_POLL_SECONDS if wait is None else min(wait, CANCEL_POLL_SECONDS)
            ready, _, _ = select.select([self.fd], [], [], wait)
            if ready:
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    return False
                self.buffer += chunk
                return True
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError

    def read(self, deadline: float | None,
             cancel: threading.Event | None = None) -> tuple[dict[str, Any], bytes | None] | None:
        while b"\n" not in self.buffer:
            if not self._fill(deadline, cancel):
                return None
        line, _, rest = bytes(self.buffer).partition(b"\n")
        message = json.loads(line)
        size = int(message.get("bytes") or 0) if "bytes" in message else None
        self.buffer = bytearray(rest)
        if size is None:
            return message, None
        while len(self.buffer) < size:
            if not self._fill(deadline, cancel):
                return None
        payload = bytes(self.buffer[:size])
        del self.buffer[:size]
        return message, payload


class Child:
    """One running child process; :meth:`call` is serialised, the rest is safe from any thread.

    Its pipes are closed by whoever holds :attr:`lock` (a call in progress closes them when it sees the end), so a
    kill from another thread never pulls a descriptor from under a reader.
    """

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.lock = threading.Lock()
        self.ready: dict[str, Any] = {}
        self.last_used = time.monotonic()
        self._closed = False
        self._pipes_closed = False
        req_read, req_write = os.pipe()
        resp_read, resp_write = os.pipe()
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(spec.log_path, spec.log_mode) as log:
                self.proc = subprocess.Popen(
                    [spec.python, "-m", CHILD_MAIN, spec.module, str(req_read), str(resp_write)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=spec.environment(),
                    cwd=str(spec.cwd) if spec.cwd else None, pass_fds=(req_read, resp_write),
                    start_new_session=spec.new_group)
        except OSError as exc:
            for fd in (req_read, req_write, resp_read, resp_write):
                os.close(fd)
            raise ChildError(f"could not start {spec.name} ({spec.python}): {exc}", kind="failed-start") from exc
        os.close(req_read)
        os.close(resp_write)
        self._requests = os.fdopen(req_write, "wb")
        self._frames = _Frames(resp_read)
        self._resp_fd = resp_read

    @classmethod
    def start(cls, spec: ChildSpec, *, wait: bool = True) -> Child:
        """Start a child; with ``wait``, return once it is ready (raises :class:`ChildError` if it fails)."""
        child = cls(spec)
        if wait:
            child.wait_ready()
        return child

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return not self._closed and self.proc.poll() is None

    def wait_ready(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the child said "ready" (its info), or raise :class:`ChildError`."""
        if self.ready:
            return self.ready
        with self.lock:
            if self.ready:
                return self.ready
            limit = self.spec.ready_timeout if timeout is None else timeout
            message, _ = self._read(time.monotonic() + limit, "start")
            if message.get("event") != "ready":
                detail = message.get("message") or message.get("error") or "no reason given"
                raise self._ended(f"{self.spec.name} failed to start: {message.get('error', '')}: {detail}",
                                  "failed-start", reason=str(detail))
            self.ready = message
            return message

    def call(self, message: dict[str, Any], payload: bytes | None = None, *, timeout: float | None = None,
             cancel: threading.Event | None = None) -> tuple[dict[str, Any], bytes | None]:
        """Send one request and return the child's answer; a raising handler raises :class:`ChildRaised`.

        Past ``timeout`` seconds, or once ``cancel`` is set (from any thread), the child is killed and
        :class:`ChildError` says which (``kind`` "timeout" or "cancelled")."""
        self.wait_ready()
        with self.lock:
            if not self.alive():
                raise self._died("the request")
            try:
                self._requests.write(encode_frame(message, payload))
                self._requests.flush()
            except (BrokenPipeError, OSError, ValueError):
                raise self._died("the request") from None
            deadline = None if timeout is None else time.monotonic() + timeout
            answer, out = self._read(deadline, str(message.get("op", "request")), cancel)
            self.last_used = time.monotonic()
            if answer.get("exit"):
                self._wait_exit()
        if "error" in answer and "event" not in answer:
            raise ChildRaised(str(answer["error"]), str(answer.get("message", "")), str(answer.get("traceback", "")))
        return answer, out

    def _read(self, deadline: float | None, what: str,
              cancel: threading.Event | None = None) -> tuple[dict[str, Any], bytes | None]:
        """The next frame (with :attr:`lock` held); any failure ends the child and raises :class:`ChildError`."""
        name = self.spec.name
        try:
            frame = self._frames.read(deadline, cancel)
        except _Cancelled:
            raise self._ended(f"{name} was cancelled during {what}", "cancelled",
                              exit_text="was killed (cancelled)") from None
        except TimeoutError:
            raise self._ended(f"{name} did not answer {what} in time", "timeout",
                              exit_text="was killed (timeout)") from None
        except (ValueError, OSError) as exc:
            raise self._ended(f"{name} broke the protocol during {what}: {exc}", "protocol", exit_text="") from None
        if frame is None:
            raise self._died(what)
        return frame

    def _ended(self, message: str, kind: str, *, exit_text: str | None = None, reason: str = "") -> ChildError:
        """Kill the child (with :attr:`lock` held) and describe why (``exit_text`` defaults to its exit status)."""
        self.kill()
        self._close_pipes()
        return ChildError(message, exit_text=self.exit_text() if exit_text is None else exit_text,
                          tail=self.tail(), kind=kind, reason=reason)

    def _died(self, what: str) -> ChildError:
        """The child hung up (with :attr:`lock` held): wait for its exit status and describe it."""
        self._wait_exit()
        return ChildError(f"{self.spec.name} {self.exit_text()} during {what}", exit_text=self.exit_text(),
                          tail=self.tail(), kind="crashed")

    def _wait_exit(self) -> None:
        """The child is ending by itself (with :attr:`lock` held): reap it (kill it past 5 s), close the pipes."""
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._closed = True
        self._close_pipes()

    def exit_text(self) -> str:
        return exit_text(self.proc.returncode)

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last lines of the child's log."""
        return tail(self.spec.log_path, lines)

    def stop(self, grace: float = 3.0) -> None:
        """Ask the child to exit (closed request pipe), then terminate and kill it if it lingers; with its own
        process group, what is left of the group is killed once the child is gone."""
        if self._closed:
            return
        with contextlib.suppress(OSError):
            self._requests.close()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        self.kill()

    def kill(self) -> None:
        """End the child at once (and its process group when it has one, waiting for the group to go)."""
        self._signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL always ends a process
            LOG.warning("child %s (pid %s) did not die", self.spec.name, self.pid)
        if self.spec.new_group:
            deadline = time.monotonic() + GROUP_GONE_SECONDS
            while group_alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self._closed = True
        if self.lock.acquire(blocking=False):  # else a call in progress closes them when it sees the end
            try:
                self._close_pipes()
            finally:
                self.lock.release()

    def _signal(self, sig: signal.Signals) -> None:
        try:
            if self.spec.new_group:
                os.killpg(self.proc.pid, sig)
            elif self.proc.returncode is None:
                self.proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _close_pipes(self) -> None:
        if self._pipes_closed:
            return
        self._pipes_closed = True
        with contextlib.suppress(OSError):
            self._requests.close()
        with contextlib.suppress(OSError):
            os.close(self._resp_fd)


class Spare:
    """Keeps one child of ``spec`` started ahead of need; :meth:`take` hands it out and starts the next."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self._spare: Child | None = None
        self._lock = threading.Lock()
        self._closed = False

    def prepare(self) -> None:
        """Start the spare now unless one is alive."""
        with self._lock:
            if not self._closed and (self._spare is None or not self._spare.alive()):
                self._spare = Child.start(self.spec, wait=False)

    def take(self) -> Child:
        """A started child (the spare when it is alive); a fresh spare starts in its place."""
        with self._lock:
            if self._closed:
                raise ChildError(f"{self.spec.name}: localcloud is shutting down", kind="failed-start")
            child, self._spare = self._spare, None
            if child is None or not child.alive():
                child = Child.start(self.spec, wait=False)
            self._spare = Child.start(self.spec, wait=False)
            return child

    def close(self) -> None:
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.stop(grace=1.0)
