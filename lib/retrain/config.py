"""Parameters (``params/*.yaml`` + ``-p key=value`` overrides), validated on load.

Parameters say *what* to build; the run state file (:mod:`retrain.state`) records *what was built*.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from retrain.deployment import validate_deployment
from retrain.errors import ParamsError
from retrain.gating import (
    closest,
    type_error,
    validate_gate,
    validate_hyperparameters,
)
from retrain.notifications import validate_notifications
from retrain.parameters import DEFAULT_HYPERPARAMETERS as DEFAULT_HYPERPARAMETERS
from retrain.parameters import PROJECT_TAG as PROJECT_TAG
from retrain.parameters import SNAPSHOT_KEY as SNAPSHOT_KEY
from retrain.parameters import Params as Params

LOG = logging.getLogger(__name__)


_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$")
_ENDPOINT_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_INSTANCE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")


_FIELDS = {f.name: f for f in dataclasses.fields(Params) if f.name != "root"}
#: the fields that are mappings (``-p <field>.<key>=value`` sets one key), with what a dotted override starts from
DICT_FIELDS: dict[str, dict[str, Any]] = {"hyperparameters": DEFAULT_HYPERPARAMETERS, "dataset": {}, "data_checks": {}}
#: the key of a validated parameter set written by :meth:`Params.save`
_INT_FIELDS = {"seed", "holdout_rows", "localcloud_port", "training_instance_count", "endpoint_instance_count",
               "glue_number_of_workers", "endpoint_poll_seconds", "execution_timeout_seconds",
               "iam_propagation_seconds", "log_retention_days", "approval_timeout_seconds", "approval_poll_seconds",
               "rollback_configs_kept"}
_FLOAT_FIELDS = {"accuracy_threshold", "train_fraction", "min_absolute_improvement"}
_BOOL_FIELDS = {"keep_endpoint", "keep_roles", "keep_data", "retrain_on_new_data", "keep_triggers", "shadow", "cache"}
_STR_FIELDS = {"target", "region", "project_name", "data_path", "input_format", "deployment",
               "training_instance_type", "endpoint_instance_type", "glue_worker_type"}
_OPTIONAL_STR_FIELDS = {"sagemaker_role_arn", "state_file", "endpoint_name", "gate_metric", "schedule",
                        "notify_email", "notify_webhook"}
#: the expressions EventBridge Scheduler accepts (Scheduler user guide, "Schedule types")
_SCHEDULE_RE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\)|at\(.+\))$")
#: the values CloudWatch Logs' PutRetentionPolicy accepts (botocore's logs service model, documentation of shape Days)
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
                  3653)


def find_root(start: Path) -> Path:
    """The project root above ``start`` (the folder holding ``pyproject.toml`` or ``.git``), else ``start``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() or (folder / ".git").exists():
            return folder
    return start


