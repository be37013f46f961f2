"""What a model must be to be deployed: the task, its XGBoost hyperparameters, the floor it must clear and the
champion/challenger gate it must pass.

The floor is today's fixed threshold on the training job's own validation metric (binary: ``validation:error`` at
most ``1 - accuracy_threshold``; multiclass: ``validation:merror``; regression: ``validation:rmse`` at most
``max_rmse``). The gate then compares the candidate with the model in production on held-back rows neither trained
on (``gate_metric``; larger is better for auc/accuracy/f1, smaller for logloss/rmse/mae): it must gain at least
``min_absolute_improvement`` and, when set, ``min_relative_improvement`` (as MLflow's ``MetricThreshold``
``min_absolute_change``/``min_relative_change``: both must hold). A first run has no champion: the floor decides.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from retrain.errors import ParamsError
from retrain.evaluation import METRICS
from retrain.parameters import DEFAULT_HYPERPARAMETERS as DEFAULT_HYPERPARAMETERS

if TYPE_CHECKING:
    from retrain.parameters import Params

TASKS = ("binary", "multiclass", "regression")
#: the objective family and the floor's training metric of each task
OBJECTIVE_PREFIX = {"binary": "binary:", "multiclass": "multi:", "regression": "reg:"}
FLOOR_METRIC = {"binary": "error", "multiclass": "merror", "regression": "rmse"}
DEFAULT_GATE_METRIC = {"binary": "auc", "multiclass": "accuracy", "regression": "rmse"}
APPROVALS = ("auto", "manual")

# name -> (kind, low, high, low_inclusive, high_inclusive); kind is "int", "float", "str" or a tuple of choices.
_HP_RULES: dict[str, tuple[Any, float | None, float | None, bool, bool]] = {
    "num_round": ("int", 1, None, True, True),
    "max_depth": ("int", 0, None, True, True),
    "eta": ("float", 0, 1, True, True),
    "gamma": ("float", 0, None, True, True),
    "min_child_weight": ("float", 0, None, True, True),
    "subsample": ("float", 0, 1, False, True),
    "colsample_bytree": ("float", 0, 1, False, True),
    "colsample_bylevel": ("float", 0, 1, False, True),
    "colsample_bynode": ("float", 0, 1, False, True),
    "lambda": ("float", 0, None, True, True),
    "alpha": ("float", 0, None, True, True),
    "max_delta_step": ("float", 0, None, True, True),
    "scale_pos_weight": ("float", 0, None, False, True),
    "base_score": ("float", 0, 1, False, False),
    "max_bin": ("int", 2, None, True, True),
    "max_leaves": ("int", 0, None, True, True),
    "seed": ("int", None, None, True, True),
    "verbosity": ("int", 0, 3, True, True),
    "early_stopping_rounds": ("int", 1, None, True, True),
    "tree_method": (("auto", "exact", "approx", "hist"), None, None, True, True),
    "booster": (("gbtree", "gblinear", "dart"), None, None, True, True),
    "grow_policy": (("depthwise", "lossguide"), None, None, True, True),
    "objective": (("binary:logistic", "binary:logitraw", "binary:hinge", "multi:softmax", "multi:softprob",
                   "reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:logistic"),
                  None, None, True, True),
    "num_class": ("int", 2, None, True, True),
    "eval_metric": ("str", None, None, True, True),
}


def closest(name: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean {match[0]!r}?" if match else ""


def type_error(source: str, key: str, expected: str, value: Any) -> ParamsError:
    return ParamsError(f"{source}: {key} must be {expected}, got {value!r} ({type(value).__name__}).")


def validate_hyperparameters(params: Params, source: str) -> None:
    """Each hyperparameter is one SageMaker's XGBoost takes, in its range (the defaults fill the rest)."""
    hps = params.hyperparameters
    if not isinstance(hps, dict):
        raise type_error(source, "hyperparameters", "a mapping of name: value", hps)
    merged = {**DEFAULT_HYPERPARAMETERS, **hps}
    for name, value in merged.items():
        key = f"hyperparameters.{name}"
        if name not in _HP_RULES:
            raise ParamsError(f"{source}: unknown hyperparameter {key!r} for SageMaker XGBoost."
                              f"{closest(name, _HP_RULES)}")
        kind, low, high, low_incl, high_incl = _HP_RULES[name]
        if isinstance(kind, tuple):
            if value not in kind:
                raise ParamsError(f"{source}: {key}={value!r} is not one of: {', '.join(kind)}.")
            continue
        if kind == "str":
            if not isinstance(value, str) or not value:
                raise type_error(source, key, "a non-empty string", value)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise type_error(source, key, "a number", value)
        if kind == "int" and not float(value).is_integer():
            raise type_error(source, key, "an integer", value)
        if low is not None and (value < low or (value == low and not low_incl)):
            raise ParamsError(f"{source}: {key}={value!r} is too small (must be {'>=' if low_incl else '>'} {low}).")
        if high is not None and (value > high or (value == high and not high_incl)):
            raise ParamsError(f"{source}: {key}={value!r} is too large (must be {'<=' if high_incl else '<'} {high}).")
    params.hyperparameters = merged


