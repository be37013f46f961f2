"""Units of the JSONata query language and of workflow variables: the functions Step Functions adds, the
expression checks, variable scopes and ``$name`` paths. Whole states and executions are in the templates
(templates/jsonata, templates/variables)."""

from __future__ import annotations

import hashlib

import pytest

from localcloud.asl.jsonata_check import expression_problems, variables_read
from localcloud.asl.jsonata_eval import UNDEFINED, QueryEvaluationFailure, bindings, evaluate, evaluate_field
from localcloud.asl.paths import PathNotFound
from localcloud.asl.references import variable_references
from localcloud.asl.variables import MAX_VARIABLE_BYTES, Scope, VariableError, assigned_details, name_problem
from localcloud.asl.varpaths import Context, path_problem, select, variable_of


def _eval(text: str, variables: dict | None = None, states: dict | None = None):
    return evaluate(text, bindings(states or {"input": {}}, variables or {}), "Output")


# -- the functions Step Functions adds (developer guide, transforming-data; recorded on AWS: localstack snapshot
#    v2/intrinsic_functions/test_array_jsonata.snapshot.json) -----------------------------------------------------
@pytest.mark.parametrize(("array", "size", "expected"), [
    ([0], 1, [[0]]), ([0, 1], 1, [[0], [1]]), ([0, 1, 2], 2, [[0, 1], [2]]), ([0, 1, 2, 3], 3, [[0, 1, 2], [3]]),
    ([0, 1, 2, 3], 5, [[0, 1, 2, 3]]),
])
def test_partition_as_recorded(array: list, size: int, expected: list) -> None:
    assert _eval(f"$partition({array}, {size})") == expected


@pytest.mark.parametrize(("args", "expected"), [
    ("0, 9, 3", [0, 3, 6, 9]), ("0, 10, 3", [0, 3, 6, 9]), ("1, 9, 9", 1), ("1, 9, 2", [1, 3, 5, 7, 9]),
    ("1, -5, -1", [1, 0, -1, -2, -3, -4, -5]), ("1, 9, 0", []),
])
def test_range_as_recorded(args: str, expected: object) -> None:
    assert _eval(f"$range({args})") == expected


@pytest.mark.parametrize("text", ["$range(1, 9, -1)", "$range(1, 9)", "$partition([], 2)", "$partition([1], 0)",
                                  "$hash('a')"])
def test_functions_that_give_nothing(text: str) -> None:
    assert _eval(text) is UNDEFINED


def test_hash_parse_and_random() -> None:
    # AWS's function reference gives "aaff4a450a104cd177d28d18d7485e8cae074b7", one digit short of the SHA-1
    assert _eval("$hash('input data', 'SHA-1')") == hashlib.sha1(b"input data").hexdigest()
    assert _eval("$parse('{\"a\": [1, null]}')") == {"a": [1, None]}
    assert _eval("$random(7) = $random(7)") is True
    with pytest.raises(QueryEvaluationFailure, match="threw an error during evaluation. T0410"):
        _eval("$hash('x', 'SHA-3')")


def test_eval_is_taken_away_and_variables_read() -> None:
    with pytest.raises(QueryEvaluationFailure, match="T1006: Attempted to invoke a non-function"):
        _eval("$eval('1')")
    assert _eval("$x + $states.input.y", {"x": 1}, {"input": {"y": 2}}) == 3
    assert _eval("$states.input.v", states={"input": {"v": None}}) is None  # null is a value, not nothing
    assert _eval("$states.input.nope") is UNDEFINED


def test_numbers_keep_their_kind() -> None:
    assert _eval("$sum([1, 2, 3]) + 1") == 7 and isinstance(_eval("10 / 5"), int)
    assert _eval("10 / 4") == 2.5
    assert _eval("$n", {"n": 9007199254740993}) == 9007199254740993


def test_fields_name_where_they_fail() -> None:
    scope = bindings({"input": {}}, {})
    assert evaluate_field({"a": ["x", "{% 1 + 1 %}"]}, scope, "Output") == {"a": ["x", 2]}
    with pytest.raises(QueryEvaluationFailure) as err:
        evaluate_field({"a": [0, "{% $nope %}"]}, scope, "Arguments")
    assert err.value.location == "Arguments/a[1]"
    assert "'$nope' specified for the field 'Arguments/a[1]' returned nothing (undefined)." in err.value.cause


# -- definition checks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "names"), [
    ("phone", ["phone"]), ("$x + a.b", ["a"]), ("{'k': v}", ["v"]), ("$map($states.input.a, function($v){ b })", ["b"]),
    ("$states.input.items[value > 3]", []), ("$states.input.items{name: value}", []),
    ("$states.input.items^(price).name", []), ("($v := 1; $v + w)", ["w"]), ("$$", ["$$"]),
])
def test_top_level_references(text: str, names: list[str]) -> None:
    found = [message for _, message in expression_problems(text)]
    assert found == [("Reference to '$$' is not supported." if n == "$$" else
                      f"Reference to '{n}' at the top level is not supported.") for n in names]


