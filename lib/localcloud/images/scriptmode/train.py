"""A script-mode training job, as a localcloud child process (one job per process): what the SageMaker training
toolkit does in a framework image (github aws/sagemaker-training-toolkit, tag ``v4.8.0``; for the Scikit-learn
1.2-1 image ``sagemaker_sklearn_container.training.train`` calls ``entry_point.run`` with the toolkit's process
runner).

The server lays the job out as ``/opt/ml`` (``input/config/*.json``, ``input/data/<channel>``, the user's code
in ``code``) and sends ``{"op": "train", "root": ..., "env": {...}, "log": ..., "python_name": ...}``. Then, as
``trainer.train`` and ``entry_point.run``:

* the entry point's type (``_entry_point_type.get``): ``*.sh`` a command, a ``setup.py`` in the code a Python
  package (``pip install .``, then ``python -m <module>``), ``*.py`` a program (after ``pip install -r
  requirements.txt`` when there is one), anything else a command (``/bin/sh -c "./<name> <args>"``);
* the script runs in ``/opt/ml/code`` with the ``SM_*`` variables (:mod:`.toolkit`), the hyperparameters as
  arguments, ``PYTHONPATH`` led by the code folder, ``SAGEMAKER_JOB_NAME``/``CURRENT_HOST``/``SAGEMAKER_REGION``;
* success writes ``/opt/ml/output/success``; a failure writes ``/opt/ml/output/failure`` (unless the script wrote
  one) with the toolkit's text, ``ExecuteUserScriptError:\\nExitCode 1\\nErrorMessage ""\\nCommand "..."`` (the
  Scikit-learn image does not capture stderr, so the message is empty), which SageMaker reports as the job's
  ``FailureReason`` after ``AlgorithmError: `` (first 1024 characters; "How Amazon SageMaker Processes Training
  Output", SageMaker developer guide).
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from localcloud.core.childmain import redirect_output
from localcloud.images.scriptmode import container, pathmap, toolkit


def failure_text(kind: str, command: list[str], code: int, extra: str | None = None) -> str:
    """``errors._CalledProcessError.__str__`` with no captured output."""
    lines = [f"{kind}:", f"ExitCode {code}", 'ErrorMessage ""']
    if extra is not None:
        lines.append(f'ExtraInfo "{extra}"')
    lines.append(f'Command "{" ".join(command)}"')
    return "\n".join(lines).strip()


def _write(path: str, text: str, only_new: bool = False) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if only_new and os.path.exists(path):
        return
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _rewrite(path: str) -> None:
    """A shell program's ``/opt/ml`` paths as the job folder's."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(pathmap.in_text(text))
    except (OSError, UnicodeDecodeError):
        pass  # not a text file: it runs as it is


def _install(env: dict[str, str], code_dir: str, shown: str, args: list[str], kind: str) -> str | None:
    """``pip install`` of the code's requirements or package into the job's packages; the failure text."""
    command = [shown, "-m", "pip", "install", *args]
    code = container.run(container.resolve(["python", "-m", "pip", "install", *args], code_dir), env, code_dir)
    return failure_text(kind, command, code) if code else None


def _command(code_dir: str, program: str, args: list[str], shown: str) -> tuple[list[str], list[str], str | None]:
    """(command to run, command as the toolkit shows it, install step) for the entry point's type."""
    listed = os.listdir(code_dir) if os.path.isdir(code_dir) else []
    if program.endswith(".sh") or (not program.endswith(".py") and "setup.py" not in listed):
        if os.path.isfile(os.path.join(code_dir, program)):
            os.chmod(os.path.join(code_dir, program), 511)  # entry_point.install makes a command executable
        text = f'"./{program} {" ".join(shlex.quote(a) for a in args)}"'
        return ["/bin/sh", "-c", text.strip('"')], ["/bin/sh", "-c", text], None
    if "setup.py" in listed:
        module = program.replace(".py", "")
        return ["python", "-m", module, *args], [shown, "-m", module, *args], "package"
    install = "requirements" if "requirements.txt" in listed else None
    return ["python", program, *args], [shown, program, *args], install


def train(message: dict[str, Any]) -> dict[str, Any]:
    root = str(message["root"])
    pathmap.configure(root)
    hps, resources, input_data = toolkit.read_config(root)
    platform = dict(message.get("env") or {})
    env_doc = toolkit.environment(hps, resources, input_data, framework_module=platform.get(
        "SAGEMAKER_TRAINING_MODULE"), num_cpus=os.cpu_count() or 1, job_name=platform.get("TRAINING_JOB_NAME"))
    program = env_doc["user_entry_point"]
    failure_path = os.path.join(root, "output", "failure")
    if not program:
        text = ("Framework Error: \nTraceback (most recent call last):\nAttributeError: 'NoneType' object has no "
                "attribute 'endswith'\n'NoneType' object has no attribute 'endswith'")
        _write(failure_path, text, only_new=True)
        return {"ok": False, "exit_code": 1}
    code_dir = os.path.join(root, "code")
    decoded = toolkit.decode_hyperparameters(hps)
    env = {**platform, **toolkit.script_env(env_doc), "SAGEMAKER_JOB_NAME": str(decoded.get("sagemaker_job_name", "")),
           "CURRENT_HOST": env_doc["current_host"], "SAGEMAKER_REGION": str(decoded.get("sagemaker_region", ""))}
    env = container.job_env(root, str(message["packages"]), env, extra_path=(code_dir,))
    shown = str(message.get("python_name") or "python")
    argv, displayed, install = _command(code_dir, str(program), toolkit.to_cmd_args(env_doc["hyperparameters"]),
                                        shown)
    if argv[0] == "/bin/sh":  # a shell program has no path mapping: its text and variables get the real paths
        env = {k: pathmap.in_text(v) for k, v in env.items()}
        _rewrite(os.path.join(code_dir, str(program)))
    error = None
    if install == "requirements":
        error = _install(env, code_dir, shown, ["-r", "requirements.txt"], "InstallRequirementsError")
    elif install == "package":  # modules.install: "pip install . " and its requirements.txt with it
        extra = ["-r", "requirements.txt"] if os.path.isfile(os.path.join(code_dir, "requirements.txt")) else []
        error = _install(env, code_dir, shown, [".", *extra], "InstallModuleError")
    if error is None:
        code = container.run(container.resolve(argv, str(message["scratch"])), env, code_dir)
        if code:
            extra = "OutOfMemory: Process killed by SIGKILL (signal 9)" if code in (137, -9) else None
            error = failure_text("ExecuteUserScriptError", displayed, code, extra)
    if error is not None:
        print(f"Reporting training FAILURE\n{error}", flush=True)
        _write(failure_path, error, only_new=True)
        return {"ok": False, "exit_code": 1}
    print("Reporting training SUCCESS", flush=True)
    _write(os.path.join(root, "output", "success"), "")
    return {"ok": True, "exit_code": 0}


def handle(message: dict[str, Any], payload: bytes | None) -> tuple[dict[str, Any], bytes | None]:
    if message.get("op") != "train":
        raise ValueError(f"unknown operation {message.get('op')!r}")
    redirect_output(str(message["log"]))
    result = train(message)
    result["exit"] = True
    return result, None
