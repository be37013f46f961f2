"""A training job of the built-in XGBoost 1.7-1 image, as a localcloud child process (one job per process).

The server lays the job out like ``/opt/ml`` (``input/data/<channel>``, ``model``) under a job folder and sends
``{"op": "train", "job_dir": ..., "hyperparameters": {...}, "channels": {name: channel}}``. The steps are the
container's ``sagemaker_train`` and ``train_job`` (``algorithm_mode/train.py``, branch ``1.7-1``): validate the
hyperparameters and channels, read the data (:mod:`.data`), train with xgboost's ``EvaluationMonitor`` (the log
lines SageMaker reads metrics from), early stopping on the validation channel when asked, the container's own
metrics as ``feval``, and ``Booster.save_model(<model dir>/xgboost-model)``: no extension, so xgboost 1.7 writes its
legacy binary format (the file starts with ``binf``), the format of a real artifact.

The answer is ``{"ok": true, "metrics": [...], "rounds": N, "exit": true}`` or ``{"ok": false, "kind":
"ClientError" | "AlgorithmError", "message": ...}``. Final metric values are what SageMaker reads off the log: the
last logged value of each, printed with five decimals, stored as a 32-bit float.
"""

from __future__ import annotations

import logging
import struct
import time
from pathlib import Path
from typing import Any

from localcloud.core.childmain import redirect_output
from localcloud.images.builtin_xgboost import content, data
from localcloud.images.builtin_xgboost import hyperparameters as hp

LOG = logging.getLogger("sagemaker-xgboost-container")

MODEL_NAME = "xgboost-model"
LOG_FILE = "algorithm.log"
#: xgboost errors the container reports as the user's (``CUSTOMER_ERRORS`` of its xgb_constants.py)
CUSTOMER_ERRORS = (
    "label must be in [0,1] for logistic regression", "label must be in [0, num_class)",
    "Target is multiclass but average='binary'", "feature_names mismatch",
    "Check failed: preds.size() == info.labels_.size()",
    "Check failed: !auc_error AUC: the dataset only contains pos or neg samples",
    "Check failed: base_score > 0.0f && base_score < 1.0f base_score must be in (0,1) for logistic loss",
    "Check failed: label_correct PoissonRegression: label must be nonnegative",
    "Check failed: label_correct TweedieRegression: label must be nonnegative",
    "Parameter reg_lambda should be greater equal to 0",
)


class AlgorithmError(Exception):
    """A failure that is not the user's input: the job fails with ``AlgorithmError:``."""


def prepare() -> dict[str, Any]:
    import sklearn.metrics  # noqa: F401 - imported before the job arrives, as xgboost is
    import xgboost

    return {"xgboost": xgboost.__version__}


def float32(value: float) -> float:
    """A value as SageMaker keeps a metric: the five-decimal log text, as a 32-bit float."""
    return struct.unpack("f", struct.pack("f", float(f"{value:.5f}")))[0]


def container_path(path: Path, job_dir: Path) -> str:
    """The path the container would show (``/opt/ml/...``) for a path under the job folder."""
    try:
        return "/opt/ml/" + str(path.relative_to(job_dir))
    except ValueError:
        return str(path)


def read_channels(job_dir: Path, channels: dict[str, Any], plan: hp.TrainPlan) -> tuple[Any, Any]:
    """The train and validation DMatrices (``get_validated_dmatrices``), after the container's checks."""
    configs = content.validate_channels(channels)
    kind = content.parse(configs["train"]["ContentType"])
    matrices: dict[str, Any] = {}
    for name in content.CHANNELS:
        if name not in channels:
            continue
        path = Path(channels[name]["path"])
        if data.size_of(path) > 0:
            data.validate_files(path, kind)
            matrices[name] = data.load(path, kind, job_dir / "links" / name, plan.csv_weights)
    shown = {name: container_path(Path(spec["path"]), job_dir) for name, spec in channels.items()}
    if "train" not in matrices:
        raise content.UserError(f"No data in training channel path {shown['train']}")
    if "validation" in channels and "validation" not in matrices:
        raise content.UserError(f"No data in validation channel path {shown['validation']}")
    return matrices["train"], matrices.get("validation")


