"""One definition check per state type, in the registry :data:`CHECKS` the :class:`~.checker.Checker` walks with.

Layer: above :mod:`.checker` and :mod:`.choice` (the comparison operators a Choice rule may use).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from localcloud.asl import querychecks
from localcloud.asl.checker import Checker, StateCheck
from localcloud.asl.choice import COMPARISON_OPERATORS
from localcloud.asl.distributed_checks import DISTRIBUTED_FIELDS, check_distributed
from localcloud.asl.values import TIMESTAMP_RE, is_int, is_number

LOG = logging.getLogger(__name__)

_FLOW = frozenset({"Next", "End"})
_IO = frozenset({"InputPath", "OutputPath"})
_RESULT = frozenset({"ResultPath", "Parameters", "ResultSelector", "Retry", "Catch"})
#: JSONata's fields (Output everywhere but Fail; Assign on Pass, Task, Map, Parallel, Choice, Wait: developer
#: guide, workflow-variables "States that support variables"; Arguments on Task and Parallel)
_OUT = frozenset({"Output", "Assign"})


def check_nothing(checker: Checker, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
    """Pass and Succeed: the shared checks say all there is."""


def check_fail(checker: Checker, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
    for key in ("Error", "Cause"):
        if key in state and key + "Path" in state:
            checker.add(where, f'"{key}" and "{key}Path" are mutually exclusive')
        if key in state and not isinstance(state[key], str):
            checker.add(f"{where}/{key}", "must be a string")
        if key + "Path" in state:
            checker.path(f"{where}/{key}Path", state[key + "Path"], intrinsic=True)


def check_task(checker: Checker, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
    resource = state.get("Resource")
    if "Resource" not in state:
        checker.add(where, 'Task state has no "Resource"')
    elif not isinstance(resource, str) or not resource.startswith("arn:"):
        checker.add(f"{where}/Resource", "must be an ARN string (e.g. arn:aws:states:::lambda:invoke)")
    for key in ("TimeoutSeconds", "HeartbeatSeconds"):
        if key in state and not checker.expression(state[key]):
            checker.positive_int(f"{where}/{key}", state[key])
            if key + "Path" in state:
                checker.add(where, f'"{key}" and "{key}Path" are mutually exclusive')
        if key + "Path" in state:
            checker.path(f"{where}/{key}Path", state[key + "Path"], reference=True)
    timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
    if is_int(timeout) and is_int(heartbeat) and heartbeat >= timeout:
        checker.add(f"{where}/HeartbeatSeconds", "must be smaller than TimeoutSeconds")
    checker.retry_and_catch(where, state, scope)


def check_wait(checker: Checker, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
    given = [k for k in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if k in state]
    if not given:
        checker.add(where, 'Wait state needs one of "Seconds", "Timestamp", "SecondsPath" or "TimestampPath"')
    elif len(given) > 1:
        checker.add(where, f"Wait state may have only one of {', '.join(given)}")
    if "Seconds" in state and not checker.expression(state["Seconds"]):
        checker.positive_int(f"{where}/Seconds", state["Seconds"], zero=True)
    stamp = state.get("Timestamp")
    if "Timestamp" in state and not checker.expression(stamp) and not (isinstance(stamp, str) and TIMESTAMP_RE.match(stamp)):
        checker.add(f"{where}/Timestamp", "must be an ISO-8601 timestamp such as 2024-01-31T12:00:00Z")
    for key in ("SecondsPath", "TimestampPath"):
        if key in state:
            checker.path(f"{where}/{key}", state[key], reference=True)


def check_choice(checker: Checker, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
    choices = state.get("Choices")
    if "Choices" not in state:
        checker.add(where, 'Choice state has no "Choices"')
    elif not isinstance(choices, list) or not choices:
        checker.add(f"{where}/Choices", "must be a non-empty array of choice rules")
    else:
        for i, rule in enumerate(choices):
            if checker.language == querychecks.JSONATA and isinstance(rule, dict):
                querychecks.check_jsonata_rule(checker, f"{where}/Choices[{i}]", rule)
                _next(checker, f"{where}/Choices[{i}]", rule, scope)
                continue
            _rule(checker, f"{where}/Choices[{i}]", rule, scope, top=True)
    if "Default" in state:
        checker.target(f"{where}/Default", state["Default"], scope)


def _rule(checker: Checker, where: str, rule: Any, scope: dict[str, Any], *, top: bool) -> None:
    """A choice rule: a comparison on a Variable, or And/Or/Not of nested rules."""
    if not isinstance(rule, dict):
        checker.add(where, "a choice rule must be a JSON object")
        return
    if top:
        _next(checker, where, rule, scope)
        querychecks.rule_mismatches(checker, where, rule)
        if "Condition" in rule:  # a JSONata rule in a JSONPath state: the mismatch says it all
            return
    elif "Next" in rule:
        checker.add(where, 'a nested choice rule (inside And/Or/Not) may not have "Next"')
    combinators = [k for k in ("And", "Or", "Not") if k in rule]
    operators = [k for k in rule if k in COMPARISON_OPERATORS]
    for key in rule:
        if key not in COMPARISON_OPERATORS and key not in _RULE_FIELDS and not (top and key in _TOP_RULE_FIELDS):
            checker.add(where, f'unknown field "{key}" in a choice rule')
    if len(combinators) + len(operators) != 1:
        checker.add(where, "a choice rule needs exactly one comparison operator or one of And/Or/Not")
        return
    if combinators:
        _combinator(checker, where, rule, combinators[0], scope)
        return
    operator = operators[0]
    if "Variable" not in rule:
        checker.add(where, f'comparison "{operator}" needs a "Variable"')
    else:
        checker.path(f"{where}/Variable", rule["Variable"])
    _operand(checker, f"{where}/{operator}", COMPARISON_OPERATORS[operator], rule[operator])


_RULE_FIELDS = {"And", "Or", "Not", "Next", "Comment", "Variable"}
#: fields of a top-level rule checked by the query-language checks (Assign; JSONata's Condition and Output)
_TOP_RULE_FIELDS = {"Assign", "Condition", "Output"}


def _next(checker: Checker, where: str, rule: dict[str, Any], scope: dict[str, Any]) -> None:
    if "Next" not in rule:
        checker.add(where, 'a top-level choice rule needs "Next"')
    else:
        checker.target(f"{where}/Next", rule["Next"], scope)


def _combinator(checker: Checker, where: str, rule: dict[str, Any], key: str, scope: dict[str, Any]) -> None:
    if "Variable" in rule:
        checker.add(where, f'"Variable" is not allowed together with "{key}"')
    value = rule[key]
    if key == "Not":
        _rule(checker, f"{where}/Not", value, scope, top=False)
    elif not isinstance(value, list) or not value:
        checker.add(f"{where}/{key}", "must be a non-empty array of choice rules")
    else:
        for i, sub in enumerate(value):
            _rule(checker, f"{where}/{key}[{i}]", sub, scope, top=False)


_OPERAND_OK = {
    "String": lambda v: isinstance(v, str),
    "pattern": lambda v: isinstance(v, str),
    "Numeric": is_number,
    "Boolean": lambda v: isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "Timestamp": lambda v: isinstance(v, str) and bool(TIMESTAMP_RE.match(v)),
    "path": lambda v: isinstance(v, str),
}
_OPERAND_EXPECTED = {
    "String": "a string", "pattern": "a string pattern", "Numeric": "a number", "Boolean": "a boolean",
    "bool": "a boolean", "path": "a path", "Timestamp": "an ISO-8601 timestamp string such as 2024-01-31T12:00:00Z",
}


def _operand(checker: Checker, where: str, kind: str, value: Any) -> None:
    if not _OPERAND_OK[kind](value):
        checker.add(where, f"must be {_OPERAND_EXPECTED[kind]}, got {json.dumps(value)}")
    elif kind == "path":
        checker.path(where, value)


def check_parallel(checker: Checker, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
    branches = state.get("Branches")
    if "Branches" not in state:
        checker.add(where, 'Parallel state has no "Branches"')
    elif not isinstance(branches, list) or not branches:
        checker.add(f"{where}/Branches", "must be a non-empty array of branches")
    else:
        for i, branch in enumerate(branches):
            checker.sub_block(f"{where}/Branches[{i}]", branch, {"StartAt", "States", "Comment"})
    checker.retry_and_catch(where, state, scope)


def check_map(checker: Checker, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
    _map_processor(checker, where, state)
    if "ItemSelector" in state and "Parameters" in state:
        checker.add(where, '"ItemSelector" and "Parameters" are mutually exclusive')
    if "ItemsPath" in state:
        checker.path(f"{where}/ItemsPath", state["ItemsPath"], reference=False)
    if "Items" in state and not checker.expression(state["Items"]) and not isinstance(state["Items"], list):
        checker.add(f"{where}/Items", "must be a JSON array or a JSONata expression {% ... %}")
    for key in ("MaxConcurrency", "ToleratedFailureCount"):
        if key in state and not checker.expression(state[key]):
            checker.positive_int(f"{where}/{key}", state[key], zero=True)
        if key + "Path" in state:
            checker.path(f"{where}/{key}Path", state[key + "Path"], reference=True)
            if key in state:
                checker.add(where, f'"{key}" and "{key}Path" are mutually exclusive')
    if "ToleratedFailurePercentage" in state and not checker.expression(state["ToleratedFailurePercentage"]):
        value = state["ToleratedFailurePercentage"]
        if not is_number(value) or not 0 <= value <= 100:
            checker.add(f"{where}/ToleratedFailurePercentage", "must be a number between 0 and 100")
    if "ToleratedFailurePercentagePath" in state:
        checker.path(f"{where}/ToleratedFailurePercentagePath", state["ToleratedFailurePercentagePath"],
                     reference=True)
    checker.retry_and_catch(where, state, scope)


def _map_processor(checker: Checker, where: str, state: dict[str, Any]) -> None:
    """ItemProcessor (or the older Iterator) and its ProcessorConfig."""
    has_processor, has_iterator = "ItemProcessor" in state, "Iterator" in state
    if has_processor and has_iterator:
        checker.add(where, '"ItemProcessor" and "Iterator" are mutually exclusive')
    if not has_processor and not has_iterator:
        checker.add(where, 'Map state has no "ItemProcessor" (or "Iterator")')
    if has_processor:
        processor = state["ItemProcessor"]
        checker.sub_block(f"{where}/ItemProcessor", processor, {"StartAt", "States", "Comment", "ProcessorConfig"})
        config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
        mode = config.get("Mode") if isinstance(config, dict) else None
        if config is not None:
            if not isinstance(config, dict) or mode not in (None, "INLINE", "DISTRIBUTED"):
                checker.add(f"{where}/ItemProcessor/ProcessorConfig", 'Mode must be "INLINE" or "DISTRIBUTED"')
        check_distributed(checker, where, state, mode)
    if has_iterator:
        # the older Iterator takes a ProcessorConfig too, and runs as it says (recorded on AWS: localstack snapshot
        # v2/scenarios/test_base_scenarios.snapshot.json, test_map_state_legacy_config_inline/_distributed)
        iterator = state["Iterator"]
        checker.sub_block(f"{where}/Iterator", iterator, {"StartAt", "States", "Comment", "ProcessorConfig"})
        config = iterator.get("ProcessorConfig") if isinstance(iterator, dict) else None
        mode = config.get("Mode") if isinstance(config, dict) else None
        if config is not None and (not isinstance(config, dict) or mode not in (None, "INLINE", "DISTRIBUTED")):
            checker.add(f"{where}/Iterator/ProcessorConfig", 'Mode must be "INLINE" or "DISTRIBUTED"')
        check_distributed(checker, where, state, mode)


#: state type → its check, in the order the "unknown state type" problem lists them
CHECKS: dict[str, StateCheck] = {
    "Pass": StateCheck(_FLOW | _IO | _OUT | {"ResultPath", "Parameters", "Result"}, check_nothing),
    "Task": StateCheck(_FLOW | _IO | _RESULT | _OUT | {"Resource", "TimeoutSeconds", "TimeoutSecondsPath",
                                                       "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials",
                                                       "Arguments"},
                       check_task),
    "Choice": StateCheck(_IO | _OUT | {"Choices", "Default"}, check_choice, flows=False),
    "Wait": StateCheck(_FLOW | _IO | _OUT | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"}, check_wait),
    "Succeed": StateCheck(_IO | {"Output"}, check_nothing, flows=False),
    "Fail": StateCheck(frozenset({"Error", "Cause", "ErrorPath", "CausePath"}), check_fail, flows=False),
    "Parallel": StateCheck(_FLOW | _IO | _RESULT | _OUT | {"Branches", "Arguments"}, check_parallel),
    "Map": StateCheck(_FLOW | _IO | _RESULT | _OUT | {"Iterator", "ItemProcessor", "ItemsPath", "ItemSelector", "Items",
                                               "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailureCount",
                                               "ToleratedFailurePercentage", "ToleratedFailureCountPath",
                                               "ToleratedFailurePercentagePath"} | DISTRIBUTED_FIELDS,
                      check_map),
}
