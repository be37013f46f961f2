"""The definition checker: walks StartAt + States blocks and checks what every state shares.

What each state type adds is one :class:`StateCheck` in a registry the checker is given (:mod:`.checks`).
Every problem reads ``<location>: <what is wrong>`` (e.g. ``/States/Train: Task state has no "Resource"``).
Layer: above :mod:`.templates` and :mod:`.languages`; knows no state class.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from localcloud.asl import paths, querychecks
from localcloud.asl.errors import StatesErrorName
from localcloud.asl.jsonata_eval import is_expression
from localcloud.asl.languages import DEFAULT_LANGUAGE
from localcloud.asl.templates import expression_problem, template_problems
from localcloud.asl.values import is_int, is_number
from localcloud.asl.varpaths import path_problem

LOG = logging.getLogger(__name__)

MAX_STATE_NAME = 80
COMMON_FIELDS = {"Type", "Comment", "QueryLanguage"}
#: fields AWS accepts that this engine cannot honour: rejected with a clear word rather than silently ignored
UNSUPPORTED_FIELDS: dict[str, str] = {
}
TOP_FIELDS = {"Comment", "StartAt", "States", "Version", "TimeoutSeconds", "QueryLanguage"}
RETRIER_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds",
                  "JitterStrategy", "Comment"}
CATCHER_FIELDS = {"ErrorEquals", "Next", "ResultPath", "Output", "Assign", "Comment"}
#: the code of a problem that is not about a JSONata expression (ValidateStateMachineDefinition diagnostics)
SCHEMA = "SCHEMA_VALIDATION_FAILED"


@dataclass(frozen=True)
class StateCheck:
    """What one state type allows and checks beyond what every state shares."""

    fields: frozenset[str]  #: fields allowed besides COMMON_FIELDS
    check: Callable[[Checker, str, dict[str, Any], dict[str, Any]], None]  #: (checker, where, state, scope)
    flows: bool = True  #: moves on with "Next" or ends with "End" (False: Choice, Succeed, Fail)


class Checker:
    """Collects the problems of one definition."""

    def __init__(self, checks: Mapping[str, StateCheck]) -> None:
        self.checks = checks
        self.problems: list[str] = []
        #: the diagnostic code of each problem (SCHEMA_VALIDATION_FAILED, INVALID_JSONATA_EXPRESSION, ...)
        self.codes: list[str] = []
        #: the query language of the state machine, and of the state being checked
        self.machine = DEFAULT_LANGUAGE
        self.language = DEFAULT_LANGUAGE

    def add(self, where: str, message: str, *, code: str = SCHEMA) -> None:
        self.problems.append(f"{where}: {message}")
        self.codes.append(code)

    def expression(self, value: Any) -> bool:
        """Whether ``value`` is a JSONata expression standing for a field of the state being checked."""
        return self.language == querychecks.JSONATA and is_expression(value)

    # -- structure ----------------------------------------------------------------------------------------
    def top(self, doc: dict[str, Any]) -> None:
        """The whole definition."""
        for key in doc:
            if key not in TOP_FIELDS:
                self.add("/", f'unknown field "{key}" at the top level of the definition')
        if "Version" in doc and doc["Version"] != "1.0":
            self.add("/Version", 'must be "1.0"')
        if "TimeoutSeconds" in doc and (not is_int(doc["TimeoutSeconds"]) or doc["TimeoutSeconds"] <= 0):
            self.add("/TimeoutSeconds", "must be a positive integer")
        self.machine = self.language = querychecks.resolve(self, "/QueryLanguage", doc, DEFAULT_LANGUAGE)
        self.block("", doc)

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

    def sub_block(self, where: str, block: Any, allowed: set[str]) -> None:
        """A Parallel branch or a Map's item processor."""
        if not isinstance(block, dict):
            self.add(where, "must be a JSON object with StartAt and States")
            return
        for key in block:
            if key == "QueryLanguage":
                self.add(where, "Field 'QueryLanguage' is not supported")  # not a state: its states take the machine's
            elif key not in allowed:
                self.add(where, f'unknown field "{key}"')
        outer = self.language
        self.block(where, block)
        self.language = outer

    def state(self, where: str, name: str, state: Any, scope: dict[str, Any]) -> None:
        """One state: what every state shares, then its type's own check."""
        if len(name) > MAX_STATE_NAME:
            self.add(where, f"state names are limited to {MAX_STATE_NAME} characters")
        if not isinstance(state, dict):
            self.add(where, "a state must be a JSON object")
            return
        kind = state.get("Type")
        if "Type" not in state:
            self.add(where, 'missing required field "Type"')
            return
        check = self.checks.get(kind) if isinstance(kind, str) else None
        if check is None:
            self.add(where, f'unknown state type "{kind}"; expected one of {", ".join(self.checks)}')
            return
        for key in state:
            if key in COMMON_FIELDS or key in check.fields:
                continue
            if key in UNSUPPORTED_FIELDS:
                self.add(where, UNSUPPORTED_FIELDS[key])
            else:
                self.add(where, f'field "{key}" is not allowed in a {kind} state')
        self.language = querychecks.check_state(self, where, state, self.machine)
        if check.flows:
            self.transition(where, state, scope)
        if self.language == querychecks.JSONPATH:
            self.io_paths(where, state)
        check.check(self, where, state, scope)

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

    # -- fields -------------------------------------------------------------------------------------------
    def path(self, where: str, value: Any, *, reference: bool = False, nullable: bool = False,
             intrinsic: bool = False, variables: bool = True) -> None:
        """A path field; ``intrinsic``: an intrinsic function call is allowed too; ``variables``: it may read a
        variable (``$name``), as every path but a ResultPath may."""
        if value is None and nullable:
            return
        if intrinsic:
            problem = expression_problem(value)
        else:
            problem = (path_problem if variables else paths.path_problem)(value, reference=reference)
        if problem:
            self.add(where, problem)

    def io_paths(self, where: str, state: dict[str, Any]) -> None:
        for key in ("InputPath", "OutputPath"):
            if key in state:
                self.path(f"{where}/{key}", state[key], nullable=True)
        if "ResultPath" in state:
            self.path(f"{where}/ResultPath", state["ResultPath"], reference=True, nullable=True, variables=False)
        for key in ("Parameters", "ResultSelector", "ItemSelector"):
            if key in state:
                for location, problem in template_problems(f"{where}/{key}", state[key]):
                    self.add(location, problem)

    def positive_int(self, where: str, value: Any, *, zero: bool = False) -> None:
        if not is_int(value) or value < 0 or (value == 0 and not zero):
            self.add(where, "must be a non-negative integer" if zero else "must be a positive integer")

    def retry_and_catch(self, where: str, state: dict[str, Any], scope: dict[str, Any]) -> None:
        """Retry and Catch arrays."""
        for key, allowed in (("Retry", RETRIER_FIELDS), ("Catch", CATCHER_FIELDS)):
            if key not in state:
                continue
            items = state[key]
            if not isinstance(items, list):
                self.add(f"{where}/{key}", "must be an array")
                continue
            what = "Retrier" if key == "Retry" else "Catcher"
            for i, item in enumerate(items):
                loc = f"{where}/{key}[{i}]"
                if not isinstance(item, dict):
                    self.add(loc, "must be a JSON object")
                    continue
                for field in item:
                    if field not in allowed:
                        self.add(loc, f'field "{field}" is not allowed in a {what}')
                self.error_equals(loc, item.get("ErrorEquals"), what, last=i == len(items) - 1)
                if key == "Retry":
                    self.retrier(loc, item)
                else:
                    self.catcher(loc, item, scope)

    def error_equals(self, loc: str, names: Any, what: str, *, last: bool) -> None:
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            self.add(f"{loc}/ErrorEquals", "must be a non-empty array of error name strings")
        elif StatesErrorName.ALL in names:
            if len(names) > 1:
                self.add(f"{loc}/ErrorEquals", '"States.ALL" must appear alone in ErrorEquals')
            if not last:
                self.add(f"{loc}/ErrorEquals", f'"States.ALL" must be in the last {what}')

    def retrier(self, loc: str, item: dict[str, Any]) -> None:
        for key in ("IntervalSeconds", "MaxDelaySeconds"):
            if key in item:
                self.positive_int(f"{loc}/{key}", item[key])
        if "MaxAttempts" in item:
            self.positive_int(f"{loc}/MaxAttempts", item["MaxAttempts"], zero=True)
        if "BackoffRate" in item and (not is_number(item["BackoffRate"]) or item["BackoffRate"] < 1.0):
            self.add(f"{loc}/BackoffRate", "must be a number greater than or equal to 1.0")
        if "JitterStrategy" in item and item["JitterStrategy"] not in ("FULL", "NONE"):
            self.add(f"{loc}/JitterStrategy", 'must be "FULL" or "NONE"')

    def catcher(self, loc: str, item: dict[str, Any], scope: dict[str, Any]) -> None:
        if "Next" not in item:
            self.add(loc, 'a Catcher needs "Next"')
        else:
            self.target(f"{loc}/Next", item["Next"], scope)
        if "ResultPath" in item and self.language == querychecks.JSONPATH:
            self.path(f"{loc}/ResultPath", item["ResultPath"], reference=True, nullable=True, variables=False)
        querychecks.check_catcher(self, loc, item, self.language)


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
