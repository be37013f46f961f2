"""SageMaker's built-in XGBoost algorithm, run as a subprocess per training job.

``python -m localcloud.services.sagemaker.algorithm JOB_DIR`` (or ``--wait``, reading JOB_DIR from stdin once it is
assigned) reads ``JOB_DIR/config.json`` (hyperparameters, channel folders and content types, model folder), validates
like the SageMaker container, trains xgboost, saves the booster as ``xgboost-model`` in the model folder and writes
``JOB_DIR/result.json``:
``{"ok": true, "metrics": [{"name": "validation:error", "value": 0.05}, ...], "rounds": 100}`` or
``{"ok": false, "kind": "ClientError" | "AlgorithmError", "message": "..."}``. Round-by-round metrics go to stdout in
the container's log format. A crash leaves no result file; the caller reports the exit status.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from localcloud.services.sagemaker import hyperparameters as hp

LOG = logging.getLogger(__name__)

MODEL_FILE = "xgboost-model"
CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
LOG_FILE = "algorithm.log"

CSV_TYPES = ("csv", "text/csv")
OTHER_TYPES = ("libsvm", "parquet", "recordio-protobuf", "text/libsvm", "text/x-libsvm", "application/x-parquet",
               "application/x-recordio-protobuf")
CHANNELS = ("train", "validation")
MAXIMIZE = ("accuracy", "auc", "aucpr", "balanced_accuracy", "f1", "f1_binary", "map", "ndcg", "precision", "r2",
            "recall", "interval-regression-accuracy")
_XGB_NOISE = re.compile(r"^\[\d\d:\d\d:\d\d\] [^:]+:\d+: ")


class ClientError(Exception):
    """A problem with the job's input (hyperparameters, channels, data): the job fails with ``ClientError:``."""


# --------------------------------------------------------------------------------------------- channels & data


def content_type_of(channel: str, value: str | None) -> str:
    """Check a channel's ContentType as the container does; only CSV is implemented here."""
    if value is None:
        raise ClientError(
            f"Channel '{channel}' has no ContentType, which the built-in XGBoost reads as libsvm; localcloud's "
            "XGBoost reads text/csv only. Set ContentType to 'text/csv' (headerless CSV, label in the first column).")
    base, _, params = value.lower().partition(";")
    base = base.strip()
    if base in CSV_TYPES:
        label_size = re.search(r"label_size\s*=\s*([^;\s]+)", params)
        if label_size and label_size.group(1) != "1":
            raise ClientError(f"{value} is not an accepted csv ContentType. Optional parameter label_size must be "
                              "equal to 1")
        return "csv"
    if base in OTHER_TYPES:
        raise ClientError(f"Channel '{channel}' has ContentType '{value}': localcloud's XGBoost reads text/csv only "
                          "(headerless, label in the first column). Convert the data to CSV.")
    raise ClientError(f"{value} is not an accepted ContentType: csv, libsvm, parquet, recordio-protobuf, text/csv, "
                      "text/libsvm, text/x-libsvm, application/x-parquet, application/x-recordio-protobuf.")


def _data_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith((".", "_")) and path.stat().st_size > 0:
            files.append(path)
    return files


def _read_text(path: Path, compression: str) -> str:
    raw = path.read_bytes()
    if compression.lower() == "gzip" or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise ClientError(f"File '{path.name}' is not valid gzip data ({exc}).") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClientError(f"File '{path.name}' is not UTF-8 text; the built-in XGBoost reads CSV text.") from exc


def _scan_csv(text: str, name: str) -> np.ndarray:
    """Slow exact parse: empty cells are missing values; the first bad cell or row is reported precisely."""
    rows: list[list[float]] = []
    width = 0
    first = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = line.split(",")
        if not width:
            width, first = len(cells), number
        elif len(cells) != width:
            raise ClientError(f"Failed to load csv data: file '{name}' line {number} has {len(cells)} columns but "
                              f"line {first} has {width}. Every row needs the same columns: label, then features.")
        row = []
        for column, cell in enumerate(cells, 1):
            cell = cell.strip()
            if not cell:
                row.append(math.nan)
                continue
            try:
                row.append(float(cell))
            except ValueError:
                hint = (" The built-in XGBoost reads CSV without a header row, the label in the first column and "
                        "numeric features only." if number == first else "")
                raise ClientError(f"Failed to load csv data: file '{name}' line {number}, column {column}: "
                                  f"{cell[:40]!r} is not a number.{hint}") from None
        rows.append(row)
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), width)


def _parse_csv(text: str, name: str) -> np.ndarray:
    if not text.strip():
        return np.empty((0, 0), dtype=np.float32)
    try:
        data = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError:
        data = _scan_csv(text, name)
    return data


