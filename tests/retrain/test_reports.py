"""Metrics, plots, offline HTML (nbconvert with the CDN URLs blanked), the run index page, the events table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import product
from pathlib import Path

import nbformat
import numpy as np
import pytest

from retrain.evaluation import confusion_matrix, roc_curve
from retrain.reports import (
    EventsTable,
    confusion_alt,
    importance_alt,
    notebook_to_html,
    offline_exporter,
    plot_confusion,
    plot_importance,
    plot_roc,
    remote_references,
    render_index,
    roc_alt,
    save_figure,
    show_figure,
    write_index,
)


def test_confusion_matrix_counts() -> None:
    y = np.array([0, 0, 1, 1, 1])
    s = np.array([0.1, 0.7, 0.2, 0.9, 0.6])
    assert confusion_matrix(y, s).tolist() == [[1, 1], [1, 2]]


def test_auc_equals_the_pairwise_ranking_probability() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) * 0.7 + y * 0.3, 2)  # ties included
    fpr, tpr, auc = roc_curve(y, s)
    pos, neg = s[y == 1], s[y == 0]
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p, n in product(pos, neg)]
    assert auc == pytest.approx(np.mean(pairs), abs=1e-9)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert roc_curve(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1]))[2] == 1.0
    assert np.isnan(roc_curve(np.array([1, 1]), np.array([0.3, 0.4]))[2])


def test_plots_render_to_png(tmp_path: Path) -> None:
    y = np.array([0, 1, 1, 0])
    s = np.array([0.2, 0.8, 0.4, 0.6])
    for name, fig in (("cm", plot_confusion(confusion_matrix(y, s))), ("roc", plot_roc(*roc_curve(y, s))),
                      ("imp", plot_importance({"Day Mins": 3.0, "CustServ Calls": 5.0}))):
        out = save_figure(fig, tmp_path / f"{name}.png")
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 2000


def test_figures_are_shown_with_alternative_text(tmp_path: Path) -> None:
    """nbconvert gives an <img> without alt a placeholder and warns ("Alternative text is missing"); a figure shown
    with show_figure carries what the plot says, in the notebook and in its HTML report."""
    from IPython.core.formatters import DisplayFormatter

    cm = np.array([[120, 8], [11, 61]])
    shown = [show_figure(plot_confusion(cm), tmp_path / "cm.png", alt=confusion_alt(cm)),
             show_figure(plot_roc(*roc_curve(np.array([0, 1, 1, 0]), np.array([0.2, 0.8, 0.4, 0.6]))),
                         tmp_path / "roc.png", alt=roc_alt(0.75)),
             show_figure(plot_importance({"Day Mins": 5.0, "CustServ Calls": 3.0}), tmp_path / "imp.png",
                         alt=importance_alt({"Day Mins": 5.0, "CustServ Calls": 3.0}))]
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    assert shown[0].alt.startswith("Confusion matrix of 200 held-back rows: 120 stay and were predicted to stay")
    assert "area under the curve 0.750" in shown[1].alt and "Day Mins (5.0), CustServ Calls (3.0)" in shown[2].alt
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show_figure(...)")
    for figure in shown:
        data, metadata = DisplayFormatter().format(figure)
        assert "image/png" not in data  # only the <img> with alt: no second, bare copy
        cell.outputs.append(nbformat.v4.new_output("display_data", data, metadata=metadata))
    from retrain.graph import show_graph

    graph = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    data, metadata = DisplayFormatter().format(show_graph(graph, title="g"))
    assert "image/svg+xml" not in data
    cell.outputs.append(nbformat.v4.new_output("display_data", data, metadata=metadata))
    nb.cells = [cell]
    nbformat.write(nb, str(tmp_path / "n.ipynb"))
    page = notebook_to_html(tmp_path / "n.ipynb", tmp_path / "n.html").read_text()
    assert page.count("<img ") == 3 and "No description has been provided" not in page
    assert 'alt="Confusion matrix of 200 held-back rows' in page and remote_references(page) == []
    assert 'aria-label="g: 1 states, starting at A: A."' in page and 'role="img"' in page  # the graph, inline


def test_remote_reference_detection() -> None:
    assert remote_references('<script src="https://cdn.x/require.js"></script>')
    assert remote_references("<link rel='stylesheet' href='//cdn.x/a.css'>")
    assert remote_references('<img src="http://x/y.png">')
    assert remote_references('<style>@import url("https://fonts.x/f.css");</style>')
    assert remote_references('<script type="module">const m = await import("https://cdn.x/mermaid.mjs");</script>')
    assert not remote_references('<a href="https://docs.aws.amazon.com">docs</a><img src="data:image/png;base64,AA">')
    assert not remote_references('<svg xmlns="http://www.w3.org/2000/svg"></svg><script src=""></script>')


def test_notebook_html_is_offline(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\n$e = mc^2$ and a [link](https://example.org)"),
                nbformat.v4.new_code_cell("1 + 1")]
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, str(path))
    html = notebook_to_html(path, tmp_path / "n.html").read_text()
    assert "Title" in html and remote_references(html) == []
    default_html, _ = __import__("nbconvert").HTMLExporter().from_notebook_node(nb)
    assert remote_references(default_html), "nbconvert's default output should need the network (else the test is moot)"
    exporter = offline_exporter()
    assert exporter.mathjax_url == exporter.require_js_url == exporter.jquery_url == ""


def summary(status: str = "deployed") -> dict:
    return {"run_id": "r1", "target": "local", "status": status, "message": "model deployed; endpoint created",
            "gate": {"floor": {"metric": "validation:error", "max": 0.1, "passed": True, "value": 0.05},
                     "metric": "auc", "candidate": 0.91, "champion": 0.9, "absolute": 0.01, "rows": 200,
                     "decision": "deploy", "reason": "auc 0.9100 beats 0.9000", "approval_status": "Approved"},
            "endpoint": {"name": "ep", "action": "created", "smoke_test": {"rows": 10, "accuracy": 0.9}},
            "execution": {"arn": "arn:x", "status": "SUCCEEDED", "duration_s": 12.5},
            "notebooks": [{"name": "01_setup_roles", "status": "ok", "duration_s": 1.0, "html": "01_setup_roles.html"},
                          {"name": "05_clean_up", "status": "skipped", "duration_s": 0.0, "html": None}],
            "versions": {"stepfunctions": "2.3.0"}}


def test_index_embeds_graph_and_plots_and_links_notebooks(tmp_path: Path) -> None:
    art = tmp_path / "artifacts"
    art.mkdir()
    (art / "graph.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect class="x"/></svg>')
    save_figure(plot_importance({"a": 1.0}), art / "importance.png")
    save_figure(plot_importance({"b": 1.0}), art / "face_off.png")
    index = write_index(summary(), tmp_path)
    text = index.read_text()
    assert '<rect class="x"/>' in text and "data:image/png;base64," in text
    assert "href='01_setup_roles.html'" in text and ">deployed<" in text and "0.05" in text
    assert "validation:error 0.05 (at most 0.1)" in text and "<td>0.91</td>" in text and "<td>0.9</td>" in text
    assert ("alt='auc of the candidate 0.9100 against the model in production 0.9000, on the same 200 held-back "
            "rows; decision: deploy'") in text
    assert remote_references(text) == []
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "deployed"
    rejected = render_index(summary("rejected"), tmp_path / "nothing")
    assert ">rejected<" in rejected and "Model quality" not in rejected


def test_events_table_copes_with_boolean_details() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        {"id": 1, "type": "ExecutionStarted", "timestamp": t0,
         "executionStartedEventDetails": {"input": "{}", "inputDetails": {"truncated": False}, "roleArn": "r"}},
        {"id": 2, "type": "TaskFailed", "timestamp": t0 + timedelta(seconds=2),
         "taskFailedEventDetails": {"error": "States.TaskFailed", "cause": "x" * 500}},
        {"id": 3, "type": "TaskStateEntered", "timestamp": t0 + timedelta(seconds=3),
         "stateEnteredEventDetails": {"name": "Train <Model>", "input": "{\"a\": 1}"}},
    ]
    rows = EventsTable(events).rows()
    assert [r["elapsed_ms"] for r in rows] == [0, 2000, 3000]
    assert rows[0]["details"] == "input: 2 chars; roleArn: r"
    assert rows[1]["details"].startswith("error: States.TaskFailed; cause: xxx") and rows[1]["details"].endswith("...")
    html = EventsTable(events)._repr_html_()
    assert "Train &lt;Model&gt;" in html and html.count("<tr>") == 4
