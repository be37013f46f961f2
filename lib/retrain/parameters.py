"""The parameter set itself: :class:`Params`, with the defaults of ``params/local.yaml``.

Loading, overrides and validation are :mod:`retrain.config`'s (which re-exports :class:`Params`); the validators of
other modules (:mod:`retrain.gating`, :mod:`retrain.deployment`) import the type from here, so nothing imports
``retrain.config`` back.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The seed notebook's XGBoost settings.
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "max_depth": 5,
    "eta": 0.2,
    "gamma": 4,
    "min_child_weight": 6,
    "subsample": 0.8,
    "objective": "binary:logistic",
    "eval_metric": "error",
    "num_round": 100,
}

#: the tag every resource the project creates carries: key, with the project name as value. The project updates or
#: deletes only resources that carry it (a same-named resource someone else made is left alone).
PROJECT_TAG = "retrain:project"
#: the key of the validated set in ``params.json``
SNAPSHOT_KEY = "validated_params"


@dataclass
class Params:
    """Everything a run needs to know, with the defaults of ``params/local.yaml``.

    AWS-only values (``sagemaker_role_arn``, instance types and counts, ``iam_propagation_seconds``) are ignored
    by the local cloud apart from being sent in the requests, which botocore validates as AWS would.
    """

    target: str = "local"
    region: str = "us-east-1"
    project_name: str = "retrain-churn"
    data_path: str = "data/customer-churn.csv"
    input_format: str = "raw"
    accuracy_threshold: float = 0.90
    #: None: ``<project_name>-endpoint`` (every resource the project creates carries the project prefix)
    endpoint_name: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_HYPERPARAMETERS))
    #: the data's schema (label, task, ids, drop, numeric, categorical; see code/etl_features.py); None: churn
    dataset: dict[str, Any] | None = None
    #: limits of the data checks before training (code/data_checks.py DEFAULT_LIMITS)
    data_checks: dict[str, float] = field(default_factory=dict)
    #: the champion/challenger gate: the metric compared on held-back rows (None: auc, accuracy or rmse by task)
    gate_metric: str | None = None
    min_absolute_improvement: float = 0.0
    min_relative_improvement: float | None = None
    #: the floor of a regression model (validation:rmse must not exceed it); classification uses accuracy_threshold
    max_rmse: float | None = None
    #: auto: a model that passes the gates is approved and deployed; manual: a person approves it (retrain approve)
    approval: str = "auto"
    approval_timeout_seconds: int = 3600
    approval_poll_seconds: int = 10
    train_fraction: float = 0.7
    seed: int = 42
    holdout_rows: int = 200
    keep_endpoint: bool = True
    keep_roles: bool = True
    keep_data: bool = True
    #: retraining unattended (retrain.triggers): a Scheduler expression (rate(...), cron(...), at(...)); null: none
    schedule: str | None = None
    #: start a run for each new object written at the data key (S3 -> EventBridge -> the workflow)
    retrain_on_new_data: bool = False
    #: clean-up keeps the triggers and what they need while they are on; false removes them with the rest
    keep_triggers: bool = True
    #: reuse a step's outputs when an earlier run had the same inputs (notebook 03, README "Reuse instead of repeat")
    cache: bool = False
    #: which ends of a run publish to the topic ``<project>-notifications`` (retrain.notifications)
    notify_events: list[str] = field(default_factory=lambda: ["failed", "rejected"])
    #: an email address subscribed to the topic (AWS: confirmed by the recipient; local: appended to a mailbox file)
    notify_email: str | None = None
    #: an https URL subscribed to the topic (the local target also takes http://127.0.0.1 or localhost)
    notify_webhook: str | None = None
    localcloud_port: int = 4566
    sagemaker_role_arn: str | None = None
    training_instance_type: str = "ml.m5.xlarge"
    training_instance_count: int = 1
    endpoint_instance_type: str = "ml.m5.large"
    endpoint_instance_count: int = 1
    glue_worker_type: str = "G.1X"
    glue_number_of_workers: int = 2
    endpoint_poll_seconds: int = 2
    execution_timeout_seconds: int = 3600
    iam_propagation_seconds: int = 0
    #: days CloudWatch keeps the log groups this project owns (its Lambda function's, its endpoint's)
    log_retention_days: int = 30
    #: how an update shifts traffic to the new model (retrain.deployment): all_at_once, canary or linear
    deployment: str = "canary"
    canary_percent: int = 20
    linear_step_percent: int = 25
    wait_interval_seconds: int = 10
    termination_wait_seconds: int = 5
    max_execution_timeout_seconds: int = 600
    #: CloudWatch alarms on the endpoint that roll a guarded update back (their period, M of N, thresholds)
    rollback_alarms: bool = True
    alarm_period_seconds: int = 10
    alarm_evaluation_periods: int = 1
    alarm_datapoints_to_alarm: int = 1
    max_error_rate: float = 0.01
    max_model_latency_ms: float = 1000.0
    #: configs of earlier deployed runs clean-up keeps so that `retrain rollback` can return to them
    rollback_configs_kept: int = 1
    #: shadow testing (retrain.shadow): a candidate that passes the gate while a champion serves is deployed as a
    #: shadow variant beside it (copies of live requests, answers captured, not returned) instead of replacing it
    shadow: bool = False
    state_file: str | None = None
    #: where relative paths (data_path, state_file) are resolved; set by :func:`load_params`, not a YAML key.
    root: str = field(default=".", repr=False)

    # -- derived names: every AWS resource the project creates starts with ``project_name`` -----------------
    @property
    def glue_job_name(self) -> str:
        return f"{self.project_name}-etl"

    @property
    def lambda_function_name(self) -> str:
        return f"{self.project_name}-model-gate"

    @property
    def model_package_group_name(self) -> str:
        return f"{self.project_name}-models"

    @property
    def state_machine_name(self) -> str:
        return f"{self.project_name}-retrain"

    @property
    def tags(self) -> dict[str, str]:
        """The project's tag as ``{key: value}``."""
        return {PROJECT_TAG: self.project_name}

    def role_name(self, kind: str) -> str:
        """IAM role name for ``kind`` in ``stepfunctions``, ``glue``, ``lambda``, ``sagemaker``."""
        return f"{self.project_name}-{kind}-role"

    @property
    def max_validation_error(self) -> float:
        """The largest ``validation:error`` the accuracy gate lets through (1 - accuracy_threshold)."""
        return round(1.0 - self.accuracy_threshold, 10)

    def resolve(self, path: str) -> Path:
        """An absolute path for ``path``: as given when absolute, else under the project root."""
        p = Path(os.path.expanduser(path))
        return p if p.is_absolute() else (Path(self.root) / p).resolve()

    @property
    def data_file(self) -> Path:
        return self.resolve(self.data_path)

    @property
    def state_path(self) -> Path:
        return self.resolve(self.state_file or f"reports/state/{self.project_name}-{self.target}.json")

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain data (what a YAML file would hold)."""
        data = dataclasses.asdict(self)
        data.pop("root")
        return data

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the validated set (``params.json``): what ``retrain run`` hands every notebook, so all of them
        use the very parameters the run validated once, and the summary records them."""
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps({SNAPSHOT_KEY: self.to_dict(), "root": self.root}, indent=2) + "\n")
        return file
