"""The workflow graph SVG: drawn from the ASL, one box per state, coloured from an execution history."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from retrain.graph import COLOURS, edges_of, render_svg, show_graph, state_statuses
from retrain.graph_layout import END, START, layout

SVG = "{http://www.w3.org/2000/svg}"

DEFINITION: dict[str, Any] = {
    "StartAt": "Work",
    "States": {
        "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Gate",
                 "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Recover"}]},
        "Gate": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericLessThanEquals": 0.1, "Next": "Done"}],
                 "Default": "Rejected"},
        "Recover": {"Type": "Pass", "Next": "Poll"},
        "Poll": {"Type": "Wait", "Seconds": 1, "Next": "Ready?"},
        "Ready?": {"Type": "Choice", "Choices": [{"Variable": "$.s", "StringEquals": "InService", "Next": "Done"}],
                   "Default": "Poll"},
        "Done": {"Type": "Succeed"},
        "Rejected": {"Type": "Fail", "Error": "ModelRejected"},
    },
}

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def events(*spec: tuple[str, str | None]) -> list[dict[str, Any]]:
    out = []
    for i, (kind, name) in enumerate(spec):
        event: dict[str, Any] = {"id": i + 1, "type": kind, "timestamp": T0 + timedelta(seconds=i)}
        if name and kind.endswith("Entered"):
            event["stateEnteredEventDetails"] = {"name": name}
        elif name and kind.endswith("Exited"):
            event["stateExitedEventDetails"] = {"name": name}
        elif kind in ("TaskFailed", "ExecutionFailed"):
            event["taskFailedEventDetails"] = {"error": "E", "cause": "c"}
        out.append(event)
    return out


def boxes(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.get("data-state"): g for g in root.iter(f"{SVG}g") if g.get("class") == "state"}


def test_every_state_is_drawn_with_its_transitions() -> None:
    svg = render_svg(DEFINITION, title="demo")
    drawn = boxes(svg)
    assert set(drawn) == set(DEFINITION["States"])
    root = ET.fromstring(svg)
    edges = {(g.get("data-from"), g.get("data-to")) for g in root.iter(f"{SVG}g") if g.get("class") == "edge"}
    assert {("Work", "Gate"), ("Work", "Recover"), ("Gate", "Done"), ("Gate", "Rejected"), ("Ready?", "Poll"),
            ("__start__", "Work")} <= edges
    assert "data-status" not in svg  # no history: no colours
    assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched


def test_edge_labels_name_the_rule() -> None:
    labels = {(e.src, e.dst): e.label for e in edges_of(DEFINITION)}
    assert labels[("Gate", "Done")] == "x <= 0.1"
    assert labels[("Gate", "Rejected")] == "default"
    assert labels[("Ready?", "Done")] == "InService"
    assert labels[("Work", "Recover")] == "catch States.TaskFailed"


def test_rules_to_the_same_state_are_one_edge_with_both_labels() -> None:
    definition = {"StartAt": "Ready?", "States": {
        "Ready?": {"Type": "Choice", "Default": "Ready?",
                   "Choices": [{"And": [{"Variable": "$.s", "StringEquals": "InService"},
                                        {"Variable": "$.c", "StringEqualsPath": "$.want.c"}], "Next": "Done"},
                               {"Variable": "$.s", "StringEquals": "InService", "Next": "Why?"},
                               {"Variable": "$.s", "StringEquals": "Failed", "Next": "Why?"}]},
        "Why?": {"Type": "Choice", "Default": "Done",
                 "Choices": [{"Variable": "$.Endpoint.FailureReason", "IsPresent": True, "Next": "Done"},
                             {"Not": {"Variable": "$.e.Cause", "StringMatches": "*Rate*"}, "Next": "Ready?"}]},
        "Done": {"Type": "Succeed"}}}
    labels = {(e.src, e.dst): e.label for e in edges_of(definition)}
    assert labels[("Ready?", "Why?")] == "InService / Failed"
    assert labels[("Ready?", "Done")] == "InService and c = c"
    assert labels[("Why?", "Done")] == "FailureReason present / default"
    assert labels[("Why?", "Ready?")] == "not *Rate*"
    assert len(edges_of(definition)) == 6


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    """The project's own workflow, as notebook 03 builds it: the graph with the most crowded branches."""
    from pathlib import Path

    from retrain.notebooks import workflow_definition

    return workflow_definition(Path(__file__).resolve().parents[2] / "params" / "local.yaml", account="123456789012")