def task_of(params: Params) -> str:
    """``binary``, ``multiclass`` or ``regression``: the dataset's task (the churn data is binary)."""
    return str((params.dataset or {}).get("task", "binary"))


def floor(params: Params) -> dict[str, Any]:
    """The floor on the training job's metric: ``{"metric": "validation:error", "max": 0.1}``."""
    task = task_of(params)
    limit = params.max_rmse if task == "regression" else round(1.0 - params.accuracy_threshold, 10)
    return {"metric": f"validation:{FLOOR_METRIC[task]}", "max": limit}


def gate(params: Params) -> dict[str, Any]:
    """The champion/challenger gate as the model gate function takes it."""
    out: dict[str, Any] = {"metric": params.gate_metric or DEFAULT_GATE_METRIC[task_of(params)],
                           "min_absolute_improvement": params.min_absolute_improvement}
    if params.min_relative_improvement is not None:
        out["min_relative_improvement"] = params.min_relative_improvement
    return out


def validate_gate(params: Params, source: str) -> None:
    """The dataset's task, the objective and metrics the floor and the gate need, and the approval settings."""
    if params.dataset is not None and (not isinstance(params.dataset, dict) or not params.dataset.get("label")):
        raise ParamsError(f"{source}: dataset must be a mapping with at least a label (see README 'Data' or "
                          f"code/etl_features.py), got {params.dataset!r}.")
    if not isinstance(params.data_checks, dict):
        raise type_error(source, "data_checks", "a mapping of limit: value", params.data_checks)
    task = task_of(params)
    if task not in TASKS:
        raise ParamsError(f"{source}: dataset.task={task!r} is not one of: {', '.join(TASKS)}.")
    hps = params.hyperparameters
    if not str(hps["objective"]).startswith(OBJECTIVE_PREFIX[task]):
        raise ParamsError(f"{source}: hyperparameters.objective={hps['objective']!r} does not fit a {task} task "
                          f"(use an {OBJECTIVE_PREFIX[task]}... objective).")
    if task == "multiclass" and "num_class" not in hps:
        raise ParamsError(f"{source}: a multiclass task needs hyperparameters.num_class (the number of classes).")
    wanted = FLOOR_METRIC[task]
    if wanted not in [m.strip() for m in str(hps["eval_metric"]).split(",")]:
        raise ParamsError(f"{source}: hyperparameters.eval_metric={hps['eval_metric']!r} must include {wanted!r}: "
                          f"the floor reads the validation:{wanted} metric.")
    if task == "regression" and (params.max_rmse is None or not _positive(params.max_rmse)):
        raise ParamsError(f"{source}: a regression task needs max_rmse (the largest validation:rmse to deploy), got "
                          f"{params.max_rmse!r}.")
    metric = params.gate_metric or DEFAULT_GATE_METRIC[task]
    if metric not in METRICS[task]:
        raise ParamsError(f"{source}: gate_metric={metric!r} is not a {task} metric; choose one of "
                          f"{', '.join(METRICS[task])}.{closest(metric, METRICS[task])}")
    relative = params.min_relative_improvement
    if relative is not None and (isinstance(relative, bool) or not isinstance(relative, (int, float))):
        raise type_error(source, "min_relative_improvement", "a number or null", relative)
    if params.approval not in APPROVALS:
        raise ParamsError(f"{source}: approval={params.approval!r} is not one of: {', '.join(APPROVALS)}.")
    for key in ("approval_timeout_seconds", "approval_poll_seconds"):
        if getattr(params, key) < 1:
            raise ParamsError(f"{source}: {key} must be 1 or more.")


def _positive(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value > 0
