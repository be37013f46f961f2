"""The state machine's role must allow each service call a Task makes (opt-in: ``localcloud serve --enforce-iam``
or ``LOCALCLOUD_ENFORCE_IAM=1``).

On AWS, Step Functions assumes the state machine's role and every integration call is authorized against that
role's policies; a missing permission fails the task with the service's access-denied error. Here each call of an
integration is checked against the role's inline and attached policies (read from IAM) before it is sent:

- the IAM action and resource ARN of the call come from :data:`RESOURCES` (the operations the optimized Glue,
  SageMaker, Lambda and Step Functions integrations make, and common AWS SDK ones); iam:PassRole is checked for
  the role a SageMaker job or model is given, with ``iam:PassedToService``;
- operations not listed are not checked (localcloud cannot know their resource ARN faithfully);
- a denial is the service's ``AccessDeniedException`` named as the integration family names errors
  (``Glue.AccessDeniedException``, ``SageMaker.AmazonSageMakerException``, ``Lambda.AWSLambdaException``) with the
  message AWS gives: ``User: arn:aws:sts::<account>:assumed-role/<role>/<session> is not authorized to perform:
  <action> on resource: <arn> because no identity-based policy allows the <action> action``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from localcloud.asl.errors import TaskFailed
from localcloud.core import clients
from localcloud.core.policy import EXPLICIT_DENY, evaluate, parse_document

if TYPE_CHECKING:
    from localcloud.asl.integrations.base import Call, ErrorNaming

LOG = logging.getLogger(__name__)

CACHE_SECONDS = 1.0
ACCESS_DENIED = "AccessDeniedException"
#: HTTP status of AccessDeniedException per service (Lambda answers 403, the JSON services 400)
STATUS = {"lambda": 403}


@dataclass(frozen=True)
class Need:
    """One permission a call needs."""

    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- resource ARNs

Builder = Callable[[dict[str, Any], str, str], list[Need]]


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _sagemaker(kind: str, field_name: str, *, pass_role: str | None = None) -> Callable[[str], Builder]:
    def for_action(action: str) -> Builder:
        def build(params: dict[str, Any], region: str, account: str) -> list[Need]:
            name = str(params.get(field_name, "")).lower()  # SageMaker writes names in ARNs in lower case
            resource = _arn("sagemaker", region, account, f"{kind}/{name}")
            needs = [Need(f"sagemaker:{action}", resource)]
            if params.get("Tags"):
                needs.append(Need("sagemaker:AddTags", resource))
            role = params.get(pass_role) if pass_role else None
            if role:
                needs.append(Need("iam:PassRole", str(role), {"iam:PassedToService": "sagemaker.amazonaws.com"}))
            return needs
        return build
    return for_action


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


_TRAINING = _sagemaker("training-job", "TrainingJobName", pass_role="RoleArn")
_PROCESSING = _sagemaker("processing-job", "ProcessingJobName", pass_role="RoleArn")
_TRANSFORM = _sagemaker("transform-job", "TransformJobName")
_MODEL = _sagemaker("model", "ModelName", pass_role="ExecutionRoleArn")
_CONFIG = _sagemaker("endpoint-config", "EndpointConfigName")
_ENDPOINT = _sagemaker("endpoint", "EndpointName")

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
    ("s3", "DeleteObject"): _s3_object("DeleteObject"),
    ("s3", "ListObjectsV2"): _s3_list,
    **{("sagemaker", op): _TRAINING(op) for op in ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob")},
    **{("sagemaker", op): _PROCESSING(op) for op in ("CreateProcessingJob", "DescribeProcessingJob",
                                                     "StopProcessingJob")},
    **{("sagemaker", op): _TRANSFORM(op) for op in ("CreateTransformJob", "DescribeTransformJob",
                                                    "StopTransformJob")},
    **{("sagemaker", op): _MODEL(op) for op in ("CreateModel", "DescribeModel", "DeleteModel")},
    **{("sagemaker", op): _CONFIG(op) for op in ("CreateEndpointConfig", "DescribeEndpointConfig",
                                                 "DeleteEndpointConfig")},
    **{("sagemaker", op): _ENDPOINT(op) for op in ("CreateEndpoint", "UpdateEndpoint", "DescribeEndpoint",
                                                   "DeleteEndpoint", "InvokeEndpoint")},
}


# --------------------------------------------------------------------------------------------- policies


class RolePolicies:
    """The policy documents of roles, read from IAM and kept for a second (``.sync`` polls often)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[float, list[dict[str, Any]] | None]] = {}
        self._lock = threading.Lock()

    def documents(self, endpoint_url: str, role_arn: str) -> list[dict[str, Any]] | None:
        """Inline and attached policies of the role (None when the role does not exist)."""
        key = (endpoint_url, role_arn)
        with self._lock:
            found = self._cache.get(key)
        if found and time.monotonic() - found[0] < CACHE_SECONDS:
            return found[1]
        documents = _read_role(clients.client(endpoint_url, "iam"), role_arn.rsplit("/", 1)[-1])
        with self._lock:
            self._cache[key] = (time.monotonic(), documents)
        return documents


