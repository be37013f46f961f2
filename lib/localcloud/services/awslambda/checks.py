"""Checks of Lambda requests: function names and ARNs, roles, runtimes, limits, environment variables."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import Any

from botocore.exceptions import ClientError

from localcloud import settings
from localcloud.core import trust
from localcloud.errors import AWSError

from .models import (
    ENV_LIMIT_BYTES,
    MAX_MEMORY,
    MAX_TIMEOUT,
    MIN_MEMORY,
    RESERVED_ENV_KEYS,
    SUPPORTED_RUNTIMES,
    LambdaFunction,
)

LOG = logging.getLogger(__name__)
NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}")
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
QUALIFIER_RE = re.compile(r"[a-zA-Z0-9$_-]{1,128}")
ENV_KEY_RE = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")
ROLE_RE = re.compile(r"arn:(aws[a-zA-Z-]*)?:iam::(\d{12}):role/?([a-zA-Z_0-9+=,.@\-/]+)")


def invalid(message: str) -> AWSError:
    return AWSError("InvalidParameterValueException", message)


def validation(value: Any, member: str, constraint: str) -> AWSError:
    return AWSError("ValidationException",
                    f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
                    f"{constraint}")


def parse_name(value: str, region: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """``(name, qualifier)`` from a name, ``name:qualifier``, a partial ARN or an ARN."""
    if not value or len(value) > 256:
        raise validation(value, "functionName", "Member must have length between 1 and 256")
    parts = value.split(":")
    derived: str | None = None
    if parts[0] == "arn":
        if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
            raise validation(value, "functionName", "Member must satisfy regular expression pattern: "
                             "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
                             "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?")
        if parts[3] and parts[3] != region:
            raise invalid(f"Functions from '{parts[3]}' are not reachable in this region ('{region}')")
        check_account(parts[4], value)
        name, derived = parts[6], (parts[7] if len(parts) == 8 else None)
    elif len(parts) in (3, 4) and parts[1] == "function":
        check_account(parts[0], value)
        name, derived = parts[2], (parts[3] if len(parts) == 4 else None)
    elif len(parts) <= 2:
        name, derived = parts[0], (parts[1] if len(parts) == 2 else None)
    else:
        raise validation(value, "functionName", "Member must be a function name, a partial ARN or an ARN")
    if not NAME_RE.fullmatch(name):
        raise validation(value, "functionName",
                         "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ (at most 64 characters)")
    for q in (derived, qualifier):
        if q is not None and not QUALIFIER_RE.fullmatch(q):
            raise validation(q, "qualifier", "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)")
    if derived and qualifier and derived != qualifier:
        raise invalid("The derived qualifier from the function name does not match the specified qualifier.")
    return name, derived or qualifier


def check_account(account: str, value: str) -> None:
    """Only localcloud's one account exists."""
    if account and account != settings.ACCOUNT_ID:
        raise AWSError("AccessDeniedException",
                       f"localcloud has one account ({settings.ACCOUNT_ID}); '{value}' names account {account}.",
                       403)


def check_role(endpoint_url: str, role: str, region: str) -> None:
    """The role must exist in IAM (asked through boto3, as AWS asks IAM) and trust lambda.amazonaws.com."""
    match = ROLE_RE.fullmatch(role or "")
    if not match:
        raise validation(role, "role", "Member must satisfy regular expression pattern: "
                         "arn:(aws[a-zA-Z-]+)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+")
    cannot = invalid("The role defined for the function cannot be assumed by Lambda.")
    if match.group(2) != settings.ACCOUNT_ID:
        raise cannot
    try:
        # Lambda documents no aws:SourceAccount/SourceArn for execution roles: none is in the context
        reason = trust.refusal(endpoint_url, role, "lambda.amazonaws.com", region)
    except ClientError as exc:
        raise cannot from exc
    if reason:
        LOG.info("CreateFunction: %s", reason)
        raise cannot


