"""Training jobs off the request thread: download channels, run the XGBoost algorithm subprocess, upload the model.

A job moves Starting → Downloading → Training → Uploading → Completed (or Failed, or Stopping → Stopped /
MaxRuntimeExceeded). Each job runs on a worker thread; at most ``slots`` algorithm processes run at once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.core.context import ServerContext
from localcloud.core.jobs import Workers, utcnow
from localcloud.services.sagemaker import algorithm, s3io
from localcloud.services.sagemaker.algorithm import CONFIG_FILE, LOG_FILE, MODEL_FILE, RESULT_FILE
from localcloud.services.sagemaker.models import TrainingJob

LOG = logging.getLogger(__name__)

#: SageMaker's built-in XGBoost images: ``<acct>.dkr.ecr.<region>.amazonaws.com[.cn]/sagemaker-xgboost:<ver>`` and the
#: legacy ``.../xgboost:1`` / ``:latest`` (version 0.72)
XGBOOST_IMAGE = re.compile(
    r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/"
    r"(sagemaker-xgboost:[0-9][0-9.]*-[0-9]+(-[a-z0-9.-]+)?|xgboost:(1|latest))(@sha256:[0-9a-f]{64})?$"
)
LOG_TAIL_LINES = 12
POLL_SECONDS = 0.02
ALGORITHM = "localcloud.services.sagemaker.algorithm"


def is_xgboost_image(image: str | None) -> bool:
    return bool(image and XGBOOST_IMAGE.match(image))


def unsupported_image_reason(job: TrainingJob) -> str | None:
    """Why localcloud cannot run this job's algorithm, or None when it is the built-in XGBoost."""
    spec = job.request.get("AlgorithmSpecification") or {}
    image = spec.get("TrainingImage")
    if is_xgboost_image(image):
        return None
    what = f"the training image '{image}'" if image else f"the algorithm '{spec.get('AlgorithmName')}'"
    return (f"AlgorithmError: localcloud runs only SageMaker's built-in XGBoost algorithm, and {what} is not a "
            f"SageMaker XGBoost image. Use the image of sagemaker.image_uris.retrieve('xgboost', region, '1.7-1') "
            f"(<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-xgboost:<version>).")


class JobFailed(Exception):
    """Ends a job as Failed with ``reason`` as its FailureReason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Interrupted(Exception):
    """The job was stopped, ran out of time, or the server is shutting down."""

    def __init__(self, secondary: str) -> None:
        super().__init__(secondary)
        self.secondary = secondary


class Launcher:
    """Starts algorithm processes, keeping one spare that has already imported xgboost for the next job."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        self._spare: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _spawn(self) -> subprocess.Popen[bytes]:
        with open(self.workdir / "launcher.log", "ab") as log:
            # same process group as the server, so stopping the server's group stops these too
            return subprocess.Popen([sys.executable, "-m", ALGORITHM, "--wait"], stdin=subprocess.PIPE,
                                    stdout=log, stderr=log, env=self.env, cwd=self.workdir)

    def prepare(self) -> None:
        """Start the spare now (if there is none), so its imports overlap the job's data download."""
        with self._lock:
            if not self._closed and (self._spare is None or self._spare.poll() is not None):
                self._spare = self._spawn()

    def launch(self, job_dir: Path) -> subprocess.Popen[bytes]:
        """A process running the job in ``job_dir`` (the spare when it is alive, else a new one)."""
        with self._lock:
            if self._closed:
                raise JobFailed("InternalServerError: localcloud shut down while the job was starting.")
            spare, self._spare = self._spare, None
            if spare is None or not _hand_over(spare, job_dir):
                spare = self._spawn()
                _hand_over(spare, job_dir)  # a process that cannot take it fails the job with its exit status
            self._spare = self._spawn()
            return spare

    def close(self) -> None:
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            _terminate(spare)


def _hand_over(proc: subprocess.Popen[bytes], job_dir: Path) -> bool:
    """Give a waiting algorithm process its job; False when it is gone."""
    if proc.poll() is not None or proc.stdin is None:
        return False
    try:
        proc.stdin.write(f"{job_dir}\n".encode())
        proc.stdin.close()
        return True
    except OSError:
        _terminate(proc)
        return False


