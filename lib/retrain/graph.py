"""The workflow graph as a self-contained SVG, drawn from the ASL itself and coloured from an execution history.

The SDK's ``render_graph()`` / ``render_progress()`` load JavaScript from a CDN and show nothing offline or in
JupyterLab; this drawing needs nothing but the definition (and, for colours, the events).
"""

from __future__ import annotations

import html
import logging
from typing import Any

from retrain.graph_layout import CHAR_W, END, FONT, NODE_H, START, Curve, Edge, Label, Layout, curve, layout

LOG = logging.getLogger(__name__)

#: status -> (fill, stroke). The fills are solid, distinctive colours (a screenshot test looks for them).
COLOURS = {
    "succeeded": ("#8fd19e", "#1e7b34"),
    "failed": ("#f28b82", "#b3261e"),
    "caught": ("#fdd663", "#b06000"),
    "running": ("#8ab4f8", "#1a4fb5"),
    "not_run": ("#eceff1", "#90a4ae"),
}
LABELS = {"succeeded": "succeeded", "failed": "failed", "caught": "failed, caught", "running": "in progress",
          "not_run": "not run"}
_FAIL_EVENTS = {"TaskFailed", "LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskTimedOut", "ExecutionFailed",
                "ExecutionTimedOut", "ExecutionAborted", "TaskStartFailed", "TaskSubmitFailed",
                "LambdaFunctionStartFailed", "LambdaFunctionScheduleFailed"}
_RESTART_EVENTS = {"TaskScheduled", "LambdaFunctionScheduled"}


def edges_of(definition: dict[str, Any]) -> list[Edge]:
    """Every transition of the top-level states, plus Start -> StartAt and ``End: true`` states -> End.

    Succeed and Fail states end the execution themselves and are drawn without an edge to End. Transitions
    between the same two states (two rules of a Choice with the same Next) are one edge with both labels.
    """
    states: dict[str, Any] = definition.get("States", {})
    edges = [Edge(START, definition["StartAt"])]
    for name, state in states.items():
        kind = state.get("Type")
        if kind == "Choice":
            for rule in state.get("Choices", []):
                edges.append(Edge(name, rule["Next"], _rule_label(rule), "choice"))
            if "Default" in state:
                edges.append(Edge(name, state["Default"], "default", "default"))
        elif state.get("Next"):
            edges.append(Edge(name, state["Next"]))
        if state.get("End"):
            edges.append(Edge(name, END))
        for catch in state.get("Catch", []):
            edges.append(Edge(name, catch["Next"], "catch " + ", ".join(catch.get("ErrorEquals", [])), "catch"))
    merged: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        if edge.dst not in states and edge.dst != END:
            continue
        first = merged.setdefault((edge.src, edge.dst), edge)
        if first is not edge and edge.label:
            first.label = f"{first.label} / {edge.label}" if first.label else edge.label
    return list(merged.values())


_OPS = {"NumericLessThanEquals": "<=", "NumericLessThan": "<", "NumericGreaterThan": ">",
        "NumericGreaterThanEquals": ">=", "NumericEquals": "==", "TimestampEquals": "==",
        "TimestampLessThan": "<", "TimestampGreaterThan": ">"}


def _short(variable: str) -> str:
    """The last field of a path: ``$['Payload']['metrics']['x']`` and ``$.Payload.metrics.x`` give ``x``."""
    plain = variable.replace("$['", "").replace("']['", ".").replace("']", "").lstrip("$.")
    return plain.rsplit(".", 1)[-1]


