"""Warm Spark workers: long-lived Python processes holding a SparkSession, each running one job script at a time.

A :class:`Worker` is a :class:`~localcloud.core.children.Child` running :mod:`localcloud.services.glue.worker_main`,
in its own process group (the JVM and Spark's Python daemons included) so it is killed as a whole. The
:class:`WorkerPool` hands out an idle warm worker, starts one when none is idle (at most ``LOCALCLOUD_GLUE_WORKERS``,
default 2: a second run at the same time gets a second, cold worker; beyond that runs wait in ``STARTING``), and
forgets a worker after a crash, a timeout or a stop, so the next run starts a fresh one.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.core.children import Child, ChildError, ChildSpec
from localcloud.core.processes import tail
from localcloud.errors import LocalCloudError

from .worker_main import MODE_VARIABLE, SPARK_CONF_VARIABLE

LOG = logging.getLogger(__name__)

WORKER_MODULE = "localcloud.services.glue.worker_main"
START_TIMEOUT_S = 180.0
STOP_GRACE_S = 10.0


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
    """One worker process (started by :meth:`start`)."""

    def __init__(self, number: int, mode: str, log_path: Path, env: dict[str, str], spark_conf: dict[str, str]):
        self.number = number
        self.mode = mode
        self.log_path = log_path
        self.spec = ChildSpec(
            module=WORKER_MODULE, log_path=log_path, python=sys.executable, cwd=log_path.parent, new_group=True,
            base_env={**env, MODE_VARIABLE: mode, SPARK_CONF_VARIABLE: json.dumps(spark_conf)},
            ready_timeout=START_TIMEOUT_S, name=f"the Glue {mode} worker #{number}")
        self.child: Child | None = None
        self.startup_s = 0.0
        self.runs = 0
        self.busy = False
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child else None

    @property
    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def start(self) -> None:
        """Spawn the worker and wait until it reports ready (Spark started)."""
        try:
            self.child = Child.start(self.spec, wait=False)
            LOG.info("starting Glue %s worker #%d (pid %d)", self.mode, self.number, self.child.pid)
            ready = self.child.wait_ready()
        except ChildError as exc:
            reason = self._start_failure(exc)
            self.kill()  # what is left of its process group
            raise WorkerError(f"the local Spark worker could not start: {reason}. Last lines of {self.log_path}:\n"
                              f"{tail(self.log_path, 25, max_chars=3000)}") from None
        self.startup_s = float(ready.get("startup_s", 0.0))
        self.info = {k: ready[k] for k in ("spark_version", "spark_start_s", "warmup_s") if k in ready}
        LOG.info("Glue worker #%d ready in %.1f s (pid %d)", self.number, self.startup_s, self.child.pid)

    def _start_failure(self, exc: ChildError) -> str:
        if exc.kind == "timeout":
            return "the worker stopped answering"
        if exc.kind == "failed-start":
            return exc.reason or str(exc)
        return self._exit_text()

    def run(self, request: dict[str, Any], *, cancel: threading.Event, deadline: float | None) -> Outcome:
        """Send one script run and wait for its end, a stop (``cancel``), the ``deadline`` or the worker's death.

        A script cannot be interrupted in-process: on a stop or the deadline the worker (and its JVM) is killed
        before this returns."""
        if self.child is None or not self.alive:
            return Outcome("died", error=self._exit_text())
        self.runs += 1
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            message, _ = self.child.call({"op": "run", **request}, timeout=timeout, cancel=cancel)
        except ChildError as exc:
            if cancel.is_set():
                return Outcome("cancelled")
            if exc.kind == "timeout":
                return Outcome("timeout")
            return Outcome("died", error=self._exit_text())
        seconds = float(message.get("seconds", 0.0))
        if message.get("ok"):
            return Outcome("ok", seconds=seconds, detail=message)
        return Outcome("error", error=str(message.get("error")), seconds=seconds, detail=message)

    def _exit_text(self) -> str:
        if self.child is None:
            return "the worker was not started"
        code = self.child.proc.poll()
        if code is None:
            return "the worker stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"the Spark driver process exited on signal {name}"
        return f"the Spark driver process exited with code {code}"

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Ask the worker to exit (Spark stops cleanly), then make sure the whole group is gone."""
        if self.child is not None:
            self.child.stop(grace=grace)

    def kill(self) -> None:
        """Kill the worker's whole process group (worker, JVM, Spark's Python daemons) and wait until it is gone."""
        if self.child is not None:
            self.child.kill()

    def describe(self) -> dict[str, Any]:
        return {
            "number": self.number, "pid": self.pid, "mode": self.mode, "alive": self.alive, "busy": self.busy,
            "runs": self.runs, "startup_s": self.startup_s, "log": str(self.log_path), **self.info,
        }  # fmt: skip


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
        return self._cold_start(claim)

    def _cold_start(self, claim: bool) -> Worker | None:
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
            raise WorkerError("localcloud is shutting down")
        return worker if claim else None

    def release(self, worker: Worker, *, healthy: bool) -> None:
        """Give a worker back; one that timed out, was stopped or crashed is killed and forgotten before this
        returns (the next run starts anew, and no listing shows it)."""
        if not healthy or not worker.alive:
            worker.kill()
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
            worker.kill()  # its start() fails
        for worker in workers:
            if worker.busy:
                worker.kill()  # the run's thread sees it end and releases it
            else:
                worker.stop()

    def describe(self) -> list[dict[str, Any]]:
        with self._cond:
            return [w.describe() for w in self._workers]