def check_runtime(runtime: str | None) -> str:
    """A Python runtime of ``SUPPORTED_RUNTIMES``."""
    if runtime not in SUPPORTED_RUNTIMES:
        raise invalid(f"The runtime parameter of {runtime} is not supported by localcloud, which runs Python "
                      f"handlers on its own interpreter. Supported runtimes: {', '.join(SUPPORTED_RUNTIMES)}.")
    return runtime


def check_limits(params: dict[str, Any]) -> None:
    """Timeout, MemorySize and Handler within AWS's limits; no layers, no images."""
    timeout, memory = params.get("Timeout"), params.get("MemorySize")
    if timeout is not None and (not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT):
        raise validation(timeout, "timeout", f"Member must have value between 1 and {MAX_TIMEOUT}")
    if memory is not None and (not isinstance(memory, int) or not MIN_MEMORY <= memory <= MAX_MEMORY):
        raise validation(memory, "memorySize", f"Member must have value between {MIN_MEMORY} and {MAX_MEMORY}")
    handler = params.get("Handler")
    if handler is not None and (not isinstance(handler, str) or not handler or re.search(r"\s", handler)
                                or len(handler) > 128):
        raise validation(handler, "handler", "Member must satisfy regular expression pattern: [^\\s]+")
    if params.get("Layers"):
        raise invalid("localcloud does not support Lambda layers; put the dependencies in the function's zip "
                      "(boto3 and the packages of localcloud's interpreter are already importable).")
    if params.get("PackageType", "Zip") != "Zip":
        raise invalid("localcloud runs zip packages only (PackageType Zip); container images are not supported.")


def check_environment(environment: Any) -> dict[str, str]:
    """``Environment.Variables``: valid names, no reserved keys, 4 KB at most."""
    if environment is None:
        return {}
    variables = environment.get("Variables") if isinstance(environment, dict) else None
    if variables is None:
        return {}
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise invalid("Environment.Variables must map names to string values.")
    bad = [k for k in variables if not ENV_KEY_RE.fullmatch(k)]
    if bad:
        raise validation(bad[0], "environment.variables",
                         "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+")
    reserved = sorted(k for k in variables if k in RESERVED_ENV_KEYS)
    if reserved:
        raise invalid("Lambda was unable to configure your environment variables because the environment "
                      "variables you have provided contains reserved keys that are currently not supported "
                      f"for modification. Reserved keys used in this request: {', '.join(reserved)}")
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > ENV_LIMIT_BYTES:
        raise invalid("Lambda was unable to configure your environment variables because the environment "
                      "variables you have provided exceeded the 4KB limit. String measured: " + measured)
    return dict(variables)


def check_revision(fn: LambdaFunction, revision: str | None) -> None:
    """A ``RevisionId`` precondition must name the current revision."""
    if revision and revision != fn.revision_id:
        raise AWSError("PreconditionFailedException",
                       "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/"
                       "GetAlias API to retrieve the latest Revision Id", 412)


def check_invocation_type(invocation_type: str) -> None:
    """``X-Amz-Invocation-Type``: one of ``INVOCATION_TYPES``."""
    if invocation_type not in INVOCATION_TYPES:
        raise invalid(f"Unsupported invocation type {invocation_type!r}; use one of {', '.join(INVOCATION_TYPES)}.")


def check_log_type(log_type: str | None) -> None:
    """``X-Amz-Log-Type``: None or Tail."""
    if log_type not in (None, "None", "Tail"):
        raise invalid(f"Unsupported log type {log_type!r}; use None or Tail.")


def client_context(header: str | None) -> Any:
    """``X-Amz-Client-Context``: base64 of a JSON object, handed to the handler as ``context.client_context``."""
    if not header:
        return None
    try:
        return json.loads(base64.b64decode(header))
    except (binascii.Error, ValueError) as exc:
        raise invalid("Client context must be a valid Base64-encoded JSON object.") from exc
