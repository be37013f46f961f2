"""The built-in XGBoost's hyperparameter contract: parsing strings, ranges, names, defaults, xgboost mapping."""

from __future__ import annotations

import pytest

from localcloud.images.builtin_xgboost.hyperparameters import HyperparameterError, to_xgboost, validate


def test_seed_notebook_hyperparameters_map_to_xgboost() -> None:
    hps = validate({"max_depth": "5", "eta": "0.2", "gamma": "4", "min_child_weight": "6", "subsample": "0.8",
                    "objective": "binary:logistic", "eval_metric": "error,auc", "num_round": "100"})
    plan = to_xgboost(hps)
    assert plan.num_round == 100
    assert plan.params == {"max_depth": 5, "eta": 0.2, "gamma": 4.0, "min_child_weight": 6.0, "subsample": 0.8,
                           "objective": "binary:logistic", "eval_metric": ["error", "auc"],
                           "seed": 0, "verbosity": 1}  # no nthread: every core, as on SageMaker
    assert plan.eval_metrics == ["error", "auc"] and plan.early_stopping_metric is None  # no early stopping asked


def test_tuning_metric_joins_eval_metric_sorted_and_early_stopping_watches_it() -> None:
    # the container's train_utils.get_union_metrics sorts the union; custom metrics (rmse, mae too) go to feval
    plan = to_xgboost(validate({"num_round": "5", "objective": "reg:squarederror", "eval_metric": "rmse,mae",
                                "_tuning_objective_metric": "validation:r2", "early_stopping_rounds": "3"}))
    assert plan.custom_metrics == ["mae", "r2", "rmse"] and "eval_metric" not in plan.params
    assert plan.early_stopping_metric == "r2" and plan.maximize


def test_aliases_silent_and_custom_metrics() -> None:
    plan = to_xgboost(validate({"num_round": "3", "learning_rate": "0.1", "reg_lambda": "2", "silent": "1",
                                "objective": "binary:logistic", "eval_metric": "accuracy,logloss",
                                "early_stopping_rounds": "4", "seed": "7"}))
    assert plan.params["eta"] == 0.1 and plan.params["lambda"] == 2.0 and plan.params["seed"] == 7
    assert plan.params["verbosity"] == 0 and "silent" not in plan.params
    assert plan.params["eval_metric"] == ["logloss"] and plan.custom_metrics == ["accuracy"]
    assert plan.early_stopping_rounds == 4 and plan.early_stopping_metric == "logloss"


@pytest.mark.parametrize(("hps", "message"), [
    ({}, "Missing required hyperparameter: num_round"),
    ({"num_round": "0"}, "Hyperparameter num_round: 0 is not in [1, +inf)"),
    ({"num_round": "10.5"}, "Hyperparameter num_round: could not parse value '10.5' (expected an integer)"),
    ({"num_round": "5", "eta": "1.5"}, "Hyperparameter eta: 1.5 is not in [0, 1]"),
    ({"num_round": "5", "subsample": "0"}, "Hyperparameter subsample: 0.0 is not in (0, 1]"),
    ({"num_round": "5", "eta": "fast"}, "Hyperparameter eta: could not parse value 'fast' (expected a number)"),
    ({"num_round": "5", "eta": "nan"}, "Hyperparameter eta: could not parse value 'nan'"),
    ({"num_round": "5", "depth": "3"}, "Extraneous hyperparameter found: depth"),
    ({"num_round": "5", "objective": "binary:magic"}, "Hyperparameter objective: 'binary:magic' is not in"),
    ({"num_round": "5", "objective": "multi:softmax"}, "Require input for parameter 'num_class'"),
    ({"num_round": "5", "num_class": "3"}, "Do not need to setup parameter 'num_class'"),
    ({"num_round": "5", "eval_metric": "auc"}, "Metric 'auc' can only be applied for classification"),
    ({"num_round": "5", "eval_metric": "rmse@0.5"}, "Metric 'rmse@0.5' is not supported"),
    ({"num_round": "5", "tree_method": "gpu_hist"}, "needs a GPU"),
    ({"num_round": "5", "_kfold": "3"}, "cross-validation training is not supported"),
])
def test_rejected_hyperparameters_name_the_problem(hps: dict[str, str], message: str) -> None:
    with pytest.raises(HyperparameterError) as err:
        validate(hps)
    assert message in str(err.value)


def test_error_thresholds_and_multiclass_are_accepted() -> None:
    plan = to_xgboost(validate({"num_round": "5", "objective": "multi:softprob", "num_class": "3",
                                "eval_metric": "mlogloss,merror"}))
    assert plan.params["num_class"] == 3
    plan = to_xgboost(validate({"num_round": "5", "objective": "binary:logistic", "eval_metric": "error@0.3"}))
    assert plan.params["eval_metric"] == ["error@0.3"]
