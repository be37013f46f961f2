"""What the Step Functions backend keeps: state machines and their executions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localcloud.asl import Execution, StateMachine


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
    logging_configuration: dict[str, Any] = field(
        default_factory=lambda: {"level": "OFF", "includeExecutionData": False})
    tracing_configuration: dict[str, Any] = field(default_factory=lambda: {"enabled": False})
    tags: dict[str, str] = field(default_factory=dict)
    revision_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def describe(self) -> dict[str, Any]:
        """DescribeStateMachine's answer."""
        return {
            "stateMachineArn": self.arn,
            "name": self.name,
            "status": "ACTIVE",
            "definition": self.definition,
            "roleArn": self.role_arn,
            "type": self.type,
            "creationDate": self.creation_date,
            "loggingConfiguration": self.logging_configuration,
            "tracingConfiguration": self.tracing_configuration,
            "revisionId": self.revision_id,
            "encryptionConfiguration": {"type": "AWS_OWNED_KEY"},
        }

    def list_item(self) -> dict[str, Any]:
        return {"stateMachineArn": self.arn, "name": self.name, "type": self.type,
                "creationDate": self.creation_date}


@dataclass
class ExecutionRecord:
    """One execution, with the state machine revision it runs."""

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
    revision_id: str
    status: str = "RUNNING"
    stop_date: datetime | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None

    def describe(self) -> dict[str, Any]:
        """DescribeExecution's answer."""
        out: dict[str, Any] = {
            "executionArn": self.arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start_date,
            "input": self.input,
            "inputDetails": {"included": True},
            "redriveCount": 0,
            "redriveStatus": "NOT_REDRIVABLE",
        }
        if self.stop_date is not None:
            out["stopDate"] = self.stop_date
        if self.status == "SUCCEEDED":
            out["output"] = self.output
            out["outputDetails"] = {"included": True}
        if self.error is not None:
            out["error"] = self.error
        if self.cause is not None:
            out["cause"] = self.cause
        if self.status == "RUNNING":
            out["redriveStatusReason"] = "Execution is RUNNING and cannot be redriven"
        return out

    def list_item(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "executionArn": self.arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start_date,
        }
        if self.stop_date is not None:
            out["stopDate"] = self.stop_date
        return out
