"""A state machine's ``loggingConfiguration``, checked and kept as Step Functions keeps it.

Recorded on AWS (localstack snapshot ``tests/aws/services/stepfunctions/v2/test_sfn_api_logs.snapshot.json``): a
level other than OFF needs exactly one destination ("Invalid Logging Configuration: Must specify exactly one Log
Destination."), and so does more than one destination at any level; a log group that does not exist is "Invalid
Logging Configuration: Log Destination not found."; an incomplete configuration (``{}``, ``{"destinations": []}``)
is kept with ``level`` OFF and ``includeExecutionData`` false filled in.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.core import clients
from localcloud.errors import AWSError

LOG = logging.getLogger(__name__)

LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
_GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:logs:(?P<region>[a-z0-9-]+):\d{12}:log-group:(?P<name>[^:]+)(?::\*)?$")


def _invalid(why: str) -> AWSError:
    return AWSError("InvalidLoggingConfiguration", f"Invalid Logging Configuration: {why}")


def normalise(config: dict[str, Any], endpoint_url: str, region: str) -> dict[str, Any]:
    """The configuration to keep, or InvalidLoggingConfiguration."""
    level = config.get("level", "OFF")
    if level not in LEVELS:
        raise AWSError("ValidationException", f"1 validation error detected: Value '{level}' at "
                       f"'loggingConfiguration.level' failed to satisfy constraint: Member must satisfy enum value "
                       f"set: [{', '.join(LEVELS)}]")
    destinations = config.get("destinations")
    count = len(destinations) if isinstance(destinations, list) else 0
    if count > 1 or (level != "OFF" and count != 1):
        raise _invalid("Must specify exactly one Log Destination.")
    out: dict[str, Any] = {"level": level, "includeExecutionData": bool(config.get("includeExecutionData", False))}
    if destinations is not None:
        out["destinations"] = destinations
    if count == 1:
        arn = str(((destinations[0] or {}).get("cloudWatchLogsLogGroup") or {}).get("logGroupArn", ""))
        _exists(arn, endpoint_url, region)
    return out


def _exists(arn: str, endpoint_url: str, region: str) -> None:
    match = _GROUP_ARN.match(arn)
    if match is None:
        raise _invalid("Log Destination not found.")
    try:
        logs = clients.client(endpoint_url, "logs", match.group("region") or region)
        groups = logs.describe_log_groups(logGroupNamePrefix=match.group("name"))["logGroups"]
    except (ClientError, BotoCoreError) as exc:
        raise AWSError("ServiceUnavailable", f"CloudWatch Logs could not be asked about {arn}: {exc}", 500) from None
    if not any(g["logGroupName"] == match.group("name") for g in groups):
        raise _invalid("Log Destination not found.")
