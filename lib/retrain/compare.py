"""Champion against challenger, and one run against another.

:func:`plot_face_off` draws the evaluation job's result — the candidate and the model in production scored on the
same held-back rows — as the report shows it: the metrics side by side and, for a binary model, both ROC curves.
:func:`compare_runs` is ``retrain compare RUN_A RUN_B``: metric deltas, how feature importance moved, and the drift
between the two runs' data (population stability index per feature, from their profiles).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from retrain.evaluation import HIGHER_IS_BETTER, roc_curve

EPSILON = 1e-4


def face_off_alt(evaluation: dict[str, Any], metric: str) -> str:
    candidate = evaluation["candidate"]["metrics"].get(metric)
    champion = (evaluation.get("champion") or {}).get("metrics", {}).get(metric)
    rows = evaluation.get("rows")
    if champion is None:
        return f"The new model's metrics on {rows} held-back rows; no model was in production to compare with."
    return (f"The new model against the model in production on the same {rows} held-back rows: {metric} "
            f"{candidate:.4f} against {champion:.4f}.")


def plot_face_off(evaluation: dict[str, Any], metric: str) -> Any:
    """Bars of every metric for both models (the gate's metric marked), and both ROC curves for a binary task."""
    from retrain.reports import _pyplot

    plt = _pyplot()
    binary = evaluation.get("task") == "binary" and "labels" in evaluation
    fig, axes = plt.subplots(1, 2 if binary else 1, figsize=(9.6 if binary else 5.2, 3.6), dpi=100, squeeze=False)
    names = list(evaluation["candidate"]["metrics"])
    champion = (evaluation.get("champion") or {}).get("metrics") or {}
    x = np.arange(len(names))
    bars = axes[0][0]
    bars.bar(x - 0.2, [evaluation["candidate"]["metrics"][n] or 0 for n in names], 0.4, label="new model",
             color="#1a73e8")
    if champion:
        bars.bar(x + 0.2, [champion.get(n) or 0 for n in names], 0.4, label="in production", color="#9e9e9e")
    bars.set_xticks(x, [f"{n}*" if n == metric else n for n in names], fontsize=8)
    bars.set_title(f"same {evaluation.get('rows')} held-back rows (* the gate's metric)", fontsize=9)
    bars.legend(fontsize=8)
    if binary:
        roc = axes[0][1]
        for key, colour, label in (("candidate", "#1a73e8", "new model"), ("champion", "#9e9e9e", "in production")):
            scores = (evaluation.get(key) or {}).get("scores")
            if scores is not None:
                fpr, tpr, auc = roc_curve(np.array(evaluation["labels"]), np.array(scores))
                roc.plot(fpr, tpr, color=colour, linewidth=2, label=f"{label} AUC {auc:.3f}")
        roc.plot([0, 1], [0, 1], color="#cfcfcf", linestyle="--", linewidth=1)
        roc.set_xlabel("false positive rate")
        roc.set_ylabel("true positive rate")
        roc.legend(loc="lower right", fontsize=8)
        roc.set_title("ROC curves", fontsize=9)
    fig.tight_layout()
    return fig


def _psi(new: list[float], old: list[float]) -> float:
    return round(sum((max(a, EPSILON) - max(e, EPSILON)) * math.log(max(a, EPSILON) / max(e, EPSILON))
                     for a, e in zip(new, old, strict=True)), 6)


def _cdf_at(edges: list[float], shares: list[float], points: list[float]) -> list[float]:
    """The share of rows at or below each point, interpolated linearly within the bins of a profile."""
    cumulative = np.cumsum([0.0, *shares])  # at -inf, edges..., +inf
    if not edges:
        return [0.0 for _ in points]
    known = np.array(edges, dtype=float)
    return [float(np.interp(p, known, cumulative[1:len(known) + 1], left=0.0, right=cumulative[-1]))
            for p in points]


def profile_drift(old: dict[str, Any], new: dict[str, Any]) -> dict[str, float]:
    """PSI per feature between two runs' profiles: categorical exactly, numeric by re-binning the newer profile
    onto the older one's decile edges (linear within a bin: an approximation, stated in the output)."""
    out: dict[str, float] = {}
    for column, before in old.get("numeric", {}).items():
        after = new.get("numeric", {}).get(column)
        if not after or not before.get("edges"):
            continue
        cdf = _cdf_at(after["edges"], after["shares"], before["edges"])
        moved = np.diff([0.0, *cdf, float(sum(after["shares"]))]).tolist()
        out[column] = _psi(moved + [after.get("missing_share", 0.0)],
                           list(before["shares"]) + [before.get("missing_share", 0.0)])
    for column, before in old.get("categorical", {}).items():
        after = new.get("categorical", {}).get(column)
        if not after:
            continue
        values = sorted(set(before["shares"]) | set(after["shares"]))
        out[column] = _psi([after["shares"].get(v, 0.0) for v in values], [before["shares"].get(v, 0.0) for v in values])
    return out


def compare_runs(a: dict[str, Any], b: dict[str, Any], profiles: tuple[dict | None, dict | None]) -> dict[str, Any]:
    """What changed from run ``a`` to run ``b`` (their records, and their data profiles when both exist)."""
    metrics_a = (a.get("evaluation") or {}).get("candidate") or {}
    metrics_b = (b.get("evaluation") or {}).get("candidate") or {}
    deltas = {}
    for name in sorted(set(metrics_a) & set(metrics_b)):
        if metrics_a[name] is None or metrics_b[name] is None:
            continue
        change = metrics_b[name] - metrics_a[name]
        better = change > 0 if name in HIGHER_IS_BETTER else change < 0
        deltas[name] = {"a": metrics_a[name], "b": metrics_b[name], "change": round(change, 6),
                        "better": better if change else None}
    importance_a, importance_b = a.get("importance") or {}, b.get("importance") or {}
    shift = {f: round(importance_b.get(f, 0.0) - importance_a.get(f, 0.0), 4)
             for f in sorted(set(importance_a) | set(importance_b))}
    ranked = dict(sorted(((f, v) for f, v in shift.items() if v), key=lambda kv: -abs(kv[1]))[:10])
    drift = profile_drift(*profiles) if all(profiles) else {}
    return {"runs": [a["run_id"], b["run_id"]],
            "data": {"same": a.get("data_sha256") == b.get("data_sha256"), "a": a.get("data_sha256"),
                     "b": b.get("data_sha256")},
            "params_same": a.get("params_digest") == b.get("params_digest"),
            "metrics": deltas, "importance_shift": ranked,
            "drift": dict(sorted(drift.items(), key=lambda kv: -kv[1])),
            "drift_note": "numeric PSI re-bins run b's profile on run a's deciles (linear within a bin)"}


def plot_trend(rows: list[dict[str, Any]]) -> Any:
    """The gate's metric of every recorded run (``retrain history``), oldest first: the candidate's score, and the
    champion's where one was compared; deployed runs filled, the others hollow."""
    from retrain.reports import _pyplot

    plt = _pyplot()
    scored = [r for r in rows if r.get("score") is not None]
    fig, ax = plt.subplots(figsize=(7.2, 3.0), dpi=100)
    x = np.arange(len(scored))
    ax.plot(x, [r["score"] for r in scored], color="#1a73e8", linewidth=1.5, label="new model")
    deployed = [i for i, r in enumerate(scored) if r.get("status") == "deployed"]
    ax.scatter(deployed, [scored[i]["score"] for i in deployed], color="#1a73e8", zorder=3, label="deployed")
    others = [i for i in range(len(scored)) if i not in deployed]
    ax.scatter(others, [scored[i]["score"] for i in others], facecolors="white", edgecolors="#1a73e8", zorder=3,
               label="not deployed")
    champions = [(i, r["champion"]) for i, r in enumerate(scored) if r.get("champion") is not None]
    if champions:
        ax.scatter(*zip(*champions, strict=True), marker="_", s=200, color="#9e9e9e", label="in production")
    ax.set_xticks(x, [str(r["run"])[-4:] for r in scored], fontsize=7)
    ax.set_xlabel("run (last characters of its id), oldest first", fontsize=8)
    ax.set_ylabel(str(scored[0]["metric"]) if scored else "", fontsize=8)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
