"""Training jobs off the request thread: download channels, run the algorithm image in a child process, upload.

A job moves Starting → Downloading → Training → Uploading → Completed (or Failed, or Stopping → Stopped /
MaxRuntimeExceeded). Each job runs on a worker thread; at most ``slots`` algorithm processes run at once. The
image decides what runs (:mod:`.containers`): the built-in XGBoost 1.7-1 algorithm
(:mod:`localcloud.images.builtin_xgboost`, in its own environment, a child process started ahead of need), or a
script-mode job of a framework image, run by the training toolkit (:mod:`.framework`); one job per process as one
container per job.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud import images
from localcloud.core.children import Child, ChildError, ChildRaised, ChildSpec, Spare
from localcloud.core.context import ServerContext
from localcloud.core.jobs import Workers, utcnow
from localcloud.core.logs import LogShipper, syslog_escape
from localcloud.core.processes import tail
from localcloud.images.builtin_xgboost import content
from localcloud.images.builtin_xgboost import hyperparameters as hp
from localcloud.services.sagemaker import containers, s3io
from localcloud.services.sagemaker.framework import ScriptTraining, script_mode
from localcloud.services.sagemaker.jobrun import JobFailed
from localcloud.services.sagemaker.models import TrainingJob

LOG = logging.getLogger(__name__)

TRAIN_MODULE = "localcloud.images.builtin_xgboost.train"
MODEL_FILE = "xgboost-model"
LOG_FILE = "algorithm.log"
POLL_SECONDS = 0.02
FAILURE_REASON_LIMIT = 1024  # FailureReason's maximum length in the SageMaker API model
#: where a training job's container output goes: one stream per instance, named after the job ("Amazon SageMaker
#: algorithms produce Amazon CloudWatch logs ... /aws/sagemaker/TrainingJobs log group. Each training job has one
#: log stream per node ... The log stream's name begins with the value specified in the TrainingJobName", SageMaker
#: developer guide, common-info-all-sagemaker-models-logs; the SDK reads ``<job>/`` streams of this group)
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def log_stream(job: TrainingJob) -> str:
    """``<job name>/algo-1-<epoch seconds>``: the one instance's stream, stamped when the job was created."""
    return f"{job.name}/algo-1-{int(job.created.timestamp())}"


def trainer_spec(workdir: Path) -> ChildSpec:
    """How a training child of the XGBoost image starts (raises ImageNotInstalled without its environment).

    Its thread count is not pinned: the 1.7-1 container trains with xgboost's default ``nthread`` (every core of
    the instance) unless the job's ``nthread`` hyperparameter says otherwise (``nthread`` is an optional
    hyperparameter in ``algorithm_mode/hyperparameter_validation.py``, and nothing else in the container's
    training sets it; only serving sets ``nthread`` 1, ``serve_utils.py``)."""
    return ChildSpec(module=TRAIN_MODULE, log_path=workdir / "launcher.log", python=images.python(images.XGBOOST),
                     path=(images.pythonpath(images.XGBOOST),), cwd=workdir, name="the XGBoost training process",
                     ready_timeout=120.0)


def precheck(request: dict[str, Any]) -> None:
    """The container's checks that need no data (hyperparameters, channels); raises content.UserError."""
    try:
        hp.validate(request.get("HyperParameters") or {})
    except hp.HyperparameterError as exc:
        raise content.UserError(str(exc)) from None
    channels = {c.get("ChannelName", ""): c for c in request.get("InputDataConfig") or []}
    mode = (request.get("AlgorithmSpecification") or {}).get("TrainingInputMode", "File")
    content.validate_channels({name: {**c, "InputMode": c.get("InputMode") or mode} for name, c in channels.items()})
    if mode == "Pipe" or any(c.get("InputMode") == "Pipe" for c in channels.values()):
        raise content.UserError("localcloud's built-in XGBoost reads channels in File mode; Pipe and FastFile "
                                "input modes are not implemented. Use TrainingInputMode 'File'.")


class _Interrupted(Exception):
    """The job was stopped, ran out of time, or the server is shutting down."""

    def __init__(self, secondary: str) -> None:
        super().__init__(secondary)
        self.secondary = secondary


