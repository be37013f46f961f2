"""Warm Spark workers: long-lived Python processes holding a SparkSession, each running one job script at a time.

A :class:`Worker` is a subprocess running :mod:`localcloud.services.glue.worker_main`, in its own process group
(the JVM and Spark's Python daemons included) so it can be stopped as a whole. The :class:`WorkerPool` hands out
an idle warm worker, starts one when none is idle (at most ``LOCALCLOUD_GLUE_WORKERS``, default 2: a second run
at the same time gets a second, cold worker; beyond that runs wait in ``STARTING``), and drops a worker after a
crash, a timeout or a stop, so the next run starts a fresh one.
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

from localcloud.errors import LocalCloudError

LOG = logging.getLogger(__name__)

START_TIMEOUT_S = 180.0
POLL_S = 0.1
LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
logger.native.name = org.apache.hadoop.util.NativeCodeLoader
logger.native.level = error
"""


class WorkerError(LocalCloudError):
    """A worker could not start, or died while running a script."""


@dataclass
class Outcome:
    """How a script run in a worker ended: ``ok``, ``error`` (the script failed), ``died``, ``cancelled``,
    ``timeout``."""

    kind: str
    error: str = ""
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


class Worker:
    """One worker subprocess and the two pipes to it."""

    def __init__(self, number: int, mode: str, log_path: Path, env: dict[str, str], spark_conf: dict[str, str]):
        self.number = number
        self.mode = mode
        self.log_path = log_path
        self.env = env
        self.spark_conf = spark_conf
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_on = 0.0
        self.startup_s = 0.0
        self.runs = 0
        self.busy = False
        self.info: dict[str, Any] = {}
        self._requests: Any = None
        self._responses: Any = None
        self._buffer = b""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Spawn the worker and wait until it reports ready (Spark started)."""
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        command = [
            sys.executable, "-m", "localcloud.services.glue.worker_main",
            "--req-fd", str(req_r), "--resp-fd", str(resp_w), "--mode", self.mode,
            "--spark-conf", json.dumps(self.spark_conf), "--parent", str(os.getpid()),
        ]  # fmt: skip
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                pass_fds=(req_r, resp_w), start_new_session=True, cwd=str(self.log_path.parent),
            )
        os.close(req_r)
        os.close(resp_w)
        self._requests = os.fdopen(req_w, "w", encoding="utf-8")
        self._responses = resp_r
        self.started_on = time.time()
        LOG.info("starting Glue %s worker #%d (pid %d)", self.mode, self.number, self.proc.pid)
        message = self._read(deadline=time.monotonic() + timeout, cancel=None)
        if message is None or message.get("event") != "ready":
            reason = (message or {}).get("error") or self._exit_text()
            self.kill()
            self.close()
            raise WorkerError(
                f"the local Spark worker could not start: {reason}. Last lines of {self.log_path}:\n"
                f"{tail(self.log_path)}"
            )
        self.startup_s = float(message.get("startup_s", 0.0))
        self.info = {k: message[k] for k in ("spark_version", "spark_start_s", "warmup_s") if k in message}
        LOG.info("Glue worker #%d ready in %.1f s (pid %d)", self.number, self.startup_s, self.proc.pid)

    def run(self, request: dict[str, Any], *, cancel: threading.Event, deadline: float | None) -> Outcome:
        """Send one script run and wait for its end, a stop (``cancel``), the ``deadline`` or the worker's death."""
        if not self.alive:
            return Outcome("died", error=self._exit_text())
        self.runs += 1
        try:
            self._requests.write(json.dumps({"op": "run", **request}) + "\n")
            self._requests.flush()
        except OSError:
            return Outcome("died", error=self._exit_text())
        message = self._read(deadline=deadline, cancel=cancel)
        if message is not None:
            if message.get("ok"):
                return Outcome("ok", seconds=float(message.get("seconds", 0.0)), detail=message)
            return Outcome("error", error=str(message.get("error")), seconds=float(message.get("seconds", 0.0)),
                           detail=message)
        if cancel.is_set():
            outcome = Outcome("cancelled")
        elif deadline is not None and time.monotonic() >= deadline and self.alive:
            outcome = Outcome("timeout")
        else:
            return Outcome("died", error=self._exit_text())
        # the script cannot be interrupted in-process: the worker goes down before the run reports its end
        self.kill()
        return outcome

    def _read(self, *, deadline: float | None, cancel: threading.Event | None) -> dict[str, Any] | None:
        """The next JSON message; None on EOF/death, cancel or deadline."""
        while True:
            if b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                return dict(json.loads(line))
            if cancel is not None and cancel.is_set():
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return None
            try:
                ready, _, _ = select.select([self._responses], [], [], POLL_S)
                chunk = os.read(self._responses, 65536) if ready else None
            except (OSError, ValueError, TypeError):  # the pipe was closed under us
                return None
            if ready:
                if not chunk:
                    self._wait_exit()
                    return None
                self._buffer += chunk
            elif not self.alive:
                return None

    def _wait_exit(self) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def _exit_text(self) -> str:
        if self.proc is None:
            return "the worker was not started"
        code = self.proc.poll()
        if code is None:
            return "the worker stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"the Spark driver process exited on signal {name}"
        return f"the Spark driver process exited with code {code}"

    def stop(self, grace: float = 10.0) -> None:
        """Ask the worker to exit (Spark stops cleanly), then make sure the whole group is gone."""
        if self.alive and self._requests is not None:
            try:
                self._requests.write(json.dumps({"op": "exit"}) + "\n")
                self._requests.flush()
                assert self.proc is not None
                self.proc.wait(timeout=grace)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def kill(self) -> None:
        """Kill the worker's whole process group (worker, JVM, Spark's Python daemons)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            LOG.error("Glue worker pid %d did not exit after SIGKILL", self.proc.pid)
        deadline = time.monotonic() + 10
        while group_alive(self.proc.pid) and time.monotonic() < deadline:  # the JVM takes a moment to go
            time.sleep(0.05)

    def close(self) -> None:
        """Close the pipes (by the thread that owns the worker, after :meth:`kill` or :meth:`stop`)."""
        if self._requests is not None:
            try:
                self._requests.close()
            except OSError:
                pass
            self._requests = None
        if isinstance(self._responses, int):
            try:
                os.close(self._responses)
            except OSError:
                pass
            self._responses = None

    def describe(self) -> dict[str, Any]:
        return {
            "number": self.number, "pid": self.pid, "mode": self.mode, "alive": self.alive, "busy": self.busy,
            "runs": self.runs, "startup_s": self.startup_s, "log": str(self.log_path), **self.info,
        }  # fmt: skip


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in process group ``pgid``."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid):
            return True
    return False


def tail(path: Path, lines: int = 25, max_chars: int = 3000) -> str:
    """The last ``lines`` lines of a text file (at most ``max_chars``), or a note that there is none."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    out = "\n".join(text.splitlines()[-lines:])
    return out[-max_chars:]


