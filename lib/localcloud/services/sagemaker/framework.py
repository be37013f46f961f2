"""Script-mode training jobs of a framework image (the Scikit-learn 1.2-1 image, or a generic Python image whose
job names a script): the job folder laid out as the container's ``/opt/ml``, the training toolkit
(:mod:`localcloud.images.scriptmode.train`) run in the image's environment.

What SageMaker does for such a job ("How Amazon SageMaker Provides Training Information", "How Amazon SageMaker
Processes Training Output", SageMaker developer guide):

* ``/opt/ml/input/config/hyperparameters.json`` holds the request's ``HyperParameters`` (strings, as sent: the
  SDK JSON-encodes each), ``inputdataconfig.json`` each channel's ``ContentType``, ``TrainingInputMode``,
  ``S3DistributionType`` and ``RecordWrapperType``, ``resourceconfig.json`` the hosts; channels are in
  ``/opt/ml/input/data/<channel>``;
* the toolkit gets the user's code from ``sagemaker_submit_directory`` (the SDK's ``sourcedir.tar.gz``): here the
  server downloads it with the job's role into ``/opt/ml/code``, where the toolkit would have put it;
* the container starts with its image's ENV, the job's ``Environment``, ``TRAINING_JOB_NAME`` and
  ``TRAINING_JOB_ARN``;
* after the script, ``/opt/ml/model`` becomes ``model.tar.gz`` and a non-empty ``/opt/ml/output/data``
  ``output.tar.gz`` (both under ``<S3OutputPath>/<job>/output/``); a failure's reason is ``AlgorithmError: `` and
  the first 1024 characters of ``/opt/ml/output/failure``;
* ``MetricDefinitions`` regexes are matched against the job's log lines (as CloudWatch holds them); each metric's
  last value is its final value.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud import images
from localcloud.core.children import Child, ChildError, ChildRaised, ChildSpec
from localcloud.core.context import ServerContext
from localcloud.core.logs import LogShipper
from localcloud.images.scriptmode import toolkit
from localcloud.services.sagemaker import s3io
from localcloud.services.sagemaker.containers import Runtime
from localcloud.services.sagemaker.jobrun import JobFailed, call_watched, container_env
from localcloud.services.sagemaker.models import TrainingJob

SCRIPT_MODULE = "localcloud.images.scriptmode.train"
FAILURE_LIMIT = 1024


def script_mode(request: dict[str, Any]) -> bool:
    """Whether a training job names a script for the training toolkit (the SDK's ``sagemaker_program``)."""
    return "sagemaker_program" in (request.get("HyperParameters") or {})


def extract(data: bytes, uri: str, folder: Path) -> None:
    """Unpack the user's ``sourcedir.tar.gz`` (regular files and folders only, no path escapes)."""
    root = folder.resolve()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar.getmembers():
                target = (root / member.name.removeprefix("./")).resolve()
                if target != root and root not in target.parents:
                    continue
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isfile() and (handle := tar.extractfile(member)) is not None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(handle.read())
                    target.chmod(0o755 if member.mode & 0o111 else 0o644)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise JobFailed(f"ClientError: The source code at {uri} is not a tar.gz archive: {exc}") from None


def metrics(log_lines: list[str], definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last value each ``MetricDefinitions`` regex captured in the log."""
    found = []
    for definition in definitions:
        try:
            pattern = re.compile(str(definition.get("Regex", "")))
        except re.error:
            continue
        value = None
        for line in log_lines:
            match = pattern.search(line)
            if match:
                try:
                    value = float(match.group(1) if match.groups() else match.group(0))
                except (ValueError, IndexError):
                    continue
        if value is not None:
            found.append({"name": str(definition.get("Name", "")), "value": value})
    return found


class ScriptTraining:
    """Stages and runs script-mode training jobs for the training runner."""

    def __init__(self, ctx: ServerContext, logs: LogShipper, s3: Callable[[str, str | None], Any]) -> None:
        self.ctx, self.logs, self.s3 = ctx, logs, s3

    def stage(self, job: TrainingJob, job_dir: Path, channels: dict[str, dict[str, Any]]) -> None:
        """The user's code into ``code``, the configuration files into ``input/config``."""
        hps = {str(k): str(v) for k, v in (job.request.get("HyperParameters") or {}).items()}
        submit = toolkit.decode_hyperparameters(hps).get("sagemaker_submit_directory")
        code = job_dir / "code"
        shutil.rmtree(code, ignore_errors=True)
        code.mkdir(parents=True)
        if isinstance(submit, str) and submit.startswith(("s3://", "https://")):
            try:
                data = s3io.fetch(self.s3(job.region, job.request.get("RoleArn") or None), submit)
            except s3io.TransferError as exc:
                raise JobFailed(f"ClientError: {exc}") from None
            extract(data, submit, code)
        config = job_dir / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        instance_type = (job.request.get("ResourceConfig") or {}).get("InstanceType", "ml.m5.large")
        inputs = {name: {k: v for k, v in (("ContentType", c.get("ContentType")),
                                            ("TrainingInputMode", c.get("InputMode")),
                                            ("S3DistributionType", c.get("S3DistributionType") or "FullyReplicated"),
                                            ("RecordWrapperType", c.get("RecordWrapperType") or "None")) if v}
                  for name, c in channels.items()}
        (config / "hyperparameters.json").write_text(json.dumps(hps))
        (config / "inputdataconfig.json").write_text(json.dumps(inputs))
        (config / "resourceconfig.json").write_text(json.dumps(toolkit.resource_config(instance_type)))
        for folder in ("model", "output/data"):
            shutil.rmtree(job_dir / folder, ignore_errors=True)
            (job_dir / folder).mkdir(parents=True)

    def run(self, job: TrainingJob, job_dir: Path, runtime: Runtime, log: Path, check: Callable[[], None],
            follow: Callable[[], Any], unfollow: Callable[[Any], None]) -> list[dict[str, Any]]:
        """Run the toolkit and the script; the final metrics (raises JobFailed)."""
        try:
            python = images.python(runtime.image)
        except images.ImageNotInstalled as exc:
            raise JobFailed(f"AlgorithmError: {exc}") from None
        env = container_env(self.ctx, runtime, job.request.get("Environment"), job.request.get("RoleArn"),
                            job.region, {"TRAINING_JOB_NAME": job.name, "TRAINING_JOB_ARN": job.arn})
        spec = ChildSpec(module=SCRIPT_MODULE, log_path=job_dir / "launcher.log", python=python,
                         path=(images.pythonpath(runtime.image),), base_env={k: env[k] for k in ("PATH", "HOME")},
                         cwd=job_dir, new_group=True, name=f"the training job {job.name}")
        log.unlink(missing_ok=True)
        follower = follow()
        try:
            child = Child.start(spec, wait=False)
            answer = call_watched(child, {"op": "train", "root": str(job_dir), "env": env, "log": str(log),
                                          "packages": str(job_dir / "packages"), "scratch": str(job_dir / "scratch"),
                                          "python_name": runtime.python_name}, check)
        except (ChildError, ChildRaised) as exc:
            raise JobFailed(f"AlgorithmError: the training container could not run: {exc}") from None
        finally:
            unfollow(follower)
        failure = job_dir / "output" / "failure"
        if not answer.get("ok"):
            text = failure.read_text(errors="replace") if failure.is_file() else "ExecuteUserScriptError"
            raise JobFailed(f"AlgorithmError: {text[:FAILURE_LIMIT]}")
        definitions = (job.request.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
        lines = log.read_text(errors="replace").splitlines() if definitions and log.is_file() else []
        return metrics([line.replace("\t", "#011") for line in lines], definitions)
