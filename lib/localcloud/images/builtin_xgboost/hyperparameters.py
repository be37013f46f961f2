"""The hyperparameters of SageMaker's built-in XGBoost algorithm: names, types, ranges, defaults.

Hyperparameters arrive as strings (the SageMaker API carries only strings). ``validate`` parses and checks them as
the 1.7-1 container does (``algorithm_mode/hyperparameter_validation.py`` of aws/sagemaker-xgboost-container): an
unknown name, an unparsable value or a value out of range is a client error whose message names the
hyperparameter. ``to_xgboost`` turns the result into ``xgboost.train`` arguments the way the container's
``train_job`` does: metrics the container computes itself (``metrics/custom_metrics.py``, rmse and mae included)
leave ``eval_metric`` for a ``feval``, the union with the tuning metric is sorted, and early stopping watches the
last of them. Nothing here imports xgboost: the server checks hyperparameters before it starts a job.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from localcloud.errors import LocalCloudError

INF = math.inf


class HyperparameterError(LocalCloudError):
    """A hyperparameter the built-in XGBoost algorithm rejects (a ``ClientError`` of the training job)."""


@dataclass(frozen=True)
class Interval:
    """A numeric range; ``lo``/``hi`` are inclusive unless ``lo_open``/``hi_open``."""

    lo: float = -INF
    hi: float = INF
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.lo_open and value <= self.lo or not self.lo_open and value < self.lo:
            return False
        return not (self.hi_open and value >= self.hi or not self.hi_open and value > self.hi)

    def __str__(self) -> str:
        lo = "(-inf" if self.lo == -INF else ("(" if self.lo_open else "[") + _num(self.lo)
        hi = "+inf)" if self.hi == INF else _num(self.hi) + (")" if self.hi_open else "]")
        return f"{lo}, {hi}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Spec:
    """One hyperparameter: ``kind`` is int, float, choice, list (comma-separated choices) or literal."""

    name: str
    kind: str
    interval: Interval | None = None
    choices: tuple[str, ...] = ()
    #: not passed to xgboost (consumed by the algorithm, or accepted for compatibility and ignored)
    internal: bool = False


def _i(name: str, lo: float = -INF, hi: float = INF, *, lo_open: bool = False, hi_open: bool = False,
       internal: bool = False) -> Spec:
    return Spec(name, "int", Interval(lo, hi, lo_open, hi_open), internal=internal)


def _f(name: str, lo: float = -INF, hi: float = INF, *, lo_open: bool = False, hi_open: bool = False,
       internal: bool = False) -> Spec:
    return Spec(name, "float", Interval(lo, hi, lo_open, hi_open), internal=internal)


def _c(name: str, *choices: str, internal: bool = False) -> Spec:
    return Spec(name, "choice", choices=choices, internal=internal)


OBJECTIVES: tuple[str, ...] = (
    "binary:logistic", "binary:logitraw", "binary:hinge", "count:poisson", "multi:softmax", "multi:softprob",
    "rank:pairwise", "rank:ndcg", "rank:map", "reg:linear", "reg:squarederror", "reg:logistic", "reg:gamma",
    "reg:pseudohubererror", "reg:squaredlogerror", "reg:absoluteerror", "reg:tweedie", "survival:aft",
    "survival:cox",
)  # fmt: skip

#: metrics xgboost computes itself
NATIVE_METRICS: tuple[str, ...] = (
    "aft-nloglik", "auc", "aucpr", "cox-nloglik", "error", "gamma-deviance", "gamma-nloglik",
    "interval-regression-accuracy", "logloss", "mae", "map", "mape", "merror", "mlogloss", "mphe", "ndcg",
    "poisson-nloglik", "rmse", "rmsle", "tweedie-nloglik",
)  # fmt: skip
#: metrics the container computes itself through ``feval`` (``CUSTOM_METRICS`` of its custom_metrics.py)
CUSTOM_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "f1", "f1_binary", "f1_macro", "mse", "rmse",
                                   "mae", "precision", "precision_macro", "precision_micro", "r2", "recall",
                                   "recall_macro", "recall_micro")
#: metrics early stopping maximises (``XGB_MAXIMIZE_METRICS`` of the container's xgb_constants.py)
MAXIMIZE_METRICS: tuple[str, ...] = ("accuracy", "auc", "aucpr", "balanced_accuracy", "f1", "f1_binary", "f1_macro",
                                     "map", "ndcg", "precision", "r2", "recall", "precision_macro",
                                     "precision_micro", "recall_macro", "recall_micro")

SPECS: dict[str, Spec] = {s.name: s for s in (
    _i("num_round", 1, internal=True),
    _i("csv_weights", 0, 1, internal=True),
    _i("early_stopping_rounds", 1, internal=True),
    _c("booster", "gbtree", "gblinear", "dart"),
    _i("verbosity", 0, 3),
    _i("silent", 0, 1, internal=True),
    _i("nthread", 1),
    _f("eta", 0, 1),
    _f("gamma", 0),
    _i("max_depth", 0),
    _f("min_child_weight", 0),
    _f("max_delta_step", 0),
    _f("subsample", 0, 1, lo_open=True),
    _f("colsample_bytree", 0, 1, lo_open=True),
    _f("colsample_bylevel", 0, 1, lo_open=True),
    _f("colsample_bynode", 0, 1, lo_open=True),
    _f("lambda", 0),
    _f("alpha", 0),
    _c("tree_method", "auto", "exact", "approx", "hist", "gpu_hist"),
    _f("sketch_eps", 0, 1, lo_open=True, hi_open=True, internal=True),
    _f("scale_pos_weight", 0, lo_open=True),
    Spec("updater", "list", choices=("grow_colmaker", "grow_histmaker", "grow_quantile_histmaker", "sync",
                                     "refresh", "prune", "shotgun", "coord_descent")),
    _c("dsplit", "row", "col", internal=True),
    _i("refresh_leaf", 0, 1),
    _c("process_type", "default", "update"),
    _c("grow_policy", "depthwise", "lossguide"),
    _i("max_leaves", 0),
    _i("max_bin", 0),
    _c("predictor", "auto", "cpu_predictor", "gpu_predictor", internal=True),
    Spec("monotone_constraints", "literal"),
    Spec("interaction_constraints", "literal"),
    _c("sample_type", "uniform", "weighted"),
    _c("normalize_type", "tree", "forest"),
    _f("rate_drop", 0, 1),
    _i("one_drop", 0, 1),
    _f("skip_drop", 0, 1),
    _f("lambda_bias", 0, 1, internal=True),
    _f("tweedie_variance_power", 1, 2, lo_open=True, hi_open=True),
    _c("objective", *OBJECTIVES),
    _i("num_class", 2),
    _f("base_score", 0),
    _i("_kfold", 2, internal=True),
    _i("_num_cv_round", 1, internal=True),
    _c("_tuning_objective_metric", *(f"validation:{m}" for m in sorted(set(NATIVE_METRICS + CUSTOM_METRICS))),
       internal=True),
    Spec("eval_metric", "list", choices=tuple(sorted(set(NATIVE_METRICS + CUSTOM_METRICS))), internal=True),
    _i("seed", -(2**31), 2**31 - 1, lo_open=True, hi_open=True),
    _i("num_parallel_tree", 1),
    _c("save_model_on_termination", "true", "false", internal=True),
    _c("aft_loss_distribution", "normal", "logistic", "extreme"),
    _f("aft_loss_distribution_scale", 0),
    _c("single_precision_histogram", "true", "false", internal=True),
    _c("deterministic_histogram", "true", "false", internal=True),
    _c("sampling_method", "uniform", "gradient_based"),
    _i("prob_buffer_row", 1, lo_open=True, internal=True),
    _f("max_cat_to_onehot", 1),
    _c("use_dask_gpu_training", "true", "false", internal=True),
)}

ALIASES: dict[str, str] = {"learning_rate": "eta", "min_split_loss": "gamma", "reg_lambda": "lambda",
                           "reg_alpha": "alpha"}

#: what the algorithm uses when a hyperparameter is absent (xgboost's own defaults apply to the rest). No
#: ``nthread``: "Default value: Maximum number of threads" (SageMaker developer guide, "XGBoost hyperparameters"),
#: which is xgboost's own default; the container's training passes the job's hyperparameters only.
DEFAULTS: dict[str, Any] = {"seed": 0, "verbosity": 1}

#: hyperparameters localcloud accepts but cannot honour: the job fails with the reason given
UNSUPPORTED: dict[tuple[str, Any], str] = {
    ("tree_method", "gpu_hist"): "tree_method 'gpu_hist' needs a GPU; localcloud trains on CPU. Use 'hist'.",
    ("use_dask_gpu_training", "true"): "Dask GPU training needs GPUs; localcloud trains on one CPU host.",
}


def _parse(spec: Spec, raw: Any) -> Any:
    text = raw if isinstance(raw, str) else str(raw)
    text = text.strip()
    try:
        if spec.kind == "int":
            return int(text)
        if spec.kind == "float":
            value = float(text)
            if math.isnan(value):
                raise ValueError("nan")
            return value
        if spec.kind == "list":
            return [part.strip() for part in text.split(",") if part.strip()]
        if spec.kind == "literal":
            return ast.literal_eval(text)
        return text
    except (ValueError, SyntaxError) as exc:
        expected = {"int": "an integer", "float": "a number", "literal": "a Python literal such as (1,0,-1)"}
        raise HyperparameterError(
            f"Hyperparameter {spec.name}: could not parse value {text!r} (expected {expected.get(spec.kind, 'text')})."
        ) from exc


def _check_range(spec: Spec, value: Any) -> None:
    if spec.interval is not None and value not in spec.interval:
        raise HyperparameterError(f"Hyperparameter {spec.name}: {value} is not in {spec.interval}")
    if spec.kind == "choice" and value not in spec.choices:
        raise HyperparameterError(f"Hyperparameter {spec.name}: {value!r} is not in {list(spec.choices)}")
    if spec.kind == "list":
        if spec.name == "eval_metric":
            _check_metrics(value)
        elif any(v not in spec.choices for v in value):
            raise HyperparameterError(
                f"Hyperparameter {spec.name}: value {value} not in range {list(spec.choices)}")


def _check_metrics(metrics: list[str]) -> None:
    if not metrics:
        raise HyperparameterError("Hyperparameter eval_metric: the value is empty; name at least one metric.")
    for metric in metrics:
        name, sep, threshold = metric.partition("@")
        if sep:
            if name not in ("error", "ndcg", "map"):
                raise HyperparameterError(
                    f"Metric '{metric}' is not supported. Parameter 'eval_metric' with customized threshold should "
                    "be one of these options: 'error', 'ndcg', 'map'.")
            try:
                float(threshold.rstrip("-"))
            except ValueError as exc:
                raise HyperparameterError(f"Threshold value 't' in '{name}@t' expects float input.") from exc
        elif metric not in NATIVE_METRICS + CUSTOM_METRICS:
            raise HyperparameterError(
                f"Hyperparameter eval_metric: value {metric!r} not in range "
                f"{sorted(set(NATIVE_METRICS + CUSTOM_METRICS))}")


def _check_dependencies(hps: Mapping[str, Any]) -> None:
    objective = hps.get("objective", "reg:squarederror")
    if objective in ("multi:softmax", "multi:softprob") and "num_class" not in hps:
        raise HyperparameterError("Require input for parameter 'num_class' for multi-classification")
    if "num_class" in hps and not objective.startswith("multi:"):
        raise HyperparameterError(
            "Do not need to setup parameter 'num_class' for learning task other than multi-classification.")
    metrics = hps.get("eval_metric", [])
    if "auc" in metrics and not objective.startswith(("binary:", "rank:")):
        raise HyperparameterError("Metric 'auc' can only be applied for classification and ranking problems.")
    if "aft-nloglik" in metrics and objective != "survival:aft":
        raise HyperparameterError("Metric 'aft-nloglik' can only be applied for 'survival:aft' objective.")
    if "monotone_constraints" in hps and hps.get("tree_method") not in ("exact", "hist"):
        raise HyperparameterError("monotone_constraints can be used only when the tree_method parameter is set to "
                                  "either 'exact' or 'hist'.")
    for (name, value), reason in UNSUPPORTED.items():
        if hps.get(name) == value:
            raise HyperparameterError(f"Hyperparameter {name}: {reason}")
    if "_kfold" in hps:
        raise HyperparameterError("Hyperparameter _kfold: cross-validation training is not supported by "
                                  "localcloud's XGBoost; remove _kfold and _num_cv_round.")


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Parse and check the job's hyperparameters; raise :class:`HyperparameterError` naming the first bad one."""
    named = {ALIASES.get(k, k): v for k, v in raw.items()}
    if "num_round" not in named:
        raise HyperparameterError("Missing required hyperparameter: num_round")
    parsed: dict[str, Any] = {}
    for name, value in named.items():
        spec = SPECS.get(name)
        if spec is None:
            raise HyperparameterError(f"Extraneous hyperparameter found: {name}")
        parsed[name] = _parse(spec, value)
    for name, value in parsed.items():
        _check_range(SPECS[name], value)
    _check_dependencies(parsed)
    return parsed