class TrainingRunner:
    """Runs training jobs; ``lock`` guards every job object it mutates (shared with the backend)."""

    def __init__(self, ctx: ServerContext, lock: threading.RLock, s3: Callable[[str, str | None], Any],
                 slots: int = 2) -> None:
        self.ctx = ctx
        self.lock = lock
        self.s3 = s3
        self.workers = Workers()
        self.slots = threading.BoundedSemaphore(slots)
        self.running: dict[str, Child] = {}
        self.workdir = ctx.workdir("sagemaker", "training")
        self._spare: Spare | None = None
        self.logs = LogShipper(ctx.endpoint_url)
        self.framework = ScriptTraining(ctx, self.logs, s3)

    def start(self, job: TrainingJob) -> None:
        self.workers.start(f"training-{job.name}", lambda: self._run(job))

    def shutdown(self) -> None:
        self.workers.stopping.set()
        if self._spare is not None:
            self._spare.close()
        for child in list(self.running.values()):
            child.kill()
        self.workers.shutdown(timeout=10)
        self.logs.close()

    def _spares(self) -> Spare:
        if self._spare is None:
            try:
                self._spare = Spare(trainer_spec(self.workdir))
            except images.ImageNotInstalled as exc:
                raise JobFailed(f"AlgorithmError: {exc}") from None
        return self._spare

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
            for sub in ("input", "model", "links", "code", "output", "packages", "scratch"):
                shutil.rmtree(job_dir / sub, ignore_errors=True)

    def _train(self, job: TrainingJob, job_dir: Path) -> None:
        self._check(job)
        with self.lock:
            job.training_start = utcnow()
        self._move(job, "Downloading", "Downloading input data")
        spec = job.request.get("AlgorithmSpecification") or {}
        try:
            runtime = containers.for_training(spec.get("TrainingImage"), spec.get("AlgorithmName"),
                                              script_mode(job.request))
        except containers.UnsupportedImage as exc:
            raise JobFailed(f"AlgorithmError: {exc}") from None
        if runtime.kind == "xgboost":
            try:  # what the container checks before reading data, without paying for a process
                precheck(job.request)
            except content.UserError as exc:
                raise JobFailed(f"ClientError: {exc}") from None
            self._spares().prepare()  # its imports overlap the download
        channels = self._download(job, job_dir)
        self._check(job)
        if runtime.kind != "xgboost":
            self.framework.stage(job, job_dir, channels)
        self._move(job, "Training", "Training image download completed. Training in progress.")
        if runtime.kind == "xgboost":
            result = self._algorithm(job, job_dir, channels)
        else:
            result = {"metrics": self.framework.run(
                job, job_dir, runtime, job_dir / LOG_FILE, lambda: self._check(job),
                lambda: self.logs.follow(job.region, LOG_GROUP, log_stream(job), job_dir / LOG_FILE, syslog_escape),
                self._unfollow)}
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
        role = job.request.get("RoleArn", "")
        s3 = self.s3(job.region, role or None)
        mode = (job.request.get("AlgorithmSpecification") or {}).get("TrainingInputMode", "File")
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
            channels[name] = {"path": str(dest), "ContentType": channel.get("ContentType"),
                              "InputMode": channel.get("InputMode") or mode,
                              "S3DistributionType": source.get("S3DataDistributionType"),
                              "RecordWrapperType": channel.get("RecordWrapperType")}
            self._check(job)
        return channels

    def _algorithm(self, job: TrainingJob, job_dir: Path, channels: dict[str, Any]) -> dict[str, Any]:
        shutil.rmtree(job_dir / "model", ignore_errors=True)
        try:
            child = self._spares().take()
        except ChildError as exc:
            raise JobFailed(f"AlgorithmError: {exc}") from None
        self.running[job.name] = child
        stop = threading.Event()
        interrupted: list[BaseException] = []

        def watch() -> None:  # a stop request or the time limit ends the process; the call below then fails
            while not stop.wait(POLL_SECONDS):
                try:
                    self._check(job)
                except (_Interrupted, JobFailed) as exc:
                    interrupted.append(exc)
                    child.kill()
                    return

        watcher = threading.Thread(target=watch, name=f"watch-{job.name}", daemon=True)
        watcher.start()
        follower = self.logs.follow(job.region, LOG_GROUP, log_stream(job), job_dir / LOG_FILE, syslog_escape)
        request = {"op": "train", "job_dir": str(job_dir), "channels": channels,
                   "hyperparameters": job.request.get("HyperParameters") or {}}
        try:
            result, _ = child.call(request)
        except (ChildError, ChildRaised) as exc:
            if interrupted:
                raise interrupted[0] from None
            log = job_dir / LOG_FILE
            log_tail = child.tail() if not log.exists() else tail(log)
            what = exc.exit_text if isinstance(exc, ChildError) and exc.exit_text else str(exc)
            raise JobFailed(f"AlgorithmError: the training process {what} without a result. Last log lines:\n"
                            f"{log_tail}") from None
        finally:
            stop.set()
            watcher.join()
            self.running.pop(job.name, None)
            child.stop(grace=1.0)
            self.logs.unfollow(follower)
            self.logs.flush()  # the log is complete before the job says it ended, as the SDK reads it then
        if interrupted:
            raise interrupted[0]
        if not result.get("ok"):
            raise JobFailed(f"{result.get('kind', 'AlgorithmError')}: {result.get('message', 'unknown error')}")
        if not (job_dir / "model" / MODEL_FILE).exists():
            raise JobFailed("AlgorithmError: the training process finished without writing a model.")
        return result

    def _unfollow(self, follower: Any) -> None:
        self.logs.unfollow(follower)
        self.logs.flush()  # the log is complete before the job says it ended, as the SDK reads it then

    def _upload(self, job: TrainingJob, job_dir: Path) -> str:
        output = job.request.get("OutputDataConfig") or {}
        base = (output.get("S3OutputPath") or "").rstrip("/")
        s3 = self.s3(job.region, job.request.get("RoleArn") or None)
        try:
            if (output.get("CompressionType") or "GZIP").upper() == "NONE":
                prefix = f"{base}/{job.name}/output/model/"
                for path in sorted((job_dir / "model").iterdir()):
                    s3io.upload(s3, prefix + path.name, path.read_bytes())
                return prefix
            data = job_dir / "output" / "data"
            if data.is_dir() and any(p.is_file() for p in data.rglob("*")):  # /opt/ml/output/data of a script
                s3io.upload(s3, f"{base}/{job.name}/output/output.tar.gz", s3io.model_tarball(data))
            uri = f"{base}/{job.name}/output/model.tar.gz"
            s3io.upload(s3, uri, s3io.model_tarball(job_dir / "model"))
            return uri
        except s3io.TransferError as exc:
            raise JobFailed(f"ClientError: {exc}") from exc

    def _fail(self, job: TrainingJob, reason: str) -> None:
        reason = reason[:FAILURE_REASON_LIMIT]
        if not (self.workdir / job.name / LOG_FILE).exists():  # the algorithm never ran: its reason is the log
            self.logs.lines(job.region, LOG_GROUP, log_stream(job), reason)
            self.logs.flush()
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


