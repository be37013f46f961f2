"""The reference the XGBoost tests compare with: xgboost 1.7.4, the version of SageMaker's 1.7-1 container, run
in localcloud's image environment (``localcloud images install``), outside localcloud's own code."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from localcloud import images

_TRAIN = """
import json, sys, numpy as np, xgboost as xgb
folder = sys.argv[1]
spec = json.load(open(folder + "/spec.json"))
X, y = np.load(folder + "/X.npy"), np.load(folder + "/y.npy")
booster = xgb.train(spec["params"], xgb.DMatrix(X, label=y), num_boost_round=spec["rounds"])
booster.save_model(folder + "/xgboost-model")  # no extension: the legacy binary format, as the container saves
print(xgb.__version__)
"""

_PREDICT = """
import sys, numpy as np, xgboost as xgb
folder = sys.argv[1]
booster = xgb.Booster()
booster.load_model(folder + "/xgboost-model")
X = np.load(folder + "/X.npy")
# as the container's serve_utils.predict does
scores = booster.predict(xgb.DMatrix(X), ntree_limit=getattr(booster, "best_ntree_limit", 0), validate_features=False)
np.save(folder + "/scores.npy", scores)
print(xgb.__version__)
"""


def python() -> str:
    return images.python(images.XGBOOST)


def _run(script: str, folder: Path) -> str:
    done = subprocess.run([python(), "-c", script, str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def train_model(X: np.ndarray, y: np.ndarray, params: dict[str, Any], rounds: int) -> bytes:
    """A model trained by xgboost 1.7.4 and saved as the container saves it (``save_model("xgboost-model")``)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "X.npy", np.asarray(X, dtype=np.float32))
        np.save(folder / "y.npy", np.asarray(y, dtype=np.float32))
        (folder / "spec.json").write_text(json.dumps({"params": params, "rounds": rounds}))
        assert _run(_TRAIN, folder) == "1.7.4"
        return (folder / "xgboost-model").read_bytes()


def predict(model: bytes, X: np.ndarray) -> np.ndarray:
    """xgboost 1.7.4's scores for ``X`` with ``model`` (any format 1.7.4 loads)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "xgboost-model").write_bytes(model)
        np.save(folder / "X.npy", np.asarray(X, dtype=np.float32))
        assert _run(_PREDICT, folder) == "1.7.4"
        return np.load(folder / "scores.npy")
