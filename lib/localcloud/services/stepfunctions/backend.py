"""Step Functions state and operations: state machines, executions on background threads, task tokens.

The engine (``localcloud.asl``) runs each execution; this backend owns the records, the service integrations and
the task-token registry. It never sees HTTP.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud import settings
from localcloud.asl import Execution, InvalidDefinition, StateMachine, TokenRegistry, validate_definition
from localcloud.asl.integrations import ServiceIntegrations
from localcloud.core import trust
from localcloud.core.context import ServerContext
from localcloud.core.jobs import Workers
from localcloud.errors import AWSError, LocalCloudError
from localcloud.services.stepfunctions import validation as check
from localcloud.services.stepfunctions.models import ExecutionRecord, StateMachineRecord

LOG = logging.getLogger(__name__)

TRUST_ERROR = ("Neither the global service principal states.amazonaws.com, nor the regional one is authorized to "
               "assume the provided role.")


def _now() -> datetime:
    from localcloud.asl.history import now

    return now()


class StepFunctionsBackend:
    """All state machines and executions of one localcloud (every region; ARNs carry the region)."""

    def __init__(self, ctx: ServerContext, time_scale: float | None = None) -> None:
        endpoint_url, sessions = ctx.endpoint_url, ctx.sessions
        self.endpoint_url = endpoint_url
        #: multiplies every duration of a definition (Wait, retry intervals, timeouts); 1.0 is AWS's clock.
        #: ``LOCALCLOUD_SFN_TIME_SCALE`` sets it for a whole server (e.g. 0.01 for fast local rehearsals).
        self.time_scale = time_scale if time_scale is not None else _env_time_scale()
        #: authorize every integration call against the state machine role's policies (as AWS does)
        self.enforce_iam = ctx.enforce_iam
        self.integrations = ServiceIntegrations(endpoint_url, sessions=sessions)
        self.tokens = TokenRegistry()
        self.workers = Workers()
        self._lock = threading.RLock()
        self.machines: dict[str, StateMachineRecord] = {}
        self.executions: dict[str, ExecutionRecord] = {}
        self._executions_of: dict[str, list[str]] = {}

    @property
    def lock(self) -> threading.RLock:
        """Held while records change; hold it to read several fields of a record consistently."""
        return self._lock

    # ------------------------------------------------------------------------------------------- definitions
    def problems(self, definition: str) -> list[str]:
        """Every reason Step Functions would reject ``definition``: the language's and unknown Task resources."""
        found = list(validate_definition(definition))
        try:
            document = json.loads(definition)
        except (TypeError, ValueError):
            return found
        if isinstance(document, dict):
            found.extend(self._resource_problems(document, ""))
        return found

    def _resource_problems(self, document: dict[str, Any], where: str) -> list[str]:
        found: list[str] = []
        states = document.get("States")
        if not isinstance(states, dict):
            return found
        for name, state in states.items():
            if not isinstance(state, dict):
                continue
            here = f"{where}/States/{name}"
            kind = state.get("Type")
            resource = state.get("Resource")
            if kind == "Task" and isinstance(resource, str):
                problem = self.integrations.check(resource)
                if problem:
                    found.append(f"{here}/Resource: {problem}")
            if kind == "Parallel" and isinstance(state.get("Branches"), list):
                for i, branch in enumerate(state["Branches"]):
                    if isinstance(branch, dict):
                        found.extend(self._resource_problems(branch, f"{here}/Branches[{i}]"))
            if kind == "Map":
                for key in ("ItemProcessor", "Iterator"):
                    if isinstance(state.get(key), dict):
                        found.extend(self._resource_problems(state[key], f"{here}/{key}"))
        return found

    def parse(self, definition: str) -> StateMachine:
        """The parsed machine, or ``InvalidDefinition`` listing every problem."""
        problems = self.problems(definition)
        if problems:
            raise AWSError("InvalidDefinition", "Invalid State Machine Definition: '" + "; ".join(problems) + "'")
        try:
            return StateMachine.parse(definition)
        except InvalidDefinition as exc:  # pragma: no cover - validate_definition already said so
            raise AWSError("InvalidDefinition", str(exc)) from None

    def check_role(self, role_arn: str, region: str, machine_arn: str = "") -> None:
        """The role must exist in IAM and trust ``states.amazonaws.com`` (Step Functions assumes it on create)."""
        check.role_arn(role_arn)
        try:
            reason = trust.refusal(self.endpoint_url, role_arn, ("states.amazonaws.com", f"states.{region}.amazonaws.com"),
                                   region, trust.source_context(role_arn.split(":")[4], machine_arn))
        except (ClientError, BotoCoreError) as exc:
            raise AWSError("ServiceUnavailable", f"IAM could not be asked about {role_arn}: {exc}", 500) from None
        if reason:
            raise AWSError("AccessDeniedException", TRUST_ERROR + f" ({reason}; its trust policy must let "
                           "states.amazonaws.com sts:AssumeRole.)")

    # ------------------------------------------------------------------------------------------- state machines
    def create_state_machine(self, *, name: str, definition: str, role_arn: str, region: str,
                             sm_type: str = "STANDARD", logging_configuration: dict[str, Any] | None = None,
                             tracing_configuration: dict[str, Any] | None = None,
                             tags: dict[str, str] | None = None) -> StateMachineRecord:
        """Create a state machine; the same name with the same definition/type/config is idempotent (AWS)."""
        arn = f"arn:aws:states:{region}:{settings.ACCOUNT_ID}:stateMachine:{name}"
        with self._lock:
            existing = self.machines.get(arn)
        if existing is not None:
            same = (existing.definition == definition and existing.type == sm_type
                    and (logging_configuration is None or logging_configuration == existing.logging_configuration)
                    and (tracing_configuration is None or tracing_configuration == existing.tracing_configuration))
            if same:
                return existing
            raise AWSError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
        machine = self.parse(definition)
        self.check_role(role_arn, region, arn)
        now = _now()
        record = StateMachineRecord(
            arn=arn, name=name, definition=definition, role_arn=role_arn, machine=machine, region=region,
            creation_date=now, update_date=now, type=sm_type, tags=dict(tags or {}))
        if logging_configuration is not None:
            record.logging_configuration = logging_configuration
        if tracing_configuration is not None:
            record.tracing_configuration = tracing_configuration
        with self._lock:
            if arn in self.machines:  # created meanwhile by a concurrent request
                raise AWSError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
            self.machines[arn] = record
            self._executions_of.setdefault(arn, [])
        LOG.info("created state machine %s", arn)
        return record

    def state_machine(self, arn: str) -> StateMachineRecord:
        check.state_machine_arn(arn)
        with self._lock:
            record = self.machines.get(arn)
        if record is None:
            raise AWSError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        return record

    def update_state_machine(self, arn: str, *, definition: str | None, role_arn: str | None,
                             logging_configuration: dict[str, Any] | None,
                             tracing_configuration: dict[str, Any] | None) -> StateMachineRecord:
        """Replace definition and/or role; running executions keep the revision they started with."""
        record = self.state_machine(arn)
        machine = self.parse(definition) if definition is not None else None
        if role_arn is not None:
            self.check_role(role_arn, record.region, arn)
        with self._lock:
            if machine is not None and definition is not None:
                record.machine, record.definition = machine, definition
            if role_arn is not None:
                record.role_arn = role_arn
            if logging_configuration is not None:
                record.logging_configuration = logging_configuration
            if tracing_configuration is not None:
                record.tracing_configuration = tracing_configuration
            record.update_date = _now()
            record.revision_id = str(uuid.uuid4())
        return record

    def delete_state_machine(self, arn: str) -> None:
        """Delete the state machine; its running executions are stopped (a missing machine is not an error)."""
        check.state_machine_arn(arn)
        with self._lock:
            record = self.machines.pop(arn, None)
            running = [self.executions[e] for e in self._executions_of.get(arn, [])
                       if self.executions[e].status == "RUNNING"]
        if record is None:
            return
        for execution in running:
            execution.engine.stop("States.Runtime", f"The state machine {arn} was deleted.")
        LOG.info("deleted state machine %s (%d running executions stopped)", arn, len(running))

    def list_state_machines(self, region: str) -> list[StateMachineRecord]:
        with self._lock:
            found = [m for m in self.machines.values() if m.region == region]
        return sorted(found, key=lambda m: m.name)

    # ------------------------------------------------------------------------------------------- executions
    def start_execution(self, sm_arn: str, name: str | None, input_text: str | None) -> ExecutionRecord:
        """Start an execution on a worker thread and return at once."""
        record = self.state_machine(sm_arn)
        name = check.name(name) if name is not None else str(uuid.uuid4())
        text = input_text if input_text is not None else "{}"
        try:
            json.loads(text)
        except ValueError as exc:
            raise AWSError("InvalidExecutionInput", f"Invalid State Machine Execution Input: '{exc}'") from None
        arn = f"arn:aws:states:{record.region}:{settings.ACCOUNT_ID}:execution:{record.name}:{name}"
        with self._lock:
            existing = self.executions.get(arn)
            if existing is not None:
                if existing.status == "RUNNING" and existing.input == text:
                    return existing  # StartExecution is idempotent for a running execution, same name and input
                raise AWSError("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")
            start = _now()
            engine = Execution(record.machine, execution_arn=arn, name=name, input=text,
                               state_machine_arn=record.arn, state_machine_name=record.name,
                               role_arn=record.role_arn, integrations=self.integrations, tokens=self.tokens,
                               start_time=start, time_scale=self.time_scale)
            execution = ExecutionRecord(
                arn=arn, name=name, state_machine_arn=record.arn, input=text, start_date=start, engine=engine,
                definition=record.definition, role_arn=record.role_arn, state_machine_name=record.name,
                state_machine_update_date=record.update_date, revision_id=record.revision_id)
            self.executions[arn] = execution
            self._executions_of.setdefault(record.arn, []).append(arn)
        self.workers.start(f"sfn-{record.name}-{name}"[:60], lambda: self._run(execution))
        return execution

    def _run(self, execution: ExecutionRecord) -> None:
        try:
            result = execution.engine.run()
        except Exception as exc:  # the engine ends executions itself; this is a last resort
            LOG.exception("execution %s crashed", execution.arn)
            status, output, error, cause, stop = "FAILED", None, "States.Runtime", str(exc), _now()
        else:
            status, output, error, cause, stop = (result.status, result.output, result.error, result.cause,
                                                  result.stop_date)
        with self._lock:
            execution.status, execution.output = status, output
            execution.error, execution.cause, execution.stop_date = error, cause, stop

    def execution(self, arn: str) -> ExecutionRecord:
        check.execution_arn(arn)
        with self._lock:
            record = self.executions.get(arn)
        if record is None:
            raise AWSError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        return record

    def describe_execution(self, arn: str) -> dict[str, Any]:
        """DescribeExecution's answer, read consistently while the execution may be ending."""
        record = self.execution(arn)
        with self._lock:
            return record.describe()

    def stop_execution(self, arn: str, error: str | None, cause: str | None) -> datetime:
        """Abort a running execution and wait (briefly) until it has ended; returns its stop date."""
        record = self.execution(arn)
        if record.status == "RUNNING":
            record.engine.stop(error, cause)
            for _ in range(100):  # the engine unwinds in milliseconds; never block a request for long
                with self._lock:
                    if record.status != "RUNNING":
                        break
                time.sleep(0.02)
        with self._lock:
            return record.stop_date or _now()

    def list_executions(self, sm_arn: str, status: str | None) -> list[ExecutionRecord]:
        """Most recent first: running executions by start date, the others by stop date."""
        self.state_machine(sm_arn)
        with self._lock:
            found = [self.executions[a] for a in self._executions_of.get(sm_arn, [])]
            if status:
                found = [e for e in found if e.status == status]
            return sorted(found, key=lambda e: e.stop_date or e.start_date, reverse=True)

    def history(self, arn: str) -> list[dict[str, Any]]:
        return self.execution(arn).engine.history()

    # ------------------------------------------------------------------------------------------- tags
    def tag_resource(self, arn: str, tags: dict[str, str]) -> None:
        record = self._tagged(arn)
        with self._lock:
            if len({**record.tags, **tags}) > 50:
                raise AWSError("TooManyTags", f"Too many tags: a resource has at most 50 tags ({arn}).")
            record.tags.update(tags)

    def untag_resource(self, arn: str, keys: list[str]) -> None:
        record = self._tagged(arn)
        with self._lock:
            for key in keys:
                record.tags.pop(key, None)

    def tags(self, arn: str) -> dict[str, str]:
        return dict(self._tagged(arn).tags)

    def _tagged(self, arn: str) -> StateMachineRecord:
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise AWSError("InvalidArn", f"Invalid Arn: '{arn}'")
        with self._lock:
            record = self.machines.get(arn)
        if record is None:
            raise AWSError("ResourceNotFound", f"Resource not found: '{arn}'")
        return record

    # ------------------------------------------------------------------------------------------- lifecycle
    def running(self) -> list[ExecutionRecord]:
        with self._lock:
            return [e for e in self.executions.values() if e.status == "RUNNING"]

    def shutdown(self) -> None:
        """Stop every running execution and join their threads."""
        for execution in self.running():
            execution.engine.stop("States.Runtime", "localcloud is shutting down.")
        self.workers.shutdown(timeout=5.0)


def _env_time_scale() -> float:
    raw = os.environ.get("LOCALCLOUD_SFN_TIME_SCALE", "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        raise LocalCloudError(f"LOCALCLOUD_SFN_TIME_SCALE must be a positive number, not {raw!r}.") from None
    if value <= 0:
        raise LocalCloudError(f"LOCALCLOUD_SFN_TIME_SCALE must be a positive number, not {raw!r}.")
    return value
