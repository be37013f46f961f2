"""Request checks of the Step Functions API: parameter types, names, ARNs and pagination tokens.

botocore validates requests before they leave a client; these checks give raw or hand-made requests the same
answers AWS gives (``ValidationException``, ``InvalidName``, ``InvalidArn``, ``InvalidToken``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from localcloud.errors import AWSError

#: characters a state machine or execution name must not contain (API reference, StartExecution ``name``)
_BAD_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_STATE_MACHINE_ARN = re.compile(
    r"^arn:aws[a-z-]*:states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):stateMachine:(?P<name>[^:]+)"
    r"(?::(?P<qualifier>[^:]+))?$")
#: a Map Run: ``arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id>`` (DescribeMapRun, API reference)
_MAP_RUN_ARN = re.compile(
    r"^arn:aws[a-z-]*:states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):mapRun:(?P<machine>[^:/]+)/(?P<label>[^:]+)"
    r":(?P<id>[^:]+)$")
#: an alias name: "^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$", 1-80 characters (CharacterRestrictedName, API model)
ALIAS_NAME = re.compile(r"^(?=.*[a-zA-Z_\-.])[a-zA-Z0-9_\-.]+$")
_EXECUTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):execution:(?P<machine>[^:]+):"
    r"(?P<name>[^:]+)$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/(?P<path>(?:[\w+=,.@-]+/)*)(?P<name>[\w+=,.@-]+)$")


def string(params: dict[str, Any], key: str, *, required: bool = False, min_len: int = 0,
           max_len: int | None = None) -> str | None:
    """A string parameter, checked as the API model constrains it."""
    value = params.get(key)
    if value is None:
        if required:
            raise AWSError("ValidationException",
                           f"1 validation error detected: Value null at '{key}' failed to satisfy constraint: "
                           f"Member must not be null")
        return None
    if not isinstance(value, str):
        raise AWSError("ValidationException", f"Value at '{key}' must be a string, not {type(value).__name__}.")
    if len(value) < min_len or (max_len is not None and len(value) > max_len):
        raise AWSError("ValidationException",
                       f"1 validation error detected: Value at '{key}' failed to satisfy constraint: Member must "
                       f"have length between {min_len} and {max_len}")
    return value


def integer(params: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AWSError("ValidationException", f"Value at '{key}' must be an integer.")
    if not low <= value <= high:
        # recorded on AWS: test_sfn_api_versioning.snapshot.json test_list_state_machine_versions_pagination
        bound = f"less than or equal to {high}" if value > high else f"greater than or equal to {low}"
        raise AWSError("ValidationException",
                       f"1 validation error detected: Value '{value}' at '{key}' failed to satisfy constraint: "
                       f"Member must have value {bound}")
    return value


def boolean(params: dict[str, Any], key: str, default: bool) -> bool:
    value = params.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise AWSError("ValidationException", f"Value at '{key}' must be a boolean.")
    return value


def name(value: str) -> str:
    """A state machine or execution name: 1–80 characters, none of the characters AWS forbids."""
    if not 1 <= len(value) <= 80 or _BAD_NAME.search(value):
        raise AWSError("InvalidName", f"Invalid Name: '{value}'")
    return value


def state_machine_arn(value: str, region: str | None = None, *, qualified: bool = False) -> re.Match[str]:
    """Parse a state machine ARN (InvalidArn when it is not one); ``qualified``: a version (``:<n>``) or alias
    (``:<name>``) ARN is accepted too."""
    match = _STATE_MACHINE_ARN.match(value)
    if match is None or (match.group("qualifier") and not qualified):
        if not value.startswith("arn:"):
            # recorded on AWS: test_sfn_api_versioning.snapshot.json test_publish_state_machine_version_invalid_arn
            raise AWSError("InvalidArn", f"Invalid Arn: 'Invalid ARN prefix: {value}'")
        kind = _resource_type(value)
        raise AWSError("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {kind}'"
                       if kind and kind != "stateMachine" else f"Invalid Arn: '{value}'")
    return match


def map_run_arn(value: str) -> re.Match[str]:
    """Parse a Map Run ARN (InvalidArn when it is not one)."""
    match = _MAP_RUN_ARN.match(value)
    if match is None:
        kind = _resource_type(value)
        raise AWSError("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {kind}'"
                       if kind and kind != "mapRun" else f"Invalid Arn: '{value}'")
    return match


def alias_name(value: str) -> str:
    """An alias name, with the API model's constraint messages (recorded on AWS: test_sfn_api_aliasing
    .snapshot.json test_error_create_alias_invalid_name)."""
    if len(value) > 80:
        raise AWSError("ValidationException", f"1 validation error detected: Value '{value}' at 'name' failed to "
                       f"satisfy constraint: Member must have length less than or equal to 80")
    if not ALIAS_NAME.match(value):
        raise AWSError("ValidationException", f"1 validation error detected: Value '{value}' at 'name' failed to "
                       f"satisfy constraint: Member must satisfy regular expression pattern: "
                       f"^(?=.*[a-zA-Z_\\-\\.])[a-zA-Z0-9_\\-\\.]+$")
    return value


def execution_arn(value: str) -> re.Match[str]:
    """Parse an execution ARN (InvalidArn when it is not one)."""
    match = _EXECUTION_ARN.match(value)
    if match is None:
        kind = _resource_type(value)
        raise AWSError("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {kind}'"
                       if kind else f"Invalid Arn: '{value}'")
    return match


def role_arn(value: str) -> re.Match[str]:
    match = _ROLE_ARN.match(value)
    if match is None:
        raise AWSError("InvalidArn", f"Invalid Role Arn: '{value}'")
    return match


def _resource_type(value: str) -> str | None:
    parts = value.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "states":
        return parts[5]
    return None


# ------------------------------------------------------------------------------------------------ page tokens


def _digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def make_token(scope: str, offset: int) -> str:
    """An opaque nextToken for position ``offset`` of the listing identified by ``scope``."""
    raw = json.dumps({"s": _digest(scope), "o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def read_token(token: str | None, scope: str, invalid: str | None = None) -> int:
    """The position a nextToken stands for; InvalidToken when it is not one of ours or belongs elsewhere
    (``invalid``: the message AWS gives for this listing)."""
    if token is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = int(data["o"])
        ok = data["s"] == _digest(scope) and offset >= 0
    except (ValueError, KeyError, TypeError, binascii.Error):
        ok = False
    if not ok:
        raise AWSError("InvalidToken", f"Invalid Token: '{invalid}'" if invalid else
                       f"Invalid Token: '{token}'. Keep the other arguments of the call unchanged when you pass a "
                       f"nextToken.")
    return offset


def page(items: list[Any], params: dict[str, Any], scope: str, default_size: int = 100,
         invalid: str | None = None) -> tuple[list[Any], str | None]:
    """One page of ``items`` for ``maxResults``/``nextToken`` (0 or absent maxResults = the default size)."""
    size = integer(params, "maxResults", 0, 1000) or default_size
    token = string(params, "nextToken", min_len=1, max_len=3096)
    start = read_token(token, scope, invalid)
    chunk = items[start:start + size]
    more = start + size < len(items)
    return chunk, make_token(scope, start + size) if more else None