@dataclass
class TrainPlan:
    """What ``xgboost.train`` needs, derived from validated hyperparameters (the container's ``train_job``)."""

    params: dict[str, Any]
    num_round: int
    #: the metrics xgboost computes (``eval_metric``) and those the container's ``feval`` computes
    eval_metrics: list[str]
    custom_metrics: list[str]
    early_stopping_rounds: int | None
    early_stopping_metric: str | None
    csv_weights: bool

    @property
    def maximize(self) -> bool:
        """Whether early stopping maximises its metric (an exact name of the container's list)."""
        return self.early_stopping_metric in MAXIMIZE_METRICS


def to_xgboost(hps: Mapping[str, Any]) -> TrainPlan:
    """Map validated SageMaker hyperparameters to xgboost's parameters and the algorithm's own settings."""
    params: dict[str, Any] = dict(DEFAULTS)
    for name, value in hps.items():
        if not SPECS[name].internal:
            params[name] = value
    if "silent" in hps and "verbosity" not in hps:
        params["verbosity"] = 0 if hps["silent"] else 1
    if "updater" in params:
        params["updater"] = ",".join(params["updater"])
    eval_metric = list(hps["eval_metric"]) if "eval_metric" in hps else None
    tuning = hps.get("_tuning_objective_metric")
    tuning_metric = tuning.split(":", 1)[1].split(",") if tuning else None
    if tuning_metric is None or eval_metric is None:
        union = tuning_metric or eval_metric or []
    else:
        union = sorted(set(tuning_metric) | set(eval_metric))
    custom = [m for m in union if m in CUSTOM_METRICS]
    native = [m for m in union if m not in CUSTOM_METRICS]
    if native:
        params["eval_metric"] = native
    stop_metric = None
    if hps.get("early_stopping_rounds"):
        stop_metric = tuning_metric[-1] if tuning_metric else (eval_metric[-1] if eval_metric else None)
    return TrainPlan(
        params=params,
        num_round=int(hps["num_round"]),
        eval_metrics=native,
        custom_metrics=custom,
        early_stopping_rounds=hps.get("early_stopping_rounds"),
        early_stopping_metric=stop_metric,
        csv_weights=bool(hps.get("csv_weights", 0)),
    )
