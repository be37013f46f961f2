"""SageMaker state and operations: training jobs, models, endpoint configs and endpoints (no HTTP here); processing
and transform jobs in :mod:`.processing` and :mod:`.transform`.

One backend per server, made by the server; the SageMaker API and the SageMaker Runtime API share it.
Names are unique regardless of case (ARNs carry them in lower case, as SageMaker's do).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from botocore.exceptions import ClientError

from localcloud import settings
from localcloud.core import trust
from localcloud.core.arns import arn
from localcloud.core.clients import client
from localcloud.core.context import ServerContext
from localcloud.core.jobs import utcnow
from localcloud.errors import AWSError
from localcloud.services.sagemaker import capture, guardrails, hosting
from localcloud.services.sagemaker.configcheck import check_endpoint_config
from localcloud.services.sagemaker.deploy import Deployments
from localcloud.services.sagemaker.models import (
    Endpoint,
    EndpointConfig,
    Model,
    TrainingJob,
    variant_summaries,
)
from localcloud.services.sagemaker.processing import ProcessingJobs
from localcloud.services.sagemaker.processing_run import ProcessingRunner
from localcloud.services.sagemaker.registry import ModelRegistry
from localcloud.services.sagemaker.tagging import Tags, check
from localcloud.services.sagemaker.training import TrainingRunner
from localcloud.services.sagemaker.transform import TransformJobs
from localcloud.services.sagemaker.transform_run import TransformRunner
from localcloud.services.sagemaker.tuning import TuningJobs
from localcloud.services.sagemaker.validation import (
    MODEL_NAME_PATTERN,
    ROLE_PATTERN,
    check_name,
    invalid,
    need,
    optional,
    page,
)

LOG = logging.getLogger(__name__)

def _by_name(kind: str) -> dict[str, Any]:
    return {"Name": lambda r: r.name.lower(), "CreationTime": lambda r: r.created,
            **({"Status": lambda r: r.status} if kind in ("endpoint", "training-job") else {})}


class SageMakerBackend:
    """All SageMaker resources of one localcloud server."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.lock = threading.RLock()
        self.training_jobs: dict[str, TrainingJob] = {}
        self.models: dict[str, Model] = {}
        self.configs: dict[str, EndpointConfig] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.router = hosting.Router()
        self.tags = Tags()
        self.registry = ModelRegistry(self.lock, self.tags)
        self.runner = TrainingRunner(ctx, self.lock, self._s3)
        self.deployments = Deployments(ctx, self.lock, self.router, self._s3, self._current)
        self.capture = capture.CaptureWriter(self._s3, capture.FLUSH_SECONDS * settings.monitoring_time_scale())
        self.processing = ProcessingJobs(ProcessingRunner(ctx, self.lock, self._s3), self.lock, self.tags,
                                         self._check_role)
        self.transforms = TransformJobs(TransformRunner(ctx, self.lock, self._s3), self.lock, self.tags, self._model)
        self.tuning = TuningJobs(self, self.tags, self._check_role, self.runner.workdir)

    def _s3(self, region: str, role_arn: str | None = None) -> Any:
        """An S3 client; with ``role_arn``, acting as that role (SageMaker moves a job's or model's data with the
        role it was given, so a server enforcing IAM checks those transfers against the role's policies)."""
        session = self.ctx.sessions.issue(role_arn, "SageMaker") if role_arn else None
        return client(self.ctx.endpoint_url, "s3", region, session)

    def drain(self) -> None:  # the server is about to stop: write the buffered data capture while S3 answers
        self.capture.close()

    def shutdown(self) -> None:
        self.capture.close()
        self.tuning.shutdown()
        self.runner.shutdown()
        self.processing.runner.shutdown()
        self.transforms.runner.shutdown()
        self.deployments.shutdown()
        self.router.close()

    def health(self) -> dict[str, Any]:
        with self.lock:
            running = sum(1 for j in self.training_jobs.values() if not j.done)
            processing = sum(1 for j in self.processing.jobs.values() if not j.done)
            transforms = sum(1 for j in self.transforms.jobs.values() if not j.done)
            serving = sum(1 for e in self.endpoints.values() if e.status in ("InService", "Updating"))
        return {"status": "running", "training_jobs_in_progress": running, "processing_jobs_in_progress": processing,
                "transform_jobs_in_progress": transforms, "endpoints_serving": serving}

    # ------------------------------------------------------------------------------------------------ helpers
    def _check_role(self, role_arn: str, member: str, region: str, source_arn: str) -> None:
        """SageMaker must be able to assume the role: it sends aws:SourceAccount/aws:SourceArn (documented in the
        SageMaker guide, "Cross-Service Confused Deputy Prevention")."""
        if not re.match(ROLE_PATTERN, role_arn):
            raise invalid(f"1 validation error detected: Value '{role_arn}' at '{member}' failed to satisfy "
                          f"constraint: Member must satisfy regular expression pattern: {ROLE_PATTERN}")
        account = role_arn.split(":")[4]
        try:
            if account != settings.ACCOUNT_ID:
                raise LookupError
            reason = trust.refusal(self.ctx.endpoint_url, role_arn, "sagemaker.amazonaws.com", region,
                                   trust.source_context(account, source_arn))
            if reason:
                LOG.info("SageMaker cannot assume %s: %s", role_arn, reason)
                raise LookupError
        except (LookupError, ClientError):
            raise invalid(f"Could not assume role {role_arn}. Please ensure that the role exists and allows "
                          "principal 'sagemaker.amazonaws.com' to assume the role.") from None

    @staticmethod
    def _arn(region: str, kind: str, name: str) -> str:
        return arn("sagemaker", region, f"{kind}/{name.lower()}")

    # ------------------------------------------------------------------------------------------------ training
    def create_training_job(self, params: dict[str, Any], region: str,
                            tuning_job_arn: str | None = None) -> dict[str, Any]:
        check(params.get("Tags") or [])
        name = check_name(params, "TrainingJobName")
        role = need(params, "RoleArn")
        output = need(params, "OutputDataConfig", dict)
        need(output, "S3OutputPath")
        spec = need(params, "AlgorithmSpecification", dict)
        if not spec.get("TrainingImage") and not spec.get("AlgorithmName"):
            raise invalid("Either TrainingImage or AlgorithmName must be specified in AlgorithmSpecification.")
        channels = optional(params, "InputDataConfig", list) or []
        names = [c.get("ChannelName") for c in channels if isinstance(c, dict)]
        if len(names) != len(channels) or len(set(names)) != len(names) or not all(names):
            raise invalid("InputDataConfig channels need unique, non-empty ChannelName values.")
        hps = optional(params, "HyperParameters", dict) or {}
        params = dict(params, HyperParameters={str(k): str(v) for k, v in hps.items()})
        stopping = optional(params, "StoppingCondition", dict) or {}
        if params.get("EnableManagedSpotTraining"):
            wait, runtime = stopping.get("MaxWaitTimeInSeconds"), stopping.get("MaxRuntimeInSeconds", 86400)
            if not wait or wait < runtime:
                raise invalid("Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal to "
                              "MaxRuntimeInSeconds")
        key = name.lower()
        job_arn = self._arn(region, "training-job", name)
        taken = AWSError("ResourceInUse", "Training job names must be unique within an AWS account and region, and a "
                         f"training job with this name already exists ({job_arn})")
        if key in self.training_jobs:
            raise taken
        self._check_role(role, "roleArn", region, job_arn)  # a call to IAM: outside the lock
        request = {k: v for k, v in params.items() if k != "TrainingJobName"}
        job = TrainingJob(name=name, arn=job_arn, region=region, request=request, tuning_job_arn=tuning_job_arn)
        with self.lock:
            if key in self.training_jobs:
                raise taken
            self.training_jobs[key] = job
            self.tags.created(job_arn, params.get("Tags"))
        self.runner.start(job)
        return {"TrainingJobArn": job_arn}

    def _job(self, params: dict[str, Any]) -> TrainingJob:
        name = need(params, "TrainingJobName")
        job = self.training_jobs.get(name.lower())
        if job is None:
            raise invalid("Requested resource not found.")
        return job

    def describe_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._job(params).describe()

    def stop_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            job = self._job(params)
            if job.status != "InProgress":
                raise invalid(f"The request was rejected because the training job is in status {job.status}.")
            job.stop_requested = True
            job.move("Stopping", "Stopping the training job", "Stopping")
        return {}

    def list_training_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            rows, token = page(self.training_jobs.values(), params, sort_keys=_by_name("training-job"),
                               default_order="Ascending", created=lambda j: j.created,
                               modified=lambda j: j.last_modified, name=lambda j: j.name, status=lambda j: j.status)
            out: dict[str, Any] = {"TrainingJobSummaries": [j.summary() for j in rows]}
        if token:
            out["NextToken"] = token
        return out

    # ------------------------------------------------------------------------------------------------ models
    def create_model(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        check(params.get("Tags") or [])
        name = check_name(params, "ModelName", MODEL_NAME_PATTERN)
        primary = optional(params, "PrimaryContainer", dict)
        containers = optional(params, "Containers", list)
        if bool(primary) == bool(containers):
            raise invalid("Exactly one of PrimaryContainer or Containers must be specified.")
        role = optional(params, "ExecutionRoleArn", str)
        model_arn = self._arn(region, "model", name)
        taken = invalid(f'Cannot create already existing model "{model_arn}".')
        if name.lower() in self.models:
            raise taken
        if role:
            self._check_role(role, "executionRoleArn", region, model_arn)
        resolved = self.registry.model_containers(primary, containers, region)  # the packages it names
        model = Model(name=name, arn=model_arn, request={k: v for k, v in params.items() if k != "ModelName"},
                      resolved=resolved)
        with self.lock:
            if name.lower() in self.models:
                raise taken
            self.models[name.lower()] = model
            self.tags.created(model_arn, params.get("Tags"))
        return {"ModelArn": model_arn}

    def _model(self, name: str, region: str) -> Model:
        model = self.models.get(name.lower())
        if model is None:
            raise invalid(f'Could not find model "{self._arn(region, "model", name)}".')
        return model

    def describe_model(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        with self.lock:
            return self._model(need(params, "ModelName"), region).describe()

    def delete_model(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        name = need(params, "ModelName")
        with self.lock:
            self.tags.deleted(self._model(name, region).arn)
            del self.models[name.lower()]
        return {}

    def list_models(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            rows, token = page(self.models.values(), params, sort_keys=_by_name("model"), default_order="Descending",
                               created=lambda m: m.created, name=lambda m: m.name)
            out: dict[str, Any] = {"Models": [m.summary() for m in rows]}
        if token:
            out["NextToken"] = token
        return out

    # ------------------------------------------------------------------------------------------------ configs
    def create_endpoint_config(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        check(params.get("Tags") or [])
        name = check_name(params, "EndpointConfigName")
        variants, shadows = check_endpoint_config(params)
        config_arn = self._arn(region, "endpoint-config", name)
        with self.lock:
            if name.lower() in self.configs:
                raise invalid(f'Cannot create already existing endpoint configuration "{config_arn}".')
            for variant in [*variants, *shadows]:
                self._model(variant["ModelName"], region)
            self.tags.created(config_arn, params.get("Tags"))
            self.configs[name.lower()] = EndpointConfig(
                name=name, arn=config_arn, request={k: v for k, v in params.items() if k != "EndpointConfigName"})
        return {"EndpointConfigArn": config_arn}

    def _config(self, name: str, region: str) -> EndpointConfig:
        config = self.configs.get(name.lower())
        if config is None:
            raise invalid(f'Could not find endpoint configuration "{self._arn(region, "endpoint-config", name)}".')
        return config

    def describe_endpoint_config(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        with self.lock:
            return self._config(need(params, "EndpointConfigName"), region).describe()

    def delete_endpoint_config(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        name = need(params, "EndpointConfigName")
        with self.lock:
            self.tags.deleted(self._config(name, region).arn)
            del self.configs[name.lower()]
        return {}

    def list_endpoint_configs(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            rows, token = page(self.configs.values(), params, sort_keys=_by_name("config"),
                               default_order="Descending", created=lambda c: c.created, name=lambda c: c.name)
            out: dict[str, Any] = {"EndpointConfigs": [c.summary() for c in rows]}
        if token:
            out["NextToken"] = token
        return out

    # ------------------------------------------------------------------------------------------------ endpoints
    def create_endpoint(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        check(params.get("Tags") or [])
        name = check_name(params, "EndpointName")
        config_name = check_name(params, "EndpointConfigName")
        endpoint_arn = self._arn(region, "endpoint", name)
        with self.lock:
            if name.lower() in self.endpoints:
                raise invalid(f'Cannot create already existing endpoint "{endpoint_arn}".')
            config = self._config(config_name, region)
            endpoint = Endpoint(name=name, arn=endpoint_arn, config_name=config.name,
                                deployment_config=params.get("DeploymentConfig"), tags=params.get("Tags") or [])
            self.endpoints[name.lower()] = endpoint
            self.tags.created(endpoint_arn, params.get("Tags"))
            guardrails.plan(params.get("DeploymentConfig"), self._count(config))  # checked, kept for updates
            self.deployments.start(endpoint, config, self._variants(config), region, self._variants(config, True))
        return {"EndpointArn": endpoint_arn}

    def update_endpoint(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        name = check_name(params, "EndpointName")
        config_name = check_name(params, "EndpointConfigName")
        with self.lock:
            endpoint = self._endpoint(name, region)
            if endpoint.status in ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"):
                raise invalid(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            if endpoint.status == "Failed":
                raise invalid(f'Cannot update failed endpoint "{endpoint.arn}". Delete it and create it again.')
            config = self._config(config_name, region)
            deployment = params.get("DeploymentConfig") if params.get("DeploymentConfig") is not None else \
                endpoint.deployment_config if params.get("RetainDeploymentConfig") else None
            plan = guardrails.plan(deployment, self._count(config))
            endpoint.status = "Updating"
            endpoint.failure_reason = None  # the reason of a previous failed update goes with a new update
            endpoint.last_modified = utcnow()
            endpoint.deployment_config = deployment
            images = {v["VariantName"]: self._images(v.get("ModelName", ""))
                      for v in (*config.variants, *config.shadow_variants)}
            endpoint.pending = {"EndpointConfigName": config.name, "StartTime": endpoint.last_modified,
                                "ProductionVariants": variant_summaries(config, images, endpoint.last_modified,
                                                                       pending=True)}
            if config.shadow_variants:
                endpoint.pending["ShadowProductionVariants"] = variant_summaries(
                    config, images, endpoint.last_modified, pending=True, shadow=True)
            self.deployments.start(endpoint, config, self._variants(config), region, self._variants(config, True),
                                   plan)
        return {"EndpointArn": endpoint.arn}

    def _variants(self, config: EndpointConfig, shadow: bool = False) -> list[tuple[dict[str, Any], Model | None]]:
        """Each (shadow) variant of ``config`` with the model it names (None when that model is gone)."""
        return [(dict(v), self.models.get(str(v.get("ModelName", "")).lower()))
                for v in (config.shadow_variants if shadow else config.variants)]

    @staticmethod
    def _count(config: EndpointConfig) -> int:
        """The first production variant's instance count (what a CapacitySize of INSTANCE_COUNT is measured by)."""
        return int((config.variants or [{}])[0].get("InitialInstanceCount") or 1)

    def _current(self, endpoint: Endpoint) -> bool:
        return self.endpoints.get(endpoint.name.lower()) is endpoint

    def _images(self, model_name: str) -> list[str]:
        model = self.models.get(model_name.lower())
        return [c.get("Image", "") for c in model.containers] if model else []

    def _endpoint(self, name: str, region: str) -> Endpoint:
        endpoint = self.endpoints.get(name.lower())
        if endpoint is None:
            raise invalid(f'Could not find endpoint "{self._arn(region, "endpoint", name)}".')
        return endpoint

    def describe_endpoint(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        with self.lock:
            return self._endpoint(need(params, "EndpointName"), region).describe()

    def delete_endpoint(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        name = need(params, "EndpointName")
        with self.lock:
            endpoint = self._endpoint(name, region)
            endpoint.generation += 1
            self.tags.deleted(endpoint.arn)
            del self.endpoints[name.lower()]
            self.router.remove(name.lower())
        return {}

    def list_endpoints(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            rows, token = page(self.endpoints.values(), params, sort_keys=_by_name("endpoint"),
                               default_order="Descending", created=lambda e: e.created,
                               modified=lambda e: e.last_modified, name=lambda e: e.name, status=lambda e: e.status)
            out: dict[str, Any] = {"Endpoints": [e.summary() for e in rows]}
        if token:
            out["NextToken"] = token
        return out

    def serving(self, name: str) -> tuple[Endpoint | None, hosting.Live | None]:
        """What the runtime needs for one request: the endpoint (status) and its live models (no lock taken)."""
        key = name.lower()
        return self.endpoints.get(key), self.router.get(key)
