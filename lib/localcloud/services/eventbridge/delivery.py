"""Delivering to targets, off the request thread, as EventBridge and EventBridge Scheduler do.

A Step Functions target starts an execution *as the target's role*: the role must trust the service
(``events.amazonaws.com`` for rules, ``scheduler.amazonaws.com`` for schedules) and the call is made with that
role's session, so an enforcing localcloud checks ``states:StartExecution`` against the role's policies ("Using
identity-based policies (IAM policies) for Amazon EventBridge": the role a target uses needs the target's action;
Scheduler user guide "Set up the execution role"). A rule's Lambda, SNS and SQS targets are called with the
service's own credentials: on AWS their resource policies decide, which localcloud does not check. Scheduler
calls every target with the schedule's role.

A failed delivery is retried when the error is one a retry can cure (throttling, a 5xx, no connection) up to the
target's ``RetryPolicy`` (defaults 185 attempts, 24 hours: "How EventBridge retries delivering events"), waiting
1, 2, 4 ... seconds (times the server's time scale); an error of the request itself (access denied, no such
resource, invalid input) is not retried. Then, if the target has a ``DeadLetterConfig``, the event goes to that
SQS queue with the attributes ``RULE_ARN`` (or ``SCHEDULE_ARN``), ``TARGET_ARN``, ``ERROR_CODE`` and
``ERROR_MESSAGE``; without one it is dropped. Every outcome is kept in :attr:`Delivery.outcomes` and logged.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.core import clients, trust
from localcloud.core.arns import parse_arn
from localcloud.core.context import ServerContext

LOG = logging.getLogger(__name__)

_RETRIABLE = ("ThrottlingException", "Throttling", "TooManyRequestsException", "ServiceUnavailable",
              "InternalServerError", "InternalFailure", "ServiceException")
_WORKERS = 4


@dataclass
class Job:
    """One delivery of one event to one target."""

    target: dict[str, Any]
    payload: str
    #: the rule's or the schedule's ARN
    source_arn: str
    #: "events" (a rule) or "scheduler" (a schedule)
    service: str
    region: str
    #: the execution name a Step Functions target starts
    execution_name: str
    #: what the dead-letter queue receives
    dead_letter_body: str
    created: float = field(default_factory=time.monotonic)
    attempts: int = 0


@dataclass(frozen=True)
class Outcome:
    source_arn: str
    target_arn: str
    ok: bool
    detail: str
    attempts: int


class DeliveryError(Exception):
    def __init__(self, code: str, message: str, retriable: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.retriable = code, message, retriable


class Delivery:
    """A queue of jobs and the threads that deliver them."""

    def __init__(self, ctx: ServerContext, time_scale: float) -> None:
        self.ctx = ctx
        self.time_scale = time_scale
        self.outcomes: deque[Outcome] = deque(maxlen=1000)
        self._queue: queue.Queue[Job | Callable[[], None] | None] = queue.Queue()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._run, name=f"eventbridge-delivery-{i}", daemon=True)
                         for i in range(_WORKERS)]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> None:
        self._queue.put(job)

    def run(self, work: Callable[[], None]) -> None:
        """Do ``work`` on a delivery thread (an SNS delivery)."""
        self._queue.put(work)

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    def shutdown(self) -> None:
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(5)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self._stopping.is_set():
                return
            try:
                if isinstance(job, Job):
                    self._attempt(job)
                else:
                    job()
            except Exception:  # noqa: BLE001 - one bad delivery must not stop the others
                LOG.exception("a delivery failed unexpectedly")

    def _attempt(self, job: Job) -> None:
        policy = job.target.get("RetryPolicy") or {}
        max_attempts = int(policy.get("MaximumRetryAttempts", 185))
        max_age = float(policy.get("MaximumEventAgeInSeconds", 86400)) * self.time_scale
        while True:
            job.attempts += 1
            try:
                detail = self.deliver(job)
            except DeliveryError as exc:
                waited = 2 ** min(job.attempts - 1, 8) * self.time_scale
                too_old = time.monotonic() - job.created + waited > max_age
                if exc.retriable and job.attempts <= max_attempts and not too_old and not self._stopping.is_set():
                    self._stopping.wait(waited)
                    continue
                self._failed(job, exc)
                return
            self._record(job, True, detail)
            return

    def _record(self, job: Job, ok: bool, detail: str) -> None:
        outcome = Outcome(job.source_arn, str(job.target.get("Arn")), ok, detail, job.attempts)
        self.outcomes.append(outcome)
        (LOG.info if ok else LOG.warning)("%s → %s: %s", job.source_arn, job.target.get("Arn"), detail)

    def _failed(self, job: Job, exc: DeliveryError) -> None:
        self._record(job, False, f"{exc.code}: {exc.message}")
        queue_arn = (job.target.get("DeadLetterConfig") or {}).get("Arn")
        if not queue_arn:
            return
        source_key = "SCHEDULE_ARN" if job.service == "scheduler" else "RULE_ARN"
        attributes = {source_key: job.source_arn, "TARGET_ARN": str(job.target.get("Arn")),
                      "ERROR_CODE": exc.code, "ERROR_MESSAGE": exc.message[:1000]}
        try:
            sqs = clients.client(self.ctx.endpoint_url, "sqs", _region(queue_arn, job.region))
            url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=job.dead_letter_body, MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v})
        except (ClientError, BotoCoreError) as dlq_error:
            LOG.warning("the dead-letter queue %s could not take the event: %s", queue_arn, dlq_error)

    # ------------------------------------------------------------------------------------------- targets
    def deliver(self, job: Job) -> str:
        """Call the target once; what it answered, or :class:`DeliveryError`."""
        arn = parse_arn(str(job.target.get("Arn", "")))
        if arn is None:
            raise DeliveryError("InvalidTarget", f"{job.target.get('Arn')} is not an ARN")
        try:
            return self._call(job, arn.service, arn.region or job.region)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "ClientError"))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
            raise DeliveryError(code, str(error.get("Message", exc)), code in _RETRIABLE or status >= 500) from None
        except BotoCoreError as exc:
            raise DeliveryError("SDK_CLIENT_ERROR", str(exc), retriable=True) from None

    def _session(self, job: Job, region: str) -> Any:
        role = job.target.get("RoleArn")
        if not role:
            raise DeliveryError("NoRole", f"the target {job.target.get('Arn')} has no RoleArn to act with")
        principal = f"{job.service}.amazonaws.com"
        reason = trust.refusal(self.ctx.endpoint_url, str(role), principal, region)
        if reason:
            raise DeliveryError("AccessDeniedException", f"{principal} cannot assume {role}: {reason}")
        return self.ctx.sessions.issue(str(role), f"{job.service}-{uuid.uuid4().hex[:16]}")

    # long: one branch per kind of target, each a single call
    def _call(self, job: Job, service: str, region: str) -> str:
        endpoint, target_arn = self.ctx.endpoint_url, str(job.target["Arn"])
        scheduler = job.service == "scheduler"
        if service == "states":
            sfn = clients.client(endpoint, "stepfunctions", region, self._session(job, region))
            started = sfn.start_execution(stateMachineArn=target_arn, input=job.payload, name=job.execution_name)
            return f"started {started['executionArn']}"
        if service == "lambda":
            session = self._session(job, region) if scheduler else None
            clients.client(endpoint, "lambda", region, session).invoke(
                FunctionName=target_arn, InvocationType="Event", Payload=job.payload.encode())
            return "invoked"
        if service == "sns":
            session = self._session(job, region) if scheduler else None
            sent = clients.client(endpoint, "sns", region, session).publish(TopicArn=target_arn, Message=job.payload)
            return f"published {sent['MessageId']}"
        if service == "sqs":
            session = self._session(job, region) if scheduler else None
            sqs = clients.client(endpoint, "sqs", region, session)
            url = sqs.get_queue_url(QueueName=target_arn.rsplit(":", 1)[-1])["QueueUrl"]
            extra = {"MessageGroupId": job.target["SqsParameters"]["MessageGroupId"]} \
                if (job.target.get("SqsParameters") or {}).get("MessageGroupId") else {}
            return f"sent {sqs.send_message(QueueUrl=url, MessageBody=job.payload, **extra)['MessageId']}"
        if service == "scheduler" and ":aws-sdk:" in target_arn:
            return self._universal(job, target_arn, region)
        if service == "events" and ":event-bus/" in target_arn:
            event = json.loads(job.payload)
            clients.client(endpoint, "events", region).put_events(Entries=[{
                "Source": event.get("source"), "DetailType": event.get("detail-type"),
                "Detail": json.dumps(event.get("detail", {})), "Resources": event.get("resources", []),
                "EventBusName": target_arn}])
            return "put on the bus"
        raise DeliveryError("UnsupportedTarget", f"localcloud does not deliver to {service} targets")

    def _universal(self, job: Job, target_arn: str, region: str) -> str:
        """``arn:aws:scheduler:::aws-sdk:<service>:<apiAction>``: the API call, its parameters the target's
        Input (Scheduler user guide, "Using universal targets")."""
        service, _, action = target_arn.split(":aws-sdk:", 1)[1].partition(":")
        client = clients.client(self.ctx.endpoint_url, "stepfunctions" if service == "sfn" else service, region,
                                self._session(job, region))
        method = "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")
        answer = getattr(client, method)(**json.loads(job.payload or "{}"))
        return f"called {service}:{action} ({answer.get('ResponseMetadata', {}).get('HTTPStatusCode')})"


def _region(arn: str, default: str) -> str:
    parsed = parse_arn(arn)
    return parsed.region if parsed and parsed.region else default
