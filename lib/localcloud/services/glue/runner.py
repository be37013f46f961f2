"""One Glue job run, start to end: role and script checks, a worker, S3 staging, the script, the sync back.

States: ``STARTING`` (role check, script download, a warm worker or a cold start) → ``RUNNING`` (stage S3
arguments, run the script, sync outputs back) → ``SUCCEEDED`` | ``FAILED`` (``ErrorMessage`` as Glue words it) |
``STOPPING`` → ``STOPPED`` | ``TIMEOUT``. Output of each run goes to ``<home>/glue/runs/<run id>/output.log``.

Environment knobs (read at each run): ``LOCALCLOUD_GLUE_TIMEOUT_SCALE`` — seconds per minute of ``Timeout``
(default 60; tests use a small value so ``Timeout=1`` expires in a second or so); ``LOCALCLOUD_GLUE_KEEP_STAGING=1``
keeps a run's staged S3 folders for inspection. At start-up: ``LOCALCLOUD_GLUE_WORKERS`` (warm workers, default
2) and the Spark settings of :mod:`.spark`.

The runner records a run's states through :class:`RunCallbacks` (the backend, which owns every transition); it
knows nothing else of the backend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from localcloud import settings
from localcloud.core import trust
from localcloud.core.clients import child_env, client
from localcloud.core.context import ServerContext
from localcloud.core.logs import LogShipper
from localcloud.core.processes import tail
from localcloud.core.sessions import RoleSession
from localcloud.errors import LocalCloudError

from .models import Job, JobRun
from .spark import spark_conf, worker_env
from .staging import Staging, StagingError, parse_s3
from .workers import Outcome, Worker, WorkerError, WorkerPool

LOG = logging.getLogger(__name__)

#: arguments Glue itself consumes: their S3 paths are not staged as data
GLUE_CONSUMED = ("--scriptLocation", "--extra-py-files", "--extra-jars", "--extra-files", "--spark-event-logs-path",
                 "--additional-python-modules", "--python-modules-installer-option")
RESERVED = ("--JOB_ID", "--JOB_RUN_ID", "--JOB_NAME")
CATEGORY = "Error Category: UNCLASSIFIED_ERROR; "
ASSUME_SERVICES = ("glue.amazonaws.com",)
#: CloudWatch Logs of a run, stream ``<JobRunId>`` in each: the script's stdout and stderr go to ``output``; the
#: GlueLogger's messages and the system's (localcloud's notes, Spark's driver output) to ``error`` ("Logging for AWS
#: Glue jobs", Glue 5.0 behaviour; driver streams are named by the job run ID, "Running Spark ETL jobs with reduced
#: startup times", Output and Errors Streams)
OUTPUT_GROUP, ERROR_GROUP = "/aws-glue/jobs/output", "/aws-glue/jobs/error"
#: where the awsglue shim's GlueLogger writes during a run (read into the error group)
LOGGER_FILE_ENV = "LOCALCLOUD_GLUE_LOGGER_FILE"
NOTE = "[localcloud] "




class RunCallbacks(Protocol):
    """What a runner needs of the Glue backend: record a run's state, and Glue's automatic retry of a failed run."""

    def transition(self, run: JobRun, state: str, **fields: Any) -> bool:
        """Move ``run`` to ``state`` (setting ``fields``) unless it already ended; whether it moved."""
        ...

    def retry(self, run: JobRun, job: Job) -> JobRun | None:
        """The next attempt of a failed run (``MaxRetries``), or None."""
        ...


@dataclass
class _Attempt:
    """What one attempt of a run holds while it runs; its worker is given back before the run's end is recorded."""

    run_dir: Path
    log_path: Path
    worker: Worker | None = None
    healthy: bool = False
    log_offset: int = 0
    staging: Staging | None = None
    script_output: tuple[int, int] = (0, 0)  # the bytes of the run's log the script wrote


class RunFailed(LocalCloudError):
    """The run fails with this ErrorMessage."""


class RunInterrupted(LocalCloudError):
    """The run was stopped (BatchStopJobRun) or hit its timeout outside the script."""


def timeout_scale() -> float:
    """Seconds per minute of a job's ``Timeout`` (``LOCALCLOUD_GLUE_TIMEOUT_SCALE``, default 60)."""
    try:
        return max(0.0, float(os.environ.get("LOCALCLOUD_GLUE_TIMEOUT_SCALE", "60")))
    except ValueError:
        return 60.0


def job_id(name: str) -> str:
    return "j_" + hashlib.sha256(name.encode()).hexdigest()


