"""The SageMaker Model Registry: model package groups, the model packages registered in them (versions 1, 2, ...)
and unversioned packages, their approval, and the containers a model made from a package runs (no HTTP here).

AWS behaviour relied on, besides the botocore model ``sagemaker/2017-07-24``:

* versions: "The version of each model package is a numerical value that starts at 1 and is incremented with each
  new model package added to a model group" (SageMaker developer guide, "Register and Deploy Models with Model
  Registry"); ``ModelApprovalStatus`` defaults to ``PendingManualApproval`` (asserted on AWS by github
  aws/sagemaker-python-sdk tests/integ/sagemaker/workflow/test_model_steps.py); a versioned package cannot have
  ``Tags`` (botocore CreateModelPackage ``Tags``: "If you supply ModelPackageGroupName ... you cannot supply a tag
  argument"; the guide's Model Registry FAQ: "Model packages in the SageMaker Model Registry do not support tags").
* errors: ``Model Package Group already exists: <arn>`` and ``ModelPackageGroup <arn> does not exist.`` (AWS's
  CloudFormation provider for AWS::SageMaker::ModelPackageGroup matches these texts: github
  aws-cloudformation/aws-cloudformation-resource-providers-sagemaker ExceptionMapper.java and its tests);
  ``ModelPackage <arn> does not exist.`` (a DescribeModelPackage error printed from AWS in a public repository);
  both or neither of ModelPackageName/ModelPackageGroupName (reported from AWS in github getmoto/moto PR 7165).
* deploying: "For versioned models, the value of this parameter must be set to Approved to deploy the model"
  (botocore CreateModelPackage ``ModelApprovalStatus``) and "CreateModel(ModelPackageName=...) requires an Approved
  package" (github aws/sagemaker-python-sdk sagemaker-serve model_builder.py) — so CreateModel refuses a version
  that is not Approved. The wording of that refusal, of a group that still holds versions (ConflictException, the
  one error the model declares for DeleteModelPackageGroup) and of a duplicate unversioned package could not be
  found; they are localcloud's.
"""

from __future__ import annotations

import threading
from typing import Any

from localcloud.core.arns import arn
from localcloud.core.jobs import utcnow
from localcloud.errors import AWSError
from localcloud.services.sagemaker import registry_checks as checks
from localcloud.services.sagemaker.registry_models import UPDATABLE, ModelPackage, PackageGroup
from localcloud.services.sagemaker.tagging import Tags, check
from localcloud.services.sagemaker.validation import check_name, constraint, invalid, page

#: what a package with a ValidationSpecification reports: localcloud does not run the validation transform jobs
NOT_VALIDATED = ("localcloud does not run model package validation (the transform jobs of ValidationProfiles); "
                 "register the package with SkipModelValidation=All or without a ValidationSpecification.")


def _sagemaker_arn(region: str, resource: str) -> str:
    return arn("sagemaker", region, resource)


