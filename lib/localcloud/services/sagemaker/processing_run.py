"""One processing job: inputs staged from S3 to the ``/opt/ml/processing/...`` paths they name, the container's
command run in its image's environment, outputs uploaded to S3 when it exits 0.

Following "Build Your Own Processing Container" (SageMaker developer guide):

* each ``S3Input`` is downloaded (``S3Prefix`` or ``ManifestFile``, File mode) into its ``LocalPath``; each
  output's ``LocalPath`` exists when the command starts; ``/opt/ml/config/processingjobconfig.json`` (the request,
  with ARN and name) and ``/opt/ml/config/resourceconfig.json`` (``current_host``, ``hosts``) are written;
* the command is ``ContainerEntrypoint`` followed by ``ContainerArguments`` (with arguments only, they are the
  command, as for an image without an ENTRYPOINT), with the job's ``Environment``;
* exit 0 completes the job and every output folder's files (not symlinks) are uploaded under its ``S3Uri``;
  any other exit fails it with ``AlgorithmError: See job logs for more information`` (the reason SageMaker gives:
  asserted on AWS by github aws/sagemaker-spark-container ``test/integration/sagemaker/
  test_sagemaker_spark_errors.py``); the first KB of ``/opt/ml/output/message`` becomes ``ExitMessage``;
* the container's output goes to CloudWatch Logs, ``/aws/sagemaker/ProcessingJobs``, stream
  ``<job name>/algo-1-<epoch seconds>``.

Paths: the job folder stands for ``/opt/ml`` (see :mod:`localcloud.images.scriptmode.pathmap`).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud import images
from localcloud.core.children import Child, ChildError, ChildRaised, ChildSpec
from localcloud.services.sagemaker import containers, s3io
from localcloud.services.sagemaker.jobmodels import MESSAGE_LIMIT, ProcessingJob
from localcloud.services.sagemaker.jobrun import JobFailed, JobRunner, call_watched, container_env

LOG = logging.getLogger(__name__)

PROCESS_MODULE = "localcloud.images.scriptmode.container"
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
FAILED = "AlgorithmError: See job logs for more information"
PREFIX = "/opt/ml"


def local(root: Path, container_path: str) -> Path:
    """The job-folder path of a container path under ``/opt/ml``."""
    return root / container_path[len(PREFIX):].strip("/")


def command(app: dict[str, Any]) -> list[str]:
    """The container's command line (``docker run --entry-point``); raises JobFailed when there is none."""
    entrypoint = [str(a) for a in app.get("ContainerEntrypoint") or []]
    arguments = [str(a) for a in app.get("ContainerArguments") or []]
    if not entrypoint and not arguments:
        raise JobFailed(f"ClientError: localcloud cannot run the image's own ENTRYPOINT ('{app.get('ImageUri')}' is "
                        "not pulled): give the command with AppSpecification.ContainerEntrypoint, as "
                        "ScriptProcessor and SKLearnProcessor do.")
    return entrypoint + arguments


def _put(s3: Any, uri: str, body: bytes) -> None:
    try:
        bucket, key = s3io.split_uri(uri)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except (s3io.TransferError, ClientError, BotoCoreError) as exc:
        raise JobFailed(f"ClientError: Failed to upload output data to \"{uri}\": {exc}") from exc


