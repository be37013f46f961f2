"""The run-side operations of the Step Functions API beyond StartExecution: Map Runs, RedriveExecution,
StartSyncExecution, TestState, ValidateStateMachineDefinition. Parameter checks as the API model constrains them,
then the backend. Mixed into :class:`~.api.StepFunctionsAPI`, which speaks the wire protocol."""

from __future__ import annotations

from typing import Any

from localcloud.errors import AWSError
from localcloud.services.stepfunctions import definitions, mapruns
from localcloud.services.stepfunctions import validation as check
from localcloud.services.stepfunctions.backend import StepFunctionsBackend

_LEVELS = ("INFO", "DEBUG", "TRACE")


def _enum(params: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = check.string(params, key)
    if value is not None and value not in allowed:
        raise AWSError("ValidationException", f"1 validation error detected: Value '{value}' at '{key}' failed to "
                       f"satisfy constraint: Member must satisfy enum value set: [{', '.join(allowed)}]")
    return value


def _number(params: dict[str, Any], key: str, high: float | None = None) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 \
            or (high is not None and value > high):
        raise AWSError("ValidationException", f"1 validation error detected: Value '{value}' at '{key}' failed to "
                       f"satisfy constraint: Member must have value between 0 and {high if high else 'no limit'}")
    return value


class RunOperations:
    """Map Runs, redrive, synchronous EXPRESS runs, TestState and definition validation."""

    backend: StepFunctionsBackend

    # ------------------------------------------------------------------------------------------- map runs
    def describe_map_run(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "mapRunArn", required=True, min_len=1, max_len=2000) or ""
        return mapruns.describe(self.backend.map_run(arn))

    def list_map_runs(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "executionArn", required=True, min_len=1, max_len=256) or ""
        runs = self.backend.list_map_runs(arn)
        chunk, token = check.page(runs, params, f"mapruns|{arn}")
        out: dict[str, Any] = {"mapRuns": chunk}
        if token:
            out["nextToken"] = token
        return out

    def update_map_run(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "mapRunArn", required=True, min_len=1, max_len=2000) or ""
        concurrency = _number(params, "maxConcurrency")
        count = _number(params, "toleratedFailureCount")
        percentage = _number(params, "toleratedFailurePercentage", 100)
        self.backend.update_map_run(arn, None if concurrency is None else int(concurrency),
                                    None if count is None else int(count), percentage)
        return {}

    # ------------------------------------------------------------------------------------------- runs
    def redrive_execution(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "executionArn", required=True, min_len=1, max_len=256) or ""
        token = check.string(params, "clientToken", min_len=1, max_len=64)
        return {"redriveDate": self.backend.redrive_execution(arn, token)}

    def start_sync_execution(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineArn", required=True, min_len=1, max_len=256) or ""
        name = check.string(params, "name", min_len=1, max_len=80)
        text = check.string(params, "input", max_len=262144)
        check.string(params, "traceHeader", max_len=256)
        included = _enum(params, "includedData", ("ALL_DATA", "METADATA_ONLY"))
        if name is not None:
            check.name(name)
        text = text if text is not None else "{}"
        self.backend.start_execution_checks(text)
        out = self.backend.start_sync(self.backend.target(arn), name, text)
        if included == "METADATA_ONLY":
            for key in ("input", "inputDetails", "output", "outputDetails"):
                out.pop(key, None)
        return out

    def test_state(self, params: dict[str, Any], request: Any) -> dict[str, Any]:
        check.string(params, "definition", required=True, min_len=1, max_len=1048576)
        role = check.string(params, "roleArn", min_len=1, max_len=256)
        if role is not None:
            check.role_arn(role)
        check.string(params, "input", max_len=262144)
        check.string(params, "stateName", min_len=1, max_len=80)
        _enum(params, "inspectionLevel", _LEVELS)
        check.boolean(params, "revealSecrets", False)
        return self.backend.test_state(params, request.region)

    # ------------------------------------------------------------------------------------------- validation
    def validate_state_machine_definition(self, params: dict[str, Any]) -> dict[str, Any]:
        """``result`` OK/FAIL and the ``diagnostics`` (shapes recorded on AWS: test_sfn_api_validation
        .snapshot.json)."""
        definition = params.get("definition")
        if not isinstance(definition, str):
            check.string(params, "definition", required=True)
        sm_type = _enum(params, "type", ("STANDARD", "EXPRESS")) or "STANDARD"
        _enum(params, "severity", ("ERROR", "WARNING"))
        limit = check.integer(params, "maxResults", 0, 100) or 100
        text = str(definition)
        odd = (definitions.json_syntax(text) or definitions.not_a_definition(text)) if text.strip() else {
            "severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": "Definition must be a valid JSON "
            "object"}
        diagnostics = [odd] if odd else definitions.diagnostics(self.backend.coded_problems(text, sm_type))
        return {"result": "FAIL" if diagnostics else "OK", "diagnostics": diagnostics[:limit],
                "truncated": len(diagnostics) > limit}
