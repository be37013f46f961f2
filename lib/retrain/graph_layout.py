"""Where the workflow graph's boxes, edges and labels go (pure geometry; :mod:`retrain.graph` draws).

States are ranked by the longest path from Start after dropping the loops' back edges, ordered within a rank by
where their predecessors are, and joined by cubic curves (back edges loop up along the right). Each edge label
goes to the first spot along its curve where it covers no box and no label placed before it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

START, END = "__start__", "__end__"

FONT = 12
CHAR_W = 7.0
NODE_H = 34
RANK_GAP = 46
NODE_GAP = 36
#: edge labels: font size 10; an average glyph of DejaVu Sans at that size is about 6.2 px wide
LABEL_CHAR_W = 6.2
LABEL_H = 12
LOOP_GAP = 40
#: where along its curve a label is tried first, then next (0 = the edge's start, 1 = its end)
LABEL_SPOTS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.12, 0.88)

Point = tuple[float, float]
Curve = tuple[Point, Point, Point, Point]


@dataclass
class Edge:
    src: str
    dst: str
    label: str = ""
    kind: str = "next"  # next | choice | default | catch


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, pad: float = 2.0) -> bool:
        return not (self.x1 + pad <= other.x0 or other.x1 + pad <= self.x0 or
                    self.y1 + pad <= other.y0 or other.y1 + pad <= self.y0)

    def union(self, other: Box) -> Box:
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))


@dataclass
class Label:
    x: float
    y: float  # the text's baseline
    anchor: str  # "start" or "end"
    box: Box


@dataclass
class Layout:
    centre: dict[str, Point]
    size: dict[str, float]
    back: set[tuple[str, str]]
    lane: float  # x of the lane back edges loop along
    labels: dict[int, Label] = field(default_factory=dict)  # by edge index

    def box(self, node: str) -> Box:
        x, y = self.centre[node]
        half = self.size[node] / 2
        return Box(x - half, y - NODE_H / 2, x + half, y + NODE_H / 2)

    def bounds(self) -> Box:
        nodes = [self.box(n) for n in self.centre]
        total = nodes[0]
        for box in nodes[1:] + [label.box for label in self.labels.values()]:
            total = total.union(box)
        if self.back:
            total = total.union(Box(total.x0, total.y0, self.lane + 4, total.y1))
        return total


def node_width(name: str) -> float:
    return 56.0 if name in (START, END) else max(90.0, len(name) * CHAR_W + 28)


def ranks(nodes: list[str], edges: list[Edge]) -> tuple[dict[str, int], set[tuple[str, str]]]:
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
    rank[END] = max(rank.get(END, 0), max((rank[n] for n in rank if n != END), default=0) + 1)
    return rank, back


def layout(nodes: list[str], edges: list[Edge]) -> Layout:
    """Boxes in ranks top to bottom, each rank centred on x = 0 and ordered by its predecessors' positions."""
    rank, back = ranks([n for n in nodes if n not in (START, END)], edges)
    layers: dict[int, list[str]] = defaultdict(list)
    for node in nodes:
        layers[rank[node]].append(node)
    preds: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if (e.src, e.dst) not in back:
            preds[e.dst].append(e.src)
    size = {n: node_width(n) for n in nodes}
    centre: dict[str, Point] = {}
    for r in sorted(layers):
        layer = layers[r]
        if r > 0:  # order by where the predecessors are (barycentre), keeping definition order for ties
            layer.sort(key=lambda n: sum(centre[p][0] for p in preds[n] if p in centre) / max(1, len(preds[n])))
        x = -(sum(size[n] for n in layer) + NODE_GAP * (len(layer) - 1)) / 2
        for n in layer:
            centre[n] = (x + size[n] / 2, r * (NODE_H + RANK_GAP) + NODE_H / 2)
            x += size[n] + NODE_GAP
    right = max(centre[n][0] + size[n] / 2 for n in centre)
    placed = Layout(centre, size, back, right + LOOP_GAP)
    place_labels(placed, edges)
    return placed


def curve(e: Edge, placed: Layout) -> Curve:
    """The cubic curve of an edge: down from the bottom of its source to the top of its target, or for a back
    edge out of the source's right side, along the lane and into the target's right side."""
    (x1, y1), (x2, y2) = placed.centre[e.src], placed.centre[e.dst]
    if (e.src, e.dst) in placed.back:
        sx, ex = x1 + placed.size[e.src] / 2, x2 + placed.size[e.dst] / 2
        return (sx, y1), (placed.lane, y1), (placed.lane, y2), (ex, y2)
    y1, y2 = y1 + NODE_H / 2, y2 - NODE_H / 2
    mid = (y1 + y2) / 2
    return (x1, y1), (x1, mid), (x2, mid), (x2, y2)


def point_at(c: Curve, t: float) -> Point:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = c
    a, b, d, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3
    return a * x0 + b * x1 + d * x2 + e * x3, a * y0 + b * y1 + d * y2 + e * y3


def _label_at(text: str, x: float, y: float, side: str) -> Label:
    width = len(text) * LABEL_CHAR_W
    if side == "right":
        return Label(x + 6, y + 4, "start", Box(x + 6, y - 8, x + 6 + width, y + 4))
    return Label(x - 6, y + 4, "end", Box(x - 6 - width, y - 8, x - 6, y + 4))


def _crosses(box: Box, points: list[Point]) -> bool:
    return any(box.x0 - 1 <= x <= box.x1 + 1 and box.y0 - 1 <= y <= box.y1 + 1 for x, y in points)


def place_labels(placed: Layout, edges: list[Edge]) -> None:
    """Give each labelled edge a spot along its curve, right or left of it: the first that covers no box, no
    label placed before and no other edge's line; else the first that covers no box or label; else the middle."""
    taken = [placed.box(n) for n in placed.centre]
    samples = [[point_at(curve(e, placed), i / 24) for i in range(25)] for e in edges]
    for index, e in enumerate(edges):
        if not e.label:
            continue
        c = curve(e, placed)
        heading_left = c[3][0] < c[0][0] - 1 and (e.src, e.dst) not in placed.back
        sides = ("left", "right") if heading_left else ("right", "left")
        candidates = [_label_at(e.label, *point_at(c, t), side) for t in LABEL_SPOTS for side in sides]
        free = [lab for lab in candidates if not any(lab.box.overlaps(b) for b in taken)]
        lines = [p for other, points in enumerate(samples) if other != index for p in points]
        clear = [lab for lab in free if not _crosses(lab.box, lines)]
        chosen = (clear or free or candidates)[0]
        placed.labels[index] = chosen
        taken.append(chosen.box)