def _read_role(iam: Any, name: str) -> list[dict[str, Any]] | None:
    try:
        documents = [parse_document(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])
                     for p in iam.list_role_policies(RoleName=name)["PolicyNames"]]
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=attached["PolicyArn"],
                                             VersionId=policy["DefaultVersionId"])["PolicyVersion"]
            documents.append(parse_document(version["Document"]))
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchEntity", "NoSuchEntityException"):
            return None
        raise
    return documents


POLICIES = RolePolicies()


def needs_of(service: str, operation: str, params: dict[str, Any], region: str, account: str) -> list[Need] | None:
    """The permissions a call needs, or None when localcloud does not know them (the call is not checked)."""
    build = RESOURCES.get((service, operation))
    return build(params, region, account) if build else None


def check(call: Call, client: Any, operation: Any, params: dict[str, Any], errors: ErrorNaming) -> None:
    """Raise the service's access-denied error unless the execution's role allows this call."""
    role_arn = getattr(call.task, "role_arn", None)
    if not role_arn:
        return
    service = client.meta.service_model.signing_name
    account = role_arn.split(":")[4] or "123456789012"
    needs = needs_of(service, operation.name, params, call.region, account)
    if needs is None:
        LOG.debug("%s:%s is not checked against the role's policies", service, operation.name)
        return
    documents = POLICIES.documents(call.endpoint_url, role_arn)
    principal = _principal(role_arn, getattr(call.task, "execution_arn", "") or "")
    for need in needs:
        context = {"aws:PrincipalArn": role_arn, "aws:PrincipalAccount": account,
                   "aws:RequestedRegion": call.region, **need.context}
        decision = evaluate(documents or [], need.action, need.resource, context)
        if decision.allowed:
            continue
        why = ("with an explicit deny in an identity-based policy" if decision.outcome == EXPLICIT_DENY
               else f"because no identity-based policy allows the {need.action} action")
        if documents is None:
            why = f"because the role {role_arn} does not exist"
        message = f"User: {principal} is not authorized to perform: {need.action} on resource: {need.resource} {why}"
        LOG.info("denied %s on %s for %s", need.action, need.resource, role_arn)
        raise TaskFailed(errors.name_for(client, ACCESS_DENIED),
                         errors.cause(message, STATUS.get(service, 400), ACCESS_DENIED, str(uuid.uuid4())))


def _principal(role_arn: str, execution_arn: str) -> str:
    """The assumed-role ARN Step Functions acts as (the session name is stable per execution)."""
    parts = role_arn.split(":")
    account, name = parts[4], role_arn.rsplit("/", 1)[-1]
    session = hashlib.sha256(execution_arn.encode()).hexdigest()[:32]
    return f"arn:aws:sts::{account}:assumed-role/{name}/{session}"
