"""What the Step Functions backend keeps: state machines, their versions and aliases, executions and Map Runs.

Shapes follow the API reference (botocore's ``stepfunctions`` service model) and responses recorded on AWS
(localstack's ``tests/aws/services/stepfunctions/v2/test_sfn_api*.snapshot.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from localcloud.asl import Execution, StateMachine, variable_references

#: "Your workflow execution has not exceeded the redrivable period of 14 days" (RedriveExecution, API reference)
REDRIVABLE_PERIOD = timedelta(days=14)
#: "The execution event history count is less than 24,999" (RedriveExecution, API reference)
REDRIVE_HISTORY_LIMIT = 24999


def _default_logging() -> dict[str, Any]:
    return {"level": "OFF", "includeExecutionData": False}


def add_variable_references(out: dict[str, Any], definition: str) -> dict[str, Any]:
    """``variableReferences``: "A map of state name to a list of variables referenced by that state. States that do
    not use variable references will not be shown in the response" (DescribeStateMachineOutput, API model)."""
    references = variable_references(definition)
    if references:
        out["variableReferences"] = references
    return out


@dataclass
class StateMachineRecord:
    """One state machine (its current revision)."""

    arn: str
    name: str
    definition: str
    role_arn: str
    machine: StateMachine
    region: str
    creation_date: datetime
    update_date: datetime
    type: str = "STANDARD"
    logging_configuration: dict[str, Any] = field(default_factory=_default_logging)
    tracing_configuration: dict[str, Any] = field(default_factory=lambda: {"enabled": False})
    tags: dict[str, str] = field(default_factory=dict)
    #: none until the first update: DescribeStateMachine of a new machine has no revisionId (recorded on AWS:
    #: localstack snapshot test_sfn_api_versioning.snapshot.json test_create_publish_describe_no_version_description)
    revision_id: str | None = None
    #: the number the next published version gets; numbers are never reused after a deletion (recorded on AWS:
    #: test_sfn_api_versioning.snapshot.json test_version_ids_between_deletions)
    next_version: int = 1

    def describe(self) -> dict[str, Any]:
        """DescribeStateMachine's answer."""
        return add_variable_references(_described(self), self.definition)

    def list_item(self) -> dict[str, Any]:
        return {"stateMachineArn": self.arn, "name": self.name, "type": self.type,
                "creationDate": self.creation_date}


@dataclass
class VersionRecord:
    """A published, immutable version of a state machine (``<state machine ARN>:<number>``)."""

    arn: str
    machine_arn: str
    number: int
    name: str
    definition: str
    role_arn: str
    machine: StateMachine
    type: str
    revision_id: str | None
    creation_date: datetime
    logging_configuration: dict[str, Any]
    tracing_configuration: dict[str, Any]
    description: str | None = None

    def describe(self) -> dict[str, Any]:
        """DescribeStateMachine of a version ARN (recorded on AWS: test_sfn_api_versioning.snapshot.json
        test_publish_state_machine_version ``describe_v1``/``describe_v2``)."""
        out = _described(self)
        if self.description:
            out["description"] = self.description
        return add_variable_references(out, self.definition)


def _described(record: StateMachine | VersionRecord) -> dict[str, Any]:
    """What DescribeStateMachine answers alike for a state machine and for one of its versions."""
    out: dict[str, Any] = {
        "stateMachineArn": record.arn,
        "name": record.name,
        "status": "ACTIVE",
        "definition": record.definition,
        "roleArn": record.role_arn,
        "type": record.type,
        "creationDate": record.creation_date,
        "loggingConfiguration": record.logging_configuration,
        "tracingConfiguration": record.tracing_configuration,
        "encryptionConfiguration": {"type": "AWS_OWNED_KEY"},
    }
    if record.revision_id is not None:
        out["revisionId"] = record.revision_id
    return out