class TrainingRunner:
    """Runs training jobs; ``lock`` guards every job object it mutates (shared with the backend)."""

    def __init__(self, ctx: ServerContext, lock: threading.RLock, s3: Callable[[str], Any], slots: int = 2) -> None:
        self.ctx = ctx
        self.lock = lock
        self.s3 = s3
        self.workers = Workers()
        self.slots = threading.BoundedSemaphore(slots)
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.launcher = Launcher(ctx.workdir("sagemaker", "training"))

    def start(self, job: TrainingJob) -> None:
        self.workers.start(f"training-{job.name}", lambda: self._run(job))

    def shutdown(self) -> None:
        self.workers.stopping.set()
        self.launcher.close()
        for proc in list(self.running.values()):
            _terminate(proc)
        self.workers.shutdown(timeout=10)

    # ------------------------------------------------------------------------------------------------ lifecycle
    def _move(self, job: TrainingJob, secondary: str, message: str, status: str | None = None) -> None:
        with self.lock:
            job.move(secondary, message, status)
        LOG.info("training job %s: %s", job.name, secondary)

    def _check(self, job: TrainingJob) -> None:
        if self.workers.stopping.is_set():
            raise JobFailed("InternalServerError: localcloud shut down while the job was running.")
        if job.stop_requested:
            raise _Interrupted("Stopped")
        if job.training_start and (utcnow() - job.training_start).total_seconds() > job.max_runtime:
            raise _Interrupted("MaxRuntimeExceeded")

    def _run(self, job: TrainingJob) -> None:
        job_dir = self.ctx.workdir("sagemaker", "training", job.name)
        try:
            while not self.slots.acquire(timeout=0.1):
                self._check(job)
            try:
                self._train(job, job_dir)
            finally:
                self.slots.release()
        except _Interrupted as stop:
            self._finish_interrupted(job, stop.secondary)
        except JobFailed as failed:
            self._fail(job, failed.reason)
        except Exception as exc:  # never leave a job InProgress
            LOG.exception("training job %s failed unexpectedly", job.name)
            self._fail(job, f"InternalServerError: {type(exc).__name__}: {exc}")
        finally:
            for sub in ("input", "model"):
                shutil.rmtree(job_dir / sub, ignore_errors=True)

    def _train(self, job: TrainingJob, job_dir: Path) -> None:
        self._check(job)
        with self.lock:
            job.training_start = utcnow()
        self._move(job, "Downloading", "Downloading input data")
        reason = unsupported_image_reason(job)
        if reason:
            raise JobFailed(reason)
        self.launcher.prepare()
        channels = self._download(job, job_dir)
        self._check(job)
        self._move(job, "Training", "Training image download completed. Training in progress.")
        result = self._algorithm(job, job_dir, channels)
        self._check(job)
        self._move(job, "Uploading", "Uploading generated training model")
        artifact = self._upload(job, job_dir)
        stamp = utcnow()
        with self.lock:
            job.metrics = [{"MetricName": m["name"], "Value": m["value"], "Timestamp": stamp}
                           for m in result.get("metrics", [])]
            job.model_artifacts = artifact
            job.training_end = stamp
            job.move("Completed", "Training job completed", "Completed")
        LOG.info("training job %s completed in %.2fs", job.name, result.get("seconds", 0.0))

    def _download(self, job: TrainingJob, job_dir: Path) -> dict[str, dict[str, Any]]:
        s3 = self.s3(job.region)
        role = job.request.get("RoleArn", "")
        channels: dict[str, dict[str, Any]] = {}
        for channel in job.request.get("InputDataConfig") or []:
            name = channel.get("ChannelName", "")
            source = (channel.get("DataSource") or {}).get("S3DataSource")
            if not source:
                raise JobFailed(f"ClientError: Channel '{name}' has no S3DataSource; localcloud reads channels from "
                                "S3 only (FileSystemDataSource and DatasetSource are not supported).")
            dest = job_dir / "input" / "data" / name
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            kind, uri = source.get("S3DataType", "S3Prefix"), source.get("S3Uri", "")
            try:
                if kind == "S3Prefix":
                    s3io.download_prefix(s3, uri, dest, region=job.region, role=role)
                elif kind == "ManifestFile":
                    s3io.download_manifest(s3, uri, dest, region=job.region, role=role)
                else:
                    raise JobFailed(f"ClientError: Channel '{name}' uses S3DataType {kind}; localcloud's XGBoost "
                                    "reads S3Prefix and ManifestFile channels.")
            except s3io.TransferError as exc:
                raise JobFailed(f"ClientError: {exc}") from exc
            channels[name] = {"path": str(dest), "uri": uri, "content_type": channel.get("ContentType"),
                              "compression": channel.get("CompressionType", "None")}
            self._check(job)
        return channels

    def _algorithm(self, job: TrainingJob, job_dir: Path, channels: dict[str, Any]) -> dict[str, Any]:
        model_dir = job_dir / "model"
        shutil.rmtree(model_dir, ignore_errors=True)
        (job_dir / RESULT_FILE).unlink(missing_ok=True)
        config = {"hyperparameters": job.request.get("HyperParameters") or {}, "channels": channels,
                  "model_dir": str(model_dir)}
        try:  # what the container checks before reading data, without paying for a process
            algorithm.precheck(config)
        except algorithm.ClientError as exc:
            raise JobFailed(f"ClientError: {exc}") from exc
        (job_dir / CONFIG_FILE).write_text(json.dumps(config))
        log_path = job_dir / LOG_FILE
        proc = self.launcher.launch(job_dir)
        self.running[job.name] = proc
        try:
            while proc.poll() is None:
                try:
                    self._check(job)
                except (_Interrupted, JobFailed):
                    _terminate(proc)
                    raise
                time.sleep(POLL_SECONDS)
        finally:
            self.running.pop(job.name, None)
        result_path = job_dir / RESULT_FILE
        if not result_path.exists():
            raise JobFailed(f"AlgorithmError: the training process {_exit_text(proc.returncode)} without a result. "
                            f"Last log lines:\n{_tail(log_path)}")
        result = json.loads(result_path.read_text())
        if not result.get("ok"):
            raise JobFailed(f"{result.get('kind', 'AlgorithmError')}: {result.get('message', 'unknown error')}")
        if not (model_dir / MODEL_FILE).exists():
            raise JobFailed("AlgorithmError: the training process finished without writing a model.")
        return result

    def _upload(self, job: TrainingJob, job_dir: Path) -> str:
        output = job.request.get("OutputDataConfig") or {}
        base = (output.get("S3OutputPath") or "").rstrip("/")
        s3 = self.s3(job.region)
        try:
            if (output.get("CompressionType") or "GZIP").upper() == "NONE":
                prefix = f"{base}/{job.name}/output/model/"
                for path in sorted((job_dir / "model").iterdir()):
                    s3io.upload(s3, prefix + path.name, path.read_bytes())
                return prefix
            uri = f"{base}/{job.name}/output/model.tar.gz"
            s3io.upload(s3, uri, s3io.model_tarball(job_dir / "model"))
            return uri
        except s3io.TransferError as exc:
            raise JobFailed(f"ClientError: {exc}") from exc

    def _fail(self, job: TrainingJob, reason: str) -> None:
        with self.lock:
            job.failure_reason = reason
            job.training_end = utcnow()
            job.move("Failed", f"Training job failed. Reason: {reason}", "Failed")
        LOG.info("training job %s failed: %s", job.name, reason)

    def _finish_interrupted(self, job: TrainingJob, secondary: str) -> None:
        with self.lock:
            if job.secondary != "Stopping":
                job.move("Stopping", "Stopping the training job", "Stopping")
            job.training_end = utcnow()
            message = ("Training job exceeded MaxRuntimeInSeconds provided" if secondary == "MaxRuntimeExceeded"
                       else "Training job stopped")
            job.move(secondary, message, "Stopped")
        LOG.info("training job %s: %s", job.name, secondary)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM an algorithm process, then SIGKILL it if it lingers."""
    if proc.stdin is not None and not proc.stdin.closed:
        try:
            proc.stdin.close()
        except OSError:
            pass
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"
