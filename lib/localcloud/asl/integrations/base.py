"""What every service integration shares: the call, parameter binding, result rendering, error naming, polling.

Step Functions has two families of integrations and they render results differently:

* *optimized* integrations (``arn:aws:states:::lambda:invoke``, ``glue:startJobRun``, ``sagemaker:create*``) run on
  the AWS SDK for Java v1: results are Java beans serialised to JSON — structure members in alphabetical order,
  timestamps as epoch milliseconds, and request/response calls carry ``SdkHttpMetadata`` / ``SdkResponseMetadata``;
  service errors are named ``<Service>.<Java exception class>`` (modeled errors keep their name with an
  ``Exception`` suffix, the rest are the service's base class such as ``SageMaker.AmazonSageMakerException``) and
  the cause ends with ``(Service: AmazonSageMaker; Status Code: 400; Error Code: ...; Request ID: ...; Proxy: null)``.
* *AWS SDK* integrations (``arn:aws:states:::aws-sdk:<service>:<action>``) run on the SDK for Java v2: results keep
  the API's members in PascalCase, timestamps as ISO-8601 text; errors are ``<Service>.<Error>Exception``
  (``S3.NoSuchKeyException``; an error the service model does not declare becomes ``S3.S3Exception``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.response import StreamingBody

from localcloud.asl.errors import TaskFailed
from localcloud.core import clients
from localcloud.core.sessions import RoleSession, RoleSessions

LOG = logging.getLogger(__name__)

RUNTIME = "States.Runtime"
TASK_FAILED = "States.TaskFailed"
#: how often ``.sync`` integrations poll the job they started (seconds): first after ``POLL_FIRST_SECONDS``, then
#: half as long again each time up to ``POLL_SECONDS``, so a job of a second is seen to end within a few tens of
#: milliseconds while a long one costs no more requests than before
POLL_FIRST_SECONDS = 0.05
POLL_SECONDS = 0.25


@dataclass
class Call:
    """One Task attempt as an integration handler sees it."""

    resource: str
    service: str  # "lambda", "glue", "sagemaker", or the aws-sdk service name
    action: str  # "invoke", "startJobRun", ...
    pattern: str  # "" (request/response), "sync", "sync:2" or "waitForTaskToken"
    parameters: Any
    task: Any  # localcloud.asl.TaskContext
    endpoint_url: str
    region: str = "us-east-1"
    extra: dict[str, Any] = field(default_factory=dict)
    #: the server's role sessions: a task's calls are made with the execution role's credentials, so a server
    #: that enforces IAM authorizes each of them against the role's policies, as AWS does
    sessions: RoleSessions | None = None

    @property
    def state_name(self) -> str:
        return str(getattr(self.task, "state_name", ""))

    @property
    def session(self) -> RoleSession | None:
        """The execution role's session (one session name per execution, as Step Functions assumes it)."""
        role_arn = getattr(self.task, "role_arn", None)
        if self.sessions is None or not role_arn:
            return None
        execution = str(getattr(self.task, "execution_arn", "") or "")
        return self.sessions.issue(role_arn, hashlib.sha256(execution.encode()).hexdigest()[:32])

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on this localcloud, in the execution's region, with the role's
        credentials."""
        return clients.client(self.endpoint_url, service, self.region, self.session)

    def runtime_error(self, problem: str) -> TaskFailed:
        """``States.Runtime``: the Parameters cannot start the task (uncatchable, as on AWS)."""
        params = json.dumps(self.parameters, separators=(",", ":"), default=str)
        return TaskFailed(
            RUNTIME,
            f"An error occurred while executing the state '{self.state_name}'. The Parameters '{params}' could not "
            f"be used to start the Task: [{problem}]",
        )


# ----------------------------------------------------------------------------------------------- botocore models


def operation_model(client: Any, action: str) -> OperationModel | None:
    """The botocore operation of ``client`` named by a camelCase or PascalCase ``action`` (None when unknown)."""
    model: ServiceModel = client.meta.service_model
    wanted = action.lower()
    for name in model.operation_names:
        if name.lower() == wanted:
            return model.operation_model(name)
    return None


def method_name(operation: OperationModel) -> str:
    """The boto3 client method of an operation (``ListObjectsV2`` → ``list_objects_v2``)."""
    from botocore import xform_name

    return xform_name(operation.name)


def modeled_error_codes(client: Any) -> set[str]:
    """Every error code the service model declares (shape names and their wire codes)."""
    codes: set[str] = set()
    for shape in client.meta.service_model.error_shapes:
        codes.add(shape.name)
        code = shape.metadata.get("error", {}).get("code")
        if code:
            codes.add(code)
    return codes


# ----------------------------------------------------------------------------------------------- parameters


def bind_parameters(call: Call, value: Any, shape: Shape | None, where: str = "") -> Any:
    """Bind Task Parameters to the botocore input shape: member names matched without regard to case (Step
    Functions takes PascalCase even where the API is camelCase), JSON values given for string/blob members sent as
    JSON text. A field the API does not have is the ``States.Runtime`` error AWS raises."""
    if shape is None:
        return value
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return value  # botocore's own validation names the type problem
        members = {name.lower(): name for name in shape.members}
        bound: dict[str, Any] = {}
        for key, item in value.items():
            member = members.get(str(key).lower())
            if member is None:
                raise call.runtime_error(f'The field "{key}" is not supported by Step Functions')
            bound[member] = bind_parameters(call, item, shape.members[member], f"{where}.{member}")
        return bound
    if isinstance(shape, ListShape):
        return [bind_parameters(call, item, shape.member, where) for item in value] if isinstance(value, list) \
            else value
    if isinstance(shape, MapShape):
        return {k: bind_parameters(call, v, shape.value, where) for k, v in value.items()} \
            if isinstance(value, dict) else value
    kind = shape.type_name
    if kind == "string" and isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if kind == "blob":
        if isinstance(value, (dict, list, int, float, bool)) or value is None:
            return json.dumps(value, separators=(",", ":")).encode()
        if isinstance(value, str):
            return value.encode()
    if kind in ("integer", "long") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def call_api(call: Call, client: Any, operation: OperationModel, params: Any, errors: ErrorNaming) -> dict[str, Any]:
    """Bind ``params`` to ``operation`` and call it; service errors become ``TaskFailed`` named by ``errors``."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise call.runtime_error("The Parameters must be a JSON object")
    bound = bind_parameters(call, params, operation.input_shape)
    try:
        return getattr(client, method_name(operation))(**bound)
    except ClientError as exc:
        raise errors.from_client_error(client, exc) from None
    except ParamValidationError as exc:
        raise errors.from_validation(client, operation, str(exc)) from None
    except BotoCoreError as exc:  # the service could not be reached: the SDK's client-side failure
        raise TaskFailed(f"{errors.prefix}.SdkClientException", f"Unable to execute HTTP request: {exc}") from None


