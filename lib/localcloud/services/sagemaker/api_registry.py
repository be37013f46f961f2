"""The Model Registry operations of the SageMaker API (model package groups and model packages), onto
:mod:`.registry`. Mixed into :class:`~.api.SageMakerAPI`, which speaks the wire protocol."""

from __future__ import annotations

from typing import Any

from localcloud.services.sagemaker.backend import SageMakerBackend


class RegistryOperations:
    """CreateModelPackageGroup ... BatchDescribeModelPackage."""

    backend: SageMakerBackend

    # model package groups
    def create_model_package_group(self, params: dict[str, Any], request: Any) -> dict[str, Any]:
        return self.backend.registry.create_group(params, request.region)

    def describe_model_package_group(self, params: dict[str, Any], request: Any) -> dict[str, Any]:
        return self.backend.registry.describe_group(params, request.region)

    def list_model_package_groups(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.registry.list_groups(params)

    def delete_model_package_group(self, params: dict[str, Any], request: Any) -> dict[str, Any]:
        return self.backend.registry.delete_group(params, request.region)

    # model packages
    def create_model_package(self, params: dict[str, Any], request: Any) -> dict[str, Any]:
        return self.backend.registry.create_package(params, request.region)

    def describe_model_package(self, params: dict[str, Any], request: Any) -> dict[str, Any]:
        return self.backend.registry.describe_package(params, request.region)

    def list_model_packages(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.backend.registry.list_packages(params)

    def update_model_package(self, params: dict[str, Any], request: Any) -> dict[str, Any]:
        return self.backend.registry.update_package(params, request.region)

    def delete_model_package(self, params: dict[str, Any], request: Any) -> dict[str, Any]:
        return self.backend.registry.delete_package(params, request.region)

    def batch_describe_model_package(self, params: dict[str, Any], request: Any) -> dict[str, Any]:
        return self.backend.registry.batch_describe(params, request.region)
