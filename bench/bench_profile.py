"""Where a cold ``retrain run`` spends CPU seconds, by component (``python bench/bench.py --only profile``).

A thread samples every process of the run (the runner, its kernels, the local cloud and what it starts: the Spark
worker and its JVM, training and processing processes, the model server, Lambda runtimes) every
:data:`INTERVAL_S` and keeps each process's latest CPU times (user + system, its own, not its children's).
A process that exits between two samples loses at most one interval of CPU; processes younger than one interval
may be missed (both are small against seconds). Each process is put in a component by its command line; kernels
are matched to notebooks in the order they started (the runner starts them in notebook order).

``python -X importtime`` style figures per notebook come from :func:`import_costs`: a fresh interpreter importing
what the notebook's kernel imports ahead of it (``retrain.kernels.notebook_imports``), CPU and wall seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

INTERVAL_S = 0.1

#: component → a test on a process's command line (first match wins, in this order)
COMPONENTS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("spark jvm (glue worker)", lambda cmd: cmd.split(" ", 1)[0].rsplit("/", 1)[-1] == "java"
     or "bin/spark-class" in cmd or "bin/spark-submit" in cmd),
    ("kernel", lambda cmd: "ipykernel" in cmd),
    ("glue worker (python side of spark)", lambda cmd: "glue.worker_main" in cmd),
    ("training job", lambda cmd: "builtin_xgboost.train" in cmd),
    ("model server", lambda cmd: "builtin_xgboost.serve" in cmd),
    ("processing job (evaluation)", lambda cmd: "scriptmode" in cmd or "/sagemaker/processing/" in cmd),
    ("lambda runtime", lambda cmd: "lambda" in cmd),
    ("local cloud server", lambda cmd: "localcloud serve" in cmd),
    ("runner (retrain run)", lambda cmd: "retrain run" in cmd),
)


def _kernel_notebook(argv: list[str]) -> str | None:
    """The notebook a kernel of ``retrain run`` serves: its connection file (``-f``) names the local socket,
    ``<sockets>/<notebook>`` (``retrain.kernels.ipc_config``)."""
    try:
        info = json.loads(Path(argv[argv.index("-f") + 1]).read_text())
    except (ValueError, IndexError, OSError):
        return None
    return Path(str(info.get("ip", ""))).name or None if info.get("transport") == "ipc" else None


def _tree(root: Any) -> list[Any]:
    """``root`` and its descendants, parent by parent: a child that exits during the walk loses only its own
    subtree (``children(recursive=True)`` gives up on the whole tree)."""
    import psutil

    found, queue = [], [root]
    while queue:
        proc = queue.pop()
        found.append(proc)
        try:
            queue.extend(proc.children())
        except psutil.Error:
            continue
    return found


class CpuSampler:
    """Latest CPU times of every process under ``roots()``, sampled on a thread."""

    def __init__(self, roots: Callable[[], list[int]], interval: float = INTERVAL_S) -> None:
        self._roots, self._interval = roots, interval
        self._stop = threading.Event()
        self.procs: dict[tuple[int, float], dict[str, Any]] = {}  # (pid, create_time) → what was seen
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def sample(self) -> None:
        import psutil

        now = time.time()
        for pid in self._roots():
            try:
                root = psutil.Process(pid)
            except psutil.Error:
                continue
            for proc in _tree(root):
                try:
                    with proc.oneshot():
                        key = (proc.pid, proc.create_time())
                        times = proc.cpu_times()
                        cmd = " ".join(proc.cmdline())[:300]  # the latest: a fork may exec since
                        entry = self.procs.setdefault(key, {"pid": proc.pid, "ppid": proc.ppid(), "started": key[1]})
                        if cmd or "cmd" not in entry:  # an exited process not yet reaped shows no command line
                            entry["cmd"] = cmd
                        if "ipykernel" in cmd and "notebook" not in entry:
                            entry["notebook"] = _kernel_notebook(proc.cmdline())
                        entry["cpu_s"] = times.user + times.system
                        entry["last_seen"] = now
                except psutil.Error:
                    continue

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def component(cmd: str) -> str:
    for name, test in COMPONENTS:
        if test(cmd):
            return name
    return "other"


def by_component(procs: list[dict[str, Any]], notebooks: list[str], began: float) -> dict[str, dict[str, Any]]:
    """CPU seconds, process count and wall span (first start → last seen, from the run's start) per component;
    kernels one row per notebook (named by their sockets, else in start order). A process with its parent's command line (forked, not yet
    exec'd) counts with its parent."""
    commands = {p["pid"]: p["cmd"] for p in procs}
    real = [p for p in procs if commands.get(p["ppid"]) != p["cmd"]]
    kernels = sorted((p for p in real if component(p["cmd"]) == "kernel"), key=lambda p: (p["started"], p["pid"]))
    names = {p["pid"]: f"kernel {p.get('notebook') or (notebooks[i] if i < len(notebooks) else i)}"
             for i, p in enumerate(kernels)}
    rows: dict[str, dict[str, Any]] = {}
    for proc in procs:
        pid = proc["pid"] if proc in real else proc["ppid"]
        name = names.get(pid) or component(proc["cmd"])
        row = rows.setdefault(name, {"cpu_s": 0.0, "processes": 0, "from_s": None, "to_s": None, "commands": []})
        row["cpu_s"] = round(row["cpu_s"] + proc.get("cpu_s", 0.0), 2)
        row["processes"] += 1
        start, end = round(max(0.0, proc["started"] - began), 2), round(proc["last_seen"] - began, 2)
        row["from_s"] = start if row["from_s"] is None else min(row["from_s"], start)
        row["to_s"] = end if row["to_s"] is None else max(row["to_s"], end)
        if len(row["commands"]) < 3:
            row["commands"].append(proc["cmd"][:160])
    return dict(sorted(rows.items(), key=lambda item: -item[1]["cpu_s"]))


_IMPORT_PROBE = """
import importlib, json, resource, sys, time
t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except Exception:
        pass
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall_s": round(time.perf_counter() - t0, 3),
                  "cpu_s": round(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, 3),
                  "modules": len(sys.modules)}))
"""


def import_costs(folder: Path, notebooks: list[str]) -> dict[str, dict[str, Any]]:
    """Per notebook: CPU and wall seconds a fresh interpreter spends importing what the notebook imports (what its
    prepared kernel imports ahead of it), and the heaviest top-level packages by ``-X importtime``."""
    from retrain.kernels import notebook_imports

    costs: dict[str, dict[str, Any]] = {}
    for name in notebooks:
        modules = notebook_imports(folder / f"{name}.ipynb")
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", _IMPORT_PROBE, json.dumps(modules)],
                              capture_output=True, text=True, cwd=folder, env={**os.environ})
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["heaviest"] = heaviest_imports(proc.stderr)
        result["imports"] = modules
        costs[name] = result
    return costs