def load_channel(channel: str, folder: Path, compression: str = "None") -> np.ndarray | None:
    """All rows of a channel's files (label first), or None when the channel holds no data."""
    blocks = []
    for path in _data_files(folder):
        name = str(path.relative_to(folder))
        block = _parse_csv(_read_text(path, compression), name)
        if block.size == 0:
            continue
        if blocks and block.shape[1] != blocks[0][1].shape[1]:
            raise ClientError(f"Failed to load csv data: file '{name}' has {block.shape[1]} columns but "
                              f"'{blocks[0][0]}' has {blocks[0][1].shape[1]} in channel '{channel}'.")
        blocks.append((name, block))
    if not blocks:
        return None
    return np.vstack([b for _, b in blocks]) if len(blocks) > 1 else blocks[0][1]


def _check_labels(label: np.ndarray, channel: str, params: dict[str, Any]) -> None:
    if np.isnan(label).any():
        row = int(np.flatnonzero(np.isnan(label))[0]) + 1
        raise ClientError(f"Channel '{channel}' row {row} has no label: the first CSV column must hold the label.")
    objective = params.get("objective", "reg:squarederror")
    if objective in ("binary:logistic", "binary:logitraw", "binary:hinge", "reg:logistic"):
        bad = (label < 0) | (label > 1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 1
            raise ClientError(f"label must be in [0,1] for logistic regression: channel '{channel}' row {row} has "
                              f"label {label[row - 1]:g}. Is the label in the first column?")
    elif objective.startswith("multi:"):
        bad = (label < 0) | (label >= params["num_class"]) | (label != np.floor(label))
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 1
            raise ClientError(f"label must be in [0, num_class): channel '{channel}' row {row} has label "
                              f"{label[row - 1]:g} with num_class={params['num_class']}.")


# --------------------------------------------------------------------------------------------- metrics


def _labels(pred: np.ndarray, objective: str) -> np.ndarray:
    if pred.ndim == 2:
        return pred.argmax(axis=1).astype(np.float32)
    if objective in ("binary:logistic", "reg:logistic"):
        return (pred > 0.5).astype(np.float32)
    if objective == "binary:logitraw":
        return (pred > 0).astype(np.float32)
    return np.rint(pred)


def _prf(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    tp = float(((p == 1) & (y == 1)).sum())
    precision = tp / max(float((p == 1).sum()), 1.0)
    recall = tp / max(float((y == 1).sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean([(p[y == c] == c).mean() for c in np.unique(y)]))


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / total if total else 0.0


CUSTOM: dict[str, Callable[[np.ndarray, np.ndarray, str], float]] = {
    "accuracy": lambda y, pred, obj: float((_labels(pred, obj) == y).mean()),
    "balanced_accuracy": lambda y, pred, obj: _balanced_accuracy(y, _labels(pred, obj)),
    "f1": lambda y, pred, obj: _prf(y, _labels(pred, obj))[2],
    "f1_binary": lambda y, pred, obj: _prf(y, _labels(pred, obj))[2],
    "precision": lambda y, pred, obj: _prf(y, _labels(pred, obj))[0],
    "recall": lambda y, pred, obj: _prf(y, _labels(pred, obj))[1],
    "mse": lambda y, pred, obj: float(((y - pred) ** 2).mean()),
    "r2": lambda y, pred, obj: _r2(y, pred),
}


def _custom_metric(names: list[str], objective: str) -> Callable[[np.ndarray, Any], list[tuple[str, float]]]:
    def evaluate(pred: np.ndarray, dmatrix: Any) -> list[tuple[str, float]]:
        y = dmatrix.get_label()
        return [(name, CUSTOM[name](y, pred, objective)) for name in names]

    return evaluate


# --------------------------------------------------------------------------------------------- training


def _xgb_message(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _XGB_NOISE.sub("", first)


def precheck(config: dict[str, Any]) -> hp.TrainPlan:
    """The checks that need no data: hyperparameters, channel names and content types (raises ClientError)."""
    try:
        plan = hp.to_xgboost(hp.validate(config.get("hyperparameters") or {}))
    except hp.HyperparameterError as exc:
        raise ClientError(str(exc)) from exc
    channels: dict[str, dict[str, Any]] = config["channels"]
    for name in channels:
        if name not in CHANNELS:
            raise ClientError(f"Extraneous channel found: {name}. The built-in XGBoost reads the channels 'train' "
                              "and (optionally) 'validation'.")
    if "train" not in channels:
        raise ClientError("Missing required channel: train")
    for name, spec in channels.items():
        content_type_of(name, spec.get("content_type"))
    return plan


def train(config: dict[str, Any]) -> dict[str, Any]:
    """Validate, load, train and save; return the result document (raises :class:`ClientError` on bad input)."""
    import xgboost as xgb  # here, not at the top: the server imports this module for its checks only

    plan = precheck(config)
    channels: dict[str, dict[str, Any]] = config["channels"]
    matrices: dict[str, Any] = {}
    width = 0
    for name in CHANNELS:
        if name not in channels:
            continue
        spec = channels[name]
        data = load_channel(name, Path(spec["path"]), spec.get("compression") or "None")
        if data is None:
            raise ClientError(f"No data in {name} channel: every object under {spec.get('uri', name)} is empty or a "
                              "marker file (_SUCCESS, .crc, hidden). Point the channel at the CSV data.")
        skip = 2 if plan.csv_weights else 1
        if data.shape[1] <= skip:
            raise ClientError(f"Channel '{name}' has {data.shape[1]} column(s): the CSV needs the label and at least "
                              "one feature.")
        if width and data.shape[1] != width:
            raise ClientError(f"Channel '{name}' has {data.shape[1] - skip} features but 'train' has "
                              f"{width - skip}: both channels need the same columns.")
        width = data.shape[1]
        label = data[:, 0]
        _check_labels(label, name, plan.params)
        weight = data[:, 1] if plan.csv_weights else None
        matrices[name] = xgb.DMatrix(data[:, skip:], label=label, weight=weight,
                                     nthread=plan.params.get("nthread", 1))
    evals = [(matrices[n], n) for n in CHANNELS if n in matrices]
    callbacks: list[Any] = [_round_logger(xgb)]
    if plan.early_stopping_rounds:
        metric = plan.early_stopping_metric
        callbacks.append(xgb.callback.EarlyStopping(
            rounds=plan.early_stopping_rounds, metric_name=metric, save_best=True,
            maximize=bool(metric and metric.partition("@")[0] in MAXIMIZE)))
    objective = plan.params.get("objective", "reg:squarederror")
    history: dict[str, dict[str, list[float]]] = {}
    try:
        booster = xgb.train(plan.params, matrices["train"], num_boost_round=plan.num_round, evals=evals,
                            evals_result=history, verbose_eval=False, callbacks=callbacks,
                            custom_metric=_custom_metric(plan.custom_metrics, objective)
                            if plan.custom_metrics else None)
    except xgb.core.XGBoostError as exc:
        raise ClientError(_xgb_message(exc)) from exc
    model_dir = Path(config["model_dir"])
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / MODEL_FILE).write_bytes(bytes(booster.save_raw("ubj")))
    metrics = []
    for channel in ("validation", "train"):
        for metric, values in history.get(channel, {}).items():
            metrics.append({"name": f"{channel}:{metric}", "value": float(values[-1])})
    return {"ok": True, "metrics": metrics, "rounds": booster.num_boosted_rounds(),
            "features": matrices["train"].num_col()}


def _round_logger(xgb: Any) -> Any:
    """A callback printing each round's metrics as the container logs them (``[3]#011train-error:0.1...``)."""

    class RoundLogger(xgb.callback.TrainingCallback):  # type: ignore[misc]
        def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
            parts = [f"{data}-{metric}:{values[-1]:.5f}" for data, metrics in evals_log.items()
                     for metric, values in metrics.items()]
            print(f"[{epoch}]#011" + "#011".join(parts))
            return False

    return RoundLogger()


def run(job_dir: Path) -> None:
    """Run one job and write its result file."""
    config = json.loads((job_dir / CONFIG_FILE).read_text())
    started = time.monotonic()
    try:
        result = train(config)
    except ClientError as exc:
        result = {"ok": False, "kind": "ClientError", "message": str(exc)}
    except MemoryError:
        result = {"ok": False, "kind": "AlgorithmError", "message": "Out of memory while training."}
    except Exception as exc:  # a bug or an xgboost failure we do not recognise
        LOG.exception("training failed")
        result = {"ok": False, "kind": "AlgorithmError", "message": f"{type(exc).__name__}: {_xgb_message(exc)}"}
    result["seconds"] = round(time.monotonic() - started, 3)
    sys.stdout.flush()
    tmp = job_dir / (RESULT_FILE + ".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(job_dir / RESULT_FILE)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the training subprocess: ``JOB_DIR``, or ``--wait`` to read it from stdin when assigned.

    A waiting process has already imported xgboost, so a job handed to it starts at once; it sends its output to
    ``JOB_DIR/algorithm.log``. An empty stdin (closed without a job) makes it exit quietly.
    """
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--wait":
        import xgboost  # noqa: F401  (the point of waiting: pay for the import before the job arrives)

        line = sys.stdin.readline().strip()
        if not line:
            return 0
        job_dir = Path(line)
        log = os.open(job_dir / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    else:
        job_dir = Path(args[0])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    run(job_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