def fit(plan: hp.TrainPlan, train: Any, validation: Any) -> tuple[Any, dict[str, Any]]:
    """``xgb.train`` with the container's callbacks; returns the booster and its evaluation history."""
    import xgboost as xgb

    from localcloud.images.builtin_xgboost import metrics

    LOG.info("Train matrix has %s rows and %s columns", train.num_row(), train.num_col())
    watchlist = [(train, "train")]
    if validation is not None:
        LOG.info("Validation matrix has %s rows", validation.num_row())
        watchlist.append((validation, "validation"))
    callbacks: list[Any] = [xgb.callback.EvaluationMonitor()]
    if validation is not None and plan.early_stopping_metric and plan.early_stopping_rounds:
        callbacks.append(xgb.callback.EarlyStopping(
            rounds=plan.early_stopping_rounds, data_name="validation", metric_name=plan.early_stopping_metric,
            maximize=plan.maximize, save_best=True))
    history: dict[str, Any] = {}
    try:
        booster = xgb.train(plan.params, train, num_boost_round=plan.num_round, evals=watchlist,
                            feval=metrics.feval(plan.custom_metrics) if plan.custom_metrics else None,
                            evals_result=history, callbacks=callbacks, verbose_eval=False)
    except Exception as exc:
        if any(known in str(exc) for known in CUSTOMER_ERRORS):
            raise content.UserError(str(exc)) from None
        raise AlgorithmError(f"XGB train call failed with exception:\n {exc}") from None
    return booster, history


def final_metrics(history: dict[str, Any]) -> list[dict[str, Any]]:
    """``<channel>:<metric>`` with the last logged value, validation first (as FinalMetricDataList lists them)."""
    found = []
    for channel in ("validation", "train"):
        for metric, values in history.get(channel, {}).items():
            if values:
                found.append({"name": f"{channel}:{metric}", "value": float32(values[-1])})
    return found


def train(job_dir: Path, hyperparameters: dict[str, Any], channels: dict[str, Any]) -> dict[str, Any]:
    """Validate, read, train and save; the result document (raises UserError / AlgorithmError)."""
    try:
        plan = hp.to_xgboost(hp.validate(hyperparameters))
    except hp.HyperparameterError as exc:
        raise content.UserError(str(exc)) from None
    train_matrix, validation = read_channels(job_dir, channels, plan)
    booster, history = fit(plan, train_matrix, validation)
    model_dir = job_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / MODEL_NAME))
    return {"ok": True, "metrics": final_metrics(history), "rounds": booster.num_boosted_rounds(),
            "features": train_matrix.num_col()}


def handle(message: dict[str, Any], payload: bytes | None) -> tuple[dict[str, Any], bytes | None]:
    if message.get("op") != "train":
        raise ValueError(f"unknown operation {message.get('op')!r}")
    job_dir = Path(message["job_dir"])
    redirect_output(str(job_dir / LOG_FILE))
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s:%(levelname)s] %(message)s", force=True)
    started = time.monotonic()
    try:
        result = train(job_dir, dict(message.get("hyperparameters") or {}), dict(message["channels"]))
    except content.UserError as exc:
        LOG.error("Reporting training FAILURE")
        result = {"ok": False, "kind": "ClientError", "message": str(exc)}
    except AlgorithmError as exc:
        result = {"ok": False, "kind": "AlgorithmError", "message": str(exc)}
    except MemoryError:
        result = {"ok": False, "kind": "AlgorithmError", "message": "Out of memory while training."}
    result["seconds"] = round(time.monotonic() - started, 3)
    result["exit"] = True
    return result, None