# ----------------------------------------------------------------------------------------------- results


def epoch_millis(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(round(value.timestamp() * 1000))


def iso_text(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    millis = value.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def _scalar(value: Any, timestamps: Callable[[datetime], Any]) -> Any:
    if isinstance(value, datetime):
        return timestamps(value)
    if isinstance(value, StreamingBody):
        value = value.read()
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode()
    return value


def render_java_v1(value: Any, shape: Shape | None = None) -> Any:
    """A botocore result as the optimized integrations show it: members sorted, timestamps in epoch millis."""
    if isinstance(value, dict):
        if shape is None or isinstance(shape, StructureShape):
            members = shape.members if isinstance(shape, StructureShape) else {}
            return {k: render_java_v1(value[k], members.get(k)) for k in sorted(value) if k != "ResponseMetadata"}
        inner = shape.value if isinstance(shape, MapShape) else None
        return {k: render_java_v1(v, inner) for k, v in value.items()}
    if isinstance(value, list):
        inner = shape.member if isinstance(shape, ListShape) else None
        return [render_java_v1(v, inner) for v in value]
    return _scalar(value, epoch_millis)


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def render_java_v2(value: Any, shape: Shape | None = None) -> Any:
    """A botocore result as the AWS SDK integrations show it: PascalCase members, ISO-8601 timestamps."""
    if isinstance(value, dict):
        if shape is None or isinstance(shape, StructureShape):
            members = shape.members if isinstance(shape, StructureShape) else {}
            return {_pascal(k): render_java_v2(v, members.get(k)) for k, v in value.items()
                    if k != "ResponseMetadata"}
        inner = shape.value if isinstance(shape, MapShape) else None
        return {k: render_java_v2(v, inner) for k, v in value.items()}
    if isinstance(value, list):
        inner = shape.member if isinstance(shape, ListShape) else None
        return [render_java_v2(v, inner) for v in value]
    return _scalar(value, iso_text)


def sdk_metadata(response: dict[str, Any]) -> dict[str, Any]:
    """``SdkHttpMetadata`` and ``SdkResponseMetadata`` of a request/response call, from the real HTTP reply."""
    meta = response.get("ResponseMetadata", {})
    headers = {k: str(v) for k, v in sorted(meta.get("HTTPHeaders", {}).items())}
    return {
        "SdkHttpMetadata": {
            "AllHttpHeaders": {k: [v] for k, v in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": meta.get("HTTPStatusCode", 200),
        },
        "SdkResponseMetadata": {"RequestId": meta.get("RequestId", "")},
    }


def request_response(response: dict[str, Any], operation: OperationModel) -> dict[str, Any]:
    """The result of an optimized request/response call: the response plus the SDK metadata, sorted."""
    out = render_java_v1(response, operation.output_shape)
    out.update(sdk_metadata(response))
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class ErrorNaming:
    """How one integration family names service errors.

    ``prefix`` is the error-name service part (``SageMaker``); ``base`` the name for errors the model does not
    declare; ``sdk_service`` set means the Java v1 cause format naming that service (``AmazonSageMaker``), else the
    v2 format.
    """

    prefix: str
    base: str
    sdk_service: str | None = None

    def name_for(self, client: Any, code: str) -> str:
        if code in modeled_error_codes(client):
            return f"{self.prefix}.{code if code.endswith('Exception') else code + 'Exception'}"
        return f"{self.prefix}.{self.base}"

    def cause(self, message: str, status: int, code: str, request_id: str) -> str:
        if self.sdk_service:
            return (f"{message} (Service: {self.sdk_service}; Status Code: {status}; Error Code: {code}; "
                    f"Request ID: {request_id}; Proxy: null)")
        return f"{message} (Service: {self.prefix}, Status Code: {status}, Request ID: {request_id})"

    def from_client_error(self, client: Any, exc: ClientError) -> TaskFailed:
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or code)
        return TaskFailed(self.name_for(client, code),
                          self.cause(message, int(meta.get("HTTPStatusCode", 400)), code,
                                     str(meta.get("RequestId", ""))))

    def from_validation(self, client: Any, operation: OperationModel, report: str) -> TaskFailed:
        """A request the service would reject as malformed (botocore checks it before sending)."""
        return TaskFailed(self.name_for(client, "ValidationException"),
                          self.cause(f"{operation.name}: {report}", 400, "ValidationException", ""))


def job_failed(description: dict[str, Any]) -> TaskFailed:
    """``States.TaskFailed`` for a ``.sync`` job that ended badly; the cause is the job's description as JSON."""
    return TaskFailed(TASK_FAILED, json.dumps(description, separators=(",", ":")))


def poll(call: Call, describe: Callable[[], dict[str, Any]], finished: Callable[[dict[str, Any]], bool],
         stop: Callable[[], None]) -> dict[str, Any] | None:
    """Poll ``describe`` until ``finished``; when the task is cancelled (stop, timeout) call ``stop`` and return
    None. Errors of ``describe`` propagate as they are (already TaskFailed)."""
    delay = POLL_FIRST_SECONDS
    while True:
        current = describe()
        if finished(current):
            return current
        if call.task.wait(delay) or call.task.cancelled:
            try:
                stop()
            except TaskFailed as exc:  # the job may have ended meanwhile
                LOG.debug("stopping the job of %s failed: %s", call.state_name, exc)
            return None
        delay = min(delay * 1.5, POLL_SECONDS)


def record_submitted(call: Call, output: dict[str, Any]) -> None:
    """The ``TaskSubmitted`` event a ``.sync`` task records once its job started (output = the start response)."""
    try:
        call.task.record("TaskSubmitted", "taskSubmittedEventDetails", {
            "output": json.dumps(output, separators=(",", ":")),
            "outputDetails": {"truncated": False},
        })
    except Exception:  # history is best effort; never fail the task for it
        LOG.exception("could not record TaskSubmitted for %s", call.state_name)
