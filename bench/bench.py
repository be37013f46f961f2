"""``make bench``: how fast the local target is, against the targets the project holds itself to.

One run measures, on this machine (``python bench/bench.py --help`` for the options):

* ``cold``: ``retrain run`` end to end on the default data, the local cloud started by the run itself (time per
  notebook and per workflow state);
* ``floor``: one fresh Python process doing the same Spark ETL (the project's Glue script, with the Spark settings
  of the local Glue worker), XGBoost training and a prediction with no orchestration; and the ratio cold/floor;
* ``warm``: a second ``retrain run`` on the running local cloud (an all-at-once update with no termination wait: a
  guarded update adds the baking its parameters ask for), whose execution re-runs the workflow with a warm
  Spark worker, training process and model server;
* ``endpoint``: single-row InvokeEndpoint latency over plain HTTP and through boto3, requests/s with 4 concurrent
  clients, rows/s for 1,000-row CSV batches, each against in-process prediction of the same rows;
* ``scale``: ``retrain run`` on 100k, 1M and 5M generated rows: wall time and peak RSS of all its processes, and
  the ratios 1M ÷ 100k and 5M ÷ 1M (time linear in the rows: at most 12x and 6x);
* ``canary``: the project's guarded update (``deployment: canary``) on a local cloud of its own, a client invoking
  at a fixed rate: failed requests, the share each fleet served over time (a plot), and a broken candidate rolled
  back by the 5xx alarm, how long after its first failed request (``bench_canary.py``);
* ``soak``: many scheduled retrains back to back on one local cloud (notebooks 01-03 once with a fast schedule, then
  the schedule starts the workflow again and again): every execution succeeded with its own data prefix, none lost
  against the schedule's firings, and the cloud's processes, open files, memory and disk the same in the last third
  as in the first (``bench_soak.py``). It runs once, after the repeated sections: its many runs are its repetitions.

Every section runs ``--repeat`` times (3; a cold run, its warm run and its endpoint measurement on a fresh local
cloud each time, the floor beside it), and every timed figure is reported as the median of its runs with min and
max (``bench_stats.FIGURES`` lists them). ``--quick`` is the developer loop: cold, floor and endpoint once, the
endpoint measured three times with fewer requests, in ``reports/bench-quick``.

Results go to ``reports/bench/bench.json`` (machine-readable, the same keys on every run: ``figures`` holds every
timed figure, measured or ``null``) and ``bench.md`` (a table). The machine's load average (1, 5, 15 minutes) and
CPU count are recorded at start and end, and with each run: other work on a 2-core box slows every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_canary import bench_run as canary_run
from bench_endpoint import FULL, QUICK, bench_endpoint, holdout_rows
from bench_soak import Plan as SoakPlan
from bench_soak import bench_run as soak_run
from bench_stats import figures, repeated
from bench_targets import CONTEXT, notes, table, verdicts
from bench_tools import PeakRss, client, floor_main, run_floor, state_durations

LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("cold", "floor", "warm", "endpoint", "scale", "canary", "soak")
#: the warm run replaces the cold run's model all at once and keeps no old fleet waiting (the canary section
#: measures guarded updates; their baking is a wait the parameters ask for, not work)
WARM_DEPLOYMENT = ("deployment=all_at_once", "termination_wait_seconds=0")
QUICK_SECTIONS = ("cold", "floor", "endpoint")
SECTION_TEXT = {
    "cold": "retrain run, starting its own local cloud",
    "floor": "one process, no orchestration",
    "warm": "a second retrain run on the running local cloud (an update with no baking)",
    "endpoint": "latency and throughput of InvokeEndpoint",
    "scale": "retrain run on generated data, each size on a fresh local cloud",
    "canary": "a guarded update under a fixed-rate client, then a broken one rolled back",
    "soak": "scheduled retrains back to back on one local cloud, which must stay flat",
}

#: the workflow's time limit in the scale runs (params/local.yaml's 900 s is for the default data; a loaded 2-core
#: machine takes longer than that for 5M rows)
SCALE_TIMEOUT_S = 3600


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _loads() -> list[float]:
    """The load average over 1, 5 and 15 minutes."""
    return [round(value, 2) for value in os.getloadavg()]


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine since boot (Linux), or None."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _venv_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def run_pipeline(port: int, out: Path, home: Path, *overrides: str) -> dict[str, Any]:
    """``retrain run --keep-cloud`` on the local target (port ``port``, cloud state in ``home``).

    Returns wall time, the run's summary and the peak RSS summed over every process of the run (the runner, its
    kernels, the local cloud and what it started: Spark, training, Lambda runtimes).
    """
    cmd = [_venv_bin("retrain"), "run", "--keep-cloud", "--params", str(ROOT / "params" / "local.yaml"),
           "--out", str(out), "-p", f"localcloud_port={port}", "-p", "keep_endpoint=true"]
    for item in overrides:
        cmd += ["-p", item]
    env = {**os.environ, "LOCALCLOUD_HOME": str(home), "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    load_before = _load()
    ticks = _cpu_ticks()
    t0 = time.perf_counter()
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        cloud: list[int] = []  # the cloud's process, once it answers (asked once, not on every sample)

        def roots() -> list[int]:
            if not cloud:
                cloud.extend(_cloud_pid(port))
            return [proc.pid, *cloud]

        with PeakRss(roots) as rss:
            stdout, stderr = proc.communicate()
        rss.sample()  # the cloud and what it keeps running once more
    elapsed = time.perf_counter() - t0
    after = _cpu_ticks()
    busy = round(100 * (after[0] - ticks[0]) / max(1, after[1] - ticks[1]), 1) if ticks and after else None
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if proc.returncode != 0:
        raise RuntimeError(f"retrain run exited {proc.returncode}:\n{stdout[-2000:]}\n{stderr[-2000:]}")
    return {"total_s": round(elapsed, 3), "summary": summary, "peak_rss_bytes": rss.peak_bytes, "cpu_s": rss.cpu_s,
            "load_before": load_before, "load_after": _load(), "cpu_busy_pct": busy}


def _cloud_pid(port: int) -> list[int]:
    import localcloud

    info = localcloud.health(port, timeout=0.5)
    return [int(info["pid"])] if info else []


def _stop_cloud(port: int, home: Path) -> float:
    import localcloud

    t0 = time.perf_counter()
    localcloud.stop(port, home=home)
    return round(time.perf_counter() - t0, 3)


def describe_run(port: int, run: dict[str, Any]) -> dict[str, Any]:
    """Wall time, per-notebook and per-state seconds of one ``retrain run``."""
    summary = run["summary"]
    execution = summary.get("execution") or {}
    states = state_durations(client(port, "stepfunctions"), execution["arn"]) if execution.get("arn") else {}
    return {
        "total_s": run["total_s"],
        "status": summary.get("status"),
        "execution_s": execution.get("duration_s"),
        "notebooks_s": {nb["name"]: nb["duration_s"] for nb in summary.get("notebooks", [])},
        "states_s": states,
        "peak_rss_gb": round(run["peak_rss_bytes"] / 1e9, 3),
        "cpu_s": run.get("cpu_s"),  # CPU seconds of every process of the run: less sensitive to others' load
        "load_avg": [run["load_before"], run["load_after"]],
        "cpu_busy_pct": run["cpu_busy_pct"],  # of all cores of the machine, anyone's work included
    }


# ------------------------------------------------------------------------------------------------ main


def _scale_data(out: Path, rows: int, seed: int) -> Path:
    from retrain.data import generate, write_csv

    data = out / "data" / f"churn-{rows}-{seed}.csv"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        write_csv(generate(rows, seed), data)
    return data


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python bench/bench.py", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="where bench.json and bench.md go (default reports/bench, with --quick reports/bench-quick)")
    parser.add_argument("--port", type=int, default=4599, help="port of the local cloud the bench runs")
    parser.add_argument("--only", default=None,
                        help=f"sections to run, comma-separated (default all: {','.join(SECTIONS)}; with --quick "
                             f"{','.join(QUICK_SECTIONS)}); warm and endpoint need cold")
    parser.add_argument("--scale", default="100000,1000000,5000000", help="row counts for the scale runs")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs of each section; every figure is their median, with min and max (default 3, "
                             "with --quick 1)")
    parser.add_argument("--soak-runs", type=int, default=SoakPlan().runs,
                        help="scheduled executions of the soak section (default %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="the developer loop: cold, floor and endpoint once, the endpoint measured 3 times "
                             "with fewer requests")
    args = parser.parse_args(argv)
    args.only = args.only or ",".join(QUICK_SECTIONS if args.quick else SECTIONS)
    args.repeat = max(1, args.repeat or (1 if args.quick else 3))
    args.out = (args.out or ROOT / "reports" / ("bench-quick" if args.quick else "bench")).resolve()
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if sections & {"warm", "endpoint"} and "cold" not in sections:
        parser.error("warm and endpoint run on the local cloud of the cold run: add cold to --only")
    args.sections = sorted(sections, key=SECTIONS.index)
    return args


class Bench:
    """One ``make bench``: the sections' runs, repeated, and what failed."""

    def __init__(self, args: argparse.Namespace) -> None:
        from retrain.config import load_params

        self.args = args
        self.out: Path = args.out
        self.home = self.out / "localcloud"
        self.params = load_params(ROOT / "params" / "local.yaml")
        self.runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
        self.errors: dict[str, list[str]] = {}

    def attempt(self, name: str, work: Any) -> Any:
        """Run one piece of a section; a failure is recorded (the exit code becomes 1) and None returned."""
        try:
            return work()
        except Exception as exc:  # noqa: BLE001 - the report says which section failed and why
            LOG.exception("the %s section failed", name)
            self.errors.setdefault(name, []).append(f"{type(exc).__name__}: {exc}"[:2000])
            return None

    def fresh_cloud(self) -> None:
        """No local cloud on the port and no state, logs or work folders of an earlier run: cold means cold."""
        _stop_cloud(self.args.port, self.home)
        shutil.rmtree(self.home, ignore_errors=True)

    def repetition(self, index: int) -> None:
        """One run of each section but scale: the canary, a cold run, its warm run and endpoint on its cloud, the
        floor."""
        args = self.args
        label = f"({index + 1} of {args.repeat})" if args.repeat > 1 else ""
        suffix = f"-{index + 1}" if args.repeat > 1 else ""
        cold_run: dict[str, Any] | None = None
        if "canary" in args.sections:  # first, on a cloud of its own, while no other local cloud runs
            LOG.info("canary %s: %s", label, SECTION_TEXT["canary"])
            self.fresh_cloud()
            run = self.attempt("canary", lambda: canary_run(self.out / f"canary{suffix}"))
            if run is not None:
                self.runs["canary"].append(run)
        if "cold" in args.sections:
            LOG.info("cold %s: %s", label, SECTION_TEXT["cold"])
            self.fresh_cloud()
            cold_run = self.attempt("cold", lambda: run_pipeline(args.port, self.out / f"cold{suffix}", self.home))
            if cold_run is not None:
                self.runs["cold"].append(self.attempt("cold", lambda: describe_run(args.port, cold_run)) or {})
        if "floor" in args.sections:
            LOG.info("floor %s: %s", label, SECTION_TEXT["floor"])
            floor = self.attempt("floor", lambda: run_floor(ROOT, ROOT / self.params.data_path,
                                                           dict(self.params.hyperparameters)))
            if floor is not None:
                self.runs["floor"].append(floor)
                if cold_run is not None and self.runs["cold"] and "total_s" in self.runs["cold"][-1]:
                    cold = self.runs["cold"][-1]
                    cold["ratio_to_floor"] = round(cold["total_s"] / floor["total_s"], 2)
                    if cold.get("cpu_s") and floor.get("cpu_s"):
                        cold["cpu_ratio_to_floor"] = round(cold["cpu_s"] / floor["cpu_s"], 2)
        if cold_run is None:
            for name in ("warm", "endpoint"):
                if name in args.sections:
                    self.errors.setdefault(name, []).append("the cold run failed, so there is no local cloud")
            return
        self.on_cloud(cold_run, suffix)

    def on_cloud(self, cold_run: dict[str, Any], suffix: str) -> None:
        """The warm run and the endpoint measurements on the cold run's cloud."""
        args = self.args
        if "warm" in args.sections:
            LOG.info("warm: %s", SECTION_TEXT["warm"])
            run = self.attempt("warm", lambda: describe_run(args.port, run_pipeline(
                args.port, self.out / f"warm{suffix}", self.home, *WARM_DEPLOYMENT)))
            if run is not None:
                run["run_s"] = run.pop("total_s")
                self.runs["warm"].append(run)
        if "endpoint" in args.sections:
            data = cold_run["summary"].get("data") or {}
            # the run's validation split: named in the summary, or the ETL's validation/ below its data prefix
            validation_uri = data.get("validation_uri") or (f"{data['DataPrefix']}validation/"
                                                            if data.get("DataPrefix") else None)
            rows = self.attempt("endpoint", lambda: holdout_rows(client(args.port, "s3"), validation_uri))
            for _ in range(3 if args.quick else 1) if rows else ():
                LOG.info("endpoint: %s", SECTION_TEXT["endpoint"])
                measured = self.attempt("endpoint", lambda: bench_endpoint(
                    args.port, self.params.endpoint_name, rows, QUICK if args.quick else FULL))
                if measured is not None:
                    self.runs["endpoint"].append(measured)

    def results(self) -> dict[str, Any]:
        """Each section's medians and runs (or its error), and every figure's median, min and max."""
        results: dict[str, Any] = {}
        for name in SECTIONS:
            if name == "scale" or name not in self.args.sections:
                continue
            if self.runs[name]:
                results[name] = repeated(self.runs[name])
            elif name in self.errors:
                results[name] = {"error": self.errors[name][0]}
            if name in self.errors and self.runs[name]:
                results[name]["errors"] = self.errors[name]
        return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["floor"]:  # the floor's own process (see run_floor)
        floor_main(argv[1], argv[2])
        return 0
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    bench = Bench(args)
    started = {"load_avg": _loads(), "cpus": os.cpu_count()}
    began = time.perf_counter()
    try:
        for index in range(args.repeat):
            bench.repetition(index)
        scale = bench_scale(bench) if "scale" in args.sections else None
        if "soak" in args.sections:  # once, on a cloud of its own
            LOG.info("soak: %s (%d runs)", SECTION_TEXT["soak"], args.soak_runs)
            run = bench.attempt("soak", lambda: soak_run(args.out / "soak", SoakPlan(runs=args.soak_runs)))
            if run is not None:
                bench.runs["soak"].append(run)
    finally:
        bench.fresh_cloud()
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": started["cpus"], "platform": platform.platform(),
                    "load_avg_at_start": started["load_avg"], "load_avg_at_end": _loads(),
                    "cpus_at_end": os.cpu_count()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - (time.perf_counter() - began))),
        "mode": "quick" if args.quick else "full",
        "repeat": args.repeat,
        "sections": args.sections,
        **bench.results(),
    }
    if scale is not None:
        results["scale"] = scale
    results["bench_s"] = round(time.perf_counter() - began, 1)
    results["figures"] = figures(results)
    return report(results, args.out, failed=sorted(bench.errors))