def _rule_label(rule: dict[str, Any]) -> str:
    """A short label for a Choice rule: the value a string or boolean is compared with, ``field op value`` for
    numbers and timestamps, ``a and b`` / ``a or b`` / ``not a`` for combined rules."""
    for combinator, word in (("And", " and "), ("Or", " or ")):
        if combinator in rule:
            return word.join(_rule_label(r) for r in rule[combinator])
    if "Not" in rule:
        return f"not {_rule_label(rule['Not'])}"
    for key, value in rule.items():
        if key in ("Variable", "Next"):
            continue
        field = _short(rule.get("Variable", ""))
        if key.endswith("Path"):
            return f"{field} = {_short(str(value))}"
        if key in ("StringEquals", "BooleanEquals", "StringMatches"):
            return str(value)
        if key in _OPS:
            return f"{field} {_OPS[key]} {value}"
        if key == "IsPresent":
            return f"{field} {'present' if value else 'absent'}"
        return f"{field} {key}"
    return "rule"


def state_statuses(events: list[dict[str, Any]]) -> dict[str, str]:
    """Each state's status from an execution history: succeeded, failed, caught, running (not_run if absent)."""
    status: dict[str, str] = {}
    failed_in: set[str] = set()
    current: str | None = None
    for event in events:
        kind = event.get("type", "")
        if kind.endswith("StateEntered"):
            if current and current in failed_in and status.get(current) == "failed":
                status[current] = "caught"  # another state runs after the failure: a Catch took it
            current = event.get("stateEnteredEventDetails", {}).get("name")
            if current:
                status[current] = "failed" if kind == "FailStateEntered" else "running"
        elif kind.endswith("StateExited"):
            name = event.get("stateExitedEventDetails", {}).get("name")
            if name:
                status[name] = "caught" if name in failed_in else "succeeded"
                failed_in.discard(name)
        elif kind in _FAIL_EVENTS and current and status.get(current) == "running":
            status[current] = "failed"
            failed_in.add(current)
        elif kind in _RESTART_EVENTS and current in failed_in:
            failed_in.discard(current)  # a Retry: the task runs again
            status[current] = "running"
    return status


MARGIN = 24
LEGEND = ("succeeded", "caught", "failed", "running", "not_run")


def render_svg(definition: dict[str, Any], events: list[dict[str, Any]] | None = None, *, title: str = "") -> str:
    """An SVG picture of ``definition``; with ``events`` each state is coloured by its status in that run."""
    states = list(definition.get("States", {}))
    edges = edges_of(definition)
    nodes = [START, *states] + ([END] if any(e.dst == END for e in edges) else [])
    placed = layout(nodes, edges)
    status = state_statuses(events) if events is not None else None
    alt = describe(definition, status, title)
    bounds = placed.bounds()
    top = MARGIN + (28 if title else 0)
    legend_h = 40 if status is not None else 0
    width = bounds.x1 - bounds.x0 + 2 * MARGIN
    if status is not None:
        width = max(width, 2 * MARGIN + sum(40 + len(LABELS[k]) * CHAR_W for k in LEGEND))
    height = top + bounds.y1 - bounds.y0 + MARGIN + legend_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'font-size="{FONT}" class="retrain-graph" role="img" aria-label="{html.escape(alt, quote=True)}">',
        f"<title>{html.escape(alt)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#546e7a"/></marker></defs>',
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    if title:
        parts.append(f'<text x="{MARGIN}" y="{MARGIN + 8}" font-size="15" font-weight="bold" '
                     f'fill="#263238">{html.escape(title)}</text>')
    parts.append(f'<g transform="translate({MARGIN - bounds.x0:.1f} {top - bounds.y0:.1f})">')
    parts += [_edge_svg(e, placed, placed.labels.get(i)) for i, e in enumerate(edges)]
    parts += [_node_svg(n, placed, definition, status) for n in nodes]
    parts.append("</g>")
    if status is not None:
        parts += _legend(height - legend_h / 2)
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(y: float) -> list[str]:
    parts, x = [], float(MARGIN)
    for key in LEGEND:
        fill, stroke = COLOURS[key]
        parts.append(f'<rect x="{x:.0f}" y="{y - 8:.0f}" width="16" height="16" rx="3" fill="{fill}" '
                     f'stroke="{stroke}"/><text x="{x + 22:.0f}" y="{y + 4:.0f}" fill="#37474f">{LABELS[key]}</text>')
        x += 40 + len(LABELS[key]) * CHAR_W
    return parts