class ProcessingRunner(JobRunner):
    kind = "processing"
    log_group = LOG_GROUP

    def execute(self, job: ProcessingJob, folder: Path) -> None:  # type: ignore[override]
        request = job.request
        app = request.get("AppSpecification") or {}
        try:
            runtime = containers.for_processing(str(app.get("ImageUri") or ""))
            python = images.python(runtime.image)
        except (containers.UnsupportedImage, images.ImageNotInstalled) as exc:
            raise JobFailed(f"ClientError: {exc}") from None
        argv = command(app)
        cluster = (request.get("ProcessingResources") or {}).get("ClusterConfig") or {}
        if int(cluster.get("InstanceCount") or 1) != 1:
            raise JobFailed("ClientError: localcloud runs a processing job on one instance; InstanceCount must be 1.")
        root = folder / "opt_ml"
        self._stage(job, root)
        self._configure(job, root)
        exit_code = self._container(job, root, folder, python, runtime, argv)
        self._exit_message(job, root)
        if exit_code != 0:
            raise JobFailed(FAILED)
        self._upload(job, root)

    def _stage(self, job: ProcessingJob, root: Path) -> None:
        s3 = self.s3(job.region, job.request.get("RoleArn") or None)
        for item in job.request.get("ProcessingInputs") or []:
            source = item.get("S3Input")
            if item.get("DatasetDefinition"):
                raise JobFailed(f"ClientError: Input '{item.get('InputName')}' is a DatasetDefinition (Athena or "
                                "Redshift); localcloud stages S3 inputs only.")
            if not source or item.get("AppManaged"):
                continue
            if source.get("S3InputMode", "File") != "File":
                raise JobFailed(f"ClientError: Input '{item.get('InputName')}' uses Pipe mode; localcloud "
                                "downloads inputs in File mode.")
            dest = local(root, str(source.get("LocalPath") or ""))
            dest.mkdir(parents=True, exist_ok=True)
            role, uri = job.request.get("RoleArn", ""), str(source.get("S3Uri", ""))
            try:
                if source.get("S3DataType") == "ManifestFile":
                    s3io.download_manifest(s3, uri, dest, region=job.region, role=role)
                else:
                    s3io.download_prefix(s3, uri, dest, region=job.region, role=role)
            except s3io.TransferError as exc:
                raise JobFailed(f"ClientError: {exc}") from exc
            self.check(job, job.max_runtime)

    def _configure(self, job: ProcessingJob, root: Path) -> None:
        for item in (job.request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            path = (item.get("S3Output") or {}).get("LocalPath")
            if path:
                local(root, str(path)).mkdir(parents=True, exist_ok=True)
        config = root / "config"
        config.mkdir(parents=True, exist_ok=True)
        document = {"ProcessingJobArn": job.arn, "ProcessingJobName": job.name,
                    **{k: v for k, v in job.request.items() if k != "Tags"}}
        (config / "processingjobconfig.json").write_text(json.dumps(document, default=str, indent=4))
        (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
        (root / "output").mkdir(parents=True, exist_ok=True)

    def _container(self, job: ProcessingJob, root: Path, folder: Path, python: str,
                   runtime: containers.Runtime, argv: list[str]) -> int:
        log = self.log_path(job)
        log.unlink(missing_ok=True)
        env = container_env(self.ctx, runtime, job.request.get("Environment"), job.request.get("RoleArn"),
                            job.region, {"AWS_SAGEMAKER_PROCESSING_JOB_NAME": job.name})
        spec = ChildSpec(module=PROCESS_MODULE, log_path=folder / "launcher.log", python=python,
                         path=(images.pythonpath(runtime.image),), base_env={k: env[k] for k in ("PATH", "HOME")},
                         cwd=root, new_group=True, name=f"the processing job {job.name}")
        follower = self.logs.follow(job.region, LOG_GROUP, self.log_stream(job), log)
        try:
            child = Child.start(spec, wait=False)
            self.children[job.name] = child
            answer = call_watched(child, {"op": "process", "root": str(root), "log": str(log), "command": argv,
                                          "env": env, "packages": str(folder / "packages"),
                                          "scratch": str(folder / "scratch")},
                                  lambda: self.check(job, job.max_runtime))
        except (ChildError, ChildRaised) as exc:
            raise JobFailed(f"AlgorithmError: the processing container could not run: {exc}") from None
        finally:
            self.children.pop(job.name, None)
            self.logs.unfollow(follower)
        return int(answer.get("exit_code", 1))

    def _exit_message(self, job: ProcessingJob, root: Path) -> None:
        path = root / "output" / "message"
        if not path.is_file():
            return
        data = path.read_bytes()[:MESSAGE_LIMIT]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise JobFailed("ClientError: /opt/ml/output/message is not UTF-8 encoded text.") from None
        with self.lock:
            job.exit_message = text

    def _upload(self, job: ProcessingJob, root: Path) -> None:
        s3 = self.s3(job.region, job.request.get("RoleArn") or None)
        for item in (job.request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            target = item.get("S3Output")
            if not target or item.get("AppManaged"):
                continue
            folder = local(root, str(target.get("LocalPath") or ""))
            base = str(target.get("S3Uri", "")).rstrip("/")
            for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
                if path.is_symlink() or not path.is_file():
                    continue  # "Symlinks are not followed when uploading output data"
                _put(s3, f"{base}/{path.relative_to(folder).as_posix()}", path.read_bytes())
        shutil.rmtree(root, ignore_errors=True)
