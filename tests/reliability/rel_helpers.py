"""Helpers of the reliability and security suites: names, waiting, the project's own workflow in pieces,
`retrain run` as a subprocess, and small churn CSVs to break on purpose."""

from __future__ import annotations

import copy
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCAL_PARAMS = ROOT / "params" / "local.yaml"
RETRAIN = [sys.executable, "-m", "retrain.cli"]
#: Every bad input must be answered within this many seconds (the suite's promise to a user).
ANSWER_WITHIN_S = 30
FINAL_GLUE = ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    """A loopback TCP port nobody listens on now (never 4566, a developer's default)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != 4566:
            return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for(predicate: Callable[[], Any], limit: float = 120.0, every: float = 0.1, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (``limit`` only guards against a hang)."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {limit:.0f} s")
        time.sleep(every)


# ------------------------------------------------------------------------------------------- retrain run


def retrain_env(**extra: str) -> dict[str, str]:
    """The environment of a `retrain run` subprocess (the test session's, plus ``extra``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(SAGEMAKER_SUPPRESS_V2_WARNING="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def retrain(args: Iterable[str], *, env: dict[str, str] | None = None, timeout: float = 600,
            cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``retrain <args>`` to its end (``timeout`` guards against a hang)."""
    return subprocess.run([*RETRAIN, *args], cwd=cwd, env=env or retrain_env(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def start_retrain(args: Iterable[str], *, env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen[str]:
    """Start ``retrain <args>`` in the background, its output going to ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen([*RETRAIN, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True)


def stop_process_group(proc: subprocess.Popen[Any]) -> None:
    """End a process this suite started (and its children) if it is still running."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder`` (relative path -> bytes), to prove a later run left it intact."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------- the project's ASL


_DEFINITIONS: dict[str, dict[str, Any]] = {}


def offline_project(s3: Any, overrides: dict[str, Any] | None = None, sagemaker_role: str | None = None
                    ) -> tuple[Any, Any, dict[str, Any]]:
    """``(params, layout, definition)``: the project's workflow as notebook 03 builds it (offline, account
    123456789012), with its bucket ``<project>-123456789012-us-east-1`` created in the session's cloud."""
    from retrain.config import load_params
    from retrain.notebooks import workflow_definition
    from retrain.resources import Layout, bucket_name

    overrides = dict(overrides or {})
    if sagemaker_role:
        overrides["sagemaker_role_arn"] = sagemaker_role
    params = load_params(LOCAL_PARAMS, overrides)
    bucket = bucket_name(params.project_name, "123456789012", params.region)
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    key = json.dumps(overrides, sort_keys=True)
    if key not in _DEFINITIONS:
        _DEFINITIONS[key] = workflow_definition(LOCAL_PARAMS, overrides, account="123456789012")
    return params, Layout(bucket, params.project_name), copy.deepcopy(_DEFINITIONS[key])


#: what ``Find Champion`` leaves at ``$.Champion`` when nothing of the project serves yet (code/model_gate.py,
#: ``find_champion``, under the ``Payload`` of the ``lambda:invoke`` result: Step Functions guide, "Invoke Lambda
#: with Step Functions"). A fragment that starts after Find Champion gets it in its input, as that state would
#: have left it.
NO_CHAMPION: dict[str, Any] = {"Payload": {"exists": False, "Baseline": "none",
                                           "reason": "no model serves on the endpoint yet"}}


def run_input(params: Any, layout: Any, **changes: Any) -> dict[str, Any]:
    """The state data a fragment of the workflow starts from: the run's names (``retrain.workflow.execution_names``,
    a new run id, with the ``changes`` to them) as ``Run`` — where the workflow's first states put them — and at
    the top for the tests to read, plus ``Champion`` as Find Champion leaves it on a first run
    (:data:`NO_CHAMPION`) and the other ``changes``."""
    from retrain.workflow import execution_names

    names = execution_names(params, unique("run"), layout)
    names.update({k: v for k, v in changes.items() if k in names})
    return {**names, "Run": dict(names), "Champion": copy.deepcopy(NO_CHAMPION), **changes}


def fragment(definition: dict[str, Any], start: str, keep: Iterable[str]) -> dict[str, Any]:
    """The states ``keep`` of ``definition`` (as the project built them: same Parameters, Retry, Catch, Choices),
    starting at ``start``; transitions to a state left out end the fragment."""
    keep = list(keep)
    states: dict[str, Any] = {}
    for name in keep:
        state = copy.deepcopy(definition["States"][name])
        if state.get("Next") and state["Next"] not in keep:
            state.pop("Next")
            state["End"] = True
        state["Catch"] = [c for c in state.get("Catch", []) if c["Next"] in keep] or None
        if state["Catch"] is None:
            state.pop("Catch")
        for rule in state.get("Choices", []):
            assert rule["Next"] in keep, f"{name} leads to {rule['Next']}, keep it too"
        states[name] = state
    return {"StartAt": start, "States": states, "TimeoutSeconds": 600}


def run_machine(sfn: Any, role_arn: str, definition: dict[str, Any], execution_input: dict[str, Any],
                limit: float = 240.0) -> dict[str, Any]:
    """Create a state machine, run it once to its end; DescribeExecution plus ``events``."""
    arn = sfn.create_state_machine(name=unique("rel"), definition=json.dumps(definition),
                                   roleArn=role_arn)["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input))
    return finish(sfn, started["executionArn"], limit)


def finish(sfn: Any, execution_arn: str, limit: float = 240.0) -> dict[str, Any]:
    """DescribeExecution once the execution has ended, with its history as ``events``."""
    described = wait_for(lambda: (d := sfn.describe_execution(executionArn=execution_arn))["status"] != "RUNNING"
                         and d, limit=limit, every=0.2, what=f"end of {execution_arn}")
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    described["events"] = events
    return described


def failed_tasks(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The details of every failed task / Lambda event, in order."""
    kinds = ("TaskFailed", "LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskTimedOut")
    found = []
    for event in events:
        if event["type"] in kinds:
            details = next(v for k, v in event.items() if k.endswith("EventDetails"))
            found.append(details)
    return found


def execution_failure(described: dict[str, Any]) -> tuple[str, str]:
    """``(error, cause)`` of a failed execution, from its ExecutionFailed event."""
    for event in reversed(described["events"]):
        if event["type"] == "ExecutionFailed":
            details = event["executionFailedEventDetails"]
            return details.get("error", ""), details.get("cause", "")
    raise AssertionError(f"execution did not fail: {described['status']}")


# ------------------------------------------------------------------------------------------- data


def churn_csv(rows: int = 60, seed: int = 7) -> str:
    """A small valid raw churn CSV (header + ``rows`` lines)."""
    from retrain.data import generate, write_csv

    frame = generate(rows, seed)
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"rel-churn-{uuid.uuid4().hex[:8]}.csv"
    try:
        write_csv(frame, path)
        return path.read_text(encoding="utf-8")
    finally:
        path.unlink(missing_ok=True)


def set_field(csv_text: str, row: int, column: str, value: str) -> str:
    """``csv_text`` with data row ``row`` (0-based, header excluded) holding ``value`` in ``column``."""
    lines = csv_text.splitlines()
    header = lines[0].split(",")
    fields = lines[row + 1].split(",")
    fields[header.index(column)] = value
    lines[row + 1] = ",".join(fields)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------- models


def tiny_model(seed: int, rounds: int, features: int = 69) -> tuple[bytes, Any, Any]:
    """``(model.tar.gz bytes, booster, sample rows)``: an XGBoost model as SageMaker's XGBoost 1.7-1 writes it
    (xgboost 1.7.4, ``save_model("xgboost-model")``), and the booster read back by this environment's xgboost."""
    import numpy as np
    import xgboost as xgb

    import xgb17

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, features)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.3, size=300) > 0).astype("float32")
    raw = xgb17.train_model(x, y, {"objective": "binary:logistic", "max_depth": 3, "seed": seed, "nthread": 1},
                            rounds)
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return buffer.getvalue(), booster, x[:20]
