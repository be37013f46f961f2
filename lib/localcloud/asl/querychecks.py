"""The definition checks of the query languages: which language a state runs, the fields each language has,
``Assign``, and the JSONata expressions of JSONata states.

Messages measured on AWS with ValidateStateMachineDefinition (all SCHEMA_VALIDATION_FAILED), reported in
floci-io/floci issues #2968 and #3733 and its docs/services/stepfunctions.md ("A state's QueryLanguage, and the
fields it may carry"); the downgrade message is also recorded on AWS in localstack snapshot
v2/test_sfn_api_validation.snapshot.json (INVALID_DOWNGRADE_QUERY_LANGUAGE, location /States/Pass):

- a field of the other language, at the state: ``The QueryLanguage is set to 'JSONata', but field 'Parameters'
  is only supported for the 'JSONPath' QueryLanguage`` (and the mirror for Output and Arguments);
- a JSONPath state in a JSONata machine: ``'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole
  state machine``, the whole answer for that state's fields;
- ``QueryLanguage`` on an ItemProcessor, Iterator or branch: ``Field 'QueryLanguage' is not supported``;
- a value outside the enum: ``Value should be one of the following: [JSONPath, JSONata]`` at the field (any value
  but "JSONPath" then runs as JSONata); not a string: ``Expected value of type [STRING]``.
Layer: above :mod:`.jsonata_check`, :mod:`.templates` and :mod:`.variables`; the checker calls it.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from localcloud.asl.jsonata_check import field_problems
from localcloud.asl.jsonata_eval import is_expression
from localcloud.asl.templates import template_problems
from localcloud.asl.variables import name_problem

LOG = logging.getLogger(__name__)


class Checker(Protocol):
    """What these checks need of :class:`localcloud.asl.checker.Checker`: somewhere to report a problem (a
    protocol, so this module, which the checker imports, imports nothing back)."""

    def add(self, where: str, message: str, *, code: str = ...) -> None: ...



JSONPATH = "JSONPath"
JSONATA = "JSONata"
#: fields only a JSONPath state has (developer guide, transforming-data; state-*.md "JSONPath only")
JSONPATH_ONLY = ("InputPath", "OutputPath", "ResultPath", "ResultSelector", "Parameters", "Result", "ItemsPath",
                 "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath",
                 "TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath", "TimestampPath", "ErrorPath",
                 "CausePath")
#: fields only a JSONata state has
JSONATA_ONLY = ("Arguments", "Output", "Items")
#: fields of a JSONata state whose values may be (or hold) ``{% %}`` expressions
EXPRESSION_FIELDS = ("Arguments", "Output", "Assign", "Items", "ItemSelector", "MaxConcurrency",
                     "ToleratedFailureCount", "ToleratedFailurePercentage", "TimeoutSeconds", "HeartbeatSeconds",
                     "Seconds", "Timestamp", "Error", "Cause", "Credentials")
#: Choice rule fields of each language
RULE_JSONATA_ONLY = ("Condition", "Output")


def mismatch(language: str, field: str) -> str:
    other = JSONPATH if language == JSONATA else JSONATA
    return (f"The QueryLanguage is set to '{language}', but field '{field}' is only supported for the "
            f"'{other}' QueryLanguage")


def resolve(checker: Checker, location: str, node: dict[str, Any], inherited: str) -> str:
    """The language of a state (or of the machine), reporting a ``QueryLanguage`` value outside the enum."""
    if "QueryLanguage" not in node:
        return inherited
    value = node["QueryLanguage"]
    if not isinstance(value, str):
        checker.add(location, "Expected value of type [STRING]")
    elif value not in (JSONPATH, JSONATA):
        checker.add(location, "Value should be one of the following: [JSONPath, JSONata]")
    return JSONPATH if value == JSONPATH else JSONATA


def check_state(checker: Checker, where: str, state: dict[str, Any], machine: str) -> str:
    """The query-language rules of one state; returns the language it runs."""
    language = resolve(checker, f"{where}/QueryLanguage", state, machine)
    if machine == JSONATA and state.get("QueryLanguage") == JSONPATH:
        checker.add(where, "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine")
    else:
        wrong = JSONPATH_ONLY if language == JSONATA else JSONATA_ONLY
        for key in state:
            if key in wrong:
                checker.add(where, mismatch(language, key))
    if "Assign" in state:
        check_assign(checker, f"{where}/Assign", state["Assign"], language)
    if language == JSONATA:
        for key in EXPRESSION_FIELDS:
            if key in state:
                expressions(checker, state[key], f"{where}/{key}")
    return language


def expressions(checker: Checker, value: Any, location: str) -> None:
    """The JSONata expressions anywhere in a field value."""
    for loc, code, message in field_problems(value, location):
        checker.add(loc, message, code=code)


def check_assign(checker: Checker, location: str, assign: Any, language: str) -> None:
    """An Assign field: an object of variable names (``name.$`` in JSONPath for a path or intrinsic) and values."""
    if not isinstance(assign, dict):
        checker.add(location, "must be a JSON object of variable names and values")
        return
    for key in assign:
        name = key[:-2] if language == JSONPATH and key.endswith(".$") else key
        problem = name_problem(name)
        if problem:
            checker.add(f"{location}/{key}", problem)
    if language == JSONPATH:
        for loc, problem in template_problems(location, assign):
            checker.add(loc, problem)


def check_catcher(checker: Checker, loc: str, item: dict[str, Any], language: str) -> None:
    """A Catcher's ResultPath (JSONPath), Output (JSONata) and Assign (both)."""
    wrong = "ResultPath" if language == JSONATA else "Output"
    if wrong in item:
        checker.add(loc, mismatch(language, wrong))
    if "Assign" in item:
        check_assign(checker, f"{loc}/Assign", item["Assign"], language)
    if language == JSONATA:
        for key in ("Output", "Assign"):
            if key in item:
                expressions(checker, item[key], f"{loc}/{key}")


def check_jsonata_rule(checker: Checker, where: str, rule: dict[str, Any]) -> None:
    """A Choice rule of a JSONata state: ``Condition`` (true, false or an expression), Next, Assign, Output."""
    for key in rule:
        if key not in ("Condition", "Next", "Comment", "Assign", "Output"):
            checker.add(where, mismatch(JSONATA, key))
    if "Condition" not in rule:
        checker.add(where, 'a JSONata choice rule needs a "Condition"')
    elif not isinstance(rule["Condition"], bool) and not is_expression(rule["Condition"]):
        checker.add(f"{where}/Condition", "must be true, false or a JSONata expression {% ... %}")
    if "Assign" in rule:
        check_assign(checker, f"{where}/Assign", rule["Assign"], JSONATA)
    for key in ("Condition", "Assign", "Output"):
        if key in rule:
            expressions(checker, rule[key], f"{where}/{key}")


def rule_mismatches(checker: Checker, where: str, rule: dict[str, Any]) -> None:
    """JSONata-only fields in a Choice rule of a JSONPath state."""
    for key in RULE_JSONATA_ONLY:
        if key in rule:
            checker.add(where, mismatch(JSONPATH, key))
    if "Assign" in rule:
        check_assign(checker, f"{where}/Assign", rule["Assign"], JSONPATH)
