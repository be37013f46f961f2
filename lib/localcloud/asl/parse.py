"""Definition text → validated tree of state objects.

:func:`validate_definition` lists every problem Step Functions would reject a definition for, each as
``<location>: <what is wrong>`` (e.g. ``/States/Train: Task state has no "Resource"``).
Layer: the top of the engine's build side: above the checks, the state types and the languages.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from localcloud.asl.checker import Checker
from localcloud.asl.checks import CHECKS
from localcloud.asl.concurrent import MapState, ParallelState
from localcloud.asl.distributed import DistributedMapState
from localcloud.asl.languages import DEFAULT_LANGUAGE, language
from localcloud.asl.states import ChoiceState, FailState, PassState, Program, State, SucceedState, WaitState
from localcloud.asl.task import TaskState

LOG = logging.getLogger(__name__)


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def load_definition(definition: str | dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """Parse definition text (duplicate keys are an error); returns (document, problems)."""
    if isinstance(definition, dict):
        return definition, []
    try:
        document = json.loads(definition, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        return None, [f'/: the key "{exc}" appears twice in one JSON object; names must be unique']
    except (TypeError, ValueError) as exc:
        return None, [f"/: the definition is not valid JSON ({exc})"]
    if not isinstance(document, dict):
        return None, ["/: the definition must be a JSON object"]
    return document, []


def validate_definition(definition: str | dict[str, Any]) -> list[str]:
    """Every problem that makes Step Functions reject ``definition``; [] when it is valid."""
    return [problem for problem, _ in definition_problems(definition)]


def definition_problems(definition: str | dict[str, Any]) -> list[tuple[str, str]]:
    """Every problem of :func:`validate_definition` with its ValidateStateMachineDefinition diagnostic code
    (SCHEMA_VALIDATION_FAILED; INVALID_JSONATA_EXPRESSION and UNSUPPORTED_JSONATA_EXPRESSION for JSONata
    expressions; INVALID_JSON_DESCRIPTION for text that is not JSON)."""
    document, problems = load_definition(definition)
    if document is None:
        return [(problem, "INVALID_JSON_DESCRIPTION" if "not valid JSON" in problem else "SCHEMA_VALIDATION_FAILED")
                for problem in problems]
    checker = Checker(CHECKS)
    checker.top(document)
    return list(zip(checker.problems, checker.codes, strict=True))


# -- building the tree (the definition is known to be valid) ------------------------------------------------
_SIMPLE: dict[str, type[State]] = {
    "Pass": PassState, "Task": TaskState, "Choice": ChoiceState, "Wait": WaitState,
    "Succeed": SucceedState, "Fail": FailState,
}


def build_program(block: dict[str, Any], inherited: str = DEFAULT_LANGUAGE) -> Program:
    """Turn a validated StartAt + States block into state objects.

    Each state runs under its own ``QueryLanguage``, else the state machine's (``inherited``): the states of a
    Parallel branch or Map item processor do not take the enclosing state's (measured on AWS with
    ValidateStateMachineDefinition, reported in floci-io/floci issue #2968, rule 1).
    """
    block_language = block.get("QueryLanguage", inherited)
    states = {name: _build_state(name, raw, block_language) for name, raw in block["States"].items()}
    return Program(block["StartAt"], states)


def _build_state(name: str, raw: dict[str, Any], inherited: str) -> State:
    name_of_language = raw.get("QueryLanguage", inherited)
    lang = language(name_of_language)
    kind = raw["Type"]
    if kind == "Parallel":
        return ParallelState(name, raw, lang, [build_program(b, inherited) for b in raw["Branches"]])
    if kind == "Map":
        block = raw.get("ItemProcessor") or raw["Iterator"]  # the older Iterator may say its mode too
        processor = build_program(block, inherited)
        if (block.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED":
            return DistributedMapState(name, raw, lang, processor)
        return MapState(name, raw, lang, processor)
    return _SIMPLE[kind](name, raw, lang)
