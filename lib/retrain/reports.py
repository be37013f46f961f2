"""Quality plots (confusion matrix, ROC/AUC, feature importance), offline HTML and the run's ``index.html``.

Everything renders with no network: plots are PNGs embedded as data URIs, the workflow graph is inline SVG, and
nbconvert's CDN URLs (MathJax, require.js, jQuery) are blanked.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

LOG = logging.getLogger(__name__)

_REMOTE = re.compile(
    r"""<(script|img|iframe|embed|source|audio|video)\b[^>]*?\bsrc\s*=\s*["']?\s*(https?:)?//"""
    r"""|<link\b[^>]*?\bhref\s*=\s*["']?\s*(https?:)?//"""
    r"""|@import\s+(url\()?\s*["']?\s*(https?:)?//"""
    r"""|url\(\s*["']?\s*(https?:)?//""",
    re.IGNORECASE,
)


# -- plots ----------------------------------------------------------------------------------------------------

def _pyplot() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(cm: np.ndarray, *, title: str = "Confusion matrix (held-back rows)") -> Any:
    """A matplotlib figure of the 2x2 confusion matrix with counts in the cells."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=100)
    ax.imshow(cm, cmap="Blues")
    for (i, j), count in np.ndenumerate(cm):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=14,
                color="white" if count > cm.max() / 2 else "black")
    ax.set_xticks([0, 1], ["stays (0)", "churns (1)"])
    ax.set_yticks([0, 1], ["stays (0)", "churns (1)"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_roc(fpr: np.ndarray, tpr: np.ndarray, auc: float, *, title: str = "ROC curve (held-back rows)") -> Any:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=100)
    ax.plot(fpr, tpr, color="#1a73e8", linewidth=2, label=f"AUC = {auc:.3f}")
    ax.plot([0, 1], [0, 1], color="#9e9e9e", linestyle="--", linewidth=1, label="chance")
    ax.fill_between(fpr, tpr, alpha=0.15, color="#1a73e8")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_importance(importance: dict[str, float], *, top: int = 15, title: str = "Feature importance (gain)") -> Any:
    plt = _pyplot()
    items = list(importance.items())[:top][::-1]
    fig, ax = plt.subplots(figsize=(6.0, 0.32 * max(len(items), 3) + 1.0), dpi=100)
    ax.barh([k for k, _ in items], [v for _, v in items], color="#e8710a")
    ax.set_xlabel("average gain of the splits on the feature")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as PNG to ``path`` (folders created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


class Figure:
    """A saved plot shown in a notebook as an ``<img>`` with alternative text (what the plot says, for readers
    who cannot see it); the HTML report keeps it. A bare matplotlib figure would be shown as a PNG without any."""

    def __init__(self, path: Path, alt: str) -> None:
        self.path, self.alt = path, alt

    def _repr_html_(self) -> str:
        return f"<img alt=\"{html.escape(self.alt)}\" src=\"{png_data_uri(self.path)}\">"

    def __repr__(self) -> str:
        return f"<Figure {self.path.name}: {self.alt}>"


def show_figure(fig: Any, path: str | Path, alt: str) -> Figure:
    """Save ``fig`` as PNG to ``path`` and close it; the returned :class:`Figure` displays it with ``alt``."""
    out = save_figure(fig, path)
    _pyplot().close(fig)  # else the inline backend shows it again, without alternative text
    return Figure(out, alt)


def confusion_alt(cm: np.ndarray) -> str:
    (tn, fp), (fn, tp) = np.asarray(cm).tolist()
    return (f"Confusion matrix of {tn + fp + fn + tp} held-back rows: {tn} stay and were predicted to stay, "
            f"{fp} stay but were predicted to churn, {fn} churn but were predicted to stay, {tp} churn and were "
            "predicted to churn.")


def roc_alt(auc: float) -> str:
    return (f"ROC curve of the held-back rows: true positive rate against false positive rate, area under the "
            f"curve {auc:.3f} (0.5 is chance).")


def importance_alt(importance: dict[str, float], top: int = 3) -> str:
    best = ", ".join(f"{name} ({gain:.1f})" for name, gain in list(importance.items())[:top])
    return f"Bar chart of feature importance by average gain; the largest: {best}."


# -- HTML -----------------------------------------------------------------------------------------------------

def offline_exporter() -> Any:
    """An nbconvert ``HTMLExporter`` whose pages load nothing from the network."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    exporter.mathjax_url = ""
    exporter.require_js_url = ""
    exporter.jquery_url = ""
    for name in ("mermaid_js_url", "mermaid_layout_elk_js_url", "widget_renderer_url"):
        if exporter.has_trait(name):  # newer nbconvert: more CDN scripts (loaded on demand, still a fetch)
            setattr(exporter, name, "")
    return exporter