def parse_overrides(items: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """Turn ``["key=value", ...]`` into a dict; each value is parsed as a YAML scalar (``0.95``, ``true``)."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    result: dict[str, Any] = {}
    for item in items:
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParamsError(f"override {item!r} is not of the form key=value (for example -p accuracy_threshold=0.95).")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ParamsError(f"override {key}: value {raw!r} is not a valid YAML scalar ({exc}).") from exc
        result[key] = value
    return result


def _apply(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` (``a`` or ``hyperparameters.b``) in ``data``."""
    head, _, rest = key.partition(".")
    if rest:
        if head not in DICT_FIELDS:
            raise ParamsError(f"override {key}: only {', '.join(f'{k}.<name>' for k in DICT_FIELDS)} take a dotted "
                              "key.")
        current = data.get(head)
        inner = dict(current) if isinstance(current, dict) else dict(DICT_FIELDS[head])
        inner[rest] = value
        data[head] = inner
    else:
        data[head] = value


def load_params(path: str | os.PathLike[str] | None = None,
                overrides: Iterable[str] | Mapping[str, Any] | None = None) -> Params:
    """Load and validate parameters from a YAML file (default ``params/local.yaml``) plus overrides.

    Raises :class:`ParamsError` naming the bad key (with the closest valid key for a typo).
    """
    if path is None:
        path = find_root(Path.cwd()) / "params" / "local.yaml"
    file = Path(path).expanduser()
    if not file.is_file():
        raise ParamsError(f"parameter file {str(file)!r} does not exist; pass --params with a file such as "
                          f"params/local.yaml.")

    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParamsError(f"{file}: malformed YAML ({exc}). Fix the syntax at the position shown.") from exc
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ParamsError(f"{file}: expected a mapping of key: value at the top level, got {type(loaded).__name__}.")
    root: str | Path = find_root(file.resolve().parent)
    if SNAPSHOT_KEY in loaded:  # a set retrain run validated already (Params.save)
        root = str(loaded.get("root") or root)
        if not overrides:
            return Params(**loaded[SNAPSHOT_KEY], root=root)
        loaded = dict(loaded[SNAPSHOT_KEY])
    data: dict[str, Any] = dict(loaded)
    for key, value in parse_overrides(overrides).items():
        _apply(data, key, value)
    return params_from_dict(data, root=root, source=str(file))


def params_from_dict(data: Mapping[str, Any], *, root: str | os.PathLike[str] = ".", source: str = "params",
                     check_files: bool = True) -> Params:
    """Build and validate :class:`Params` from plain data (unknown keys, types, ranges, files)."""
    for key in data:
        if not isinstance(key, str) or key not in _FIELDS:
            raise ParamsError(f"{source}: unknown parameter {key!r}.{closest(str(key), _FIELDS)}")
    values = {k: data[k] for k in data}
    if "hyperparameters" in values and values["hyperparameters"] is None:
        values["hyperparameters"] = {}
    params = Params(**values, root=str(Path(root).resolve()))
    validate(params, source=source, check_files=check_files)
    return params


def validate(params: Params, *, source: str = "params", check_files: bool = True) -> None:
    """Check every field of ``params``; raise :class:`ParamsError` on the first bad one."""
    _validate_types(params, source)
    _validate_values(params, source)
    validate_hyperparameters(params, source)
    validate_gate(params, source)
    validate_deployment(params, source)
    validate_notifications(params, source)
    if check_files and not params.data_file.is_file():
        raise ParamsError(f"{source}: data_path={params.data_path!r} does not exist (looked at {params.data_file}); "
                          f"point it at a CSV file (relative paths start at the project root).")


def _validate_types(params: Params, source: str) -> None:
    """Each field has its type (floats are made float)."""
    for key in _BOOL_FIELDS:
        value = getattr(params, key)
        if not isinstance(value, bool):
            raise type_error(source, key, "true or false", value)
    for key in _INT_FIELDS:
        value = getattr(params, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise type_error(source, key, "an integer", value)
    for key in _FLOAT_FIELDS:
        value = getattr(params, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise type_error(source, key, "a number", value)
        setattr(params, key, float(value))
    for key in _STR_FIELDS:
        value = getattr(params, key)
        if not isinstance(value, str) or not value:
            raise type_error(source, key, "a non-empty string", value)
    for key in _OPTIONAL_STR_FIELDS:
        value = getattr(params, key)
        if value is not None and (not isinstance(value, str) or not value):
            raise type_error(source, key, "a non-empty string or null", value)


def _validate_values(params: Params, source: str) -> None:
    """Each field's value is one AWS and the pipeline accept (the endpoint name defaults from the project's)."""

    def bad(key: str, why: str) -> ParamsError:
        return ParamsError(f"{source}: {key}={getattr(params, key)!r} {why}")

    if params.target not in ("local", "aws"):
        raise bad("target", "is not one of: local, aws.")
    if params.input_format not in ("raw", "prepared"):
        raise bad("input_format", "is not one of: raw (header, churn schema), prepared (no header, label first).")
    if not _REGION_RE.match(params.region):
        raise bad("region", "is not an AWS region name such as us-east-1.")
    if not _NAME_RE.match(params.project_name):
        raise bad("project_name", "must be 3-30 characters of lower-case letters, digits and '-', starting with a "
                                  "letter (it prefixes the bucket, role, job and function names).")
    if params.endpoint_name is None:
        params.endpoint_name = f"{params.project_name}-endpoint"
    if not _ENDPOINT_RE.match(params.endpoint_name):
        raise bad("endpoint_name", "must be 1-63 letters, digits or '-' (SageMaker endpoint naming rules).")
    if params.log_retention_days not in RETENTION_DAYS:
        raise bad("log_retention_days", f"is not a CloudWatch Logs retention period; choose one of "
                                        f"{', '.join(map(str, RETENTION_DAYS))}.")
    if not 0.0 < params.accuracy_threshold <= 1.0:
        raise bad("accuracy_threshold", "must be in (0, 1]: the minimum validation accuracy to deploy (0.90 = 90 %).")
    if not 0.0 < params.train_fraction < 1.0:
        raise bad("train_fraction", "must be strictly between 0 and 1 (0.7 keeps 70 % of the rows for training).")
    if params.holdout_rows < 0:
        raise bad("holdout_rows", "must be 0 or more (rows held back from training for the endpoint smoke test).")
    if not 1 <= params.localcloud_port <= 65535:
        raise bad("localcloud_port", "must be a TCP port number (1-65535).")
    for key in ("training_instance_count", "endpoint_instance_count", "glue_number_of_workers",
                "endpoint_poll_seconds", "execution_timeout_seconds"):
        if getattr(params, key) < 1:
            raise bad(key, "must be 1 or more.")
    for key in ("iam_propagation_seconds", "rollback_configs_kept"):
        if getattr(params, key) < 0:
            raise bad(key, "must be 0 or more.")
    for key in ("training_instance_type", "endpoint_instance_type"):
        if not _INSTANCE_RE.match(getattr(params, key)):
            raise bad(key, "is not a SageMaker instance type such as ml.m5.xlarge.")
    if params.glue_worker_type not in ("G.025X", "G.1X", "G.2X", "G.4X", "G.8X", "Z.2X"):
        raise bad("glue_worker_type", "is not a Glue worker type (G.1X, G.2X, ...).")
    if params.sagemaker_role_arn is not None and not _ROLE_ARN_RE.match(params.sagemaker_role_arn):
        raise bad("sagemaker_role_arn", "is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME); leave it "
                                        "null to let notebook 01 create one.")
    if params.schedule is not None and not _SCHEDULE_RE.match(params.schedule):
        raise bad("schedule", "is not an EventBridge Scheduler expression: rate(1 day), cron(0 6 * * ? *), "
                              "at(2026-01-01T06:00:00), or null for no schedule.")