class ModelRegistry:
    """The groups and packages of one server (the backend's lock guards them; tags live in the backend's Tags)."""

    def __init__(self, lock: threading.RLock, tags: Tags) -> None:
        self.lock, self.tags = lock, tags
        self.groups: dict[str, PackageGroup] = {}
        self.packages: dict[str, ModelPackage] = {}  # "<group>/<version>" or an unversioned name, in lower case
        self.tokens: dict[str, str] = {}  # CreateModelPackage ClientToken -> package key

    # ------------------------------------------------------------------------------------------------ groups
    def create_group(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        tags = check(params.get("Tags") or [])
        name = check_name(params, "ModelPackageGroupName")
        checks.text(params, "ModelPackageGroupDescription")
        group_arn = _sagemaker_arn(region, f"model-package-group/{name.lower()}")
        with self.lock:
            if name.lower() in self.groups:
                raise invalid(f"Model Package Group already exists: {group_arn}")
            keep = {k: params[k] for k in ("ModelPackageGroupDescription", "ManagedConfiguration") if k in params}
            self.groups[name.lower()] = PackageGroup(name=name, arn=group_arn, request=keep)
            self.tags.created(group_arn, tags)
        return {"ModelPackageGroupArn": group_arn}

    def _group(self, reference: str, region: str) -> PackageGroup:
        name, _ = checks.split_reference(reference)
        group = self.groups.get(name.lower())
        if group is None:
            missing = _sagemaker_arn(region, f"model-package-group/{name.lower()}")
            raise invalid(f"ModelPackageGroup {missing} does not exist.")
        return group

    def describe_group(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        reference = checks.reference(params, "ModelPackageGroupName")
        with self.lock:
            return self._group(reference, region).describe()

    def list_groups(self, params: dict[str, Any]) -> dict[str, Any]:
        cross = checks.enum(params, "CrossAccountFilterOption", ("SameAccount", "CrossAccount"))
        with self.lock:
            groups = [] if cross == "CrossAccount" else list(self.groups.values())  # nothing is shared with us
            rows, token = page(groups, params, sort_keys={"Name": lambda g: g.name.lower(),
                                                          "CreationTime": lambda g: g.created},
                               default_order="Ascending", created=lambda g: g.created, name=lambda g: g.name)
            out: dict[str, Any] = {"ModelPackageGroupSummaryList": [g.summary() for g in rows]}
        if token:
            out["NextToken"] = token
        return out

    def delete_group(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        reference = checks.reference(params, "ModelPackageGroupName")
        with self.lock:
            group = self._group(reference, region)
            held = sorted(p.version or 0 for p in self.packages.values()
                          if p.group is not None and p.group.lower() == group.name.lower())
            if held:
                raise checks.conflict(f"Model Package Group {group.arn} cannot be deleted while it holds model "
                                      f"package versions {held}; delete them first.")
            del self.groups[group.name.lower()]
            self.tags.deleted(group.arn)
        return {}

    # ------------------------------------------------------------------------------------------------ packages
    @staticmethod
    def _check_package(params: dict[str, Any]) -> None:
        checks.enum(params, "ModelApprovalStatus", checks.APPROVAL_STATUSES)
        checks.enum(params, "SkipModelValidation", ("All", "None"))
        checks.text(params, "ModelPackageDescription")
        checks.metadata(params)
        checks.model_metrics(params)
        checks.inference_specification(params.get("InferenceSpecification"))
        for index, spec in enumerate(params.get("AdditionalInferenceSpecifications") or [], start=1):
            checks.inference_specification(spec, f"additionalInferenceSpecifications.{index}.member")

    def create_package(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        group_ref, name = params.get("ModelPackageGroupName"), params.get("ModelPackageName")
        if group_ref and name:
            raise invalid("Both ModelPackageName and ModelPackageGroupName are provided in the input. Cannot "
                          "determine which one to use.")
        if not group_ref and not name:
            raise invalid("Missing ARN.")
        self._check_package(params)
        token = params.get("ClientToken")
        with self.lock:
            if token and self.tokens.get(token) in self.packages:  # the same request again: the same package
                return {"ModelPackageArn": self.packages[self.tokens[token]].arn}
            package = self._new_version(params, region) if group_ref else self._new_unversioned(params, region)
            self.packages[package.name.lower()] = package
            if token:
                self.tokens[token] = package.name.lower()
        return {"ModelPackageArn": package.arn}

    @staticmethod
    def _request(params: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in params.items()
                if k not in ("ModelPackageName", "ModelPackageGroupName", "ModelApprovalStatus", "Tags",
                             "ClientToken", "CustomerMetadataProperties", "AdditionalInferenceSpecifications")}

    def _validated(self, package: ModelPackage) -> ModelPackage:
        spec = package.request.get("ValidationSpecification")
        if spec and package.request.get("SkipModelValidation") != "All":
            package.status = "Failed"
            package.validation = [{"Name": p.get("ProfileName", ""), "Status": "Failed", "FailureReason": NOT_VALIDATED}
                                  for p in spec.get("ValidationProfiles") or [{}]]
        return package

    def _new_version(self, params: dict[str, Any], region: str) -> ModelPackage:
        group = self._group(checks.reference(params, "ModelPackageGroupName"), region)
        if params.get("Tags"):
            raise invalid("Tags cannot be supplied for a versioned model package: it uses the tags of its model "
                          f"package group {group.arn}.")
        group.versions += 1
        version = group.versions
        return self._validated(ModelPackage(
            name=f"{group.name}/{version}", arn=_sagemaker_arn(region, f"model-package/{group.name.lower()}/{version}"),
            request=self._request(params), group=group.name, version=version,
            approval=params.get("ModelApprovalStatus") or "PendingManualApproval",
            metadata=checks.metadata(params) or {},
            extra_specs=list(params.get("AdditionalInferenceSpecifications") or [])))

    def _new_unversioned(self, params: dict[str, Any], region: str) -> ModelPackage:
        tags = check(params.get("Tags") or [])
        name = check_name(params, "ModelPackageName")
        package_arn = _sagemaker_arn(region, f"model-package/{name.lower()}")
        if name.lower() in self.packages:
            raise invalid(f"Model Package already exists: {package_arn}")
        self.tags.created(package_arn, tags)
        return self._validated(ModelPackage(
            name=name, arn=package_arn, request=self._request(params), metadata=checks.metadata(params) or {},
            extra_specs=list(params.get("AdditionalInferenceSpecifications") or [])))

    def _package(self, reference: str, region: str) -> ModelPackage:
        name, version = checks.split_reference(reference)
        key = (f"{name}/{version}" if version is not None else name).lower()
        package = self.packages.get(key)
        if package is None:
            shown = reference if reference.startswith("arn:") else _sagemaker_arn(region, f"model-package/{key}")
            raise invalid(f"ModelPackage {shown} does not exist.")
        return package

    def describe_package(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        reference = checks.reference(params, "ModelPackageName", checks.VERSIONED_ARN_OR_NAME, 176)
        checks.enum(params, "IncludedData", ("AllData", "MetadataOnly"))
        with self.lock:
            return self._package(reference, region).describe()

    def list_packages(self, params: dict[str, Any]) -> dict[str, Any]:
        approval = checks.enum(params, "ModelApprovalStatus", checks.APPROVAL_STATUSES)
        group_ref = params.get("ModelPackageGroupName")
        group = checks.split_reference(checks.reference(params, "ModelPackageGroupName"))[0] if group_ref else None
        # botocore: UNVERSIONED "is the default value if no ModelPackageType is specified"; a group's versions are
        # listed when only the group is named (the guide's "View a List of Model Versions in a Group")
        kind = checks.enum(params, "ModelPackageType", checks.PACKAGE_TYPES) or ("Versioned" if group else
                                                                                "Unversioned")
        with self.lock:
            found = [p for p in self.packages.values()
                     if (kind == "Both" or (kind == "Versioned") == p.versioned)
                     and (group is None or (p.group or "").lower() == group.lower())
                     and (approval is None or p.approval == approval)]
            rows, token = page(found, params, sort_keys={"Name": lambda p: p.name.lower(),
                                                         "CreationTime": lambda p: p.created},
                               default_order="Ascending", created=lambda p: p.created, name=lambda p: p.name)
            out: dict[str, Any] = {"ModelPackageSummaryList": [p.summary() for p in rows]}
        if token:
            out["NextToken"] = token
        return out

    def update_package(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        reference = checks.package_arn(params)
        approval = checks.enum(params, "ModelApprovalStatus", checks.APPROVAL_STATUSES)
        checks.text(params, "ApprovalDescription")
        added = checks.metadata(params) or {}
        removed = params.get("CustomerMetadataPropertiesToRemove") or []
        if not isinstance(removed, list):
            raise invalid("Invalid type for parameter CustomerMetadataPropertiesToRemove: not the expected type.")
        more = params.get("AdditionalInferenceSpecificationsToAdd") or []
        for index, spec in enumerate(more, start=1):
            checks.inference_specification(spec, f"additionalInferenceSpecificationsToAdd.{index}.member")
        checks.inference_specification(params.get("InferenceSpecification"))
        with self.lock:
            package = self._package(reference, region)
            if len(package.extra_specs) + len(more) > 15:
                raise invalid("A model package can have at most 15 AdditionalInferenceSpecifications.")
            if approval:
                package.approval = approval
            package.request.update({k: params[k] for k in UPDATABLE if k in params})
            package.metadata.update(added)
            for key in removed:
                package.metadata.pop(str(key), None)
            package.extra_specs.extend(more)
            package.modified = utcnow()
            return {"ModelPackageArn": package.arn}

    def delete_package(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        reference = checks.reference(params, "ModelPackageName", checks.VERSIONED_ARN_OR_NAME, 176)
        with self.lock:
            package = self._package(reference, region)
            del self.packages[package.name.lower()]
            self.tags.deleted(package.arn)
        return {}

    def batch_describe(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        arns = params.get("ModelPackageArnList")
        if not isinstance(arns, list) or not 1 <= len(arns) <= 100:
            raise constraint(arns, "modelPackageArnList",
                                    "have length less than or equal to 100 and greater than or equal to 1")
        summaries: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        with self.lock:
            for package_arn in arns:
                try:
                    summaries[package_arn] = self._package(str(package_arn), region).batch_summary()
                except AWSError as exc:
                    errors[package_arn] = {"ErrorCode": exc.code, "ErrorResponse": exc.message}
        return {"ModelPackageSummaries": summaries, "BatchDescribeModelPackageErrorMap": errors}

    # ------------------------------------------------------------------------------------------------ models
    def model_containers(self, primary: dict[str, Any] | None, containers: list[Any] | None,
                         region: str) -> list[dict[str, Any]] | None:
        """The containers a CreateModel request runs: each container naming a ``ModelPackageName`` becomes the
        package's InferenceSpecification containers (or those of ``InferenceSpecificationName``), with the
        request container's ``Environment`` over the package's. None when no container names a package."""
        given = [primary] if primary else list(containers or [])
        if not any(isinstance(c, dict) and c.get("ModelPackageName") for c in given):
            return None
        member = "primaryContainer.modelPackageName" if primary else "containers.member.modelPackageName"
        out: list[dict[str, Any]] = []
        for container in given:
            out.extend(self._from_package(container, region, member) if container.get("ModelPackageName")
                       else [container])
        return out

    def _from_package(self, container: dict[str, Any], region: str, member: str) -> list[dict[str, Any]]:
        reference = checks.reference(container, "ModelPackageName", checks.VERSIONED_ARN_OR_NAME, 176, member=member)
        with self.lock:
            package = self._package(reference, region)
            if package.status != "Completed":
                raise invalid(f"Model package {package.arn} is in status {package.status}: a model can be made "
                              "only from a Completed model package.")
            if package.versioned and package.approval != "Approved":
                raise invalid(f"Model package {package.arn} has ModelApprovalStatus {package.approval}: a versioned "
                              "model package can be deployed only when its ModelApprovalStatus is Approved.")
            name = container.get("InferenceSpecificationName")
            resolved = package.containers(name)
        if not resolved:
            what = f"an additional inference specification named {name}" if name else "an InferenceSpecification"
            raise invalid(f"Model package {package.arn} has no {what}.")
        for item in resolved:
            item["Environment"] = {**(item.get("Environment") or {}), **(container.get("Environment") or {})}
        return resolved
