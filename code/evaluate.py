"""SageMaker processing job (the XGBoost 1.7-1 image, run by a ScriptProcessor): score the candidate model and the
model in production on the same held-back rows, rows neither of them trained on.

Inputs (ProcessingInputs, under /opt/ml/processing): ``code/`` (this script and evaluation.py), ``holdout/`` (the
held-back rows as they were uploaded: raw CSV or prepared), ``candidate/model/model.tar.gz`` and
``candidate/data/features.json`` (the candidate's artifact and its feature plan) and, when a model is in production,
the same under ``champion/``. Output: ``evaluation/evaluation.json``::

    {"task": "binary", "rows": 200, "labels": [...],
     "candidate": {"metrics": {"auc": 0.93, "accuracy": 0.95, ...}, "scores": [...]},
     "champion": {"metrics": {...}, "scores": [...]} or null,
     "comparison": {"auc": {"absolute": 0.01, "relative": 0.011}, ...} or null}

Each model encodes the rows with its own features.json, so a challenger with new features is still judged on the
same rows as the champion. Scores are the model's own predictions (binary: the probability of class 1).
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import tempfile
from typing import Any

import numpy as np
import xgboost as xgb
from evaluation import encode_rows, improvement, metrics

ROOT = "/opt/ml/processing"
#: scores kept in the output for the report's curves (a few thousand rows at most)
MAX_SCORES = 5000


def _only_file(folder: str, suffix: str = "") -> str:
    names = sorted(n for n in os.listdir(folder) if n.endswith(suffix) and not n.startswith("."))
    if not names:
        raise SystemExit(f"no {suffix or 'input'} file in {folder}")
    return os.path.join(folder, names[0])


def load_booster(folder: str) -> Any:
    """The booster in the ``model.tar.gz`` under ``folder`` (the built-in algorithm writes ``xgboost-model``)."""
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(_only_file(folder, ".tar.gz")) as archive:
            archive.extractall(tmp)
        booster = xgb.Booster()
        booster.load_model(os.path.join(tmp, "xgboost-model"))
    return booster


def score(role: str, data: bytes) -> tuple[dict[str, Any], np.ndarray, str]:
    """``(result, labels, task)`` of the model under ``ROOT/<role>``."""
    with open(_only_file(os.path.join(ROOT, role, "data"), "features.json")) as fh:
        manifest = json.load(fh)
    rows, truth = encode_rows(data, manifest)
    scores = load_booster(os.path.join(ROOT, role, "model")).predict(xgb.DMatrix(rows, missing=np.nan))
    task = manifest.get("task", "binary")
    result: dict[str, Any] = {"metrics": metrics(task, truth, scores), "features": len(manifest["features"])}
    if len(truth) <= MAX_SCORES:
        result["scores"] = np.round(np.asarray(scores, dtype=float), 6).tolist()
    return result, truth, task


def comparison(candidate: dict[str, Any], champion: dict[str, Any]) -> dict[str, Any]:
    """Per metric both have: the candidate's absolute and relative gain over the champion (positive: better)."""
    out = {}
    for name, value in candidate.items():
        if value is None or champion.get(name) is None:
            continue
        absolute, relative = improvement(name, value, champion[name])
        out[name] = {"absolute": round(absolute, 6), "relative": None if relative is None else round(relative, 6)}
    return out


def main() -> int:
    with open(_only_file(os.path.join(ROOT, "holdout")), "rb") as fh:
        data = fh.read()
    candidate, truth, task = score("candidate", data)
    champion = score("champion", data)[0] if os.path.isdir(os.path.join(ROOT, "champion", "model")) else None
    out = {"task": task, "rows": int(len(truth)), "candidate": candidate, "champion": champion,
           "comparison": comparison(candidate["metrics"], champion["metrics"]) if champion else None}
    if len(truth) <= MAX_SCORES:
        out["labels"] = truth.tolist()
    os.makedirs(os.path.join(ROOT, "evaluation"), exist_ok=True)
    with open(os.path.join(ROOT, "evaluation", "evaluation.json"), "w") as fh:
        json.dump(out, fh)
    print(json.dumps({"rows": out["rows"], "candidate": candidate["metrics"],
                      "champion": champion and champion["metrics"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
