"""The version and alias operations of the Step Functions API: parameter checks as the API model constrains them,
then the backend (:mod:`.versions`). Mixed into :class:`~.api.StepFunctionsAPI`, which speaks the wire protocol."""

from __future__ import annotations

from typing import Any

from localcloud.errors import AWSError
from localcloud.services.stepfunctions import validation as check
from localcloud.services.stepfunctions.backend import StepFunctionsBackend


def _routing(params: dict[str, Any], required: bool) -> list[dict[str, Any]] | None:
    """``routingConfiguration``: 1-2 items of ``{stateMachineVersionArn, weight 0-100}`` (messages recorded on AWS:
    test_sfn_api_aliasing.snapshot.json test_error_create_alias_invalid_router_configs)."""
    routing = params.get("routingConfiguration")
    if routing is None:
        if required:
            raise AWSError("ValidationException", "1 validation error detected: Value null at "
                           "'routingConfiguration' failed to satisfy constraint: Member must not be null")
        return None
    if not isinstance(routing, list) or not all(isinstance(r, dict) for r in routing):
        raise AWSError("ValidationException", "routingConfiguration must be a list of objects.")
    if len(routing) > 2:
        shown = ", ".join(f"RoutingConfigurationListItem(stateMachineVersionArn={r.get('stateMachineVersionArn')}, "
                          f"weight={r.get('weight')})" for r in routing)
        raise AWSError("ValidationException", f"1 validation error detected: Value '[{shown}]' at "
                       f"'routingConfiguration' failed to satisfy constraint: Member must have length less than or "
                       f"equal to 2")
    if not routing:
        raise AWSError("ValidationException", "1 validation error detected: Value '[]' at 'routingConfiguration' "
                       "failed to satisfy constraint: Member must have length greater than or equal to 1")
    for i, route in enumerate(routing, start=1):
        weight = route.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise AWSError("ValidationException", f"Value at 'routingConfiguration.{i}.member.weight' must be an "
                           "integer.")
        if weight > 100 or weight < 0:
            bound = "less than or equal to 100" if weight > 100 else "greater than or equal to 0"
            raise AWSError("ValidationException", f"1 validation error detected: Value '{weight}' at "
                           f"'routingConfiguration.{i}.member.weight' failed to satisfy constraint: Member must have "
                           f"value {bound}")
    return routing


class VersionOperations:
    """PublishStateMachineVersion ... ListStateMachineAliases."""

    backend: StepFunctionsBackend

    def publish_state_machine_version(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineArn", required=True, min_len=1, max_len=256) or ""
        revision = check.string(params, "revisionId")
        description = check.string(params, "description", max_len=256)
        version = self.backend.publish(arn, revision, description)
        return {"creationDate": version.creation_date, "stateMachineVersionArn": version.arn}

    def list_state_machine_versions(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineArn", required=True, min_len=1, max_len=256) or ""
        _page_token(params)
        versions = self.backend.list_versions(arn)
        chunk, token = check.page(versions, params, f"versions|{arn}")
        out: dict[str, Any] = {"stateMachineVersions": [{"stateMachineVersionArn": v.arn,
                                                         "creationDate": v.creation_date} for v in chunk]}
        if token:
            out["nextToken"] = token
        return out

    def delete_state_machine_version(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineVersionArn", required=True, min_len=1, max_len=256) or ""
        self.backend.delete_version(arn)
        return {}

    def create_state_machine_alias(self, params: dict[str, Any]) -> dict[str, Any]:
        name = check.string(params, "name", required=True, min_len=1) or ""
        check.alias_name(name)
        description = check.string(params, "description", max_len=256)
        routing = _routing(params, required=True)
        assert routing is not None
        alias = self.backend.create_alias(name, routing, description)
        return {"stateMachineAliasArn": alias.arn, "creationDate": alias.creation_date}

    def describe_state_machine_alias(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineAliasArn", required=True, min_len=1, max_len=256) or ""
        return self.backend.alias(arn).describe()

    def update_state_machine_alias(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineAliasArn", required=True, min_len=1, max_len=256) or ""
        description = check.string(params, "description", max_len=256)
        routing = _routing(params, required=False)
        if description is None and routing is None:
            raise AWSError("ValidationException", "Either the description or the RoutingConfiguration must be "
                           "specified")
        return {"updateDate": self.backend.update_alias(arn, routing, description).update_date}

    def delete_state_machine_alias(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineAliasArn", required=True, min_len=1, max_len=256) or ""
        self.backend.delete_alias(arn)
        return {}

    def list_state_machine_aliases(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = check.string(params, "stateMachineArn", required=True, min_len=1, max_len=256) or ""
        _page_token(params)
        aliases = self.backend.list_aliases(arn)
        chunk, token = check.page(aliases, params, f"aliases|{arn}", invalid="Invalid token")
        out: dict[str, Any] = {"stateMachineAliases": [{"stateMachineAliasArn": a.arn,
                                                        "creationDate": a.creation_date} for a in chunk]}
        if token:
            out["nextToken"] = token
        return out


def _page_token(params: dict[str, Any]) -> None:
    """``nextToken`` of these listings is at most 1024 characters (PageToken, API model; recorded on AWS:
    test_list_state_machine_versions_pagination)."""
    token = params.get("nextToken")
    if isinstance(token, str) and len(token) > 1024:
        raise AWSError("ValidationException", f"1 validation error detected: Value '{token}' at 'nextToken' failed "
                       "to satisfy constraint: Member must have length less than or equal to 1024")
