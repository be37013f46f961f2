"""Definition text → validated tree of state objects.

:func:`validate_definition` lists every problem Step Functions would reject a definition for, each as
``<location>: <what is wrong>`` (e.g. ``/States/Train: Task state has no "Resource"``).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import Any

from localcloud.asl import intrinsics
from localcloud.asl.choice import COMPARISON_OPERATORS, TIMESTAMP_RE, ChoiceState
from localcloud.asl.concurrent import MapState, ParallelState
from localcloud.asl.errors import StatesErrorName
from localcloud.asl.paths import is_intrinsic, path_problem
from localcloud.asl.states import FailState, PassState, Program, State, SucceedState, TaskState, WaitState

LOG = logging.getLogger(__name__)

MAX_STATE_NAME = 80
_FLOW = {"Next", "End"}
_IO = {"InputPath", "OutputPath"}
_RESULT = {"ResultPath", "Parameters", "ResultSelector", "Retry", "Catch"}
FIELDS: dict[str, set[str]] = {
    "Pass": _FLOW | _IO | {"ResultPath", "Parameters", "Result"},
    "Task": _FLOW | _IO | _RESULT | {"Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds",
                                     "HeartbeatSecondsPath", "Credentials"},
    "Choice": _IO | {"Choices", "Default"},
    "Wait": _FLOW | _IO | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"},
    "Succeed": set(_IO),
    "Fail": {"Error", "Cause", "ErrorPath", "CausePath"},
    "Parallel": _FLOW | _IO | _RESULT | {"Branches"},
    "Map": _FLOW | _IO | _RESULT | {"Iterator", "ItemProcessor", "ItemsPath", "ItemSelector", "MaxConcurrency",
                                    "MaxConcurrencyPath", "ToleratedFailureCount", "ToleratedFailurePercentage",
                                    "ToleratedFailureCountPath", "ToleratedFailurePercentagePath", "Label"},
}
COMMON_FIELDS = {"Type", "Comment", "QueryLanguage"}
#: fields AWS accepts that this engine cannot honour: rejected with a clear word rather than silently ignored
UNSUPPORTED_FIELDS = {
    "Assign": "workflow variables (Assign) are not supported by this engine",
    "Arguments": "JSONata fields (Arguments) are not supported by this engine; use Parameters",
    "Output": "JSONata fields (Output) are not supported by this engine; use OutputPath/ResultSelector",
    "ItemReader": "Distributed Map ItemReader is not supported by this engine; pass the items in the input",
    "ResultWriter": "Distributed Map ResultWriter is not supported by this engine",
    "ItemBatcher": "Distributed Map ItemBatcher is not supported by this engine",
}
TOP_FIELDS = {"Comment", "StartAt", "States", "Version", "TimeoutSeconds", "QueryLanguage"}
NON_TERMINAL = {"Pass", "Task", "Wait", "Parallel", "Map"}
RETRIER_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds",
                  "JitterStrategy", "Comment"}
CATCHER_FIELDS = {"ErrorEquals", "Next", "ResultPath", "Comment"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
    document, problems = load_definition(definition)
    if document is None:
        return problems
    checker = _Checker()
    checker.top(document)
    return checker.problems


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    # -- structure ----------------------------------------------------------------------------------------
    def top(self, doc: dict[str, Any]) -> None:
        for key in doc:
            if key not in TOP_FIELDS:
                self.add("/", f'unknown field "{key}" at the top level of the definition')
        if "Version" in doc and doc["Version"] != "1.0":
            self.add("/Version", 'must be "1.0"')
        if "TimeoutSeconds" in doc and (not _is_int(doc["TimeoutSeconds"]) or doc["TimeoutSeconds"] <= 0):
            self.add("/TimeoutSeconds", "must be a positive integer")
        self.query_language("/", doc)
        self.block("", doc)

    def query_language(self, where: str, node: dict[str, Any]) -> None:
        if "QueryLanguage" in node and node["QueryLanguage"] != "JSONPath":
            self.add(where, f'QueryLanguage "{node["QueryLanguage"]}" is not supported by this engine; use "JSONPath"')

    def block(self, base: str, doc: dict[str, Any]) -> None:
        """A StartAt + States block (the machine, a branch, an item processor)."""
        where = base or "/"
        start = doc.get("StartAt")
        states = doc.get("States")
        if "StartAt" not in doc:
            self.add(where, 'missing required field "StartAt"')
        elif not isinstance(start, str):
            self.add(f"{base}/StartAt", "must be a string naming a state")
        if "States" not in doc:
            self.add(where, 'missing required field "States"')
            return
        if not isinstance(states, dict) or not states:
            self.add(f"{base}/States", "must be a non-empty object of states")
            return
        if isinstance(start, str) and start not in states:
            self.add(f"{base}/StartAt", f'"{start}" is not the name of a state in this States block')
        for name, state in states.items():
            self.state(f"{base}/States/{name}", name, state, states)
        if isinstance(start, str) and start in states:
            reached = _reachable(start, states)
            for name in states:
                if name not in reached:
                    self.add(f"{base}/States/{name}", f'state "{name}" is not reachable from StartAt')

    def state(self, where: str, name: str, state: Any, scope: dict[str, Any]) -> None:
        if len(name) > MAX_STATE_NAME:
            self.add(where, f"state names are limited to {MAX_STATE_NAME} characters")
        if not isinstance(state, dict):
            self.add(where, "a state must be a JSON object")
            return
        kind = state.get("Type")
        if "Type" not in state:
            self.add(where, 'missing required field "Type"')
            return
        if kind not in FIELDS:
            self.add(where, f'unknown state type "{kind}"; expected one of {", ".join(FIELDS)}')
            return
        for key in state:
            if key in COMMON_FIELDS or key in FIELDS[kind]:
                continue
            if key in UNSUPPORTED_FIELDS:
                self.add(where, UNSUPPORTED_FIELDS[key])
            else:
                self.add(where, f'field "{key}" is not allowed in a {kind} state')
        self.query_language(where, state)
        if kind in NON_TERMINAL:
            self.transition(where, state, scope)
        self.io_paths(where, state)
        getattr(self, f"check_{kind.lower()}")(where, state, scope)

    def transition(self, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
        has_next, end = "Next" in state, state.get("End")
        if "End" in state and not isinstance(end, bool):
            self.add(f"{where}/End", "must be a boolean")
        if has_next and end is True:
            self.add(where, 'has both "Next" and "End"; a state either moves on or ends the path')
        elif not has_next and end is not True:
            self.add(where, f'{state["Type"]} state has neither "Next" nor "End": a non-terminal state needs one')
        if has_next:
            self.target(f"{where}/Next", state["Next"], scope)

    def target(self, where: str, name: Any, scope: dict[str, Any]) -> None:
        if not isinstance(name, str):
            self.add(where, "must be a string naming a state")
        elif name not in scope:
            self.add(where, f'"{name}" is not the name of a state in this States block')

    # -- paths and templates ------------------------------------------------------------------------------
    def path(self, where: str, value: Any, *, reference: bool = False, nullable: bool = False,
             intrinsic: bool = False) -> None:
        if value is None and nullable:
            return
        if intrinsic and isinstance(value, str) and is_intrinsic(value):
            problem = intrinsics.problem(value.strip())
            if problem:
                self.add(where, f"invalid intrinsic function: {problem}")
            return
        problem = path_problem(value, reference=reference)
        if problem:
            self.add(where, problem)

    def io_paths(self, where: str, state: dict[str, Any]) -> None:
        for key in ("InputPath", "OutputPath"):
            if key in state:
                self.path(f"{where}/{key}", state[key], nullable=True)
        if "ResultPath" in state:
            self.path(f"{where}/ResultPath", state["ResultPath"], reference=True, nullable=True)
        for key in ("Parameters", "ResultSelector", "ItemSelector"):
            if key in state:
                self.template(f"{where}/{key}", state[key])

    def template(self, where: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith(".$"):
                    if not isinstance(value, str):
                        self.add(f"{where}/{key}", "the value of a field ending in '.$' must be a path or an "
                                                   "intrinsic function string")
                    else:
                        self.path(f"{where}/{key}", value, intrinsic=True)
                else:
                    self.template(f"{where}/{key}", value)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                self.template(f"{where}[{i}]", item)

    def positive_int(self, where: str, value: Any, *, zero: bool = False) -> None:
        if not _is_int(value) or value < 0 or (value == 0 and not zero):
            self.add(where, "must be a non-negative integer" if zero else "must be a positive integer")

    # -- state types --------------------------------------------------------------------------------------
    def check_pass(self, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
        pass

    def check_succeed(self, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
        pass

    def check_fail(self, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
        for key in ("Error", "Cause"):
            if key in state and key + "Path" in state:
                self.add(where, f'"{key}" and "{key}Path" are mutually exclusive')
            if key in state and not isinstance(state[key], str):
                self.add(f"{where}/{key}", "must be a string")
            if key + "Path" in state:
                self.path(f"{where}/{key}Path", state[key + "Path"], intrinsic=True)

    def check_task(self, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
        resource = state.get("Resource")
        if "Resource" not in state:
            self.add(where, 'Task state has no "Resource"')
        elif not isinstance(resource, str) or not resource.startswith("arn:"):
            self.add(f"{where}/Resource", "must be an ARN string (e.g. arn:aws:states:::lambda:invoke)")
        for key in ("TimeoutSeconds", "HeartbeatSeconds"):
            if key in state:
                self.positive_int(f"{where}/{key}", state[key])
                if key + "Path" in state:
                    self.add(where, f'"{key}" and "{key}Path" are mutually exclusive')
            if key + "Path" in state:
                self.path(f"{where}/{key}Path", state[key + "Path"], reference=True)
        timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
        if _is_int(timeout) and _is_int(heartbeat) and heartbeat >= timeout:
            self.add(f"{where}/HeartbeatSeconds", "must be smaller than TimeoutSeconds")
        self.errors(where, state, scope)

    def check_wait(self, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
        given = [k for k in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if k in state]
        if not given:
            self.add(where, 'Wait state needs one of "Seconds", "Timestamp", "SecondsPath" or "TimestampPath"')
        elif len(given) > 1:
            self.add(where, f"Wait state may have only one of {', '.join(given)}")
        if "Seconds" in state:
            self.positive_int(f"{where}/Seconds", state["Seconds"], zero=True)
        if "Timestamp" in state and not (isinstance(state["Timestamp"], str)
                                         and TIMESTAMP_RE.match(state["Timestamp"])):
            self.add(f"{where}/Timestamp", "must be an ISO-8601 timestamp such as 2024-01-31T12:00:00Z")
        for key in ("SecondsPath", "TimestampPath"):
            if key in state:
                self.path(f"{where}/{key}", state[key], reference=True)

    def check_choice(self, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
        choices = state.get("Choices")
        if "Choices" not in state:
            self.add(where, 'Choice state has no "Choices"')
        elif not isinstance(choices, list) or not choices:
            self.add(f"{where}/Choices", "must be a non-empty array of choice rules")
        else:
            for i, rule in enumerate(choices):
                self.rule(f"{where}/Choices[{i}]", rule, scope, top=True)
        if "Default" in state:
            self.target(f"{where}/Default", state["Default"], scope)

    def rule(self, where: str, rule: Any, scope: dict[str, Any], *, top: bool) -> None:
        if not isinstance(rule, dict):
            self.add(where, "a choice rule must be a JSON object")
            return
        if top:
            if "Next" not in rule:
                self.add(where, 'a top-level choice rule needs "Next"')
            else:
                self.target(f"{where}/Next", rule["Next"], scope)
        elif "Next" in rule:
            self.add(where, 'a nested choice rule (inside And/Or/Not) may not have "Next"')
        combinators = [k for k in ("And", "Or", "Not") if k in rule]
        operators = [k for k in rule if k in COMPARISON_OPERATORS]
        for key in rule:
            if key not in COMPARISON_OPERATORS and key not in {"And", "Or", "Not", "Next", "Comment", "Variable"}:
                self.add(where, f'unknown field "{key}" in a choice rule')
        if len(combinators) + len(operators) != 1:
            self.add(where, "a choice rule needs exactly one comparison operator or one of And/Or/Not")
            return
        if combinators:
            key = combinators[0]
            if "Variable" in rule:
                self.add(where, f'"Variable" is not allowed together with "{key}"')
            value = rule[key]
            if key == "Not":
                self.rule(f"{where}/Not", value, scope, top=False)
            elif not isinstance(value, list) or not value:
                self.add(f"{where}/{key}", "must be a non-empty array of choice rules")
            else:
                for i, sub in enumerate(value):
                    self.rule(f"{where}/{key}[{i}]", sub, scope, top=False)
            return
        operator = operators[0]
        if "Variable" not in rule:
            self.add(where, f'comparison "{operator}" needs a "Variable"')
        else:
            self.path(f"{where}/Variable", rule["Variable"])
        self.operand(f"{where}/{operator}", COMPARISON_OPERATORS[operator], rule[operator])

    def operand(self, where: str, kind: str, value: Any) -> None:
        ok = {
            "String": isinstance(value, str),
            "pattern": isinstance(value, str),
            "Numeric": _is_number(value),
            "Boolean": isinstance(value, bool),
            "bool": isinstance(value, bool),
            "Timestamp": isinstance(value, str) and bool(TIMESTAMP_RE.match(value)),
            "path": isinstance(value, str),
        }[kind]
        expected = {"String": "a string", "pattern": "a string pattern", "Numeric": "a number",
                    "Boolean": "a boolean", "bool": "a boolean", "path": "a path",
                    "Timestamp": "an ISO-8601 timestamp string such as 2024-01-31T12:00:00Z"}[kind]
        if not ok:
            self.add(where, f"must be {expected}, got {json.dumps(value)}")
        elif kind == "path":
            self.path(where, value)

    def errors(self, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
        """Retry and Catch arrays."""
        for key, allowed in (("Retry", RETRIER_FIELDS), ("Catch", CATCHER_FIELDS)):
            if key not in state:
                continue
            items = state[key]
            if not isinstance(items, list):
                self.add(f"{where}/{key}", "must be an array")
                continue
            for i, item in enumerate(items):
                loc = f"{where}/{key}[{i}]"
                if not isinstance(item, dict):
                    self.add(loc, "must be a JSON object")
                    continue
                for field in item:
                    if field not in allowed:
                        self.add(loc, f'field "{field}" is not allowed in a {"Retrier" if key == "Retry" else "Catcher"}')
                names = item.get("ErrorEquals")
                if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                    self.add(f"{loc}/ErrorEquals", "must be a non-empty array of error name strings")
                elif StatesErrorName.ALL in names:
                    if len(names) > 1:
                        self.add(f"{loc}/ErrorEquals", '"States.ALL" must appear alone in ErrorEquals')
                    if i != len(items) - 1:
                        self.add(f"{loc}/ErrorEquals", f'"States.ALL" must be in the last {"Retrier" if key == "Retry" else "Catcher"}')
                if key == "Retry":
                    self.retrier(loc, item)
                else:
                    if "Next" not in item:
                        self.add(loc, 'a Catcher needs "Next"')
                    else:
                        self.target(f"{loc}/Next", item["Next"], scope)
                    if "ResultPath" in item:
                        self.path(f"{loc}/ResultPath", item["ResultPath"], reference=True, nullable=True)

    def retrier(self, loc: str, item: dict[str, Any]) -> None:
        for key in ("IntervalSeconds", "MaxDelaySeconds"):
            if key in item:
                self.positive_int(f"{loc}/{key}", item[key])
        if "MaxAttempts" in item:
            self.positive_int(f"{loc}/MaxAttempts", item["MaxAttempts"], zero=True)
        if "BackoffRate" in item and (not _is_number(item["BackoffRate"]) or item["BackoffRate"] < 1.0):
            self.add(f"{loc}/BackoffRate", "must be a number greater than or equal to 1.0")
        if "JitterStrategy" in item and item["JitterStrategy"] not in ("FULL", "NONE"):
            self.add(f"{loc}/JitterStrategy", 'must be "FULL" or "NONE"')

    def check_parallel(self, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
        branches = state.get("Branches")
        if "Branches" not in state:
            self.add(where, 'Parallel state has no "Branches"')
        elif not isinstance(branches, list) or not branches:
            self.add(f"{where}/Branches", "must be a non-empty array of branches")
        else:
            for i, branch in enumerate(branches):
                self.sub_block(f"{where}/Branches[{i}]", branch, {"StartAt", "States", "Comment"})
        self.errors(where, state, scope)

    def check_map(self, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
        has_processor, has_iterator = "ItemProcessor" in state, "Iterator" in state
        if has_processor and has_iterator:
            self.add(where, '"ItemProcessor" and "Iterator" are mutually exclusive')
        if not has_processor and not has_iterator:
            self.add(where, 'Map state has no "ItemProcessor" (or "Iterator")')
        if has_processor:
            self.sub_block(f"{where}/ItemProcessor", state["ItemProcessor"],
                           {"StartAt", "States", "Comment", "ProcessorConfig"})
            config = state["ItemProcessor"].get("ProcessorConfig") if isinstance(state["ItemProcessor"], dict) else None
            if config is not None:
                mode = config.get("Mode") if isinstance(config, dict) else None
                if not isinstance(config, dict) or mode not in (None, "INLINE", "DISTRIBUTED"):
                    self.add(f"{where}/ItemProcessor/ProcessorConfig", 'Mode must be "INLINE" or "DISTRIBUTED"')
        if has_iterator:
            self.sub_block(f"{where}/Iterator", state["Iterator"], {"StartAt", "States", "Comment"})
        if "ItemSelector" in state and "Parameters" in state:
            self.add(where, '"ItemSelector" and "Parameters" are mutually exclusive')
        if "ItemsPath" in state:
            self.path(f"{where}/ItemsPath", state["ItemsPath"], reference=False)
        for key, zero in (("MaxConcurrency", True), ("ToleratedFailureCount", True)):
            if key in state:
                self.positive_int(f"{where}/{key}", state[key], zero=zero)
            if key + "Path" in state:
                self.path(f"{where}/{key}Path", state[key + "Path"], reference=True)
                if key in state:
                    self.add(where, f'"{key}" and "{key}Path" are mutually exclusive')
        if "ToleratedFailurePercentage" in state:
            value = state["ToleratedFailurePercentage"]
            if not _is_number(value) or not 0 <= value <= 100:
                self.add(f"{where}/ToleratedFailurePercentage", "must be a number between 0 and 100")
        if "ToleratedFailurePercentagePath" in state:
            self.path(f"{where}/ToleratedFailurePercentagePath", state["ToleratedFailurePercentagePath"],
                      reference=True)
        self.errors(where, state, scope)

    def sub_block(self, where: str, block: Any, allowed: set[str]) -> None:
        if not isinstance(block, dict):
            self.add(where, "must be a JSON object with StartAt and States")
            return
        for key in block:
            if key not in allowed and key != "QueryLanguage":
                self.add(where, f'unknown field "{key}"')
        self.query_language(where, block)
        self.block(where, block)


def _transitions(state: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if isinstance(state.get("Next"), str):
        out.append(state["Next"])
    if isinstance(state.get("Default"), str):
        out.append(state["Default"])
    for rule in state.get("Choices") or []:
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            out.append(rule["Next"])
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            out.append(catcher["Next"])
    return out


def _reachable(start: str, states: dict[str, Any]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        state = states.get(queue.popleft())
        if not isinstance(state, dict):
            continue
        for name in _transitions(state):
            if name in states and name not in seen:
                seen.add(name)
                queue.append(name)
    return seen


# -- building the tree (the definition is known to be valid) ------------------------------------------------
_SIMPLE: dict[str, type[State]] = {
    "Pass": PassState, "Task": TaskState, "Choice": ChoiceState, "Wait": WaitState,
    "Succeed": SucceedState, "Fail": FailState,
}


def build_program(block: dict[str, Any]) -> Program:
    """Turn a validated StartAt + States block into state objects."""
    states: dict[str, State] = {}
    for name, raw in block["States"].items():
        kind = raw["Type"]
        if kind == "Parallel":
            states[name] = ParallelState(name, raw, [build_program(b) for b in raw["Branches"]])
        elif kind == "Map":
            states[name] = MapState(name, raw, build_program(raw.get("ItemProcessor") or raw["Iterator"]))
        else:
            states[name] = _SIMPLE[kind](name, raw)
    return Program(block["StartAt"], states)
