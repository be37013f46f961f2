"""Warm child processes speaking framed JSON lines (the parent side of :mod:`localcloud.core.childmain`).

Every service that runs work outside the server process uses this one module: Lambda's execution environments,
Glue's Spark workers, SageMaker's training jobs and model servers. A :class:`Child` is started from a
:class:`ChildSpec` (interpreter, module, environment, log file), says it is ready once its module is imported, and
then answers :meth:`Child.call` one request at a time. A child that dies, hangs past a timeout or breaks the
protocol raises :class:`ChildError` (with its exit status and the tail of its log) and is gone for good: the caller
starts another. :class:`Spare` keeps one child started ahead of need, so its imports overlap other work.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.core.childmain import encode_frame
from localcloud.errors import LocalCloudError

LOG = logging.getLogger(__name__)

CHILD_MAIN = "localcloud.core.childmain"
TAIL_LINES = 12
#: variables never passed on from the server's own environment (they would mix another interpreter's packages in)
_SCRUBBED = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


class ChildError(LocalCloudError):
    """A child process could not do what was asked: it died, timed out, failed to start or broke the protocol."""

    def __init__(self, message: str, *, exit_text: str = "", tail: str = "", kind: str = "crashed") -> None:
        super().__init__(message)
        self.exit_text = exit_text
        self.tail = tail
        self.kind = kind  # "crashed", "timeout", "failed-start", "protocol"


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
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env.update(self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self.path:
            env["PYTHONPATH"] = os.pathsep.join(self.path)
        return env


class _Frames:
    """Frames read from a pipe with a deadline (``select`` on the raw descriptor, our own buffer)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def _fill(self, deadline: float | None) -> bool:
        """Read what is there; False at end of stream. Raises TimeoutError past ``deadline``."""
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.fd], [], [], wait)
            if ready:
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    return False
                self.buffer += chunk
                return True
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError

    def read(self, deadline: float | None) -> tuple[dict[str, Any], bytes | None] | None:
        while b"\n" not in self.buffer:
            if not self._fill(deadline):
                return None
        line, _, rest = bytes(self.buffer).partition(b"\n")
        message = json.loads(line)
        size = int(message.get("bytes") or 0) if "bytes" in message else None
        self.buffer = bytearray(rest)
        if size is None:
            return message, None
        while len(self.buffer) < size:
            if not self._fill(deadline):
                return None
        payload = bytes(self.buffer[:size])
        del self.buffer[:size]
        return message, payload


class Child:
    """One running child process; :meth:`call` is serialised, the rest is safe from any thread."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.lock = threading.Lock()
        self.ready: dict[str, Any] = {}
        self.last_used = time.monotonic()
        self._closed = False
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
            frame = self._read(time.monotonic() + limit, "start")
            message = frame[0]
            if message.get("event") != "ready":
                self.kill()
                detail = message.get("message") or message.get("error") or "no reason given"
                raise ChildError(f"{self.spec.name} failed to start: {message.get('error', '')}: {detail}",
                                 exit_text=self.exit_text(), tail=self.tail(), kind="failed-start")
            self.ready = message
            return message

    def call(self, message: dict[str, Any], payload: bytes | None = None, *,
             timeout: float | None = None) -> tuple[dict[str, Any], bytes | None]:
        """Send one request and return the child's answer; a raising handler raises :class:`ChildRaised`."""
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
            answer, out = self._read(deadline, str(message.get("op", "request")))
            self.last_used = time.monotonic()
        if answer.get("exit"):
            self._reap()
        if "error" in answer and "event" not in answer:
            raise ChildRaised(str(answer["error"]), str(answer.get("message", "")), str(answer.get("traceback", "")))
        return answer, out

    def _read(self, deadline: float | None, what: str) -> tuple[dict[str, Any], bytes | None]:
        try:
            frame = self._frames.read(deadline)
        except TimeoutError:
            self.kill()
            raise ChildError(f"{self.spec.name} did not answer {what} in time", exit_text="was killed (timeout)",
                             tail=self.tail(), kind="timeout") from None
        except (ValueError, OSError) as exc:
            self.kill()
            raise ChildError(f"{self.spec.name} broke the protocol during {what}: {exc}", tail=self.tail(),
                             kind="protocol") from None
        if frame is None:
            raise self._died(what)
        return frame

    def _died(self, what: str) -> ChildError:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._closed = True
        return ChildError(f"{self.spec.name} {self.exit_text()} during {what}", exit_text=self.exit_text(),
                          tail=self.tail(), kind="crashed")

    def exit_text(self) -> str:
        return exit_text(self.proc.returncode)

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last lines of the child's log."""
        return tail(self.spec.log_path, lines)

    def stop(self, grace: float = 3.0) -> None:
        """Ask the child to exit (closed request pipe), then terminate and kill it if it lingers."""
        if self._closed:
            return
        try:
            self._requests.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._reap()

    def kill(self) -> None:
        """End the child at once (and its process group when it has one)."""
        self._signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL always ends a process
            LOG.warning("child %s (pid %s) did not die", self.spec.name, self.pid)
        self._reap()

    def _signal(self, sig: signal.Signals) -> None:
        try:
            if self.spec.new_group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _reap(self) -> None:
        if self._closed and self._requests.closed:
            return
        self._closed = True
        for closer in (self._requests.close, lambda: os.close(self._resp_fd)):
            try:
                closer()
            except OSError:
                pass
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)


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


def exit_text(code: int | None) -> str:
    """``exited with status 1`` / ``was killed by SIGKILL`` for a process's return code."""
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ("(no log)" when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"
