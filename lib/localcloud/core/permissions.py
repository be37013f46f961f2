"""Which IAM permissions a request needs: the action, the resource ARN and the condition keys AWS evaluates.

``needs_of(service, operation, params, region, account)`` covers the operations localcloud's own code and the
project's workflow make with a role (Service Authorization Reference: actions, resource types, condition keys):
S3 object and listing calls, Glue job runs, Lambda invocations, Step Functions executions, SageMaker jobs, models,
endpoint configs and endpoints (with ``iam:PassRole`` for the role a job or model is given), model package groups
and model packages (ListModelPackages is not checked: its resource could not be confirmed). An operation not
listed returns None and is not checked (localcloud cannot know its resource faithfully). :func:`s3_operation`
names the S3 REST request a method, path and query make.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from localcloud.core import multidelete


@dataclass(frozen=True)
class Need:
    """One permission a call needs."""

    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)


Builder = Callable[[dict[str, Any], str, str], list[Need]]


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _sagemaker(kind: str, field_name: str, *, pass_role: str | None = None,
               config: bool = False) -> Callable[[str], Builder]:
    def for_action(action: str) -> Builder:
        def build(params: dict[str, Any], region: str, account: str) -> list[Need]:
            name = str(params.get(field_name, "")).lower()  # SageMaker writes names in ARNs in lower case
            resource = _arn("sagemaker", region, account, f"{kind}/{name}")
            needs = [Need(f"sagemaker:{action}", resource)]
            if config and params.get("EndpointConfigName"):  # CreateEndpoint/UpdateEndpoint name both resources
                needs.append(Need(f"sagemaker:{action}", _arn("sagemaker", region, account,
                                                              f"endpoint-config/{params['EndpointConfigName'].lower()}")))
            if params.get("Tags"):
                needs.append(Need("sagemaker:AddTags", resource))
            role = params.get(pass_role) if pass_role else None
            if role:
                needs.append(Need("iam:PassRole", str(role), {"iam:PassedToService": "sagemaker.amazonaws.com"}))
            return needs
        return build
    return for_action


def _registry_name(value: Any) -> str:
    """The resource part of a Model Registry name or ARN, in lower case: ``grp``, ``grp/3``."""
    text = str(value or "")
    if text.startswith("arn:"):
        text = text.split(":", 5)[-1].split("/", 1)[-1]
    return text.lower()


def _package_group(action: str) -> Builder:
    def build(params: dict[str, Any], region: str, account: str) -> list[Need]:
        name = _registry_name(params.get("ModelPackageGroupName"))
        resource = _arn("sagemaker", region, account, f"model-package-group/{name}")
        return [Need(f"sagemaker:{action}", resource),
                *([Need("sagemaker:AddTags", resource)] if params.get("Tags") else [])]
    return build


def _model_package(action: str) -> Builder:
    """A model package's ARN, with the condition keys the request sets (``sagemaker:ModelApprovalStatus``,
    ``sagemaker:CustomerMetadataProperties/<key>``). A version being registered is ``model-package/<group>/*``:
    SageMaker numbers it (the guide's "Register a Model Version from a Different Account" grants
    sagemaker:CreateModelPackage on that pattern)."""
    def build(params: dict[str, Any], region: str, account: str) -> list[Need]:
        if action == "CreateModelPackage" and params.get("ModelPackageGroupName"):
            name = _registry_name(params["ModelPackageGroupName"]) + "/*"
        else:
            name = _registry_name(params.get("ModelPackageArn") or params.get("ModelPackageName"))
        resource = _arn("sagemaker", region, account, f"model-package/{name}")
        context = {f"sagemaker:CustomerMetadataProperties/{k}": str(v)
                   for k, v in (params.get("CustomerMetadataProperties") or {}).items()}
        if params.get("ModelApprovalStatus"):
            context["sagemaker:ModelApprovalStatus"] = str(params["ModelApprovalStatus"])
        return [Need(f"sagemaker:{action}", resource, context),
                *([Need("sagemaker:AddTags", resource)] if params.get("Tags") else [])]
    return build


def _batch_packages(params: dict[str, Any], region: str, account: str) -> list[Need]:
    return [Need("sagemaker:BatchDescribeModelPackage", str(a)) for a in params.get("ModelPackageArnList") or []]


def _create_model(params: dict[str, Any], region: str, account: str) -> list[Need]:
    """CreateModel, and CreateModel on each model package a container names (the guide's "Deploy a Model Version
    from a Different Account" grants sagemaker:CreateModel on ``model-package/<group>/*``)."""
    given = [params.get("PrimaryContainer")] if params.get("PrimaryContainer") else params.get("Containers") or []
    packages = [c["ModelPackageName"] for c in given if isinstance(c, dict) and c.get("ModelPackageName")]
    return [*_MODEL("CreateModel")(params, region, account),
            *(Need("sagemaker:CreateModel", p if str(p).startswith("arn:") else
                   _arn("sagemaker", region, account, f"model-package/{_registry_name(p)}")) for p in packages)]


def _tuning(action: str) -> Builder:
    """A hyperparameter tuning job; creating one passes the role of each training job definition (Service
    Authorization Reference: CreateHyperParameterTuningJob on hyper-parameter-tuning-job*, dependent actions
    iam:PassRole and sagemaker:AddTags)."""
    base = _sagemaker("hyper-parameter-tuning-job", "HyperParameterTuningJobName")(action)

    def build(params: dict[str, Any], region: str, account: str) -> list[Need]:
        given = [params.get("TrainingJobDefinition"), *(params.get("TrainingJobDefinitions") or [])]
        roles = sorted({str(d["RoleArn"]) for d in given if isinstance(d, dict) and d.get("RoleArn")})
        return [*base(params, region, account),
                *(Need("iam:PassRole", r, {"iam:PassedToService": "sagemaker.amazonaws.com"}) for r in roles)]
    return build


def _glue_job(action: str) -> Builder:
    return lambda p, r, a: [Need(f"glue:{action}", _arn("glue", r, a, f"job/{p.get('JobName', '')}"))]


def _lambda_function(params: dict[str, Any], region: str, account: str) -> list[Need]:
    name = str(params.get("FunctionName", ""))
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:  # 123456789012:function:NAME[:QUALIFIER]
        arn = f"arn:aws:lambda:{region}:{name}"
    else:
        arn = _arn("lambda", region, account, f"function:{name}")
    if params.get("Qualifier") and arn.count(":") == 6:
        arn += f":{params['Qualifier']}"
    return [Need("lambda:InvokeFunction", arn)]


def _states(action: str, field_name: str) -> Builder:
    return lambda p, r, a: [Need(f"states:{action}", str(p.get(field_name, "")))]


def _s3_object(action: str) -> Builder:
    return lambda p, r, a: [Need(f"s3:{action}", f"arn:aws:s3:::{p.get('Bucket', '')}/{p.get('Key', '')}")]


def _s3_list(params: dict[str, Any], region: str, account: str) -> list[Need]:
    context = {"s3:prefix": str(params["Prefix"])} if params.get("Prefix") is not None else {}
    return [Need("s3:ListBucket", f"arn:aws:s3:::{params.get('Bucket', '')}", context)]


def _s3_copy(params: dict[str, Any], region: str, account: str) -> list[Need]:
    source = unquote(str(params.get("CopySource", ""))).lstrip("/").split("?")[0]
    return [Need("s3:GetObject", f"arn:aws:s3:::{source}"), *_s3_object("PutObject")(params, region, account)]


def _s3_delete_many(params: dict[str, Any], region: str, account: str) -> list[Need]:
    bucket = params.get("Bucket", "")
    return [Need("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{key}") for key in params.get("Keys", [])]


_TRAINING = _sagemaker("training-job", "TrainingJobName", pass_role="RoleArn")
_PROCESSING = _sagemaker("processing-job", "ProcessingJobName", pass_role="RoleArn")
_TRANSFORM = _sagemaker("transform-job", "TransformJobName")
_MODEL = _sagemaker("model", "ModelName", pass_role="ExecutionRoleArn")
_CONFIG = _sagemaker("endpoint-config", "EndpointConfigName")
_ENDPOINT = _sagemaker("endpoint", "EndpointName", config=True)

#: (IAM service prefix, operation) -> the permissions the call needs
RESOURCES: dict[tuple[str, str], Builder] = {
    ("glue", "StartJobRun"): _glue_job("StartJobRun"),
    ("glue", "GetJobRun"): _glue_job("GetJobRun"),
    ("glue", "GetJobRuns"): _glue_job("GetJobRuns"),
    ("glue", "BatchStopJobRun"): _glue_job("BatchStopJobRun"),
    ("lambda", "Invoke"): _lambda_function,
    ("states", "StartExecution"): _states("StartExecution", "stateMachineArn"),
    ("states", "DescribeExecution"): _states("DescribeExecution", "executionArn"),
    ("states", "StopExecution"): _states("StopExecution", "executionArn"),
    ("s3", "GetObject"): _s3_object("GetObject"),
    ("s3", "HeadObject"): _s3_object("GetObject"),
    ("s3", "PutObject"): _s3_object("PutObject"),
    ("s3", "CreateMultipartUpload"): _s3_object("PutObject"),
    ("s3", "UploadPart"): _s3_object("PutObject"),
    ("s3", "CompleteMultipartUpload"): _s3_object("PutObject"),
    ("s3", "CopyObject"): _s3_copy,
    ("s3", "DeleteObject"): _s3_object("DeleteObject"),
    ("s3", "DeleteObjects"): _s3_delete_many,
    ("s3", "ListObjectsV2"): _s3_list,
    ("s3", "ListObjects"): _s3_list,
    ("s3", "HeadBucket"): lambda p, r, a: [Need("s3:ListBucket", f"arn:aws:s3:::{p.get('Bucket', '')}")],
    **{("sagemaker", op): _TRAINING(op) for op in ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob")},
    **{("sagemaker", op): _tuning(op) for op in ("CreateHyperParameterTuningJob", "DescribeHyperParameterTuningJob",
                                                 "StopHyperParameterTuningJob",
                                                 "ListTrainingJobsForHyperParameterTuningJob")},
    **{("sagemaker", op): _PROCESSING(op) for op in ("CreateProcessingJob", "DescribeProcessingJob",
                                                     "StopProcessingJob")},
    **{("sagemaker", op): _TRANSFORM(op) for op in ("CreateTransformJob", "DescribeTransformJob",
                                                    "StopTransformJob")},
    ("sagemaker", "CreateModel"): _create_model,
    **{("sagemaker", op): _MODEL(op) for op in ("DescribeModel", "DeleteModel")},
    **{("sagemaker", op): _package_group(op) for op in ("CreateModelPackageGroup", "DescribeModelPackageGroup",
                                                        "DeleteModelPackageGroup")},
    ("sagemaker", "ListModelPackageGroups"): lambda p, r, a: [Need("sagemaker:ListModelPackageGroups", "*")],
    **{("sagemaker", op): _model_package(op) for op in ("CreateModelPackage", "DescribeModelPackage",
                                                        "UpdateModelPackage", "DeleteModelPackage")},
    ("sagemaker", "BatchDescribeModelPackage"): _batch_packages,
    **{("sagemaker", op): _CONFIG(op) for op in ("CreateEndpointConfig", "DescribeEndpointConfig",
                                                 "DeleteEndpointConfig")},
    **{("sagemaker", op): _ENDPOINT(op) for op in ("CreateEndpoint", "UpdateEndpoint", "DescribeEndpoint",
                                                   "DeleteEndpoint", "InvokeEndpoint")},
}
#: SageMaker actions whose resources carry tags that policies may test (aws:ResourceTag/<key>)
TAGGED_ACTIONS = ("sagemaker:UpdateEndpoint", "sagemaker:DeleteEndpoint", "sagemaker:DescribeEndpoint",
                  "sagemaker:DeleteEndpointConfig", "sagemaker:DeleteModel", "sagemaker:InvokeEndpoint",
                  "sagemaker:DescribeModelPackageGroup", "sagemaker:DeleteModelPackageGroup")


def needs_of(service: str, operation: str, params: dict[str, Any], region: str, account: str) -> list[Need] | None:
    """The permissions a call needs, or None when localcloud does not know them (the call is not checked)."""
    build = RESOURCES.get((service, operation))
    return build(params, region, account) if build else None


def s3_operation(method: str, path: str, query: dict[str, str], headers: dict[str, str],
                 body: bytes = b"") -> tuple[str, dict[str, Any]] | None:
    """The S3 operation and its identifying parameters of a path-style REST request (None when unknown)."""
    bucket, _, key = path.lstrip("/").partition("/")
    bucket, key = unquote(bucket), unquote(key)
    if not bucket:
        return None
    params: dict[str, Any] = {"Bucket": bucket}
    if not key:
        if method == "GET" and ("list-type" in query or not query):
            params["Prefix"] = query.get("prefix", "")
            return ("ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"), params
        if method == "HEAD":
            return "HeadBucket", params
        if method == "POST" and "delete" in query:
            params["Keys"] = multidelete.keys_of(body)
            return "DeleteObjects", params
        return None
    params["Key"] = key
    if method == "GET" and not (set(query) - {"versionId", "partNumber", "response-content-type"}):
        return "GetObject", params
    if method == "HEAD":
        return "HeadObject", params
    if method == "PUT":
        if "partNumber" in query:
            return "UploadPart", params
        copy = {k.lower(): v for k, v in headers.items()}.get("x-amz-copy-source")
        if copy:
            return "CopyObject", {**params, "CopySource": copy}
        return "PutObject", params
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload", params
    if method == "POST" and "uploadId" in query:
        return "CompleteMultipartUpload", params
    if method == "DELETE" and "uploadId" not in query:
        return "DeleteObject", params
    return None