def report(results: dict[str, Any], out: Path, failed: list[str]) -> int:
    """Write bench.json and bench.md, print the table; 1 when a section failed."""
    rows = verdicts(results)
    results["targets"] = rows
    results["notes"] = notes(rows)
    text = table(rows, {name: results["figures"].get(name) for name in CONTEXT})
    machine = results["machine"]
    load = (f"load average (1, 5, 15 min) {machine['load_avg_at_start']} at start, {machine['load_avg_at_end']} at "
            f"end, {machine['cpus']} cpus; {results['mode']} bench, {results['repeat']} run(s) of each section")
    explained = "".join(f"\n\n{note}" for note in results["notes"])
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out / "bench.md").write_text(f"{text}\n\n{load}; bench took {results['bench_s']} s{explained}\n")
    print(text)
    print(f"\n{load}; bench took {results['bench_s']} s{explained}\n\nwrote {out / 'bench.json'} and "
          f"{out / 'bench.md'}")
    if failed:
        print(f"FAILED sections: {', '.join(failed)} (their errors are in bench.json)", file=sys.stderr)
        return 1
    return 0


def bench_scale(bench: Bench) -> dict[str, Any]:
    """``retrain run`` on generated data of each size, each run on a freshly started local cloud; the ratios
    1M ÷ 100k and 5M ÷ 1M pairwise per repetition."""
    args, scale = bench.args, {}
    for rows in [int(r) for r in args.scale.split(",") if r.strip()]:
        data = _scale_data(bench.out, rows, bench.params.seed)
        runs = []
        for index in range(args.repeat):
            LOG.info("scale: %d rows (%d of %d)", rows, index + 1, args.repeat)
            bench.fresh_cloud()
            run = bench.attempt("scale", lambda d=data, n=rows: describe_run(args.port, run_pipeline(
                args.port, bench.out / f"scale-{n}", bench.home, f"data_path={d}",
                f"execution_timeout_seconds={SCALE_TIMEOUT_S}")))
            if run is not None:
                run["stop_s"] = _stop_cloud(args.port, bench.home)
                runs.append(run)
        if runs:
            scale[str(rows)] = repeated(runs)
    ratios: list[dict[str, Any]] = []
    for big, small, name in (("1000000", "100000", "ratio_1m_to_100k"), ("5000000", "1000000", "ratio_5m_to_1m")):
        if big in scale and small in scale:
            pairs = zip(scale[big]["runs"], scale[small]["runs"], strict=False)
            for index, (run_big, run_small) in enumerate(pairs):
                if index == len(ratios):
                    ratios.append({})
                ratios[index][name] = round(run_big["total_s"] / run_small["total_s"], 2)
                if run_big.get("cpu_s") and run_small.get("cpu_s"):
                    ratios[index][f"cpu_{name}"] = round(run_big["cpu_s"] / run_small["cpu_s"], 2)
    if ratios:
        scale.update(repeated(ratios))
    if "scale" in bench.errors:
        if not scale:
            return {"error": bench.errors["scale"][0]}
        scale["errors"] = bench.errors["scale"]  # the runs that failed (a size with none is not in the results)
    return scale


if __name__ == "__main__":
    sys.exit(main())
