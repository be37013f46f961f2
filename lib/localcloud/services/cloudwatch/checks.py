"""CloudWatch's request errors and parameter readers.

CloudWatch speaks the AWS JSON 1.0 protocol in a query-compatible way (botocore's model: ``awsQueryCompatible``):
an error carries its query code (``InvalidParameterValue``) in the ``x-amzn-query-error`` header, which botocore
shows as the error's Code, and its JSON type (``InvalidParameterValueException``) as ``QueryErrorCode`` (recorded
on AWS: localstack snapshot tests/aws/services/cloudwatch/test_cloudwatch.snapshot.json, the ``[json]`` cases of
test_invalid_amount_of_datapoints and test_set_alarm_invalid_input).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from localcloud.errors import AWSError

#: query error code -> JSON ``__type``
JSON_TYPES = {"InvalidParameterValue": "InvalidParameterValueException",
              "InvalidParameterCombination": "InvalidParameterCombinationException",
              "MissingParameter": "MissingRequiredParameterException", "ValidationError": "ValidationException",
              "ResourceNotFound": "ResourceNotFound", "InvalidNextToken": "InvalidNextToken",
              "LimitExceeded": "LimitExceededFault", "InvalidFormat": "InvalidFormatFault"}


def value_error(message: str) -> AWSError:
    return AWSError("InvalidParameterValue", message)


def combination_error(message: str) -> AWSError:
    return AWSError("InvalidParameterCombination", message)


def not_found(message: str = "") -> AWSError:
    return AWSError("ResourceNotFound", message, 404)


def missing(member: str) -> AWSError:
    return AWSError("MissingParameter", f"The parameter {member} is required.")


def enum_error(value: Any, member: str, allowed: tuple[str, ...]) -> AWSError:
    """The one-field enum message (recorded on AWS for SetAlarmState's stateValue)."""
    return AWSError("ValidationError", f"1 validation error detected: Value '{value}' at '{member}' failed to "
                                       f"satisfy constraint: Member must satisfy enum value set: "
                                       f"[{', '.join(allowed)}]")


def need(params: dict[str, Any], key: str) -> Any:
    value = params.get(key)
    if value is None or value == "":
        raise missing(key)
    return value


def seconds(value: Any, member: str) -> float:
    """A timestamp parameter as epoch seconds (the JSON protocol sends numbers; ISO text is accepted too)."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise value_error(f"The parameter {member} must be a timestamp.")


def dimensions_of(items: Any, member: str) -> list[dict[str, str]]:
    out = []
    for item in items or []:
        if not isinstance(item, dict) or not item.get("Name") or item.get("Value") is None:
            raise value_error(f"The parameter {member} must hold Name/Value pairs.")
        out.append({"Name": str(item["Name"]), "Value": str(item["Value"])})
    return out
