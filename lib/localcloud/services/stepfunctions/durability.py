"""What of Step Functions outlives a restart: state machines, versions, aliases, executions with their histories and
the journal a redrive resumes from.

A snapshot holds the records themselves; a parsed definition is kept as its text (parsed again at restore) and an
execution's engine as :class:`EngineState` (history events, the journal of its paths, how it ended). Not kept:
Map Runs and their child executions, task tokens of waiting tasks, RedriveExecution client tokens (their
15-minute window is measured on a clock that does not survive the process).

An execution still RUNNING when the server stopped (``stop`` or ``kill -9``) cannot go on: its thread, and the
calls it was waiting on, are gone. At restore it ends FAILED with :data:`INTERRUPTED_ERROR` and an
``ExecutionFailed`` event, and RedriveExecution continues it from the state it was in (its journal says which).
AWS documents no error for a Step Functions service interruption (an AWS execution does not die with a server;
"Error names", Step Functions developer guide, lists none), so the name is localcloud's own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localcloud.asl import Execution, ExecutionResult, StateMachine
from localcloud.asl.history import now
from localcloud.asl.redrive import PathRecord

LOG = logging.getLogger(__name__)

#: the error of an execution the server's stop interrupted (localcloud's own name: AWS has none for this)
INTERRUPTED_ERROR = "LocalCloud.ServerStopped"


@dataclass
class Unparsed:
    """A state machine definition, parsed again when the snapshot is read."""

    definition: str


@dataclass
class EngineState:
    """What an execution's engine knows that its record does not."""

    machine: Any
    input_text: str
    start_time: datetime
    events: list[dict[str, Any]]
    paths: dict[str, PathRecord]
    generation: int
    redrive_count: int
    redriven: int
    result: ExecutionResult | None
    execution_type: str = "STANDARD"
    extra: dict[str, Any] = field(default_factory=dict)


def _reduce(obj: Any) -> Any:
    if isinstance(obj, StateMachine):
        import json

        return (Unparsed, (json.dumps(obj.document),))
    if isinstance(obj, Execution):
        journal = obj.journal
        with journal._lock:
            paths = {k: PathRecord(v.state, v.input, v.generation, v.done, v.output)
                     for k, v in journal._paths.items()}
        return (EngineState, (obj.machine, obj.input_text, obj.start_time, obj.history(), paths,
                              journal.generation, obj.env.redrive_count, obj._redriven, obj.result,
                              obj.execution_type))
    return NotImplemented


def state(backend: Any) -> tuple[dict[str, Any], Any]:
    """The backend's durable records and the reducer that pickles them."""
    with backend.lock:
        executions = {arn: e for arn, e in backend.executions.items() if e.map_run_arn is None}
        return ({"machines": dict(backend.machines), "versions": dict(backend.versions),
                 "aliases": dict(backend.aliases), "executions": executions,
                 "executions_of": {k: [a for a in v if a in executions]
                                   for k, v in backend._executions_of.items()}}, _reduce)


def _machine(saved: Any) -> StateMachine:
    return StateMachine.parse(saved.definition) if isinstance(saved, Unparsed) else saved


def restore(backend: Any, saved: dict[str, Any]) -> None:
    """Put the records back (before the server serves); every engine is rebuilt idle."""
    from localcloud.services.stepfunctions import executionlogs

    for record in [*saved["machines"].values(), *saved["versions"].values()]:
        record.machine = _machine(record.machine)
    for record in saved["executions"].values():
        engine: EngineState = record.engine
        machine = backend.machines.get(record.state_machine_arn) or saved["machines"].get(record.state_machine_arn)
        logging_config = machine.logging_configuration if machine is not None else {}
        rebuilt = Execution(_machine(engine.machine), execution_arn=record.arn, name=record.name,
                            input=engine.input_text, state_machine_arn=record.state_machine_arn,
                            state_machine_name=record.state_machine_name, role_arn=record.role_arn,
                            integrations=backend.integrations, tokens=backend.tokens, start_time=engine.start_time,
                            time_scale=backend.time_scale,
                            on_event=executionlogs.listener(logging_config, backend.endpoint_url, record.arn,
                                                            record.state_machine_name))
        rebuilt.env.host = backend
        rebuilt.events.extend(engine.events)
        rebuilt.journal._paths.update(engine.paths)
        rebuilt.journal.generation = engine.generation
        rebuilt.env.redrive_count = engine.redrive_count
        rebuilt._redriven = engine.redriven
        rebuilt.execution_type = engine.execution_type
        rebuilt.result = engine.result
        record.engine = rebuilt
    with backend.lock:
        backend.machines.update(saved["machines"])
        backend.versions.update(saved["versions"])
        backend.aliases.update(saved["aliases"])
        backend.executions.update(saved["executions"])
        for key, arns in saved["executions_of"].items():
            backend._executions_of.setdefault(key, []).extend(arns)
    interrupted = [r for r in saved["executions"].values() if r.status == "RUNNING"]
    for record in interrupted:
        _fail(backend, record)
    LOG.info("restored %d state machines, %d executions (%d interrupted)", len(saved["machines"]),
             len(saved["executions"]), len(interrupted))


def _fail(backend: Any, record: Any) -> None:
    """End an execution the server's stop interrupted: FAILED, with the state it was in named in the cause."""
    engine: Execution = record.engine
    main = engine.journal.main()
    where = f" in state '{main.state}'" if main is not None and main.state and not main.done else ""
    cause = (f"localcloud stopped while this execution was running{where}; its work there was lost. "
             "RedriveExecution continues it from that state.")
    events = engine.events
    engine.result = ExecutionResult("FAILED", None, INTERRUPTED_ERROR, cause, now())
    engine._history.add("ExecutionFailed", {"error": INTERRUPTED_ERROR, "cause": cause},
                        previous=events[-1]["id"] if events else 0)
    backend.finish(record)
