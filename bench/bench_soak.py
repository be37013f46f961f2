"""``make bench`` section ``soak``: many scheduled retrains back to back on ONE local cloud, and whether the cloud
stays flat.

Notebooks 01-03 run once (``retrain run --only 01,02,03``) with ``schedule: rate(1 minute)`` on a local cloud whose
events clock runs at ``time_scale`` (``LOCALCLOUD_EVENTS_TIME_SCALE``: at 0.5 a virtual minute lasts 30 s), on
small generated data. The schedule then starts the real workflow (ETL job, training, evaluation, judge, registry,
endpoint update) again and again, each execution naming its own run. Meanwhile the local cloud's process and
every process under it are sampled: the number of processes, their open file descriptors, their summed RSS, and
the disk used under the cloud's home. Once ``runs`` executions have started the schedule is paused and the soak
waits for them to end, then checks that:

* every execution SUCCEEDED and has its own data prefix with its files (``<project>/runs/<run id>/``), among them
  the run's record (``record.json``, what ``retrain history`` lists);
* none was lost: the number of executions equals the number of times the schedule fired, as the cloud's events
  clock logged its firings;
* the lowest samples of the last third of the soak are no higher than those of the first third (the cloud warm:
  sampling starts when the first execution ended), within :data:`SLACK` (:func:`flat` says why the floors); the
  peaks are reported beside them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCAL_PARAMS = ROOT / "params" / "local.yaml"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
#: how much higher the last third may be than the first: processes and descriptors a few (a job's process may be
#: starting or ending at the sampled instant), memory and disk a share plus a constant (each run keeps its data,
#: model and logs: the run records are data, not a leak)
SLACK = {"processes": (0.0, 3), "open_files": (0.1, 20), "rss_mb": (0.15, 50), "disk_mb": (0.25, 25)}


@dataclass(frozen=True)
class Plan:
    runs: int = 12
    time_scale: float = 0.5  # a virtual minute lasts 30 s: about one execution's length here
    rows: int = 600
    sample_s: float = 0.5
    timeout_s: float = 1800
    overrides: tuple[str, ...] = field(default=(
        "holdout_rows=50", "hyperparameters.num_round=20", "accuracy_threshold=0.8", "deployment=all_at_once", "rollback_alarms=false",
        "termination_wait_seconds=0", "keep_endpoint=true"))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_cloud(port: int, home: Path, time_scale: float) -> str:
    """A local cloud on ``port`` (memory only) whose events clock runs at ``time_scale``; its URL."""
    from bench_tools import start_scaled_cloud

    return start_scaled_cloud(port, home, "LOCALCLOUD_EVENTS_TIME_SCALE", time_scale)


def client(url: str, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def disk_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:  # a file removed while walking
                continue
    return total


def kind(cmdline: list[str]) -> str:
    """What a process of the cloud is, for the RSS breakdown: a Python module or script, else the program."""
    if "-m" in cmdline[:-1]:
        return cmdline[cmdline.index("-m") + 1]
    script = next((part for part in cmdline[1:3] if part.endswith(".py")), None)
    return Path(script or (cmdline[0] if cmdline else "?")).name


class Sampler:
    """Samples the cloud's process tree and home every ``every`` seconds on a thread of its own."""

    def __init__(self, pid: int, home: Path, every: float) -> None:
        self.pid, self.home, self.every = pid, home, every
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soak-sampler", daemon=True)

    def sample(self) -> dict[str, Any]:
        import psutil

        root = psutil.Process(self.pid)
        procs, fds, rss, kinds = 0, 0, 0, {}
        for proc in [root, *root.children(recursive=True)]:
            try:
                fds, used, procs = fds + proc.num_fds(), proc.memory_info().rss, procs + 1
                rss, what = rss + used, kind(proc.cmdline()) if proc.pid != self.pid else "localcloud server"
            except psutil.Error:  # ended between the listing and the reading
                continue
            kinds[what] = kinds.get(what, 0) + used / 1e6
        return {"t": time.monotonic(), "processes": procs, "open_files": fds, "rss_mb": rss / 1e6,
                "disk_mb": disk_bytes(self.home) / 1e6, "rss_mb_by_kind": kinds}

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(self.sample())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def setup(url: str, port: int, out: Path, plan: Plan) -> dict[str, Any]:
    """Small data, then notebooks 01-03 with the schedule; the project's names."""
    project = f"soak-{uuid.uuid4().hex[:6]}"
    data = out / "data.csv"
    subprocess.run([sys.executable, "-m", "retrain.data", "--rows", str(plan.rows), "--seed", "7", "--out",
                    str(data)], check=True, capture_output=True)
    cmd = [sys.executable, "-m", "retrain.cli", "run", "--only", "01,02,03", "--params", str(LOCAL_PARAMS),
           "--out", str(out / "setup"), "-p", f"project_name={project}", "-p", f"localcloud_port={port}",
           "-p", "schedule=rate(1 minute)", "-p", f"data_path={data}"]
    for item in plan.overrides:
        cmd += ["-p", item]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"notebooks 01-03 exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    state = json.loads((out / "setup" / "state.json").read_text())
    return {"project": project, "machine": state["state_machine_arn"], "bucket": state["bucket"]}


