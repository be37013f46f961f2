"""Definitions as Step Functions judges them: the engine's checks, the Task resources it serves, what an EXPRESS
machine refuses, and the diagnostics ValidateStateMachineDefinition returns.

EXPRESS refusals are the ones recorded on AWS (localstack snapshots ``test_sfn_api_express.snapshot.json``
``test_illegal_callbacks`` / ``test_illegal_activity_task`` and ``test_sfn_api_validation.snapshot.json``
``ILLEGAL_WFTT``): "Express state machine does not support '.waitForTaskToken' service integration " (sic, with its
trailing blank), "Express state machine does not support '.sync' service integration", "Express state machine does
not support Activity ARN", each at ``/States/<name>/Resource``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from localcloud.asl import definition_problems

LOG = logging.getLogger(__name__)

WAIT_FOR_TOKEN = "Express state machine does not support '.waitForTaskToken' service integration "
SYNC = "Express state machine does not support '.sync' service integration"
ACTIVITY = "Express state machine does not support Activity ARN"


def _states(document: dict[str, Any], where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state of a definition with its location, Parallel branches and Map item processors included."""
    states = document.get("States")
    if not isinstance(states, dict):
        return
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        here = f"{where}/States/{name}"
        yield here, state
        for i, branch in enumerate(state.get("Branches") or [] if state.get("Type") == "Parallel" else []):
            if isinstance(branch, dict):
                yield from _states(branch, f"{here}/Branches[{i}]")
        if state.get("Type") == "Map":
            for key in ("ItemProcessor", "Iterator"):
                if isinstance(state.get(key), dict):
                    yield from _states(state[key], f"{here}/{key}")


def resource_problems(document: dict[str, Any], check: Callable[[str], str | None], sm_type: str) -> list[str]:
    """Task resources no integration serves, and what an EXPRESS machine may not use."""
    found: list[str] = []
    for here, state in _states(document):
        resource = state.get("Resource")
        if state.get("Type") != "Task" or not isinstance(resource, str):
            continue
        if sm_type == "EXPRESS":
            if resource.endswith(".waitForTaskToken"):
                found.append(f"{here}/Resource: {WAIT_FOR_TOKEN}")
                continue
            if resource.endswith((".sync", ".sync:2")):
                found.append(f"{here}/Resource: {SYNC}")
                continue
            if ":activity:" in resource:
                found.append(f"{here}/Resource: {ACTIVITY}")
                continue
        problem = check(resource)
        if problem:
            found.append(f"{here}/Resource: {problem}")
    return found


def coded_problems(definition: str, check: Callable[[str], str | None],
                   sm_type: str = "STANDARD") -> list[tuple[str, str]]:
    """Every reason Step Functions would reject ``definition`` for a machine of ``sm_type``, each with the
    diagnostic code the engine gives it (SCHEMA_VALIDATION_FAILED unless the engine knows better)."""
    found = list(definition_problems(definition))
    try:
        document = json.loads(definition)
    except (TypeError, ValueError):
        return found
    if isinstance(document, dict):
        found.extend((p, "SCHEMA_VALIDATION_FAILED") for p in resource_problems(document, check, sm_type))
    return found


def problems(definition: str, check: Callable[[str], str | None], sm_type: str = "STANDARD") -> list[str]:
    """Every reason Step Functions would reject ``definition`` for a machine of ``sm_type``."""
    return [problem for problem, _ in coded_problems(definition, check, sm_type)]


def diagnostic(problem: str, code: str = "SCHEMA_VALIDATION_FAILED") -> dict[str, Any]:
    """A ValidateStateMachineDefinition diagnostic for one problem (``/States/X: message``).

    Codes from the API reference (ValidateStateMachineDefinitionDiagnostic): INVALID_JSON_DESCRIPTION (JSON syntax),
    MISSING_TRANSITION_TARGET ("Next" names no state), INVALID_RESOURCE (a Task resource), DUPLICATE_STATE_NAME,
    INVALID_LABEL_NAME, SCHEMA_VALIDATION_FAILED (the rest)."""
    location, _, message = problem.partition(": ")
    if not location.startswith("/") or not message:
        location, message = "", problem
    if code == "SCHEMA_VALIDATION_FAILED":
        code = _code(location, message.lower())
    out: dict[str, Any] = {"severity": "ERROR", "code": code, "message": message}
    if location:
        out["location"] = location
    return out