@pytest.mark.parametrize("which", ["demo", "workflow"])
def test_edge_labels_cover_no_state_and_no_other_label(which: str, workflow: dict[str, Any]) -> None:
    definition = DEFINITION if which == "demo" else workflow
    edges = edges_of(definition)
    nodes = [START, *definition["States"], END]
    placed = layout([n for n in nodes if n != END or any(e.dst == END for e in edges)], edges)
    labelled = [i for i, e in enumerate(edges) if e.label]
    assert sorted(placed.labels) == labelled
    boxes_ = [placed.box(n) for n in placed.centre]
    labels = [placed.labels[i].box for i in labelled]
    for i, label in enumerate(labels):
        assert not any(label.overlaps(b, pad=0) for b in boxes_), edges[labelled[i]]
        assert not any(label.overlaps(other, pad=0) for other in labels[i + 1:]), edges[labelled[i]]
    # everything, labels included, is inside the picture
    root = ET.fromstring(render_svg(definition, title="t"))
    width = float(root.get("width"))
    bounds = placed.bounds()
    assert bounds.x1 - bounds.x0 + 48 <= width + 1


def test_statuses_from_a_history_with_catch_retry_and_failure() -> None:
    history = events(
        ("ExecutionStarted", None),
        ("TaskStateEntered", "Work"), ("TaskScheduled", None), ("TaskFailed", None),
        ("TaskScheduled", None), ("TaskFailed", None),  # retried, failed again, then caught
        ("PassStateEntered", "Recover"), ("PassStateExited", "Recover"),
        ("WaitStateEntered", "Poll"),
    )
    status = state_statuses(history)
    assert status == {"Work": "caught", "Recover": "succeeded", "Poll": "running"}
    retried = events(("TaskStateEntered", "Work"), ("TaskScheduled", None), ("TaskFailed", None),
                     ("TaskScheduled", None), ("TaskSucceeded", None), ("TaskStateExited", "Work"))
    assert state_statuses(retried) == {"Work": "succeeded"}
    failed = events(("TaskStateEntered", "Work"), ("TaskScheduled", None), ("TaskFailed", None),
                    ("ExecutionFailed", None))
    assert state_statuses(failed) == {"Work": "failed"}


def test_the_graph_says_in_words_what_it_shows() -> None:
    root = ET.fromstring(render_svg(DEFINITION, title="demo"))
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == root.get("aria-label")
    assert title.text == "demo: 7 states, starting at Work: Work, Gate, Recover, Poll, Ready?, Done, Rejected."
    history = events(("TaskStateEntered", "Work"), ("TaskStateExited", "Work"), ("ChoiceStateEntered", "Gate"),
                     ("ChoiceStateExited", "Gate"), ("FailStateEntered", "Rejected"), ("ExecutionFailed", None))
    coloured = ET.fromstring(render_svg(DEFINITION, history)).get("aria-label")
    assert coloured.endswith("Succeeded: Work, Gate. Failed: Rejected.")


def test_rejected_run_is_coloured_red_at_the_fail_state() -> None:
    history = events(("TaskStateEntered", "Work"), ("TaskStateExited", "Work"), ("ChoiceStateEntered", "Gate"),
                     ("ChoiceStateExited", "Gate"), ("FailStateEntered", "Rejected"), ("ExecutionFailed", None))
    drawn = boxes(render_svg(DEFINITION, history))
    assert drawn["Work"].get("data-status") == "succeeded"
    assert drawn["Rejected"].get("data-status") == "failed"
    assert drawn["Done"].get("data-status") == "not_run"
    rect = drawn["Rejected"].find(f"{SVG}rect")
    assert rect is not None and rect.get("fill") == COLOURS["failed"][0]
    assert drawn["Work"].find(f"{SVG}rect").get("fill") == COLOURS["succeeded"][0]


@pytest.mark.parametrize("n", [1, 3])
def test_layout_keeps_boxes_apart(n: int) -> None:
    states: dict[str, Any] = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(n)}
    states[f"S{n}"] = {"Type": "Succeed"}
    svg = render_svg({"StartAt": "S0", "States": states})
    ys = sorted(float(g.find(f"{SVG}rect").get("y")) for g in boxes(svg).values())
    assert all(b - a >= 34 for a, b in zip(ys, ys[1:], strict=False))


def test_show_graph_displays_inline_svg(tmp_path: Any) -> None:
    graph = show_graph(DEFINITION)
    assert graph._repr_html_().startswith("<svg")  # inline: nbconvert would make an image/svg+xml an <img>
    graph.save(tmp_path / "g.svg")
    assert (tmp_path / "g.svg").read_text().startswith("<svg")