def heaviest_imports(importtime: str, count: int = 6) -> dict[str, float]:
    """Top-level packages by cumulative import seconds from ``-X importtime`` output."""
    totals: dict[str, float] = {}
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        try:
            _, cumulative, name = line.removeprefix("import time:").split("|")
            micros = int(cumulative)
        except ValueError:
            continue
        if name[1:2] != " " and "." not in name.strip():  # top level: one space after the bar
            totals[name.strip()] = max(totals.get(name.strip(), 0.0), micros / 1e6)
    return {k: round(v, 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])[:count]}


def profile_run(port: int, out: Path, home: Path, root: Path) -> dict[str, Any]:
    """One cold ``retrain run`` (the caller made sure no cloud runs on ``port``) under :class:`CpuSampler`:
    CPU seconds and wall span per component, per-notebook and per-state wall seconds, and the machine's CPU."""
    from bench import _cloud_pid, _cpu_ticks, _venv_bin, describe_run

    cmd = [_venv_bin("retrain"), "run", "--keep-cloud", "--params", str(root / "params" / "local.yaml"),
           "--out", str(out), "-p", f"localcloud_port={port}", "-p", "keep_endpoint=true"]
    env = {**os.environ, "LOCALCLOUD_HOME": str(home), "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    ticks, load, began, t0 = _cpu_ticks(), round(os.getloadavg()[0], 2), time.time(), time.perf_counter()
    with subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        cloud: list[int] = []

        def roots() -> list[int]:
            if not cloud:
                cloud.extend(_cloud_pid(port))
            return [proc.pid, *cloud]

        with CpuSampler(roots) as sampler:
            stdout, stderr = proc.communicate()
        sampler.sample()  # the cloud and what it keeps running (Spark, the model server) once more
    wall = round(time.perf_counter() - t0, 3)
    after = _cpu_ticks()
    if proc.returncode != 0:
        raise RuntimeError(f"retrain run exited {proc.returncode}:\n{stdout[-2000:]}\n{stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    notebooks = [nb["name"] for nb in summary.get("notebooks", [])]
    components = by_component(list(sampler.procs.values()), notebooks, began)
    described = describe_run(port, {"total_s": wall, "summary": summary, "peak_rss_bytes": 0,
                                    "load_before": load, "load_after": round(os.getloadavg()[0], 2),
                                    "cpu_busy_pct": None})
    machine_cpu = round((after[0] - ticks[0]) / os.sysconf("SC_CLK_TCK"), 1) if ticks and after else None
    return {"total_s": wall, "cpu_s": round(sum(c["cpu_s"] for c in components.values()), 2),
            "machine_busy_cpu_s": machine_cpu, "components": components, "notebooks_s": described["notebooks_s"],
            "states_s": described["states_s"], "execution_s": described["execution_s"],
            "load_avg": described["load_avg"], "stdout": stdout[-3000:], "processes": list(sampler.procs.values())}


def profile_table(profile: dict[str, Any], imports: dict[str, dict[str, Any]] | None = None) -> str:
    """The Markdown tables of one profile: CPU per component, and import costs per notebook."""
    lines = ["| component | processes | CPU s | alive from → to (s into the run) |", "|---|---|---|---|"]
    for name, row in profile["components"].items():
        lines.append(f"| {name} | {row['processes']} | {row['cpu_s']:.2f} | {row['from_s']:.1f} → {row['to_s']:.1f} |")
    lines.append(f"| **all processes of the run** | | **{profile['cpu_s']:.2f}** | wall {profile['total_s']:.1f} s |")
    if imports:
        lines += ["", "| notebook | imports ahead of it: CPU s | wall s | modules loaded | heaviest (cumulative s) |",
                  "|---|---|---|---|---|"]
        for name, cost in imports.items():
            heavy = ", ".join(f"{k} {v:.2f}" for k, v in cost["heaviest"].items())
            lines.append(f"| {name} | {cost['cpu_s']:.2f} | {cost['wall_s']:.2f} | {cost['modules']} | {heavy} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python bench/bench_profile.py [--out DIR] [--port N]``: one cold run profiled, and each notebook's
    import cost; writes ``profile.json`` and ``profile.md`` (default ``reports/profile``)."""
    import argparse
    import shutil

    from bench import ROOT, _stop_cloud

    parser = argparse.ArgumentParser(prog="python bench/bench_profile.py", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "profile")
    parser.add_argument("--port", type=int, default=4599)
    args = parser.parse_args(argv)
    out, home = args.out.resolve(), args.out.resolve() / "localcloud"
    _stop_cloud(args.port, home)
    shutil.rmtree(home, ignore_errors=True)
    try:
        profile = profile_run(args.port, out / "cold", home, ROOT)
    finally:
        _stop_cloud(args.port, home)
    from retrain.notebooks import NOTEBOOKS, notebooks_dir

    profile["imports"] = import_costs(notebooks_dir(), list(NOTEBOOKS))
    text = profile_table(profile, profile["imports"])
    (out / "profile.json").write_text(json.dumps(profile, indent=2) + "\n")
    (out / "profile.md").write_text(text + "\n")
    print(text)
    print("\nnotebooks (wall s):", json.dumps(profile["notebooks_s"]))
    print("states (wall s):", json.dumps(profile["states_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
