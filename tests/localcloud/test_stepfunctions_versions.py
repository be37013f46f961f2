"""State machine versions and aliases through boto3.

Expectations are responses recorded on AWS (localstack ``tests/aws/services/stepfunctions/v2/
test_sfn_api_versioning.snapshot.json`` and ``test_sfn_api_aliasing.snapshot.json``, named per test) and the API
reference (botocore's stepfunctions model documentation).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sfn_helpers import ensure_role, unique, wait_done

PASS = {"Comment": "R1", "StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"Arg1": "argument1"},
                                                          "End": True}}}


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions")


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-versions-tests-role")


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def _definition(comment: str) -> str:
    return json.dumps({**PASS, "Comment": comment})


def test_create_with_publish_and_describe_the_version(sfn: Any, role: str) -> None:
    # test_create_publish_describe_with_version_description
    created = sfn.create_state_machine(name=unique("v"), definition=_definition("R1"), roleArn=role, publish=True,
                                       versionDescription="HelloWorld!")
    arn = created["stateMachineArn"]
    assert created["stateMachineVersionArn"] == f"{arn}:1"
    version = sfn.describe_state_machine(stateMachineArn=f"{arn}:1")
    assert version["stateMachineArn"] == f"{arn}:1" and version["description"] == "HelloWorld!"
    assert json.loads(version["definition"])["Comment"] == "R1" and version["status"] == "ACTIVE"
    latest = sfn.describe_state_machine(stateMachineArn=arn)
    assert "revisionId" not in latest and "description" not in latest  # a new machine has no revision id yet


def test_update_publish_list_and_stale_revision(sfn: Any, role: str) -> None:
    # test_publish_state_machine_version, test_update_state_machine, test_idempotent_publish
    arn = sfn.create_state_machine(name=unique("v"), definition=_definition("R0"), roleArn=role)["stateMachineArn"]
    first = sfn.update_state_machine(stateMachineArn=arn, definition=_definition("R1"))
    v1 = sfn.publish_state_machine_version(stateMachineArn=arn, revisionId=first["revisionId"])
    assert v1["stateMachineVersionArn"] == f"{arn}:1"
    again = sfn.publish_state_machine_version(stateMachineArn=arn)  # the same revision: the same version
    assert again["stateMachineVersionArn"] == f"{arn}:1"
    second = sfn.update_state_machine(stateMachineArn=arn, definition=_definition("R2"), publish=True,
                                      versionDescription="PublishedV2Description")
    assert second["stateMachineVersionArn"] == f"{arn}:2" and second["revisionId"] != first["revisionId"]
    listed = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in listed] == [f"{arn}:2", f"{arn}:1"]  # newest first
    assert sfn.describe_state_machine(stateMachineArn=f"{arn}:2")["revisionId"] == second["revisionId"]
    with pytest.raises(ClientError) as err:  # test_update_state_machine invalid_arn_1: a version is not updated
        sfn.update_state_machine(stateMachineArn=f"{arn}:2", definition=_definition("R9"))
    assert _error(err) == ("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}:2'")
    sfn.update_state_machine(stateMachineArn=arn, definition=_definition("R3"))
    with pytest.raises(ClientError) as err:
        sfn.publish_state_machine_version(stateMachineArn=arn, revisionId=second["revisionId"])
    code, message = _error(err)
    assert code == "ConflictException"
    assert message.startswith(f"Failed to publish the State Machine version for revision {second['revisionId']}. "
                              "The current State Machine revision is ")


def test_an_update_that_changes_nothing_keeps_the_revision(sfn: Any, role: str) -> None:
    # test_empty_revision_with_publish_and_no_publish_on_creation
    arn = sfn.create_state_machine(name=unique("v"), definition=_definition("R1"), roleArn=role)["stateMachineArn"]
    for _ in range(2):
        same = sfn.update_state_machine(stateMachineArn=arn, definition=_definition("R1"), publish=True)
        assert "revisionId" not in same and same["stateMachineVersionArn"] == f"{arn}:1"


def test_version_numbers_are_not_reused_and_deletes_are_idempotent(sfn: Any, role: str) -> None:
    # test_version_ids_between_deletions, test_list_delete_version
    arn = sfn.create_state_machine(name=unique("v"), definition=_definition("R1"), roleArn=role,
                                   publish=True)["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=_definition("R2"), publish=True)
    sfn.delete_state_machine_version(stateMachineVersionArn=f"{arn}:2")
    sfn.delete_state_machine_version(stateMachineVersionArn=f"{arn}:2")
    sfn.update_state_machine(stateMachineArn=arn, definition=_definition("R3"))
    assert sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"] == f"{arn}:3"
    with pytest.raises(ClientError) as err:
        sfn.describe_state_machine(stateMachineArn=f"{arn}:2")
    assert _error(err) == ("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}:2'")


def test_publish_errors(sfn: Any) -> None:
    # test_publish_state_machine_version_invalid_arn
    with pytest.raises(ClientError) as err:
        sfn.publish_state_machine_version(stateMachineArn="invalid_arn")
    assert _error(err) == ("InvalidArn", "Invalid Arn: 'Invalid ARN prefix: invalid_arn'")
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:nope"
    with pytest.raises(ClientError) as err:
        sfn.publish_state_machine_version(stateMachineArn=missing)
    assert _error(err)[0] == "StateMachineDoesNotExist"


def test_versions_page_and_check_their_tokens(sfn: Any, role: str) -> None:
    # test_list_state_machine_versions_pagination
    arn = sfn.create_state_machine(name=unique("v"), definition=_definition("R0"), roleArn=role)["stateMachineArn"]
    for i in range(1, 4):
        sfn.update_state_machine(stateMachineArn=arn, definition=_definition(f"R{i}"), publish=True)
    page = sfn.list_state_machine_versions(stateMachineArn=arn, maxResults=2)
    assert [v["stateMachineVersionArn"][-1] for v in page["stateMachineVersions"]] == ["3", "2"]
    rest = sfn.list_state_machine_versions(stateMachineArn=arn, maxResults=2, nextToken=page["nextToken"])
    assert [v["stateMachineVersionArn"][-1] for v in rest["stateMachineVersions"]] == ["1"]
    with pytest.raises(ClientError) as err:
        sfn.list_state_machine_versions(stateMachineArn=arn, maxResults=1001)
    assert _error(err)[1] == ("1 validation error detected: Value '1001' at 'maxResults' failed to satisfy "
                              "constraint: Member must have value less than or equal to 1000")


def test_execution_of_a_version_and_of_an_alias(sfn: Any, role: str) -> None:
    # test_base_lifecycle_create_invoke_describe_list, test_start_version_execution
    arn = sfn.create_state_machine(name=unique("v"), definition=_definition("R1"), roleArn=role,
                                   publish=True)["stateMachineArn"]
    alias = sfn.create_state_machine_alias(name="prod", routingConfiguration=[
        {"stateMachineVersionArn": f"{arn}:1", "weight": 100}])["stateMachineAliasArn"]
    assert alias == f"{arn}:prod"
    through_alias = wait_done(sfn, sfn.start_execution(stateMachineArn=alias)["executionArn"])
    assert through_alias["stateMachineAliasArn"] == alias
    assert through_alias["stateMachineVersionArn"] == f"{arn}:1" and through_alias["stateMachineArn"] == arn
    assert through_alias["redriveStatus"] == "NOT_REDRIVABLE"
    assert through_alias["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven"
    through_version = wait_done(sfn, sfn.start_execution(stateMachineArn=f"{arn}:1")["executionArn"])
    assert through_version["stateMachineVersionArn"] == f"{arn}:1" and "stateMachineAliasArn" not in through_version
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert len(listed) == 2 and all(e["redriveCount"] == 0 for e in listed)
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=f"{arn}:1")["executions"]] \
        == [e["executionArn"] for e in listed]
    assert len(sfn.list_executions(stateMachineArn=alias)["executions"]) == 1


def test_alias_routes_by_weight(sfn: Any, role: str) -> None:
    arn = sfn.create_state_machine(name=unique("v"), definition=_definition("R1"), roleArn=role,
                                   publish=True)["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=_definition("R2"), publish=True)
    alias = sfn.create_state_machine_alias(name="canary", routingConfiguration=[
        {"stateMachineVersionArn": f"{arn}:1", "weight": 70},
        {"stateMachineVersionArn": f"{arn}:2", "weight": 30}])["stateMachineAliasArn"]
    arns = [sfn.start_execution(stateMachineArn=alias)["executionArn"] for _ in range(60)]
    versions = Counter(wait_done(sfn, a)["stateMachineVersionArn"] for a in arns)
    assert set(versions) == {f"{arn}:1", f"{arn}:2"} and versions[f"{arn}:1"] > versions[f"{arn}:2"]


def test_alias_lifecycle_and_conflicts(sfn: Any, role: str) -> None:
    # test_base_lifecycle_create_update_describe, test_idempotent_create_alias, test_error_create_alias_not_idempotent,
    # test_delete_version_with_alias, test_update_no_such_alias_arn, test_delete_no_such_alias_arn
    arn = sfn.create_state_machine(name=unique("v"), definition=_definition("R1"), roleArn=role,
                                   publish=True)["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=_definition("R2"), publish=True)
    route = [{"stateMachineVersionArn": f"{arn}:1", "weight": 100}]
    created = sfn.create_state_machine_alias(name="live", description="first", routingConfiguration=route)
    again = sfn.create_state_machine_alias(name="live", description="first", routingConfiguration=route)
    assert (again["stateMachineAliasArn"], again["creationDate"]) == (created["stateMachineAliasArn"],
                                                                      created["creationDate"])
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine_alias(name="live", description="other", routingConfiguration=route)
    assert _error(err) == ("ConflictException", "Failed to create alias because an alias with the same name and a "
                                                "different routing configuration already exists.")
    alias = created["stateMachineAliasArn"]
    sfn.update_state_machine_alias(stateMachineAliasArn=alias, routingConfiguration=[
        {"stateMachineVersionArn": f"{arn}:1", "weight": 50}, {"stateMachineVersionArn": f"{arn}:2", "weight": 50}])
    described = sfn.describe_state_machine_alias(stateMachineAliasArn=alias)
    assert described["name"] == "live" and described["description"] == "first"
    assert [r["weight"] for r in described["routingConfiguration"]] == [50, 50]
    with pytest.raises(ClientError) as err:
        sfn.delete_state_machine_version(stateMachineVersionArn=f"{arn}:1")
    assert _error(err) == ("ConflictException", "Version to be deleted must not be referenced by an alias. Current "
                                                "list of aliases referencing this version: [live]")
    assert [a["stateMachineAliasArn"] for a in sfn.list_state_machine_aliases(stateMachineArn=arn)
            ["stateMachineAliases"]] == [alias]
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
    with pytest.raises(ClientError) as err:
        sfn.update_state_machine_alias(stateMachineAliasArn=alias, description="x")
    assert _error(err) == ("ResourceNotFound", "Request references a resource that does not exist.")
    sfn.delete_state_machine_version(stateMachineVersionArn=f"{arn}:1")


@pytest.mark.parametrize(("routes", "message"), [
    ([("1", 70), ("2", 29)], "Sum of routing configuration weights must equal 100. Received: [70, 29]"),
    ([("1", 50), ("1", 50)], "Routing configuration must contain distinct state machine version ARNs. Received: "
                             "[{arn}:1, {arn}:1]"),
    ([("", 50), ("2", 50)], "Routing configuration must contain state machine version ARNs. Received: "
                            "[{arn}, {arn}:2]"),
    ([("1", 101)], "1 validation error detected: Value '101' at 'routingConfiguration.1.member.weight' failed to "
                   "satisfy constraint: Member must have value less than or equal to 100"),
])
def test_alias_routing_is_checked(sfn: Any, role: str, routes: list[tuple[str, int]], message: str) -> None:
    # test_error_create_alias_invalid_router_configs
    arn = sfn.create_state_machine(name=unique("v"), definition=_definition("R1"), roleArn=role,
                                   publish=True)["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=arn, definition=_definition("R2"), publish=True)
    config = [{"stateMachineVersionArn": f"{arn}:{v}" if v else arn, "weight": w} for v, w in routes]
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine_alias(name="a", routingConfiguration=config)
    assert _error(err) == ("ValidationException", message.format(arn=arn))


@pytest.mark.parametrize("name", ["123", "INVALID ALIAS", "!INVALID", "ALIAS@", "A" * 81])
def test_alias_names_are_checked(sfn: Any, role: str, name: str) -> None:
    # test_error_create_alias_invalid_name
    arn = sfn.create_state_machine(name=unique("v"), definition=_definition("R1"), roleArn=role,
                                   publish=True)["stateMachineArn"]
    with pytest.raises(ClientError) as err:
        sfn.create_state_machine_alias(name=name, routingConfiguration=[
            {"stateMachineVersionArn": f"{arn}:1", "weight": 100}])
    code, message = _error(err)
    assert code == "ValidationException" and f"Value '{name}' at 'name' failed to satisfy constraint" in message


def test_deleting_the_machine_deletes_versions_and_aliases(sfn: Any, role: str) -> None:
    # test_delete_revision_with_alias
    arn = sfn.create_state_machine(name=unique("v"), definition=_definition("R1"), roleArn=role,
                                   publish=True)["stateMachineArn"]
    sfn.create_state_machine_alias(name="a", routingConfiguration=[{"stateMachineVersionArn": f"{arn}:1",
                                                                    "weight": 100}])
    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(ClientError) as err:
        sfn.describe_state_machine(stateMachineArn=f"{arn}:1")
    assert _error(err)[0] == "StateMachineDoesNotExist"
    with pytest.raises(ClientError) as err:
        sfn.describe_state_machine_alias(stateMachineAliasArn=f"{arn}:a")
    assert _error(err)[0] == "ResourceNotFound"


def test_variable_references_are_described(sfn: Any, role: str) -> None:
    # recorded on AWS: localstack test_sfn_api_variable_references.snapshot.json
    # test_base_variable_references_in_assign_templates[BASE_REFERENCE_IN_PARAMETERS]
    definition = {"StartAt": "State0", "States": {
        "State0": {"Type": "Pass", "Assign": {"result": 1}, "Next": "State1"},
        "State1": {"Type": "Pass", "Parameters": {"value.$": "$result"}, "End": True}}}
    arn = sfn.create_state_machine(name=unique("v"), definition=json.dumps(definition), roleArn=role,
                                   publish=True)["stateMachineArn"]
    assert sfn.describe_state_machine(stateMachineArn=arn)["variableReferences"] == {"State1": ["result"]}
    assert sfn.describe_state_machine(stateMachineArn=f"{arn}:1")["variableReferences"] == {"State1": ["result"]}
    execution = wait_done(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert sfn.describe_state_machine_for_execution(executionArn=execution["executionArn"])[
        "variableReferences"] == {"State1": ["result"]}
    plain = sfn.create_state_machine(name=unique("v"), definition=_definition("R1"), roleArn=role)["stateMachineArn"]
    assert "variableReferences" not in sfn.describe_state_machine(stateMachineArn=plain)