@dataclass
class AliasRecord:
    """An alias routing executions between one or two versions by weight (``<state machine ARN>:<name>``)."""

    arn: str
    machine_arn: str
    name: str
    routing: list[dict[str, Any]]
    creation_date: datetime
    update_date: datetime
    description: str | None = None

    def describe(self) -> dict[str, Any]:
        """DescribeStateMachineAlias (recorded on AWS: test_sfn_api_aliasing.snapshot.json
        test_base_lifecycle_create_update_describe)."""
        out: dict[str, Any] = {"stateMachineAliasArn": self.arn, "name": self.name,
                               "routingConfiguration": [dict(r) for r in self.routing],
                               "creationDate": self.creation_date, "updateDate": self.update_date}
        if self.description is not None:
            out["description"] = self.description
        return out


@dataclass
class ExecutionRecord:
    """One execution, with the state machine revision (or version) it runs."""

    arn: str
    name: str
    state_machine_arn: str
    input: str
    start_date: datetime
    engine: Execution
    definition: str
    role_arn: str
    state_machine_name: str
    state_machine_update_date: datetime
    revision_id: str | None
    type: str = "STANDARD"
    version_arn: str | None = None
    alias_arn: str | None = None
    map_run_arn: str | None = None
    status: str = "RUNNING"
    stop_date: datetime | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    redrive_count: int = 0
    redrive_date: datetime | None = None
    #: set when the state machine it belongs to was deleted
    machine_deleted: bool = False

    def redrive_status(self, now: datetime) -> tuple[str, str | None]:
        """(redriveStatus, redriveStatusReason) as DescribeExecution reports them; the reasons are the ones the
        API reference lists under DescribeExecutionOutput ``redriveStatusReason``."""
        if self.status in ("RUNNING", "SUCCEEDED"):
            return "NOT_REDRIVABLE", f"Execution is {self.status} and cannot be redriven"
        if self.machine_deleted:
            return "NOT_REDRIVABLE", "State machine is in DELETING status"
        if self.stop_date is not None and now - self.stop_date > REDRIVABLE_PERIOD:
            return "NOT_REDRIVABLE", "Execution redrivable period exceeded"
        if len(self.engine.events) >= REDRIVE_HISTORY_LIMIT:
            return "NOT_REDRIVABLE", "Execution history event limit exceeded"
        if self.map_run_arn is not None:
            return "REDRIVABLE_BY_MAP_RUN", None
        return "REDRIVABLE", None

    def describe(self, now: datetime) -> dict[str, Any]:
        """DescribeExecution's answer."""
        out: dict[str, Any] = {
            "executionArn": self.arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start_date,
            "input": self.input,
            "inputDetails": {"included": True},
            "redriveCount": self.redrive_count,
        }
        for key, value in (("stopDate", self.stop_date), ("stateMachineVersionArn", self.version_arn),
                           ("stateMachineAliasArn", self.alias_arn), ("mapRunArn", self.map_run_arn),
                           ("redriveDate", self.redrive_date), ("error", self.error), ("cause", self.cause)):
            if value is not None:
                out[key] = value
        if self.status == "SUCCEEDED":
            out["output"] = self.output
            out["outputDetails"] = {"included": True}
        status, reason = self.redrive_status(now)
        out["redriveStatus"] = status
        if reason is not None:
            out["redriveStatusReason"] = reason
        return out

    def list_item(self) -> dict[str, Any]:
        """One ListExecutions entry (recorded on AWS: test_sfn_api_aliasing.snapshot.json
        test_base_lifecycle_create_invoke_describe_list ``list_executions_response``)."""
        out: dict[str, Any] = {
            "executionArn": self.arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start_date,
            "redriveCount": self.redrive_count,
        }
        for key, value in (("stopDate", self.stop_date), ("stateMachineVersionArn", self.version_arn),
                           ("stateMachineAliasArn", self.alias_arn), ("mapRunArn", self.map_run_arn),
                           ("redriveDate", self.redrive_date)):
            if value is not None:
                out[key] = value
        return out