def _node_svg(name: str, placed: Layout, definition: dict[str, Any], status: dict[str, str] | None) -> str:
    (x, y), w = placed.centre[name], placed.size[name]
    if name in (START, END):
        label = "Start" if name == START else "End"
        return (f'<g class="terminal"><ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{w / 2:.0f}" ry="{NODE_H / 2 - 2}" '
                f'fill="#cfd8dc" stroke="#607d8b"/><text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" '
                f'fill="#263238">{label}</text></g>')
    kind = definition["States"][name].get("Type", "")
    state = status.get(name, "not_run") if status is not None else None
    fill, stroke = COLOURS[state] if state else ("#ffffff", "#546e7a")
    rx = 17 if kind == "Choice" else 6
    dash = ' stroke-dasharray="5 3"' if kind in ("Wait",) else ""
    attrs = f' data-status="{state}"' if state else ""
    tip = html.escape(f"{name} ({kind})" + (f": {LABELS[state]}" if state else ""))
    return (f'<g class="state" data-state="{html.escape(name, quote=True)}" data-type="{kind}"{attrs}>'
            f'<title>{tip}</title>'
            f'<rect x="{x - w / 2:.1f}" y="{y - NODE_H / 2:.1f}" width="{w:.1f}" height="{NODE_H}" rx="{rx}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.6"{dash}/>'
            f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" fill="#1c262b">{html.escape(name)}</text></g>')


def _path(c: Curve) -> str:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = c
    return f"M {x0:.1f} {y0:.1f} C {x1:.1f} {y1:.1f} {x2:.1f} {y2:.1f} {x3:.1f} {y3:.1f}"


def _edge_svg(e: Edge, placed: Layout, label: Label | None) -> str:
    colour = "#b06000" if e.kind == "catch" else "#546e7a"
    dash = ' stroke-dasharray="4 3"' if e.kind in ("catch", "default") else ""
    text = ""
    if label is not None:
        text = (f'<text class="edge-label" x="{label.x:.1f}" y="{label.y:.1f}" font-size="10" fill="{colour}" '
                f'text-anchor="{label.anchor}">{html.escape(e.label)}</text>')
    return (f'<g class="edge" data-from="{html.escape(e.src, quote=True)}" data-to="{html.escape(e.dst, quote=True)}">'
            f'<path d="{_path(curve(e, placed))}" fill="none" stroke="{colour}" stroke-width="1.4"{dash} '
            f'marker-end="url(#arrow)"/>{text}</g>')


def describe(definition: dict[str, Any], status: dict[str, str] | None = None, title: str = "") -> str:
    """The graph in words (its alternative text): the states in order and, for a run, which ended how."""
    states = list(definition.get("States", {}))
    text = f"{title or 'Workflow'}: {len(states)} states, starting at {definition.get('StartAt')}: {', '.join(states)}."
    if status is not None:
        for key in LEGEND:
            named = [s for s in states if status.get(s, "not_run") == key]
            if named and key != "not_run":
                text += f" {LABELS[key].capitalize()}: {', '.join(named)}."
    return text


class GraphSVG:
    """An SVG drawing that Jupyter shows inline, as HTML: nbconvert keeps inline SVG as it is (with its title and
    label for screen readers), while an ``image/svg+xml`` output becomes an ``<img>`` without alternative text."""

    def __init__(self, svg: str) -> None:
        self.svg = svg

    def _repr_html_(self) -> str:
        return self.svg

    def save(self, path: Any) -> None:
        from pathlib import Path

        Path(path).write_text(self.svg, encoding="utf-8")


def show_graph(definition: dict[str, Any], events: list[dict[str, Any]] | None = None, *, title: str = "") -> GraphSVG:
    """The graph for display in a notebook (see :func:`render_svg`)."""
    return GraphSVG(render_svg(definition, events, title=title))
