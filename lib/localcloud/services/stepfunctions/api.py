"""AWS Step Functions on the AWS JSON 1.0 protocol (``X-Amz-Target: AWSStepFunctions.<Operation>``).

Wire protocol only: each method checks its parameters as the API model does and calls the backend. Versions and
aliases are in :mod:`.api_versions`; Map Runs, redrive, StartSyncExecution, TestState and validation in
:mod:`.api_runs`. StartSyncExecution and TestState have the host prefix ``sync-`` in the API model: a client of a
localcloud endpoint turns it off (botocore ``Config(inject_host_prefix=False)``).
"""

from __future__ import annotations

import logging
from typing import Any

from localcloud.core.protocol import AWSRequest, JsonService
from localcloud.errors import AWSError
from localcloud.services.stepfunctions import validation as check
from localcloud.services.stepfunctions.api_runs import RunOperations
from localcloud.services.stepfunctions.api_versions import VersionOperations
from localcloud.services.stepfunctions.backend import StepFunctionsBackend
from localcloud.services.stepfunctions.models import add_variable_references

LOG = logging.getLogger(__name__)

_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")


class StepFunctionsAPI(JsonService, VersionOperations, RunOperations):
    """The Step Functions API of localcloud."""

    signing_names = ("states",)
    target_prefixes = ("AWSStepFunctions",)
    content_type = "application/x-amz-json-1.0"
    service_label = "Step Functions"

    def __init__(self, backend: StepFunctionsBackend) -> None:
        self.backend = backend

    # ------------------------------------------------------------------------------------------- state machines
    def create_state_machine(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        name = check.name(check.string(params, "name", required=True, min_len=1, max_len=80) or "")
        definition = check.string(params, "definition", required=True, min_len=1, max_len=1048576) or ""
        role_arn = check.string(params, "roleArn", required=True, min_len=1, max_len=256) or ""
        sm_type = _state_machine_type(params)
        publish, description = _publish(params)
        record = self.backend.create_state_machine(
            name=name, definition=definition, role_arn=role_arn, region=request.region, sm_type=sm_type,
            logging_configuration=_object(params, "loggingConfiguration"),
            tracing_configuration=_object(params, "tracingConfiguration"), tags=_tags(params.get("tags")))
        out: dict[str, Any] = {"stateMachineArn": record.arn, "creationDate": record.creation_date}
        if publish:
            out["stateMachineVersionArn"] = self.backend.publish(record.arn, None, description).arn
        return out

    def update_state_machine(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineArn", required=True, min_len=1, max_len=256) or ""
        definition = check.string(params, "definition", min_len=1, max_len=1048576)
        role_arn = check.string(params, "roleArn", min_len=1, max_len=256)
        logging_cfg = _object(params, "loggingConfiguration")
        tracing_cfg = _object(params, "tracingConfiguration")
        if definition is None and role_arn is None and logging_cfg is None and tracing_cfg is None:
            raise AWSError("MissingRequiredParameter", "Either the definition, the role ARN, the "
                           "LoggingConfiguration or the TracingConfiguration must be specified")
        publish, description = _publish(params)
        record = self.backend.update_state_machine(arn, definition=definition, role_arn=role_arn,
                                                   logging_configuration=logging_cfg,
                                                   tracing_configuration=tracing_cfg)
        out: dict[str, Any] = {"updateDate": record.update_date}
        if record.revision_id is not None:
            out["revisionId"] = record.revision_id
        if publish:
            out["stateMachineVersionArn"] = self.backend.publish(record.arn, None, description).arn
        return out

    def describe_state_machine(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineArn", required=True, min_len=1, max_len=256) or ""
        return self.backend.describe_state_machine(arn)

    def delete_state_machine(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineArn", required=True, min_len=1, max_len=256) or ""
        self.backend.delete_state_machine(arn)
        return {}

    def list_state_machines(self, params: dict[str, Any], request: AWSRequest) -> dict[str, Any]:
        machines = self.backend.list_state_machines(request.region)
        chunk, token = check.page(machines, params, f"machines|{request.region}")
        out: dict[str, Any] = {"stateMachines": [m.list_item() for m in chunk]}
        if token:
            out["nextToken"] = token
        return out

    # ------------------------------------------------------------------------------------------- executions
    def start_execution(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineArn", required=True, min_len=1, max_len=256) or ""
        name = check.string(params, "name", min_len=1, max_len=80)
        text = check.string(params, "input", max_len=262144)
        check.string(params, "traceHeader", max_len=256)
        execution_arn, start = self.backend.start_execution(arn, name, text)
        return {"executionArn": execution_arn, "startDate": start}

    def describe_execution(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "executionArn", required=True, min_len=1, max_len=256) or ""
        out = self.backend.describe_execution(arn)
        if params.get("includedData") == "METADATA_ONLY":
            for key in ("input", "output", "error", "cause"):
                out.pop(key, None)
        return out

    def stop_execution(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "executionArn", required=True, min_len=1, max_len=256) or ""
        error = check.string(params, "error", max_len=256)
        cause = check.string(params, "cause", max_len=32768)
        return {"stopDate": self.backend.stop_execution(arn, error, cause)}

    def list_executions(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineArn", min_len=1, max_len=256)
        map_run = check.string(params, "mapRunArn", min_len=1, max_len=2000)
        if (arn is None) == (map_run is None):
            raise AWSError("ValidationException", "Must provide a StateMachine ARN or MapRun ARN")
        status = check.string(params, "statusFilter")
        if status is not None and status not in _STATUSES:
            raise AWSError("ValidationException", f"Value '{status}' at 'statusFilter' failed to satisfy "
                           f"constraint: Member must satisfy enum value set: [{', '.join(_STATUSES)}]")
        redrive = check.string(params, "redriveFilter")
        if redrive is not None and redrive not in ("REDRIVEN", "NOT_REDRIVEN"):
            raise AWSError("ValidationException", f"Value '{redrive}' at 'redriveFilter' failed to satisfy "
                           f"constraint: Member must satisfy enum value set: [REDRIVEN, NOT_REDRIVEN]")
        check.integer(params, "maxResults", 0, 1000)
        if map_run is not None:
            executions = self.backend.map_run_children(map_run, status)
        else:
            executions = self.backend.list_executions(arn or "", status, redrive)
        scope = f"executions|{arn or map_run}|{status}|{redrive}"
        chunk, token = check.page(executions, params, scope)
        with self.backend.lock:
            out: dict[str, Any] = {"executions": [_listed(e, map_run is not None) for e in chunk]}
        if token:
            out["nextToken"] = token
        return out

    def get_execution_history(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "executionArn", required=True, min_len=1, max_len=256) or ""
        reverse = check.boolean(params, "reverseOrder", False)
        include = check.boolean(params, "includeExecutionData", True)
        check.integer(params, "maxResults", 0, 1000)
        events = self.backend.history(arn)
        if reverse:
            events.reverse()
        chunk, token = check.page(events, params, f"history|{arn}|{reverse}")
        out: dict[str, Any] = {"events": [_event(e, include) for e in chunk]}
        if token:
            out["nextToken"] = token
        return out

    def describe_state_machine_for_execution(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "executionArn", required=True, min_len=1, max_len=256) or ""
        execution = self.backend.execution(arn)
        out: dict[str, Any] = {
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.state_machine_name,
            "definition": execution.definition,
            "roleArn": execution.role_arn,
            "updateDate": execution.state_machine_update_date,
            "loggingConfiguration": {"level": "OFF", "includeExecutionData": False},
            "tracingConfiguration": {"enabled": False},
        }
        if execution.revision_id is not None:
            out["revisionId"] = execution.revision_id
        if execution.map_run_arn is not None:  # "returned only if the executionArn is a child workflow execution"
            out["mapRunArn"] = execution.map_run_arn
            out["label"] = execution.state_machine_name.rsplit("/", 1)[-1]
        return add_variable_references(out, execution.definition)

    # ------------------------------------------------------------------------------------------- task tokens
    def send_task_success(self, params: dict[str, Any]) -> dict[str, Any]:
        token = check.string(params, "taskToken", required=True, min_len=1, max_len=2048) or ""
        output = params.get("output")
        if not isinstance(output, str):
            raise AWSError("ValidationException", "1 validation error detected: Value null at 'output' failed to "
                           "satisfy constraint: Member must not be null")
        self.backend.tokens.send_success(token, output)
        return {}

    def send_task_failure(self, params: dict[str, Any]) -> dict[str, Any]:
        token = check.string(params, "taskToken", required=True, min_len=1, max_len=2048) or ""
        error = check.string(params, "error", max_len=256) or ""
        cause = check.string(params, "cause", max_len=32768) or ""
        self.backend.tokens.send_failure(token, error, cause)
        return {}

    def send_task_heartbeat(self, params: dict[str, Any]) -> dict[str, Any]:
        token = check.string(params, "taskToken", required=True, min_len=1, max_len=2048) or ""
        self.backend.tokens.send_heartbeat(token)
        return {}

    # ------------------------------------------------------------------------------------------- tags
    def tag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "resourceArn", required=True, min_len=1, max_len=256) or ""
        self.backend.tag_resource(arn, _tags(params.get("tags")))
        return {}

    def untag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "resourceArn", required=True, min_len=1, max_len=256) or ""
        keys = params.get("tagKeys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise AWSError("ValidationException", "tagKeys must be a list of strings.")
        self.backend.untag_resource(arn, keys)
        return {}

    def list_tags_for_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "resourceArn", required=True, min_len=1, max_len=256) or ""
        return {"tags": [{"key": k, "value": v} for k, v in self.backend.tags(arn).items()]}

    # ------------------------------------------------------------------------------------------- lifecycle
    def health(self) -> dict[str, Any]:
        return {"status": "running", "state_machines": len(self.backend.machines),
                "running_executions": len(self.backend.running())}


def _state_machine_type(params: dict[str, Any]) -> str:
    sm_type = check.string(params, "type") or "STANDARD"
    if sm_type not in ("STANDARD", "EXPRESS"):
        raise AWSError("ValidationException", f"Value '{sm_type}' at 'type' failed to satisfy constraint: Member "
                       f"must satisfy enum value set: [STANDARD, EXPRESS]")
    return sm_type


def _object(params: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = params.get(key)
    if value is not None and not isinstance(value, dict):
        raise AWSError("ValidationException", f"Value at '{key}' must be an object.")
    return value


def _tags(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise AWSError("ValidationException", "tags must be a list of {key, value} objects.")
    tags: dict[str, str] = {}
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise AWSError("ValidationException", "Each tag needs a string 'key' (and optionally a 'value').")
        tags[item["key"]] = str(item.get("value", ""))
    if len(tags) > 50:
        raise AWSError("TooManyTags", "Too many tags: a resource has at most 50 tags.")
    return tags


def _publish(params: dict[str, Any]) -> tuple[bool, str | None]:
    """``publish`` and ``versionDescription`` ("Version description can only be set when publish is true", recorded
    on AWS: test_sfn_api_versioning.snapshot.json test_create_with_version_description_no_publish)."""
    publish = check.boolean(params, "publish", False)
    description = check.string(params, "versionDescription", max_len=256)
    if description is not None and not publish:
        raise AWSError("ValidationException", "Version description can only be set when publish is true")
    return publish, description


def _listed(execution: Any, by_map_run: bool) -> dict[str, Any]:
    """A ListExecutions entry; ``mapRunArn`` "is returned only if mapRunArn was specified" (API reference)."""
    item = execution.list_item()
    if not by_map_run:
        item.pop("mapRunArn", None)
    return item


def _event(event: dict[str, Any], include_data: bool) -> dict[str, Any]:
    """A history event as GetExecutionHistory returns it (without input/output when data is excluded)."""
    out = dict(event)
    if not include_data:
        for key, value in event.items():
            if key.endswith("EventDetails") and isinstance(value, dict):
                out[key] = {k: v for k, v in value.items() if k not in ("input", "output")}
    return out
