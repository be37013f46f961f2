"""SageMaker's AWS JSON protocol (``X-Amz-Target: SageMaker.<Operation>``) mapped onto the backend."""

from __future__ import annotations

import logging
from typing import Any

from localcloud.core.protocol import AWSRequest, JsonService
from localcloud.services.sagemaker.api_registry import RegistryOperations
from localcloud.services.sagemaker.backend import SageMakerBackend

LOG = logging.getLogger(__name__)


class SageMakerAPI(JsonService, RegistryOperations):
    """Training, tuning, processing and transform jobs, models, endpoint configs and endpoints."""

    signing_names = ("sagemaker",)
    target_prefixes = ("SageMaker",)
    service_label = "SageMaker"

    def __init__(self, backend: SageMakerBackend) -> None:
        self.backend = backend

    def health(self) -> dict[str, Any]:
        return self.backend.health()

    # training jobs
    def create_training_job(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.create_training_job(params, request.region)

    def describe_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.describe_training_job(params)

    def stop_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.stop_training_job(params)

    def list_training_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.list_training_jobs(params)

    # hyperparameter tuning jobs
    def create_hyper_parameter_tuning_job(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.tuning.create(params, request.region)

    def describe_hyper_parameter_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.tuning.describe(params)

    def stop_hyper_parameter_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.tuning.stop(params)

    def list_hyper_parameter_tuning_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.tuning.list(params)

    def list_training_jobs_for_hyper_parameter_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.tuning.list_trials(params)

    # processing jobs
    def create_processing_job(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.processing.create(params, request.region)

    def describe_processing_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.processing.describe(params)

    def stop_processing_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.processing.stop(params)

    def list_processing_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.processing.list(params)

    # transform jobs
    def create_transform_job(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.transforms.create(params, request.region)

    def describe_transform_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.transforms.describe(params)

    def stop_transform_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.transforms.stop(params)

    def list_transform_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.transforms.list(params)

    # models
    def create_model(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.create_model(params, request.region)

    def describe_model(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.describe_model(params, request.region)

    def delete_model(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.delete_model(params, request.region)

    def list_models(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.list_models(params)

    # endpoint configs
    def create_endpoint_config(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.create_endpoint_config(params, request.region)

    def describe_endpoint_config(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.describe_endpoint_config(params, request.region)

    def delete_endpoint_config(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.delete_endpoint_config(params, request.region)

    def list_endpoint_configs(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.list_endpoint_configs(params)

    # endpoints
    def create_endpoint(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.create_endpoint(params, request.region)

    def update_endpoint(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.update_endpoint(params, request.region)

    def describe_endpoint(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.describe_endpoint(params, request.region)

    def delete_endpoint(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        return self.backend.delete_endpoint(params, request.region)

    def list_endpoints(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.list_endpoints(params)

    # tags
    def add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": self.backend.tags.add(str(params.get("ResourceArn", "")), params.get("Tags"))}

    def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.tags.list(str(params.get("ResourceArn", "")), int(params.get("MaxResults") or 50),
                                      params.get("NextToken"))

    def delete_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        self.backend.tags.delete(str(params.get("ResourceArn", "")), list(params.get("TagKeys") or []))
        return {}
