"""The SageMaker training toolkit's view of a job: what ``sagemaker_training.environment.Environment`` computes from
``/opt/ml/input/config`` and hands the user's script (github aws/sagemaker-training-toolkit, tag ``v4.8.0``, the
version the Scikit-learn 1.2-1 image installs: ``environment.py``, ``mapping.py``, ``params.py``).

* hyperparameters are read from ``hyperparameters.json``, each value JSON-decoded when it parses (the SDK sends
  ``"\\"train.py\\""``), else kept as text (``read_hyperparameters``);
* ``sagemaker_*`` names (``params.SAGEMAKER_HYPERPARAMETERS`` and any other ``sagemaker_`` prefix) are the
  toolkit's own; the rest are the user's hyperparameters;
* the script gets the user's hyperparameters as ``--name value`` arguments in sorted order, a one-letter name as
  ``-n``, a dict as ``k1=v1,k2=v2`` (``mapping.to_cmd_args``);
* and ``SM_*`` variables: every ``to_env_vars`` entry upper-cased with ``SM_`` in front, text as is, anything else
  as compact sorted JSON (``mapping.to_env_vars``), with ``SM_CHANNEL_<NAME>`` and ``SM_HP_<NAME>`` per channel and
  hyperparameter and the whole environment as ``SM_TRAINING_ENV``.

Standard library only: the server reads it too.
"""

from __future__ import annotations

import json
import os
from typing import Any

BASE = "/opt/ml"
#: params.SAGEMAKER_HYPERPARAMETERS
TOOLKIT_HYPERPARAMETERS = ("sagemaker_program", "sagemaker_submit_directory", "sagemaker_enable_cloudwatch_metrics",
                           "sagemaker_region", "sagemaker_container_log_level", "sagemaker_job_name",
                           "default_user_module_name", "_tuning_objective_metric", "sagemaker_s3_output")
LOG_LEVEL_INFO = 20