def executions(sfn: Any, machine: str) -> list[dict[str, Any]]:
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
    return [e for page in pages for e in page["executions"]]


def _wait(condition: Any, timeout_s: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = condition()
        if got:
            return got
        time.sleep(every)
    raise TimeoutError(f"the soak waited {timeout_s:.0f} s for {what}")


def pause(scheduler: Any, project: str) -> None:
    """Disable the schedule (UpdateSchedule with everything it has: it replaces the whole schedule)."""
    name, group = f"{project}-retrain", project
    found = scheduler.get_schedule(Name=name, GroupName=group)
    keep = ("Name", "GroupName", "ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "Target",
            "Description")
    scheduler.update_schedule(**{k: found[k] for k in keep if found.get(k) is not None}, State="DISABLED")


def just_fired(count: Any, runs: int) -> Any:
    """A condition true when the count of executions has just grown to ``runs`` or more (polled right after a
    firing, so that a pause then falls between two firings, not on one)."""
    seen = [count()]

    def condition() -> bool:
        now = count()
        grew, seen[0] = now > seen[0], now
        return grew and now >= runs

    return condition


def fired(log: Path, schedule_arn: str) -> int:
    """How many times the schedule fired, as the cloud's events clock logged each firing (``schedule <arn> fires``
    in ``server.log``; localcloud publishes no Scheduler metrics: docs/triggers-and-notifications.md)."""
    marker = f"schedule {schedule_arn} fires"
    with log.open(encoding="utf-8", errors="replace") as lines:
        return sum(marker in line for line in lines)


def run_prefixes(sfn: Any, s3: Any, bucket: str, listed: list[dict[str, Any]]) -> dict[str, int]:
    """Each execution's data prefix (``Name the Run``'s ``Run.DataPrefix``), how many objects it holds and
    whether the run's record (``record.json``, what ``retrain history`` lists) is among them."""
    from retrain.execute import list_all_events, state_output

    found = {}
    for execution in listed:
        run = (state_output(list_all_events(sfn, execution["executionArn"]), "Name the Run") or {}).get("Run", {})
        prefix = str(run.get("DataPrefix") or "")
        key = prefix.removeprefix(f"s3://{bucket}/")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])] if key else []
        found[execution["name"]] = {"prefix": prefix, "objects": len(keys),
                                    "record": any(k.endswith("/record.json") for k in keys)}
    return found