class WorkerPool:
    """Warm Spark workers shared by all job runs of one localcloud."""

    def __init__(self, workdir: Path, env: dict[str, str], spark_conf: dict[str, str], max_workers: int = 2):
        self.workdir = workdir
        self.env = env
        self.spark_conf = spark_conf
        self.max_workers = max(1, max_workers)
        self._workers: list[Worker] = []
        self._pending: list[Worker] = []  # starting
        self._starting = 0
        self._numbers = 0
        self._closed = False
        self._cond = threading.Condition()

    def _new(self, mode: str) -> Worker:
        with self._cond:
            self._numbers += 1
            number = self._numbers
        return Worker(number, mode, self.workdir / f"worker-{number}.log", self.env, self.spark_conf)

    def acquire(self, cancel: threading.Event | None = None, *, claim: bool = True) -> Worker | None:
        """An idle warm worker, or a new one (cold start); waits while ``max_workers`` are busy or starting.

        With ``claim=False`` (pre-warming) a new worker is left idle for the next run, and None is returned when
        one already exists.
        """
        with self._cond:
            while True:
                if self._closed:
                    raise WorkerError("localcloud is shutting down")
                if cancel is not None and cancel.is_set():
                    raise WorkerError("the run was stopped before a worker was free")
                for dead in [w for w in self._workers if not w.alive and not w.busy]:
                    dead.kill()  # the rest of its process group (JVM) goes too
                    dead.close()
                    self._workers.remove(dead)
                idle = [w for w in self._workers if not w.busy]
                if idle or (not claim and (self._workers or self._starting)):
                    if not claim:
                        return None
                    worker = idle[0]
                    worker.busy = True
                    return worker
                # a worker already starting will be ready before a second cold start would be: wait for it
                if self._starting == 0 and len(self._workers) < self.max_workers:
                    break
                self._cond.wait(0.5)
            self._starting += 1
        worker = self._new("spark")
        worker.busy = claim
        with self._cond:
            self._pending.append(worker)
        try:
            worker.start()
        finally:
            with self._cond:
                self._starting -= 1
                self._pending.remove(worker)
                if worker.alive and not self._closed:
                    self._workers.append(worker)
                self._cond.notify_all()
        if self._closed:
            worker.kill()
            worker.close()
            raise WorkerError("localcloud is shutting down")
        return worker if claim else None

    def release(self, worker: Worker, *, healthy: bool) -> None:
        """Give a worker back; one that timed out, was stopped or crashed is killed (the next run starts anew)."""
        if not healthy or not worker.alive:
            worker.kill()
            worker.close()
        with self._cond:
            worker.busy = False
            if not worker.alive:
                self._workers = [w for w in self._workers if w is not worker]
            self._cond.notify_all()

    def prewarm(self) -> None:
        """Start a worker in the background when none exists, so the first run skips Spark's start-up."""
        with self._cond:
            if self._closed or self._workers or self._starting:
                return

        def warm() -> None:
            try:
                self.acquire(claim=False)
            except WorkerError as exc:
                LOG.warning("pre-warming the Spark worker failed (runs will retry): %s", exc)

        threading.Thread(target=warm, name="glue-prewarm", daemon=True).start()

    def one_shot(self, mode: str) -> Worker:
        """A worker for a single run that does not share Spark (``pythonshell`` jobs); kill it after the run."""
        worker = self._new(mode)
        worker.start()
        return worker

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._workers)
            pending = list(self._pending)
            self._workers = []
            self._cond.notify_all()
        for worker in pending:
            worker.kill()  # its start() fails and closes it
        for worker in workers:
            if worker.busy:
                worker.kill()  # the run's thread releases and closes it
            else:
                worker.stop()
                worker.close()

    def describe(self) -> list[dict[str, Any]]:
        with self._cond:
            return [w.describe() for w in self._workers]