def script_argv(job_name: str, run_id: str, arguments: dict[str, str]) -> list[str]:
    """``sys.argv[1:]`` of the script: the arguments as ``--NAME value`` pairs, then the ones Glue sets."""
    argv: list[str] = []
    for key, value in arguments.items():
        if key not in RESERVED:
            argv += [key, value]
    return [*argv, "--JOB_ID", job_id(job_name), "--JOB_RUN_ID", run_id, "--JOB_NAME", job_name]


class Runner:
    """Executes job runs with a pool of warm Spark workers, recording their states through ``callbacks``."""

    def __init__(self, ctx: ServerContext, callbacks: RunCallbacks) -> None:
        self.ctx = ctx
        self.callbacks = callbacks
        self._pool: WorkerPool | None = None
        self._pool_lock = threading.Lock()
        self.logs = LogShipper(ctx.endpoint_url)

    @property
    def pool(self) -> WorkerPool:
        with self._pool_lock:
            if self._pool is None:
                workers = int(os.environ.get("LOCALCLOUD_GLUE_WORKERS", "2") or 2)
                self._pool = WorkerPool(self.ctx.workdir("glue", "workers"), worker_env(), spark_conf(self.ctx),
                                        max_workers=workers)
            return self._pool

    def prewarm(self) -> None:
        self.pool.prewarm()

    def health(self) -> dict[str, Any]:
        with self._pool_lock:
            pool = self._pool
        return {"workers": pool.describe() if pool else [], "max_workers": pool.max_workers if pool else None}

    def shutdown(self) -> None:
        with self._pool_lock:
            pool = self._pool
        if pool is not None:
            pool.shutdown()
        self.logs.close()

    # ------------------------------------------------------------------------------------------- a run
    def execute(self, run: JobRun, job: Job) -> None:
        """Run ``run`` to its end, then Glue's automatic retries (``MaxRetries``) while it fails."""
        current: JobRun | None = run
        while current is not None:
            self._execute_once(current, job)
            current = self.callbacks.retry(current, job) if current.state == "FAILED" else None

    def _execute_once(self, run: JobRun, job: Job) -> None:
        run_dir = self.ctx.workdir("glue", "runs", run.id)
        attempt = _Attempt(run_dir, run_dir / "output.log")
        run.log_path = str(attempt.log_path)
        try:
            state, message = self._attempt(run, job, attempt)
        except RunInterrupted:
            state, message = ("STOPPED", None) if run.cancel.is_set() else (
                "TIMEOUT", f"Job run timed out after {run.settings.get('Timeout')} minutes (its Timeout) before the "
                           "script ended")
        except RunFailed as exc:
            state, message = "FAILED", str(exc)
        except (StagingError, WorkerError) as exc:
            text = attempt.staging.to_uris(str(exc)) if attempt.staging else str(exc)
            state, message = ("STOPPED", None) if run.cancel.is_set() else ("FAILED", CATEGORY + text)
        except Exception as exc:  # a bug of ours: the run must still end
            LOG.exception("Glue run %s failed inside localcloud", run.id)
            state, message = "FAILED", f"{CATEGORY}localcloud internal error while running the job: {exc!r}"
        finally:  # first: a run reported ended holds no worker, and a dead one is forgotten
            try:
                self._give_back(run, attempt)
            except Exception:  # the run must still end
                LOG.exception("giving back the worker of Glue run %s failed", run.id)
        self._ship_logs(run, attempt, state, message)
        self._end(run, state, message)
        _note(attempt.log_path, f"run ended {run.state}" + (f": {run.error_message}" if run.error_message else ""))

    def _attempt(self, run: JobRun, job: Job, attempt: _Attempt) -> tuple[str, str | None]:
        """Run the script once; the state the run ends in and its ErrorMessage (raises for the other endings)."""
        log_path = attempt.log_path
        _note(log_path, f"run {run.id} of job {run.job_name} (attempt {run.attempt})")
        script, paths, work = self._inputs(run, job, attempt.run_dir)
        self._checkpoint(run, None)
        if job.command["Name"] == "pythonshell":
            worker = attempt.worker = self.pool.one_shot("python")
        else:
            worker = attempt.worker = self.pool.acquire(run.cancel)
            assert worker is not None
        self._checkpoint(run, None)
        attempt.log_offset = _size(worker.log_path)
        self.callbacks.transition(run, "RUNNING", running_since=time.monotonic(), worker_pid=worker.pid)
        scale = timeout_scale()
        timeout = int(run.settings.get("Timeout") or 2880)
        deadline = time.monotonic() + timeout * scale
        _note(log_path, f"worker pid {worker.pid} (run #{worker.runs + 1} of worker #{worker.number}; "
                        f"Spark start-up took {worker.startup_s:.1f} s); timeout {timeout} min = "
                        f"{timeout * scale:g} s here")
        staging = attempt.staging = Staging(client(self.ctx.endpoint_url, "s3", run.region), attempt.run_dir / "s3",
                                            client(self.ctx.endpoint_url, "s3", run.region, run.session))
        began = time.monotonic()
        arguments = staging.stage(run.script_arguments, skip=GLUE_CONSUMED)
        _note(log_path, f"staged {len(staging.roots)} S3 locations ({staging.staged_bytes() / 1e6:.1f} MB) "
                        f"in {time.monotonic() - began:.2f} s")
        self._checkpoint(run, deadline)
        env = {**child_env(self.ctx.endpoint_url, run.region, run.session),
               LOGGER_FILE_ENV: str(attempt.run_dir / "glue-logger.log")}
        request = {
            "run_id": run.id, "script": str(script), "argv": script_argv(job.name, run.id, arguments),
            "env": env, "log": str(log_path), "paths": paths, "cwd": str(work),
        }  # fmt: skip
        start = _size(log_path)
        outcome = worker.run(request, cancel=run.cancel, deadline=deadline)
        attempt.script_output = (start, _size(log_path))
        attempt.healthy = outcome.kind in ("ok", "error") and outcome.detail.get("spark_ok", True)
        return self._ending(outcome, staging, log_path, timeout, scale)

    def _inputs(self, run: JobRun, job: Job, run_dir: Path) -> tuple[Path, list[str], Path]:
        """Check the command and the role, download the script and extra files: (script, extra paths, work dir)."""
        command = job.command
        if command.get("Name") not in ("glueetl", "pythonshell"):
            raise RunFailed(f"localcloud runs glueetl (Spark) and pythonshell jobs; the {command.get('Name')} "
                            f"job {job.name} cannot run here.")
        self._check_role(job.definition["Role"], run)
        run.session = self._session(job.definition["Role"])  # what the job reads and writes, it does as its role
        work = run_dir / "work"
        work.mkdir(exist_ok=True)
        location = run.script_arguments.get("--scriptLocation") or command.get("ScriptLocation") or ""
        script = self._download(location, work, run.region, "script", run.session)
        paths = [str(settings.awsglue_shim_path()), *self._extras(run, work)]
        return script, paths, work

    def _give_back(self, run: JobRun, attempt: _Attempt) -> None:
        """Return (or kill) the attempt's worker, copy its JVM's output into the run's log, drop the staging."""
        worker = attempt.worker
        if worker is not None:
            if worker.mode == "python":
                worker.kill()
            else:
                self.pool.release(worker, healthy=attempt.healthy and not run.cancel.is_set())
            _append_jvm_output(attempt.log_path, worker.log_path, attempt.log_offset)
        if attempt.staging is not None and os.environ.get("LOCALCLOUD_GLUE_KEEP_STAGING") != "1":
            shutil.rmtree(attempt.run_dir / "s3", ignore_errors=True)

    @staticmethod
    def _ending(outcome: Outcome, staging: Staging, log_path: Path, timeout: int,
                scale: float) -> tuple[str, str | None]:
        """The state and ErrorMessage a run ends with after ``outcome`` (the outputs are synced back first when the
        script ended, with success or an exception)."""
        if outcome.kind == "ok":
            began = time.monotonic()
            counts = staging.sync_back()
            _note(log_path, f"synced outputs to S3 in {time.monotonic() - began:.2f} s: {json.dumps(counts)}")
            return "SUCCEEDED", None
        if outcome.kind == "error":
            # what the script wrote before it failed stays, as on S3 (a Glue job writes to S3 as it goes)
            try:
                counts = staging.sync_back()
                _note(log_path, f"synced what the failed run wrote to S3: {json.dumps(counts)}")
            except StagingError as exc:
                _note(log_path, f"could not sync what the failed run wrote to S3: {exc}")
            message = outcome.error
            if not outcome.detail.get("spark_ok", True):
                message += ("; the Spark driver (JVM) died during the run (killed, out of memory or crashed), so "
                            f"localcloud replaced the worker; the run's output is in {log_path}")
            return "FAILED", staging.to_uris(message)
        if outcome.kind == "cancelled":
            return "STOPPED", None
        if outcome.kind == "timeout":
            return "TIMEOUT", (f"Job run timed out after {timeout} minutes (its Timeout; {timeout * scale:g} s on "
                               "localcloud)")
        return "FAILED", (f"{CATEGORY}{outcome.error} while the script ran, without a Python exception (killed, out "
                          f"of memory, or a JVM crash). Last lines of the run's output:\n"
                          f"{staging.to_uris(tail(log_path, 15, max_chars=3000))}")

    def _ship_logs(self, run: JobRun, attempt: _Attempt, state: str, message: str | None) -> None:
        """The run's CloudWatch Logs: what the script printed to ``output``, the rest of the run's log (notes, the
        Spark driver's output), the GlueLogger's messages and the ending to ``error``; sent before the run ends."""
        try:
            data = attempt.log_path.read_bytes()
        except OSError:
            data = b""
        start, end = attempt.script_output
        script = data[start:end].decode("utf-8", "replace").splitlines()
        system = (data[:start] + data[end:]).decode("utf-8", "replace").splitlines()
        system += [line for line in script if line.startswith(NOTE)]
        logger = attempt.run_dir / "glue-logger.log"
        if logger.exists():
            system += logger.read_text("utf-8", "replace").splitlines()
        system.append(f"{NOTE}run ended {state}" + (f": {message}" if message else ""))
        to_uris = attempt.staging.to_uris if attempt.staging else (lambda text: text)
        self.logs.put(run.region, OUTPUT_GROUP, run.id, [to_uris(x) for x in script if not x.startswith(NOTE)])
        self.logs.put(run.region, ERROR_GROUP, run.id, [to_uris(x) for x in system])
        self.logs.flush()

    def _end(self, run: JobRun, state: str, message: str | None) -> None:
        seconds = time.monotonic() - run.running_since if run.running_since is not None else 0.0
        self.callbacks.transition(run, state, error_message=message, execution_time=int(math.ceil(seconds)))

    @staticmethod
    def _checkpoint(run: JobRun, deadline: float | None) -> None:
        if run.cancel.is_set() or (deadline is not None and time.monotonic() >= deadline):
            raise RunInterrupted(run.id)

    # ------------------------------------------------------------------------------------------- checks
    def _check_role(self, role: str, run: JobRun) -> None:
        """The job's role must exist and let Glue assume it (as AWS checks when the run starts). Glue documents no
        aws:SourceAccount/SourceArn for job roles: none is in the context (see :mod:`localcloud.core.trust`)."""
        arn = role if role.startswith("arn:") else f"arn:aws:iam::{settings.ACCOUNT_ID}:role/{role}"
        reason = trust.refusal(self.ctx.endpoint_url, arn, ASSUME_SERVICES, run.region)
        if reason:
            LOG.info("glue run %s: %s", run.id, reason)
            raise RunFailed(
                f"JobName:{run.job_name} and JobRunId:{run.id} failed to execute with exception Role {role} should "
                "be given assume role permissions for Glue Service.")

    def _session(self, role: str) -> RoleSession:
        arn = role if role.startswith("arn:") else f"arn:aws:iam::{settings.ACCOUNT_ID}:role/{role}"
        return self.ctx.sessions.issue(arn, "GlueJobRunnerSession")

    def _download(self, location: str, folder: Path, region: str, what: str,
                  session: RoleSession | None = None) -> Path:
        parsed = parse_s3(location)
        if parsed is None or not parsed[1] or parsed[1].endswith("/"):
            raise RunFailed(f"{CATEGORY}the job's {what} location {location!r} is not an S3 object URI "
                            "(s3://bucket/key.py); set Command.ScriptLocation")
        bucket, key = parsed
        target = folder / os.path.basename(key)
        try:
            body = client(self.ctx.endpoint_url, "s3", region, session).get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise RunFailed(f"{CATEGORY}cannot read the job's {what} {location}: {error.get('Code')}: "
                            f"{error.get('Message')}") from None
        target.write_bytes(body)
        return target

    def _extras(self, run: JobRun, work: Path) -> list[str]:
        """``--extra-py-files`` (added to the path) and ``--extra-files`` (in the working folder)."""
        paths: list[str] = []
        for option, folder in (("--extra-py-files", work / "py"), ("--extra-files", work)):
            for location in filter(None, (s.strip() for s in run.script_arguments.get(option, "").split(","))):
                folder.mkdir(exist_ok=True)
                path = self._download(location, folder, run.region, option.lstrip("-"), run.session)
                if option == "--extra-py-files":
                    paths.append(str(path) if path.suffix in (".zip", ".egg", ".whl") else str(folder))
        return list(dict.fromkeys(paths))

def _note(log_path: Path, text: str) -> None:
    with open(log_path, "a", encoding="utf-8") as fh:
        fh.write(f"[localcloud] {text}\n")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _append_jvm_output(log_path: Path, worker_log: Path, offset: int) -> None:
    """Copy what the worker's JVM wrote during the run into the run's log."""
    try:
        with open(worker_log, "rb") as fh:
            fh.seek(offset)
            text = fh.read(256 * 1024).decode("utf-8", "replace").strip()
    except OSError:
        return
    if text:
        with open(log_path, "a", encoding="utf-8") as out:
            out.write("[localcloud] ---- Spark driver (JVM) output during the run ----\n" + text + "\n")
