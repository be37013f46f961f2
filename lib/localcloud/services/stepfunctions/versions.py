"""State machine versions and aliases: PublishStateMachineVersion, ListStateMachineVersions,
DeleteStateMachineVersion, Create/Describe/Update/Delete/ListStateMachineAlias(es), and what an ARN starts.

Behaviour and messages recorded on AWS (localstack snapshots ``test_sfn_api_versioning.snapshot.json`` and
``test_sfn_api_aliasing.snapshot.json``): version numbers count from 1 and are never reused; publishing a revision
that is already the latest version returns that version; publishing with a stale ``revisionId`` is a
ConflictException; an alias routes to one or two distinct versions whose weights add up to 100; a version an alias
routes to cannot be deleted; creating an alias again with the same configuration returns it, with another one is a
ConflictException; deleting what does not exist succeeds.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from localcloud.errors import AWSError
from localcloud.services.stepfunctions import validation as check
from localcloud.services.stepfunctions.models import AliasRecord, StateMachineRecord, VersionRecord
from localcloud.services.stepfunctions.store import Store, utcnow

LOG = logging.getLogger(__name__)


class Target:
    """What StartExecution runs for an ARN: the machine's latest revision, a version, or an alias's pick."""

    def __init__(self, machine: StateMachineRecord, version: VersionRecord | None = None,
                 alias: AliasRecord | None = None) -> None:
        self.machine, self.version, self.alias = machine, version, alias
        source: Any = version or machine
        self.definition: str = source.definition
        self.role_arn: str = source.role_arn
        self.engine_machine = source.machine
        self.revision_id: str | None = source.revision_id
        self.type: str = source.type
        self.logging: dict[str, Any] = source.logging_configuration


class Versions(Store):
    """Versions and aliases of the backend's state machines."""

    # ------------------------------------------------------------------------------------------- versions
    def publish(self, machine_arn: str, revision_id: str | None = None,
                description: str | None = None) -> VersionRecord:
        """Publish the current revision (the latest version when that revision is already published)."""
        record = self.state_machine(machine_arn)
        with self._lock:
            if revision_id is not None and revision_id != record.revision_id:
                raise AWSError("ConflictException", f"Failed to publish the State Machine version for revision "
                               f"{revision_id}. The current State Machine revision is {record.revision_id}.")
            latest = self._versions_of(record.arn)
            if latest and latest[0].revision_id == record.revision_id and latest[0].definition == record.definition:
                return latest[0]
            number = record.next_version
            record.next_version += 1
            version = VersionRecord(
                arn=f"{record.arn}:{number}", machine_arn=record.arn, number=number, name=record.name,
                definition=record.definition, role_arn=record.role_arn, machine=record.machine, type=record.type,
                revision_id=record.revision_id, creation_date=utcnow(),
                logging_configuration=dict(record.logging_configuration),
                tracing_configuration=dict(record.tracing_configuration), description=description)
            self.versions[version.arn] = version
        LOG.info("published %s", version.arn)
        return version

    def _versions_of(self, machine_arn: str) -> list[VersionRecord]:
        """Newest first (recorded on AWS: test_list_state_machine_versions_pagination)."""
        with self._lock:
            found = [v for v in self.versions.values() if v.machine_arn == machine_arn]
        return sorted(found, key=lambda v: v.number, reverse=True)

    def list_versions(self, machine_arn: str) -> list[VersionRecord]:
        return self._versions_of(self.state_machine(machine_arn).arn)

    def version(self, arn: str) -> VersionRecord:
        match = check.state_machine_arn(arn, qualified=True)
        with self._lock:
            version = self.versions.get(arn)
        if version is None or not (match.group("qualifier") or "").isdigit():
            raise AWSError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        return version

    def delete_version(self, arn: str) -> None:
        """Delete a version (a version that does not exist is no error; one an alias routes to is)."""
        match = check.state_machine_arn(arn, qualified=True)
        if not (match.group("qualifier") or "").isdigit():
            raise AWSError("ValidationException", f"Invalid version ARN: '{arn}'")
        with self._lock:
            users = sorted(a.name for a in self.aliases.values()
                           if any(r["stateMachineVersionArn"] == arn for r in a.routing))
            if users:
                raise AWSError("ConflictException", "Version to be deleted must not be referenced by an alias. "
                               f"Current list of aliases referencing this version: [{', '.join(users)}]")
            self.versions.pop(arn, None)

    # ------------------------------------------------------------------------------------------- aliases
    def _routing(self, routing: list[dict[str, Any]]) -> list[dict[str, Any]]:
        arns = [str(r.get("stateMachineVersionArn")) for r in routing]
        if any(not (check.state_machine_arn(a, qualified=True).group("qualifier") or "").isdigit() for a in arns):
            raise AWSError("ValidationException", "Routing configuration must contain state machine version ARNs. "
                           f"Received: [{', '.join(arns)}]")
        if len(set(arns)) != len(arns):
            raise AWSError("ValidationException", "Routing configuration must contain distinct state machine version"
                           f" ARNs. Received: [{', '.join(arns)}]")
        weights = [int(r.get("weight", 0)) for r in routing]
        if sum(weights) != 100:
            raise AWSError("ValidationException", "Sum of routing configuration weights must equal 100. Received: "
                           f"[{', '.join(str(w) for w in weights)}]")
        machines = {a.rsplit(":", 1)[0] for a in arns}
        with self._lock:
            missing = [a for a in arns if a not in self.versions]
        if missing or len(machines) != 1:
            raise AWSError("ResourceNotFound", "Request references a resource that does not exist.")
        return [{"stateMachineVersionArn": a, "weight": w} for a, w in zip(arns, weights, strict=True)]

    def create_alias(self, name: str, routing: list[dict[str, Any]], description: str | None) -> AliasRecord:
        routes = self._routing(routing)
        machine_arn = routes[0]["stateMachineVersionArn"].rsplit(":", 1)[0]
        self.state_machine(machine_arn)
        arn = f"{machine_arn}:{name}"
        with self._lock:
            existing = self.aliases.get(arn)
            if existing is not None:
                if existing.routing == routes and existing.description == description:
                    return existing
                raise AWSError("ConflictException", "Failed to create alias because an alias with the same name and "
                               "a different routing configuration already exists.")
            moment = utcnow()
            alias = AliasRecord(arn=arn, machine_arn=machine_arn, name=name, routing=routes, creation_date=moment,
                                update_date=moment, description=description)
            self.aliases[arn] = alias
        return alias

    def alias(self, arn: str) -> AliasRecord:
        check.state_machine_arn(arn, qualified=True)
        with self._lock:
            alias = self.aliases.get(arn)
        if alias is None:
            raise AWSError("ResourceNotFound", "Request references a resource that does not exist.")
        return alias

    def update_alias(self, arn: str, routing: list[dict[str, Any]] | None, description: str | None) -> AliasRecord:
        alias = self.alias(arn)
        routes = self._routing(routing) if routing is not None else None
        with self._lock:
            if routes is not None:
                alias.routing = routes
            if description is not None:
                alias.description = description
            alias.update_date = utcnow()
        return alias

    def delete_alias(self, arn: str) -> None:
        check.state_machine_arn(arn, qualified=True)
        with self._lock:
            self.aliases.pop(arn, None)

    def list_aliases(self, machine_arn: str) -> list[AliasRecord]:
        record = self.state_machine(machine_arn)
        with self._lock:
            found = [a for a in self.aliases.values() if a.machine_arn == record.arn]
        return sorted(found, key=lambda a: (a.creation_date, a.name))

    def forget(self, machine_arn: str) -> None:
        """Drop the versions and aliases of a deleted state machine."""
        with self._lock:
            for arn in [a for a, v in self.versions.items() if v.machine_arn == machine_arn]:
                del self.versions[arn]
            for arn in [a for a, v in self.aliases.items() if v.machine_arn == machine_arn]:
                del self.aliases[arn]

    # ------------------------------------------------------------------------------------------- targets
    def target(self, arn: str) -> Target:
        """What StartExecution runs for ``arn``: an alias picks one of its versions by weight."""
        match = check.state_machine_arn(arn, qualified=True)
        qualifier = match.group("qualifier")
        if "/" in match.group("name"):
            # "If you provide a qualified state machine ARN that refers to a Distributed Map state, the request
            # fails with ValidationException" (StartExecution, API reference)
            raise AWSError("ValidationException", f"The state machine ARN '{arn}' refers to a Distributed Map "
                           "state; start an execution of the state machine instead.")
        if not qualifier:
            return Target(self.state_machine(arn))
        machine = self.state_machine(arn.rsplit(":", 1)[0])
        if qualifier.isdigit():
            return Target(machine, self.version(arn))
        alias = self.alias(arn)
        weights = [r["weight"] for r in alias.routing]
        chosen = random.choices(alias.routing, weights=weights)[0]["stateMachineVersionArn"]
        return Target(machine, self.version(chosen), alias)