def thirds(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per measure, the lowest value (the floor) and the highest (the peak) in the first and in the last third of
    the samples (by time)."""
    if len(samples) < 3:
        raise ValueError(f"{len(samples)} samples: too few to compare thirds")
    begin, end = samples[0]["t"], samples[-1]["t"]
    span = (end - begin) / 3
    first = [s for s in samples if s["t"] <= begin + span]
    last = [s for s in samples if s["t"] >= end - span]
    compared: dict[str, dict[str, Any]] = {
        name: {"first": round(min(s[name] for s in first), 1), "last": round(min(s[name] for s in last), 1),
                   "first_peak": round(max(s[name] for s in first), 1),
                   "last_peak": round(max(s[name] for s in last), 1)} for name in SLACK}
    # where the memory is at each third's floor (the sample with the least RSS): which process kind grew
    for label, part in (("first", first), ("last", last)):
        low = min(part, key=lambda s: s["rss_mb"])
        compared["rss_mb"][f"{label}_by_kind"] = {k: round(v, 1) for k, v in low.get("rss_mb_by_kind", {}).items()}
    return compared


def flat(compared: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """True per measure when the last third's floor is within :data:`SLACK` of the first's. The floors, not the
    peaks: a peak is how many executions (each with its job processes, Spark tasks, sockets) happened to overlap
    at the sampled instant; what a leak does is raise the level the cloud comes back down to."""
    return {name: v["last"] <= v["first"] * (1 + SLACK[name][0]) + SLACK[name][1] for name, v in compared.items()}


# long: one straight sequence: the cloud, the set-up, the soak while sampling, the pause, the checks
def soak(out: Path, plan: Plan = Plan()) -> dict[str, Any]:
    """One soak on a fresh local cloud (stopped afterwards); the figures and what was checked."""
    import localcloud

    out.mkdir(parents=True, exist_ok=True)
    port, home = free_port(), out / "localcloud"
    url = start_cloud(port, home, plan.time_scale)
    began = time.monotonic()
    try:
        pid = int(localcloud.health(port)["pid"])
        names = setup(url, port, out, plan)
        sfn, scheduler, s3 = client(url, "stepfunctions"), client(url, "scheduler"), client(url, "s3")
        schedule_arn = scheduler.get_schedule(Name=f"{names['project']}-retrain", GroupName=names["project"])["Arn"]
        _wait(lambda: any(e["status"] in TERMINAL for e in executions(sfn, names["machine"])), plan.timeout_s,
              "the first execution to end")
        with Sampler(pid, home, plan.sample_s) as sampler:
            _wait(just_fired(lambda: len(executions(sfn, names["machine"])), plan.runs), plan.timeout_s,
                  f"{plan.runs} executions")
            pause(scheduler, names["project"])  # just after a firing: the next is a period away
            listed = _wait(lambda: (lambda es: es if all(e["status"] in TERMINAL for e in es) else None)(
                executions(sfn, names["machine"])), plan.timeout_s, "every execution to end", every=0.5)
        prefixes = run_prefixes(sfn, s3, names["bucket"], listed)
        kept = (localcloud.health(port) or {}).get("clients")  # the server's clients back into itself
        why = {e["name"]: {k: str(v)[:400] for k, v in sfn.describe_execution(executionArn=e["executionArn"]).items()
                           if k in ("error", "cause")} for e in listed if e["status"] != "SUCCEEDED"}
    finally:
        localcloud.stop(port, home=home)
    compared = thirds(sampler.samples)
    statuses = {e["name"]: e["status"] for e in listed}
    return {
        "runs": len(listed), "fired": fired(home / str(port) / "server.log", schedule_arn),
        "succeeded": sum(s == "SUCCEEDED" for s in statuses.values()), "statuses": statuses,
        # the workflow's ``Record ...`` states (the Lambda's ``RecordRun``) write each run's record: retrain history
        "recorded": sum(p["record"] for p in prefixes.values()),
        "why": why, "clients": kept, "with_data_prefix": sum(p["objects"] > 0 for p in prefixes.values()),
        "prefixes": prefixes,
        "thirds": compared, "flat": flat(compared), "samples": len(sampler.samples),
        "soak_s": round(time.monotonic() - began, 1), "plan": {"runs": plan.runs, "time_scale": plan.time_scale,
                                                               "rows": plan.rows, "overrides": list(plan.overrides)},
    }


def problems(result: dict[str, Any]) -> list[str]:
    """What the soak found wrong (empty: every execution succeeded with its data, none lost, the cloud flat)."""
    found = []
    if result["succeeded"] != result["runs"]:
        failed = {n: s for n, s in result["statuses"].items() if s != "SUCCEEDED"}
        found.append(f"{len(failed)} of {result['runs']} executions did not succeed: {result['why']}")
    if result["runs"] != result["fired"]:
        found.append(f"{result['runs']} executions for {result['fired']} schedule firings")
    if result["with_data_prefix"] != result["runs"]:
        found.append(f"only {result['with_data_prefix']} of {result['runs']} runs have their data prefix")
    if result["recorded"] != result["runs"]:
        found.append(f"only {result['recorded']} of {result['runs']} runs have their record (retrain history)")
    found += [f"{name} grew: {result['thirds'][name]}" for name, ok in result["flat"].items() if not ok]
    return found


def bench_run(out: Path, plan: Plan = Plan()) -> dict[str, Any]:
    """One run of ``make bench``'s ``soak`` section: the figures flat, the details beside."""
    result = soak(out, plan)
    result["problems"] = problems(result)
    compared = result["thirds"]
    return {"runs": result["runs"], "fired": result["fired"], "succeeded": result["succeeded"],
            "recorded": result["recorded"], "unrecorded": result["runs"] - result["recorded"],
            "lost": max(0, result["fired"] - result["runs"]), "failed": result["runs"] - result["succeeded"],
            "grown": sum(not ok for ok in result["flat"].values()), "soak_s": result["soak_s"],
            **{f"{name}_{part}": v[part] for name, v in compared.items() for part in v if "by_kind" not in part},
            "flat": all(result["flat"].values()), "problems": result["problems"], "details": result}
