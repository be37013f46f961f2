"""What processing and transform jobs share: one worker thread per job, stop requests and the time limit watched
while a child process works, the container's environment, the job's log in CloudWatch Logs.

A job is ``InProgress`` until it ends ``Completed``, ``Failed`` (with its ``FailureReason``) or, after
``StopProcessingJob``/``StopTransformJob`` or past ``MaxRuntimeInSeconds``, ``Stopping`` then ``Stopped``
(DescribeProcessingJob/DescribeTransformJob: "When Amazon SageMaker receives a StopTransformJob request, the
status of the job changes to Stopping. After Amazon SageMaker stops the job, the status is set to Stopped").
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.core import clients
from localcloud.core.children import Child, ChildError, ChildRaised
from localcloud.core.context import ServerContext
from localcloud.core.jobs import Workers, utcnow
from localcloud.core.logs import LogShipper
from localcloud.services.sagemaker.containers import Runtime
from localcloud.services.sagemaker.jobmodels import Job

LOG = logging.getLogger(__name__)

POLL_SECONDS = 0.02
#: variables a container starts with besides its image's and the job's (a Linux image's defaults)
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


class JobFailed(Exception):
    """Ends a job as Failed with ``reason`` as its FailureReason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Interrupted(Exception):
    """The job was stopped or ran out of time."""


def container_env(ctx: ServerContext, runtime: Runtime, environment: dict[str, Any] | None, role: str | None,
                  region: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A container's environment: the image's ENV, the job's ``Environment``, and what an AWS SDK in it needs to
    reach this localcloud with the job role's credentials (on AWS the container gets them from the role)."""
    session = ctx.sessions.issue(role, "SageMaker") if role else None
    env = {**BASE_ENV, "HOME": os.environ.get("HOME", "/root"), **runtime.env}
    env.update(clients.child_env(ctx.endpoint_url, region, session))
    env.update({str(k): str(v) for k, v in (environment or {}).items()})
    env.update(extra or {})
    return env


def call_watched(child: Child, request: dict[str, Any], check: Callable[[], None],
                 timeout: float | None = None) -> dict[str, Any]:
    """``child.call(request)`` while ``check()`` is polled; when it raises, the child (and its process group) is
    killed and that exception is raised."""
    stop = threading.Event()
    interrupted: list[BaseException] = []

    def watch() -> None:
        while not stop.wait(POLL_SECONDS):
            try:
                check()
            except Exception as exc:  # whatever the caller's check raises ends the work
                interrupted.append(exc)
                child.kill()
                return

    watcher = threading.Thread(target=watch, name="watch-job", daemon=True)
    watcher.start()
    try:
        answer, _ = child.call(request, timeout=timeout)
    except (ChildError, ChildRaised):
        if interrupted:
            raise interrupted[0] from None
        raise
    finally:
        stop.set()
        watcher.join()
    if interrupted:
        raise interrupted[0]
    return answer


class JobRunner:
    """Runs jobs of one kind on worker threads; subclasses implement :meth:`execute`."""

    kind = "job"
    log_group = ""

    def __init__(self, ctx: ServerContext, lock: threading.RLock, s3: Callable[[str, str | None], Any]) -> None:
        self.ctx, self.lock, self.s3 = ctx, lock, s3
        self.workers = Workers()
        self.logs = LogShipper(ctx.endpoint_url)
        self.children: dict[str, Child] = {}

    def start(self, job: Job) -> None:
        self.workers.start(f"{self.kind}-{job.name}", lambda: self._run(job))

    def shutdown(self) -> None:
        self.workers.stopping.set()
        for child in list(self.children.values()):
            child.kill()
        self.workers.shutdown(timeout=10)
        self.logs.close()

    def check(self, job: Job, max_runtime: int | None) -> None:
        if self.workers.stopping.is_set():
            raise JobFailed("InternalServerError: localcloud shut down while the job was running.")
        if job.stop_requested:
            raise Interrupted
        if max_runtime and job.started and (utcnow() - job.started).total_seconds() > max_runtime:
            raise Interrupted

    def log_stream(self, job: Job) -> str:
        """``<job name>/algo-1-<epoch seconds>``: the one instance's stream, stamped when the job was created."""
        return f"{job.name}/algo-1-{int(job.created.timestamp())}"

    def log_path(self, job: Job) -> Path:
        """The container's output (kept after the job, as its CloudWatch stream is)."""
        return self.ctx.workdir("sagemaker", f"{self.kind}-logs") / f"{job.name}.log"

    def execute(self, job: Job, folder: Path) -> None:  # pragma: no cover - every runner has its own
        raise NotImplementedError

    def _run(self, job: Job) -> None:
        folder = self.ctx.workdir("sagemaker", self.kind, job.name)
        with self.lock:
            job.started = utcnow()
        status, reason = "Completed", None
        try:
            self.execute(job, folder)
        except Interrupted:
            status = "Stopped"
        except JobFailed as failed:
            status, reason = "Failed", failed.reason
        except Exception as exc:  # never leave a job InProgress
            LOG.exception("%s job %s failed unexpectedly", self.kind, job.name)
            status, reason = "Failed", f"InternalServerError: {type(exc).__name__}: {exc}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.logs.flush()  # the log is complete before the job says it ended, as the SDK reads it then
        with self.lock:
            if status == "Stopped" and job.status != "Stopping":
                job.move("Stopping")
            job.move(status, reason)
        LOG.info("%s job %s: %s", self.kind, job.name, job.status)
