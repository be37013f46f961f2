"""Step Functions state and operations: state machines, executions on background threads, task tokens.

The engine (``localcloud.asl``) runs each execution; this backend owns the records, the service integrations and
the task-token registry. It never sees HTTP. Its parts: versions and aliases (:mod:`.versions`), Map Runs
(:mod:`.mapruns`), RedriveExecution (:mod:`.redrive`), EXPRESS workflows (:mod:`.express`), TestState
(:mod:`.teststate`), definitions (:mod:`.definitions`).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud import settings
from localcloud.asl import Execution, InvalidDefinition, StateMachine
from localcloud.asl.integrations import ServiceIntegrations
from localcloud.core import trust
from localcloud.core.context import ServerContext
from localcloud.errors import AWSError, LocalCloudError
from localcloud.services.stepfunctions import definitions, executionlogs, logconfig
from localcloud.services.stepfunctions import validation as check
from localcloud.services.stepfunctions.express import NOT_SUPPORTED, ExpressRuns
from localcloud.services.stepfunctions.mapruns import MapRuns
from localcloud.services.stepfunctions.models import ExecutionRecord, StateMachineRecord
from localcloud.services.stepfunctions.redrive import Redrives
from localcloud.services.stepfunctions.store import utcnow
from localcloud.services.stepfunctions.teststate import TestStates
from localcloud.services.stepfunctions.versions import Target, Versions

LOG = logging.getLogger(__name__)

TRUST_ERROR = ("Neither the global service principal states.amazonaws.com, nor the regional one is authorized to "
               "assume the provided role.")


class StepFunctionsBackend(Versions, MapRuns, Redrives, ExpressRuns, TestStates):
    """All state machines and executions of one localcloud (every region; ARNs carry the region)."""

    def __init__(self, ctx: ServerContext, time_scale: float | None = None) -> None:
        super().__init__()
        self.endpoint_url = ctx.endpoint_url
        #: ``LOCALCLOUD_SFN_TIME_SCALE`` sets it for a whole server (e.g. 0.01 for fast local rehearsals)
        self.time_scale = time_scale if time_scale is not None else _env_time_scale()
        #: authorize every integration call against the state machine role's policies (as AWS does)
        self.enforce_iam = ctx.enforce_iam
        self.integrations = ServiceIntegrations(ctx.endpoint_url, sessions=ctx.sessions)
        self.events = ctx.events

    # ------------------------------------------------------------------------------------------- definitions
    def problems(self, definition: str, sm_type: str = "STANDARD") -> list[str]:
        """Every reason Step Functions would reject ``definition``: the language's, unknown Task resources, and
        what an EXPRESS machine may not use."""
        return definitions.problems(definition, self.integrations.check, sm_type)

    def coded_problems(self, definition: str, sm_type: str = "STANDARD") -> list[tuple[str, str]]:
        """:meth:`problems` with each problem's diagnostic code (ValidateStateMachineDefinition)."""
        return definitions.coded_problems(definition, self.integrations.check, sm_type)

    def parse(self, definition: str, sm_type: str = "STANDARD") -> StateMachine:
        """The parsed machine, or ``InvalidDefinition`` listing every problem."""
        problems = self.problems(definition, sm_type)
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
        if logging_configuration is not None:
            logging_configuration = logconfig.normalise(logging_configuration, self.endpoint_url, region)
        with self._lock:
            existing = self.machines.get(arn)
        if existing is not None:
            same = (existing.definition == definition and existing.type == sm_type
                    and (logging_configuration is None or logging_configuration == existing.logging_configuration)
                    and (tracing_configuration is None or tracing_configuration == existing.tracing_configuration))
            if same:
                return existing
            raise AWSError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
        machine = self.parse(definition, sm_type)
        self.check_role(role_arn, region, arn)
        now = utcnow()
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

    def describe_state_machine(self, arn: str) -> dict[str, Any]:
        """DescribeStateMachine of a state machine or of one of its versions."""
        if (check.state_machine_arn(arn, qualified=True).group("qualifier") or "").isdigit():
            return self.version(arn).describe()
        return self.state_machine(arn).describe()

    def update_state_machine(self, arn: str, *, definition: str | None, role_arn: str | None,
                             logging_configuration: dict[str, Any] | None,
                             tracing_configuration: dict[str, Any] | None) -> StateMachineRecord:
        """Replace definition and/or role; running executions keep the revision they started with. An update that
        changes nothing keeps the revision (recorded on AWS: test_sfn_api_versioning.snapshot.json
        test_empty_revision_with_publish_and_no_publish_on_creation: no new revisionId)."""
        record = self.state_machine(arn)
        if logging_configuration is not None:
            logging_configuration = logconfig.normalise(logging_configuration, self.endpoint_url, record.region)
        machine = self.parse(definition, record.type) if definition is not None else None
        if role_arn is not None:
            self.check_role(role_arn, record.region, arn)
        with self._lock:
            changed = ((definition is not None and definition != record.definition)
                       or (role_arn is not None and role_arn != record.role_arn)
                       or (logging_configuration is not None
                           and logging_configuration != record.logging_configuration)
                       or (tracing_configuration is not None
                           and tracing_configuration != record.tracing_configuration))
            if machine is not None and definition is not None:
                record.machine, record.definition = machine, definition
            if role_arn is not None:
                record.role_arn = role_arn
            if logging_configuration is not None:
                record.logging_configuration = logging_configuration
            if tracing_configuration is not None:
                record.tracing_configuration = tracing_configuration
            record.update_date = utcnow()
            if changed:
                record.revision_id = str(uuid.uuid4())
        return record

    def delete_state_machine(self, arn: str) -> None:
        """Delete the state machine, its versions and aliases; its running executions are stopped (a missing
        machine is not an error)."""
        check.state_machine_arn(arn)
        with self._lock:
            record = self.machines.pop(arn, None)
            mine = [self.executions[e] for e in self._executions_of.get(arn, [])]
            for execution in mine:
                execution.machine_deleted = True
        if record is None:
            return
        self.forget(arn)
        running = [e for e in mine if e.status == "RUNNING"]
        for execution in running:
            execution.engine.stop("States.Runtime", f"The state machine {arn} was deleted.")
        LOG.info("deleted state machine %s (%d running executions stopped)", arn, len(running))

    def list_state_machines(self, region: str) -> list[StateMachineRecord]:
        with self._lock:
            found = [m for m in self.machines.values() if m.region == region]
        return sorted(found, key=lambda m: m.name)

    # ------------------------------------------------------------------------------------------- executions
    def start_execution(self, sm_arn: str, name: str | None, input_text: str | None) -> tuple[str, datetime]:
        """Start an execution of a state machine, version or alias on a worker thread; returns (ARN, start)."""
        target = self.target(sm_arn)
        name = check.name(name) if name is not None else str(uuid.uuid4())
        text = input_text if input_text is not None else "{}"
        self.start_execution_checks(text)
        if target.type == "EXPRESS":
            engine = self.start_express(target, name, text)
            return engine.env.execution_arn, engine.start_time
        execution = self._standard(target, name, text)
        return execution.arn, execution.start_date

    @staticmethod
    def start_execution_checks(text: str) -> None:
        """The execution input must be JSON text (InvalidExecutionInput)."""
        try:
            json.loads(text)
        except ValueError as exc:
            raise AWSError("InvalidExecutionInput", f"Invalid State Machine Execution Input: '{exc}'") from None

    def _standard(self, target: Target, name: str, text: str) -> ExecutionRecord:
        record = target.machine
        arn = f"arn:aws:states:{record.region}:{settings.ACCOUNT_ID}:execution:{record.name}:{name}"
        with self._lock:
            existing = self.executions.get(arn)
            if existing is not None:
                if existing.status == "RUNNING" and existing.input == text:
                    return existing  # StartExecution is idempotent for a running execution, same name and input
                raise AWSError("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")
            start = utcnow()
            engine = Execution(target.engine_machine, execution_arn=arn, name=name, input=text,
                               state_machine_arn=record.arn, state_machine_name=record.name,
                               role_arn=target.role_arn, integrations=self.integrations, tokens=self.tokens,
                               start_time=start, time_scale=self.time_scale,
                               on_event=executionlogs.listener(target.logging, self.endpoint_url, arn, record.name))
            engine.env.host = self
            execution = ExecutionRecord(
                arn=arn, name=name, state_machine_arn=record.arn, input=text, start_date=start, engine=engine,
                definition=target.definition, role_arn=target.role_arn, state_machine_name=record.name,
                state_machine_update_date=record.update_date, revision_id=target.revision_id,
                version_arn=target.version.arn if target.version else None,
                alias_arn=target.alias.arn if target.alias else None)
            self.add_execution(execution, record.arn)
        self.status_changed(execution)  # RUNNING
        self.workers.start(f"sfn-{record.name}-{name}"[:60], lambda: self._run(execution))
        return execution

    def _run(self, execution: ExecutionRecord) -> None:
        try:
            execution.engine.run()
        except Exception:  # the engine ends executions itself; this is a last resort
            LOG.exception("execution %s crashed", execution.arn)
        self.finish(execution)

    def describe_execution(self, arn: str) -> dict[str, Any]:
        """DescribeExecution's answer, read consistently while the execution may be ending."""
        record = self.execution(arn)
        with self._lock:
            return record.describe(utcnow())

    def stop_execution(self, arn: str, error: str | None, cause: str | None) -> datetime:
        """Abort a running execution and wait (briefly) until it has ended; returns its stop date."""
        record = self.execution(arn)
        if record.status == "RUNNING":
            record.engine.stop(error, cause)
            for _ in range(100):  # the engine unwinds in milliseconds; never block a request for long
                with self._lock:
                    if self.refresh(record).status != "RUNNING":
                        break
                time.sleep(0.02)
        with self._lock:
            return record.stop_date or utcnow()

    def list_executions(self, sm_arn: str, status: str | None,
                        redrive_filter: str | None = None) -> list[ExecutionRecord]:
        """Most recent first: running executions by start date, the others by stop date. A version or alias ARN
        lists the executions started through it."""
        qualifier = check.state_machine_arn(sm_arn, qualified=True).group("qualifier")
        machine = self.state_machine(sm_arn.rsplit(":", 1)[0] if qualifier else sm_arn)
        if machine.type == "EXPRESS":
            raise AWSError("StateMachineTypeNotSupported", NOT_SUPPORTED)
        found = [self.refresh(e) for e in self.executions_of(machine.arn)]
        if qualifier:
            found = [e for e in found if sm_arn in (e.version_arn, e.alias_arn)]
        if status:
            found = [e for e in found if e.status == status]
        if redrive_filter:
            found = [e for e in found if (e.redrive_count > 0) == (redrive_filter == "REDRIVEN")]
        return sorted(found, key=lambda e: e.stop_date or e.start_date, reverse=True)

    def history(self, arn: str) -> list[dict[str, Any]]:
        record = self.execution(arn)
        if record.type == "EXPRESS":
            raise AWSError("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: express'")
        return record.engine.history()

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
        with self._lock:
            express = list(self.express_runs)
        for engine in express:
            engine.stop("States.Runtime", "localcloud is shutting down.")
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