def _code(location: str, lowered: str) -> str:
    """A more precise code the API reference lists for a problem the engine calls a schema problem."""
    if location == "/" and ("not valid json" in lowered or "appears twice" in lowered):
        return "DUPLICATE_STATE_NAME" if "appears twice" in lowered else "INVALID_JSON_DESCRIPTION"
    if location.endswith(("/Next", "/Default", "/StartAt")) and "is not the name of a state" in lowered:
        return "MISSING_TRANSITION_TARGET"
    if location.endswith("/Resource") and "express state machine" not in lowered:
        return "INVALID_RESOURCE"
    if location.endswith("/Label"):
        return "INVALID_LABEL_NAME"
    return "SCHEMA_VALIDATION_FAILED"


_REQUIRED = re.compile(r'^missing required field "(?P<field>[^"]+)"$')
#: the order AWS lists missing top-level fields in ("These fields are required: [States, StartAt]")
_REQUIRED_ORDER = {"States": 0, "StartAt": 1}


def diagnostics(found: list[str] | list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The diagnostics for ``found`` problems; missing fields of one place are one diagnostic, as recorded on AWS
    (test_sfn_api_validation.snapshot.json ``EMPTY_DICT``: "These fields are required: [States, StartAt]" at
    ``/``; ``INVALID_BASE_NO_STARTAT``: "These fields are required: [StartAt]")."""
    out: list[dict[str, Any]] = []
    missing: dict[str, list[str]] = {}
    for entry in found:
        item = diagnostic(entry) if isinstance(entry, str) else diagnostic(*entry)
        match = _REQUIRED.match(item["message"])
        if match is None:
            out.append(item)
            continue
        where = item.get("location", "/")
        if where not in missing:
            missing[where] = []
            out.append({"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": where,
                        "location": where})
        missing[where].append(match.group("field"))
    for item in out:
        fields = missing.get(item.get("location", ""))
        if fields is not None and item["message"] == item.get("location"):
            fields.sort(key=lambda f: _REQUIRED_ORDER.get(f, 2))
            item["message"] = f"These fields are required: [{', '.join(fields)}]"
    return out


def json_syntax(definition: str) -> dict[str, Any] | None:
    """INVALID_JSON_DESCRIPTION for text that is not JSON, worded as the JSON parser behind AWS words it (recorded
    on AWS: test_sfn_api_validation.snapshot.json ``NOT_A_DEF``: "Unrecognized token 'not': was expecting (JSON
    String, Number, Array, Object or token 'null', 'true' or 'false')" with the place ``[Source: (String)"...";
    line: 1, column: 4]``)."""
    try:
        json.loads(definition)
    except json.JSONDecodeError as exc:
        token = re.match(r"[A-Za-z0-9_$]+", definition[exc.pos:])
        column = exc.colno + (len(token.group()) if token else 0)
        where = f'[Source: (String)"{definition}"; line: {exc.lineno}, column: {column}]'
        if token:
            message = (f"Unrecognized token '{token.group()}': was expecting (JSON String, Number, Array, Object or "
                       f"token 'null', 'true' or 'false')")
        else:
            message = exc.msg
        return {"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "location": where,
                "message": f"{message}\n at {where}"}
    return None


def not_a_definition(definition: str) -> dict[str, Any] | None:
    """The diagnostic for text that is not a JSON object at all, as recorded on AWS (test_sfn_api_validation
    .snapshot.json ``EMPTY_STRING``: "Definition must be a valid JSON object", no location)."""
    try:
        document = json.loads(definition)
    except (TypeError, ValueError):
        return None
    if isinstance(document, dict):
        return None
    return {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": "Definition must be a valid JSON "
            "object"}