def test_variables_an_expression_reads() -> None:
    assert variables_read("$sum($states.input.x) + $bias + $count($items)") == {"bias", "items"}
    assert variables_read("($v := 1; $f := function($a){$a + $w}; $f($v))") == {"w"}
    assert variables_read("a[1,2)") == set()


# -- variables ---------------------------------------------------------------------------------------------------
def test_scopes_read_outward_and_write_locally() -> None:
    outer = Scope()
    outer.assign({"x": 1})
    inner = Scope(outer)
    inner.assign({"y": 2})
    assert inner["x"] == 1 and dict(inner) == {"x": 1, "y": 2} and "y" not in outer
    with pytest.raises(VariableError, match="belongs to an outer scope"):
        inner.assign({"x": 3})
    with pytest.raises(VariableError, match="a single variable may hold"):
        outer.assign({"big": "x" * MAX_VARIABLE_BYTES})


def test_names_and_history_shape() -> None:
    assert name_problem("ok_Name1") is None and name_problem("états") is None
    assert name_problem("states") and name_problem("1x") and name_problem("a-b") and name_problem("x" * 81)
    assert assigned_details({"s": "t", "n": None}) == {
        "assignedVariables": {"s": '"t"', "n": "null"}, "assignedVariablesDetails": {"truncated": False}}


def test_variable_paths() -> None:
    context = Context({"Execution": {"Id": "e"}}, {"items": [{"a": 1}, {"a": 2}]})
    assert variable_of("$items[0].a") == "items" and variable_of("$.items") is None and variable_of("$$.x") is None
    assert select("$items[1].a", {}, context) == 2
    assert select("$items[*].a", {}, context) == [1, 2]
    assert select("$$.Execution.Id", {}, context) == "e"
    with pytest.raises(PathNotFound):
        select("$nope", {}, context)
    assert path_problem("$items[0]") is None and path_problem("$items..a", reference=True)


# -- DescribeStateMachine variableReferences (recorded on AWS: localstack snapshot
#    v2/test_sfn_api_variable_references.snapshot.json) ----------------------------------------------------------
_NESTED_MAPS = {"StartAt": "Input", "States": {
    "Input": {"Type": "Pass", "Result": [[9, 44, 6]], "Assign": {"bias": 4.3}, "Next": "IterateLevels"},
    "IterateLevels": {"Type": "Map", "MaxConcurrency": 1, "End": True, "ItemProcessor": {
        "ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "AssignCurrentVector", "States": {
            "AssignCurrentVector": {"Type": "Pass", "Next": "Calculate",
                                    "Assign": {"xCurrent.$": "$[0]", "yCurrent.$": "$[1]", "zCurrent.$": "$[2]"}},
            "Calculate": {"Type": "Map", "MaxConcurrency": 1, "End": True, "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Summate", "States": {"Summate": {
                    "Type": "Pass", "End": True, "Assign": {"Sum.$": "States.MathAdd(States.MathAdd(States.MathAdd("
                                                                     "$yCurrent, $xCurrent), $zCurrent), $bias)"}}}}}}}}}}


@pytest.mark.parametrize(("definition", "expected"), [
    ({"StartAt": "Setup", "States": {
        "Setup": {"Type": "Pass", "Assign": {"guess": "the_guess", "answer": "the_answer"}, "Next": "CheckAnswer"},
        "CheckAnswer": {"Type": "Choice", "Default": "WrongAnswer", "Choices": [
            {"Variable": "$guess", "StringEqualsPath": "$answer", "Next": "CorrectAnswer"}]},
        "CorrectAnswer": {"Type": "Pass", "Result": {"state": "CORRECT"}, "End": True},
        "WrongAnswer": {"Type": "Pass", "Assign": {"guess.$": "$answer"}, "Next": "CheckAnswer"}}},
     {"CheckAnswer": ["answer", "guess"], "WrongAnswer": ["answer"]}),
    (_NESTED_MAPS, {"Summate": ["bias", "xCurrent", "yCurrent", "zCurrent"]}),
    ({"StartAt": "Start", "States": {
        "Start": {"Type": "Pass", "Assign": {"bucket": "test-name"}, "Next": "MapState"},
        "MapState": {"Type": "Map", "ItemSelector": {"value.$": "$$.Map.Item.Value", "bucketName": "$bucket"},
                     "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}}},
     {}),
    ({"QueryLanguage": "JSONata", "StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.x and $flag %}", "Next": "D"}]},
        "D": {"Type": "Pass", "Output": {"a": ["{% $sum($values) %}"]}, "End": True}}},
     {"C": ["flag"], "D": ["values"]}),
])
def test_variable_references(definition: dict, expected: dict) -> None:
    assert list(variable_references(definition).items()) == list(expected.items())