def notebook_to_html(notebook: str | Path, html_path: str | Path) -> Path:
    """Convert an executed notebook to self-contained offline HTML."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    body, _ = offline_exporter().from_notebook_node(nb)
    out = Path(html_path)
    out.write_text(body, encoding="utf-8")
    problems = remote_references(body)
    if problems:
        LOG.warning("%s still references the network: %s", out, problems[:3])
    return out


_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.IGNORECASE | re.DOTALL)
_URL_LITERAL = re.compile(r"""["'`]\s*(https?:)?//[^"'`\s]+""", re.IGNORECASE)


class HtmlWriter:
    """Writes each executed notebook's offline HTML on a background thread while the next notebook runs."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain-html")
        self._jobs: list[tuple[dict[str, Any], Any]] = []

    def submit(self, entry: dict[str, Any], notebook: Path, html_path: Path) -> None:
        """Write ``html_path`` from ``notebook``; :meth:`close` records its name in ``entry["html"]``."""
        self._jobs.append((entry, self._pool.submit(notebook_to_html, notebook, html_path)))

    def close(self) -> None:
        """Wait for every page; one that cannot be drawn is logged and left out (it must not hide the run's
        outcome)."""
        self._pool.shutdown(wait=True)
        for entry, job in self._jobs:
            try:
                entry["html"] = job.result().name
            except Exception as exc:  # noqa: BLE001 - see the docstring
                LOG.warning("writing the HTML of %s failed: %s", entry["name"], exc)


def remote_references(text: str) -> list[str]:
    """Every network load in an HTML page: ``http(s)://`` (or ``//``) scripts, stylesheets, images, CSS imports,
    and URL literals inside inline scripts (``import("https://...")``, ``fetch``, ...)."""
    found = [text[max(0, m.start() - 10):m.end() + 60] for m in _REMOTE.finditer(text)]
    for block in _SCRIPT.finditer(text):
        found += [block.group(1)[max(0, m.start() - 30):m.end()] for m in _URL_LITERAL.finditer(block.group(1))
                  if "//www.w3.org/" not in m.group(0)]  # XML namespaces and DTD names are identifiers, not loads
    return found


def png_data_uri(path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def figure_data_uri(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


_STATUS_COLOUR = {"deployed": "#1e7b34", "rejected": "#b06000", "failed": "#b3261e", "partial": "#1a4fb5"}
_INDEX_CSS = """
body { font-family: DejaVu Sans, Arial, sans-serif; margin: 24px; color: #1c262b; max-width: 1100px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.badge { display: inline-block; padding: 4px 12px; border-radius: 12px; color: #fff; font-weight: bold; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #cfd8dc; padding: 4px 10px;
text-align: left; font-size: 14px; } th { background: #eceff1; }
.plots img { margin: 6px 12px 6px 0; border: 1px solid #eceff1; vertical-align: top; }
.muted { color: #607d8b; font-size: 13px; } .graph { overflow-x: auto; }
"""


def _headline(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    """The index's headline table: the floor, the champion/challenger gate, the endpoint and the execution."""
    gate = summary.get("gate") or {}
    endpoint = summary.get("endpoint") or {}
    smoke = endpoint.get("smoke_test") or {}
    execution = summary.get("execution") or {}
    floor = gate.get("floor") or {}
    return [
        ("run", summary.get("run_id")), ("target", summary.get("target")),
        ("floor", f"{floor['metric']} {floor['value']:.4g} (at most {floor['max']:.4g})"
         if floor.get("value") is not None else None),
        ("gate metric (held-back rows)", gate.get("metric")), ("candidate", gate.get("candidate")),
        ("champion", gate.get("champion")), ("margin", gate.get("absolute")),
        ("decision", gate.get("decision")), ("reason", gate.get("reason")),
        ("registry", gate.get("approval_status")),
        ("endpoint", endpoint.get("name")), ("endpoint action", endpoint.get("action")),
        ("smoke test rows", smoke.get("rows")),
        *[(f"smoke test {k}", smoke[k]) for k in ("accuracy", "rmse") if k in smoke],
        *_cache_rows(summary),
        ("execution", execution.get("status")), ("execution time (s)", execution.get("duration_s")),
        ("git commit", summary.get("git_commit")),
    ]


def _cache_rows(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    """With ``cache: true`` (retrain.cache): each cached step, and the earlier run it reused or that it ran."""
    cache = summary.get("cache") or {}
    return [(f"{step} step", f"reused run {found['reused_run']} (cache hit)" if found.get("hit")
             else "ran (cache miss)") for step, found in cache.items() if step in ("etl", "training")]


def _comparisons(out: Path, summary: dict[str, Any]) -> list[str]:
    """The champion/challenger face-off and the trend of the gate's metric, when the run drew them."""
    esc, gate, parts = html.escape, summary.get("gate") or {}, []
    face_off = out / "artifacts" / "face_off.png"
    if face_off.is_file():
        parts += ["<h2>Champion and challenger</h2><div class='plots'>",
                  f"<img alt='{esc(_face_off_alt(gate))}' src='{png_data_uri(face_off)}'>", "</div>"]
    trend = out / "artifacts" / "trend.png"
    if trend.is_file():
        from retrain.history import trend_alt

        runs = summary.get("trend") or []
        parts += ["<h2>The gate's metric over runs</h2><div class='plots'>",
                  f"<img alt='{esc(trend_alt(runs))}' src='{png_data_uri(trend)}'>", "</div>"]
    return parts


def render_index(summary: dict[str, Any], out_dir: str | Path) -> str:
    """The run's ``index.html``: verdict, gate, endpoint, the graph, the plots and links to every notebook."""
    out = Path(out_dir)
    status = summary.get("status", "failed")
    esc = html.escape

    def fmt(value: Any) -> str:
        if value is None:
            return "&mdash;"
        if isinstance(value, float):
            return f"{value:.4g}"
        return esc(str(value))

    rows = _headline(summary)
    previous = summary.get("previous_run")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>retrain run {esc(str(summary.get('run_id', '')))}</title><style>{_INDEX_CSS}</style></head><body>",
        f"<h1>Retraining run {esc(str(summary.get('run_id', '')))}</h1>",
        f"<p><span class='badge' style='background:{_STATUS_COLOUR.get(status, '#607d8b')}'>{esc(status)}</span> "
        f"<span class='muted'>{esc(summary.get('message') or '')}</span></p>",
        "<h2>Headline</h2><table>",
        *[f"<tr><th>{esc(k)}</th><td>{fmt(v)}</td></tr>" for k, v in rows],
        "</table>",
    ]
    if previous:  # reports/<run_id>/ is the default report folder, so the previous run's is a sibling
        parts.append(f"<p>Previous run: <a href='../{esc(previous)}/index.html'>{esc(previous)}</a> "
                     f"<span class='muted'>(<code>retrain compare {esc(previous)} "
                     f"{esc(str(summary.get('run_id', '')))}</code>)</span></p>")
    graph = out / "artifacts" / "graph.svg"
    if graph.is_file():
        svg = graph.read_text(encoding="utf-8")
        svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg)
        parts += ["<h2>Workflow execution</h2><div class='graph'>", svg, "</div>"]
    parts += _comparisons(out, summary)
    plots = [(name, out / "artifacts" / f"{name}.png") for name in ("confusion", "roc", "importance", "shadow",
                                                                          "traffic")]
    present = [(n, p) for n, p in plots if p.is_file()]
    if present:
        parts.append("<h2>Model quality</h2><div class='plots'>")
        parts += [f"<img alt='{n}' src='{png_data_uri(p)}'>" for n, p in present]
        parts.append("</div>")
    parts += ["<h2>Notebooks</h2><table><tr><th>notebook</th><th>status</th><th>time (s)</th><th>report</th></tr>"]
    for nb in summary.get("notebooks", []):
        link = f"<a href='{esc(nb['html'])}'>{esc(nb['html'])}</a>" if nb.get("html") else "&mdash;"
        parts.append(f"<tr><td>{esc(nb['name'])}</td><td>{esc(nb['status'])}</td>"
                     f"<td>{fmt(nb.get('duration_s'))}</td><td>{link}</td></tr>")
    parts.append("</table>")
    versions = summary.get("versions") or {}
    if versions:
        listed = ", ".join(f"{esc(k)} {esc(str(v))}" for k, v in versions.items())
        parts.append(f"<p class='muted'>Packages: {listed}</p>")
    parts.append("<p class='muted'><a href='summary.json'>summary.json</a></p></body></html>")
    return "\n".join(parts)


def _face_off_alt(gate: dict[str, Any]) -> str:
    """The face-off picture in words: both scores on the same rows and the decision."""
    metric, rows = gate.get("metric"), gate.get("rows")
    champion = gate.get("champion")
    against = f"the model in production {champion:.4f}" if champion is not None else "no model in production"
    candidate = gate.get("candidate")
    scored = f"{candidate:.4f}" if candidate is not None else "unscored"
    return (f"{metric} of the candidate {scored} against {against}, on the same {rows} held-back rows; "
            f"decision: {gate.get('decision')}")


def write_index(summary: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``index.html`` and ``summary.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    index = out / "index.html"
    index.write_text(render_index(summary, out), encoding="utf-8")
    return index


class EventsTable:
    """An execution history as an HTML table (the SDK's ``list_events(html=True)`` breaks on the boolean
    ``truncated`` flags that current Step Functions histories carry)."""

    _BULKY = ("input", "output", "parameters")

    def __init__(self, events: list[dict[str, Any]], *, max_text: int = 160) -> None:
        self.events = events
        self.max_text = max_text

    def _summary(self, details: dict[str, Any]) -> str:
        parts = []
        for key, value in details.items():
            if key == "name" or isinstance(value, (dict, list)):
                continue
            if key in self._BULKY:
                parts.append(f"{key}: {len(str(value))} chars")
                continue
            text = str(value)
            parts.append(f"{key}: {text[: self.max_text] + ' ...' if len(text) > self.max_text else text}")
        return "; ".join(parts)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per event: id, type, state, elapsed_ms, details (a short text)."""
        start = self.events[0].get("timestamp") if self.events else None
        out = []
        for event in self.events:
            details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
            stamp = event.get("timestamp")
            elapsed = (stamp - start).total_seconds() * 1000 if stamp is not None and start is not None else None
            out.append({"id": event.get("id"), "type": event.get("type"), "state": details.get("name", ""),
                        "elapsed_ms": None if elapsed is None else round(elapsed),
                        "details": self._summary(details)})
        return out

    def _repr_html_(self) -> str:
        esc = html.escape
        cell = "style='text-align:left;vertical-align:top'"
        head = "".join(f"<th {cell}>{h}</th>" for h in ("id", "type", "state", "elapsed (ms)", "details"))
        body = [f"<tr><td {cell}>{row['id']}</td><td {cell}>{esc(str(row['type']))}</td>"
                f"<td {cell}>{esc(row['state'])}</td>"
                f"<td style='text-align:right;vertical-align:top'>{'' if row['elapsed_ms'] is None else row['elapsed_ms']}</td>"
                f"<td {cell}><code style='font-size:11px;white-space:pre-wrap'>{esc(row['details'])}</code></td></tr>"
                for row in self.rows()]
        return f"<table class='retrain-events'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
