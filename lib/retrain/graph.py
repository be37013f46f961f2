"""The workflow graph as a self-contained SVG, drawn from the ASL itself and coloured from an execution history.

The SDK's ``render_graph()`` / ``render_progress()`` load JavaScript from a CDN and show nothing offline or in
JupyterLab; this drawing needs nothing but the definition (and, for colours, the events).
"""

from __future__ import annotations

import html
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger(__name__)

START, END = "__start__", "__end__"

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

FONT = 12
CHAR_W = 7.0
NODE_H = 34
RANK_GAP = 46
NODE_GAP = 36
MARGIN = 24


@dataclass
class Edge:
    src: str
    dst: str
    label: str = ""
    kind: str = "next"  # next | choice | default | catch


def edges_of(definition: dict[str, Any]) -> list[Edge]:
    """Every transition of the top-level states, plus Start -> StartAt and ``End: true`` states -> End.

    Succeed and Fail states end the execution themselves and are drawn without an edge to End.
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
    return [e for e in edges if e.dst in states or e.dst == END]


def _rule_label(rule: dict[str, Any]) -> str:
    ops = {"NumericLessThanEquals": "<=", "NumericLessThan": "<", "NumericGreaterThan": ">",
           "NumericGreaterThanEquals": ">=", "NumericEquals": "==", "StringEquals": "==", "BooleanEquals": "=="}
    for key, symbol in ops.items():
        if key in rule and key in ("StringEquals", "BooleanEquals"):
            return str(rule[key])
        if key in rule:
            variable = rule.get("Variable", "")
            short = variable.replace("$['", "").replace("']['", ".").replace("']", "")
            return f"{short.rsplit('.', 1)[-1]} {symbol} {rule[key]}"
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


def _ranks(nodes: list[str], edges: list[Edge]) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """Longest-path ranks after dropping the back edges a depth-first walk from Start finds."""
    out: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        out[e.src].append(e.dst)
    back: set[tuple[str, str]] = set()
    colour: dict[str, int] = {}

    def visit(node: str) -> None:
        colour[node] = 1
        for nxt in out[node]:
            if colour.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in colour:
                visit(nxt)
        colour[node] = 2

    visit(START)
    for node in nodes:  # unreachable states still get drawn
        if node not in colour:
            visit(node)
    order: list[str] = []
    seen: set[str] = set()

    def topo(node: str) -> None:
        seen.add(node)
        for nxt in out[node]:
            if (node, nxt) not in back and nxt not in seen:
                topo(nxt)
        order.append(node)

    for node in [START, *nodes, END]:
        if node not in seen:
            topo(node)
    rank = {node: 0 for node in order}
    for node in reversed(order):
        for nxt in out[node]:
            if (node, nxt) not in back:
                rank[nxt] = max(rank[nxt], rank[node] + 1)
    end_rank = max((rank[n] for n in rank if n != END), default=0) + 1
    rank[END] = max(rank.get(END, 0), end_rank)
    return rank, back


def _width(label: str) -> float:
    return max(90.0, len(label) * CHAR_W + 28)


def render_svg(definition: dict[str, Any], events: list[dict[str, Any]] | None = None, *, title: str = "") -> str:
    """An SVG picture of ``definition``; with ``events`` each state is coloured by its status in that run."""
    states = list(definition.get("States", {}))
    edges = edges_of(definition)
    status = state_statuses(events or []) if events is not None else {}
    coloured = events is not None
    rank, back = _ranks(states, edges)
    nodes = [START, *states] + ([END] if any(e.dst == END for e in edges) else [])
    rank = {n: rank[n] for n in nodes}
    layers: dict[int, list[str]] = defaultdict(list)
    for node in nodes:
        layers[rank[node]].append(node)
    preds: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if (e.src, e.dst) not in back:
            preds[e.dst].append(e.src)

    size = {n: (_width(n) if n not in (START, END) else 56.0) for n in nodes}
    xs: dict[str, float] = {}
    for r in sorted(layers):
        layer = layers[r]
        if r > 0:  # order by where the predecessors are (barycentre), keeping definition order for ties
            layer.sort(key=lambda n: sum(xs.get(p, 0) for p in preds[n]) / max(1, len(preds[n])))
        total = sum(size[n] for n in layer) + NODE_GAP * (len(layer) - 1)
        x = -total / 2
        for n in layer:
            xs[n] = x + size[n] / 2
            x += size[n] + NODE_GAP
    min_x = min(xs[n] - size[n] / 2 for n in xs)
    max_x = max(xs[n] + size[n] / 2 for n in xs)
    loop_room = 90 if back else 0
    top = MARGIN + (28 if title else 0)
    width = max_x - min_x + 2 * MARGIN + loop_room + 40
    legend_h = 40 if coloured else 0
    if coloured:
        width = max(width, 2 * MARGIN + sum(40 + len(v) * CHAR_W for v in LABELS.values()))
    height = top + (max(rank.values()) + 1) * (NODE_H + RANK_GAP) - RANK_GAP + MARGIN + legend_h
    shift = MARGIN - min_x

    def cx(n: str) -> float:
        return xs[n] + shift

    def cy(n: str) -> float:
        return top + rank[n] * (NODE_H + RANK_GAP) + NODE_H / 2

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'font-size="{FONT}" class="retrain-graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#546e7a"/></marker></defs>',
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    if title:
        parts.append(f'<text x="{MARGIN}" y="{MARGIN + 8}" font-size="15" font-weight="bold" '
                     f'fill="#263238">{html.escape(title)}</text>')
    for e in edges:
        parts.append(_edge_svg(e, (cx(e.src), cy(e.src)), (cx(e.dst), cy(e.dst)), size, (e.src, e.dst) in back,
                               max_x + shift))
    for n in nodes:
        parts.append(_node_svg(n, cx(n), cy(n), size[n], definition, status if coloured else None))
    if coloured:
        x = MARGIN
        y = height - legend_h / 2
        for key in ("succeeded", "caught", "failed", "running", "not_run"):
            fill, stroke = COLOURS[key]
            parts.append(f'<rect x="{x}" y="{y - 8:.0f}" width="16" height="16" rx="3" fill="{fill}" '
                         f'stroke="{stroke}"/><text x="{x + 22}" y="{y + 4:.0f}" fill="#37474f">{LABELS[key]}</text>')
            x += 40 + len(LABELS[key]) * CHAR_W
    parts.append("</svg>")
    return "\n".join(parts)


def _node_svg(name: str, x: float, y: float, w: float, definition: dict[str, Any],
              status: dict[str, str] | None) -> str:
    if name in (START, END):
        label = "Start" if name == START else "End"
        return (f'<g class="terminal"><ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{w / 2:.0f}" ry="{NODE_H / 2 - 2}" '
                f'fill="#cfd8dc" stroke="#607d8b"/><text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" '
                f'fill="#263238">{label}</text></g>')
    kind = definition["States"][name].get("Type", "")
    state = (status or {}).get(name, "not_run") if status is not None else None
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


def _edge_svg(e: Edge, a: tuple[float, float], b: tuple[float, float], size: dict[str, float], is_back: bool,
              right: float) -> str:
    colour = "#b06000" if e.kind == "catch" else "#546e7a"
    dash = ' stroke-dasharray="4 3"' if e.kind in ("catch", "default") else ""
    (x1, y1), (x2, y2) = a, b
    if is_back:  # loop back up along the right-hand side
        sx, ex = x1 + size[e.src] / 2, x2 + size[e.dst] / 2
        lane = right + 40
        path = f"M {sx:.1f} {y1:.1f} C {lane:.1f} {y1:.1f} {lane:.1f} {y2:.1f} {ex:.1f} {y2:.1f}"
        lx, ly = max(sx, ex) + 0.75 * (lane - max(sx, ex)) + 6, (y1 + y2) / 2 + 4
    else:
        y1 += NODE_H / 2
        y2 -= NODE_H / 2
        mid = (y1 + y2) / 2
        path = f"M {x1:.1f} {y1:.1f} C {x1:.1f} {mid:.1f} {x2:.1f} {mid:.1f} {x2:.1f} {y2:.1f}"
        leftwards = x2 < x1 - 1
        lx, ly = (x1 + x2) / 2 + (-8 if leftwards else 8), mid + 4
    label = ""
    if e.label:
        anchor = "end" if not is_back and leftwards else "start"
        label = (f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="10" fill="{colour}" '
                 f'text-anchor="{anchor}">{html.escape(e.label)}</text>')
    return (f'<g class="edge" data-from="{html.escape(e.src, quote=True)}" data-to="{html.escape(e.dst, quote=True)}">'
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>'
            f'{label}</g>')


class GraphSVG:
    """An SVG string that Jupyter shows inline (``_repr_svg_``) and nbconvert embeds in the HTML."""

    def __init__(self, svg: str) -> None:
        self.svg = svg

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: Any) -> None:
        from pathlib import Path

        Path(path).write_text(self.svg, encoding="utf-8")


def show_graph(definition: dict[str, Any], events: list[dict[str, Any]] | None = None, *, title: str = "") -> GraphSVG:
    """The graph for display in a notebook (see :func:`render_svg`)."""
    return GraphSVG(render_svg(definition, events, title=title))