def decode_hyperparameters(raw: dict[str, str]) -> dict[str, Any]:
    """``read_hyperparameters``: each value JSON-decoded when it parses, else the text itself."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            out[key] = json.loads(value)
        except (ValueError, TypeError):
            out[key] = value
    return out


def _text(value: Any) -> str:
    """``mapping._decode``: None is empty, anything else ``str``."""
    return "" if value is None else str(value)


def to_cmd_args(hyperparameters: dict[str, Any]) -> list[str]:
    """``mapping.to_cmd_args``."""
    args: list[str] = []
    for key in sorted(hyperparameters):
        name = _text(key)
        value = hyperparameters[key]
        args.append(f"--{name}" if len(name) > 1 else f"-{name}" if name else "")
        args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())) if hasattr(value, "items")
                    else _text(value))
    return args


def to_env_vars(mapping: dict[str, Any]) -> dict[str, str]:
    """``mapping.to_env_vars``."""
    def value(item: Any) -> str:
        if item is None:
            return ""
        if isinstance(item, str):
            return item
        return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    return {f"SM_{str(k).upper()}" if k else "": value(v) for k, v in mapping.items()}


def resource_config(instance_type: str) -> dict[str, Any]:
    """``resourceconfig.json`` of a one-instance job, as SageMaker writes it."""
    return {"current_host": "algo-1", "current_instance_type": instance_type,
            "current_group_name": "homogeneousCluster", "hosts": ["algo-1"],
            "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": instance_type,
                                 "hosts": ["algo-1"]}],
            "network_interface_name": "eth0"}


def environment(hyperparameters: dict[str, str], resources: dict[str, Any], input_data: dict[str, Any], *,
                framework_module: str | None, num_cpus: int, job_name: str | None) -> dict[str, Any]:
    """The ``Environment`` properties of a job (``dict(Environment())``, which becomes ``SM_TRAINING_ENV``)."""
    decoded = decode_hyperparameters(hyperparameters)
    toolkit = {k: v for k, v in decoded.items() if k in TOOLKIT_HYPERPARAMETERS or k.startswith("sagemaker_")}
    user = {k: v for k, v in decoded.items() if k not in toolkit}
    program = toolkit.get("sagemaker_program")
    hosts = list(resources.get("hosts") or ["algo-1"])
    group = resources.get("current_group_name", "homogeneousCluster")
    groups = list(resources.get("instance_groups") or [])
    return {
        "additional_framework_parameters": {k: v for k, v in toolkit.items() if k not in TOOLKIT_HYPERPARAMETERS},
        "channel_input_dirs": {name: f"{BASE}/input/data/{name}" for name in input_data},
        "current_host": resources.get("current_host", "algo-1"),
        "current_instance_group": group,
        "current_instance_group_hosts": next((g["hosts"] for g in groups if g["instance_group_name"] == group), []),
        "current_instance_type": resources.get("current_instance_type", "local"),
        "distribution_hosts": [], "distribution_instance_groups": [],
        "framework_module": framework_module,
        "hosts": hosts,
        "hyperparameters": user,
        "input_config_dir": f"{BASE}/input/config", "input_data_config": input_data, "input_dir": f"{BASE}/input",
        "instance_groups": [g["instance_group_name"] for g in groups],
        "instance_groups_dict": {g["instance_group_name"]: g for g in groups},
        "is_hetero": len(groups) > 1, "is_master": True, "is_modelparallel_enabled": None,
        "is_smddpmprun_installed": False, "is_smddprun_installed": False,
        "job_name": job_name,
        "log_level": toolkit.get("sagemaker_container_log_level", LOG_LEVEL_INFO),
        "master_hostname": hosts[0],
        "model_dir": f"{BASE}/model",
        "module_dir": str(toolkit.get("sagemaker_submit_directory", f"{BASE}/code")),
        "module_name": str(program)[:-3] if str(program).endswith(".py") else str(program),
        "network_interface_name": resources.get("network_interface_name", "eth0"),
        "num_cpus": num_cpus, "num_gpus": 0, "num_neurons": 0,
        "output_data_dir": f"{BASE}/output/data", "output_dir": f"{BASE}/output",
        "output_intermediate_dir": f"{BASE}/output/intermediate",
        "resource_config": resources,
        "user_entry_point": program,
    }


def script_env(env: dict[str, Any]) -> dict[str, str]:
    """``Environment.to_env_vars``: the ``SM_*`` variables the user's script runs with."""
    out = {
        "hosts": env["hosts"], "network_interface_name": env["network_interface_name"],
        "hps": env["hyperparameters"], "user_entry_point": env["user_entry_point"],
        "framework_params": env["additional_framework_parameters"], "resource_config": env["resource_config"],
        "input_data_config": env["input_data_config"], "output_data_dir": env["output_data_dir"],
        "channels": sorted(env["channel_input_dirs"]), "current_host": env["current_host"],
        "current_instance_type": env["current_instance_type"],
        "current_instance_group": env["current_instance_group"],
        "current_instance_group_hosts": env["current_instance_group_hosts"],
        "instance_groups": env["instance_groups"], "instance_groups_dict": env["instance_groups_dict"],
        "distribution_instance_groups": env["distribution_instance_groups"], "is_hetero": env["is_hetero"],
        "module_name": env["module_name"], "log_level": env["log_level"],
        "framework_module": env["framework_module"], "input_dir": env["input_dir"],
        "input_config_dir": env["input_config_dir"], "output_dir": env["output_dir"],
        "num_cpus": env["num_cpus"], "num_gpus": env["num_gpus"], "num_neurons": env["num_neurons"],
        "model_dir": env["model_dir"], "module_dir": env["module_dir"], "training_env": env,
        "user_args": to_cmd_args(env["hyperparameters"]),
        "output_intermediate_dir": env["output_intermediate_dir"],
    }
    for name, path in env["channel_input_dirs"].items():
        out[f"channel_{name}"] = path
    for key, value in env["hyperparameters"].items():
        out[f"hp_{key}"] = value
    return to_env_vars(out)


def read_config(root: str) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    """hyperparameters.json, resourceconfig.json and inputdataconfig.json of the job folder ``root``."""
    folder = os.path.join(root, "input", "config")

    def read(name: str) -> Any:
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            return json.load(handle)

    return read("hyperparameters.json"), read("resourceconfig.json"), read("inputdataconfig.json")
