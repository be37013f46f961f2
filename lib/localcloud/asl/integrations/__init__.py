"""The service integrations of Task states, keyed by resource ARN (the engine's ``Integrations`` protocol).

Every handler reaches its service through boto3 back into this localcloud, as Step Functions calls other AWS
services, so it works for whatever localcloud serves:

- ``arn:aws:states:::lambda:invoke[.waitForTaskToken]`` and a plain function ARN
  ``arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`` (the payload itself): :mod:`.awslambda`
- ``arn:aws:states:::glue:startJobRun[.sync]``: :mod:`.glue`
- ``arn:aws:states:::sagemaker:<action>[.sync]``: :mod:`.sagemaker`
- ``arn:aws:states:::states:startExecution[.sync|.sync:2|.waitForTaskToken]``: :mod:`.states`
- ``arn:aws:states:::aws-sdk:<service>:<action>[.waitForTaskToken]``: :mod:`.awssdk`
- ``arn:aws:states:::dynamodb:getItem|putItem|updateItem|deleteItem``: :mod:`.dynamodb`; ``sns:publish``,
  ``sqs:sendMessage`` and ``events:putEvents`` (+ ``.waitForTaskToken``): :mod:`.sns`, :mod:`.sqs`, :mod:`.events`
- the optimized integrations of services localcloud does not run (Batch, ECS, EMR, ...): accepted, and failing as
  an unreachable service when they run: :mod:`.unserved`
- ``arn:aws:states:::s3:getObject|listObjectsV2|putObject`` for a Distributed Map's ItemReader and ResultWriter
  (not a Task's resource): :mod:`.s3`
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.asl.errors import TaskFailed
from localcloud.asl.integrations import (
    awslambda,
    awssdk,
    dynamodb,
    events,
    glue,
    s3,
    sagemaker,
    sns,
    sqs,
    states,
    unserved,
)
from localcloud.asl.integrations.base import Call
from localcloud.core.sessions import RoleSessions

LOG = logging.getLogger(__name__)

__all__ = ["ServiceIntegrations", "Resource", "parse_resource", "Call"]

_STATES = re.compile(
    r"^arn:aws[a-z-]*:states:(?P<region>[a-z0-9-]*):(?P<account>\d*):(?P<rest>.+)$"
)
_LAMBDA = re.compile(
    r"^arn:aws[a-z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:(?P<name>[A-Za-z0-9_-]+)"
    r"(?::(?P<qualifier>[A-Za-z0-9$_-]+))?$"
)
PATTERNS = {"": "request/response", "sync": "run a job", "sync:2": "run a job", "waitForTaskToken": "callback"}

Handler = Callable[[Call], Any]


@dataclass(frozen=True)
class Resource:
    """A parsed Task resource."""

    service: str
    action: str
    pattern: str = ""
    region: str = ""
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Route:
    handler: Handler
    patterns: frozenset[str]


#: optimized integrations: (service, action) → handler and the patterns AWS offers for it
ROUTES: dict[tuple[str, str], Route] = {
    ("lambda", "invoke"): Route(awslambda.invoke, frozenset({"", "waitForTaskToken"})),
    ("glue", "startJobRun"): Route(glue.start_job_run, frozenset({"", "sync"})),
    ("states", "startExecution"): Route(states.start_execution,
                                        frozenset({"", "sync", "sync:2", "waitForTaskToken"})),
    **{("sagemaker", a): Route(sagemaker.run, frozenset({""})) for a in sagemaker.SIMPLE},
    **{("sagemaker", a): Route(sagemaker.run, frozenset({"", "sync"})) for a in sagemaker.JOBS},
    **{("dynamodb", a): Route(dynamodb.run, frozenset({""})) for a in dynamodb.ACTIONS},
    ("sns", "publish"): Route(sns.publish, frozenset({"", "waitForTaskToken"})),
    ("sqs", "sendMessage"): Route(sqs.send_message, frozenset({"", "waitForTaskToken"})),
    ("events", "putEvents"): Route(events.put_events, frozenset({"", "waitForTaskToken"})),
    **{key: Route(unserved.run, patterns) for key, patterns in unserved.ROUTES.items()},
}


class UnknownResource(ValueError):
    """A resource no integration serves; the message is the problem as Step Functions words it."""


def parse_resource(resource: str) -> Resource:
    """Split a Task resource ARN into service, action and integration pattern (raises UnknownResource)."""
    if not isinstance(resource, str):
        raise UnknownResource("The resource must be a string ARN")
    lam = _LAMBDA.match(resource)
    if lam:
        extra = (("function", resource.rsplit(":", 1)[0] if lam.group("qualifier") else resource),
                 ("qualifier", lam.group("qualifier") or ""))
        return Resource("lambda", "function", "", lam.group("region"), extra)
    match = _STATES.match(resource)
    if not match:
        raise _not_recognized(resource)
    rest = match.group("rest")
    pattern = ""
    for suffix in (".waitForTaskToken", ".sync:2", ".sync"):
        if rest.endswith(suffix):
            rest, pattern = rest[: -len(suffix)], suffix[1:]
            break
    parts = rest.split(":")
    if parts[0] == "aws-sdk" and len(parts) == 3:
        return Resource(parts[1], parts[2], pattern, match.group("region"), (("family", "aws-sdk"),))
    if len(parts) == 2 and not match.group("account"):
        return Resource(parts[0], parts[1], pattern, match.group("region"))
    raise _not_recognized(resource)


def _not_recognized(resource: str) -> UnknownResource:
    return UnknownResource(
        f"The resource provided {resource} is not recognized. The value is not a valid resource ARN, or the "
        f"resource is not available in this region."
    )


class ServiceIntegrations:
    """The registry the Step Functions backend hands to the engine (implements ``asl.Integrations``)."""

    def __init__(self, endpoint_url: str, region: str = "us-east-1", *, sessions: RoleSessions | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        #: the server's role sessions: tasks call services with the execution role's credentials
        self.sessions = sessions

    def check(self, resource: str) -> str | None:
        """Why a definition naming ``resource`` would be rejected, or None when an integration serves it."""
        try:
            self._route(parse_resource(resource), resource)
        except UnknownResource as exc:
            return str(exc)
        return None

    def _route(self, parsed: Resource, resource: str) -> Handler:
        extra = dict(parsed.extra)
        if parsed.action == "function" and "function" in extra:
            return awslambda.invoke_function_arn
        if extra.get("family") == "aws-sdk":
            problem = awssdk.check(parsed.service, parsed.action)
            if problem:
                raise UnknownResource(f"The resource provided {resource} is not recognized: {problem}.")
            if parsed.pattern not in ("", "waitForTaskToken"):
                raise UnknownResource(
                    f"The resource provided {resource} is not recognized: AWS SDK integrations support the "
                    f"request/response and .waitForTaskToken patterns only."
                )
            return awssdk.run
        route = ROUTES.get((parsed.service, parsed.action))
        if route is None:
            raise _not_recognized(resource)
        if parsed.pattern not in route.patterns:
            allowed = ", ".join(sorted(f".{p}" if p else "(none)" for p in route.patterns))
            raise UnknownResource(
                f"The resource provided {resource} is not recognized: {parsed.service}:{parsed.action} supports "
                f"the integration patterns {allowed}."
            )
        return route.handler

    def invoke(self, resource: str, parameters: Any, task: Any) -> Any:
        """Run the task; returns its JSON result, raises ``TaskFailed`` with AWS's error names."""
        try:
            parsed = parse_resource(resource)
            handler = s3.run if resource in s3.ACTIONS else self._route(parsed, resource)
        except UnknownResource as exc:
            raise TaskFailed("States.Runtime", str(exc)) from None
        region = getattr(task, "region", None) or parsed.region or self.region
        call = Call(resource=resource, service=parsed.service, action=parsed.action, pattern=parsed.pattern,
                    parameters=parameters, task=task, endpoint_url=self.endpoint_url, region=region,
                    extra=dict(parsed.extra), sessions=self.sessions)
        LOG.debug("task %s → %s", getattr(task, "state_name", "?"), resource)
        return handler(call)
