"""``make bench``: how fast the local target is, against the targets the project holds itself to.

One run measures, on this machine (``python bench/bench.py --help`` for the options):

* ``cold``: ``retrain run`` end to end on the default data, the local cloud started by the run itself (time per
  notebook and per workflow state);
* ``floor``: one fresh Python process doing the same Spark ETL (the project's Glue script, with the Spark settings
  of the local Glue worker), XGBoost training and a prediction with no orchestration; and the ratio cold/floor;
* ``warm``: a second ``retrain run`` on the running local cloud, whose execution re-runs the workflow with a warm
  Spark worker, training process and model server;
* ``endpoint``: single-row InvokeEndpoint latency over plain HTTP and through boto3, requests/s with 4 concurrent
  clients, rows/s for 1,000-row CSV batches, each against in-process prediction of the same rows;
* ``scale``: ``retrain run`` on 100k and 1M generated rows: wall time and peak RSS of all its processes.

Results go to ``reports/bench/bench.json`` (machine-readable, comparable between runs) and ``bench.md`` (a table).
The machine's load average is recorded with each section: other work on a 2-core box slows every figure.
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

from bench_endpoint import bench_endpoint, holdout_rows
from bench_tools import PeakRss, client, floor_main, run_floor, state_durations

LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("cold", "floor", "warm", "endpoint", "scale")
SECTION_TEXT = {
    "cold": "retrain run, starting its own local cloud",
    "floor": "one process, no orchestration",
    "warm": "a second retrain run on the running local cloud",
    "endpoint": "latency and throughput of InvokeEndpoint",
    "scale": "retrain run on generated data, each size on a fresh local cloud",
}

#: target name → (comparison, value, unit); checked by :func:`verdicts`.
TARGETS: dict[str, tuple[str, float, str]] = {
    "cold.total_s": ("<=", 25.0, "s"),
    "cold.ratio_to_floor": ("<=", 2.0, "x"),
    "warm.execution_s": ("<=", 5.0, "s"),
    "endpoint.http_p50_ms": ("<=", 2.0, "ms"),
    "endpoint.concurrent_rps": (">=", 1000.0, "req/s"),
    "endpoint.batch_rows_per_s": (">=", 200_000.0, "rows/s"),
    "endpoint.batch_vs_inprocess": ("<=", 1.5, "x"),
    "scale.1000000.total_s": ("<=", 180.0, "s"),
    "scale.1000000.peak_rss_gb": ("<=", 6.0, "GB"),
    "scale.ratio_1m_to_100k": ("<=", 12.0, "x"),
}
#: figures shown under the targets for context (not judged)
CONTEXT = ("floor.total_s", "cold.cpu_busy_pct", "warm.run_s", "endpoint.http_p99_ms", "endpoint.boto3_p50_ms",
           "endpoint.inprocess_csv_rows_per_s", "endpoint.inprocess_predict_rows_per_s",
           "endpoint.batch_vs_predict_only", "scale.100000.total_s", "scale.100000.peak_rss_gb")


#: why a target that this machine cannot meet is missed (printed under the table when it is)
NOTES: dict[str, str] = {
    "cold.ratio_to_floor": (
        "A run does work the floor does not: five notebooks, each in a fresh kernel of its own that imports the "
        "SDKs (sagemaker, stepfunctions, boto3: 1.5-3 s of CPU per kernel), dozens of API calls (IAM roles, S3 "
        "uploads, the Glue job, the Lambda function, the state machine, the model, the endpoint), the workflow's "
        "1 s Wait before it checks the endpoint, and the HTML reports. Kernels start ahead of their notebook and "
        "Spark starts with the cloud, so most of that overlaps, but on 2 cores it competes for CPU with Spark's "
        "own start (see cold.cpu_busy_pct): the chain of notebooks, not any one step, sets the time."),
}


def _load() -> float:
    return round(os.getloadavg()[0], 2)


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
        with PeakRss(lambda: [proc.pid, *_cloud_pid(port)]) as rss:
            stdout, stderr = proc.communicate()
    elapsed = time.perf_counter() - t0
    after = _cpu_ticks()
    busy = round(100 * (after[0] - ticks[0]) / max(1, after[1] - ticks[1]), 1) if ticks and after else None
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if proc.returncode != 0:
        raise RuntimeError(f"retrain run exited {proc.returncode}:\n{stdout[-2000:]}\n{stderr[-2000:]}")
    return {"total_s": round(elapsed, 3), "summary": summary, "peak_rss_bytes": rss.peak_bytes,
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
        "load_avg": [run["load_before"], run["load_after"]],
        "cpu_busy_pct": run["cpu_busy_pct"],  # of all cores of the machine, anyone's work included
    }


# ------------------------------------------------------------------------------------------------ report


def lookup(results: dict[str, Any], dotted: str) -> Any:
    """``results["a"]["b"]`` for ``"a.b"`` (keys may hold digits: ``scale.1000000.total_s``); None when absent."""
    node: Any = results
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: the measured value and whether it meets the target (None: not measured)."""
    rows = []
    for name, (op, target, unit) in TARGETS.items():
        value = lookup(results, name)
        met = None if value is None else (value <= target if op == "<=" else value >= target)
        rows.append({"metric": name, "target": f"{op} {target:g} {unit}", "value": value, "met": met})
    return rows


def notes(rows: list[dict[str, Any]]) -> list[str]:
    """The explanation of each missed target that has one."""
    return [f"{row['metric']} missed: {NOTES[row['metric']]}" for row in rows
            if row["met"] is False and row["metric"] in NOTES]


def table(rows: list[dict[str, Any]], context: dict[str, Any] | None = None) -> str:
    """The Markdown table of :func:`verdicts` (and the context figures, unjudged)."""
    lines = ["| metric | target | measured | met |", "|---|---|---|---|"]
    for row in rows:
        met = {True: "yes", False: "**no**", None: "not measured"}[row["met"]]
        value = "—" if row["value"] is None else f"{row['value']:g}"
        lines.append(f"| {row['metric']} | {row['target']} | {value} | {met} |")
    for name, value in (context or {}).items():
        if value is not None:
            lines.append(f"| {name} | (context) | {value:g} | |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main


def _scale_data(out: Path, rows: int, seed: int) -> Path:
    from retrain.data import generate, write_csv

    data = out / "data" / f"churn-{rows}-{seed}.csv"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        write_csv(generate(rows, seed), data)
    return data


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["floor"]:  # the floor's own process (see run_floor)
        floor_main(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser(prog="python bench/bench.py", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    parser.add_argument("--port", type=int, default=4599, help="port of the local cloud the bench runs")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"sections to run, comma-separated (default all: {','.join(SECTIONS)}); warm and "
                             "endpoint need cold")
    parser.add_argument("--scale", default="100000,1000000", help="row counts for the scale runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    from retrain.config import load_params

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if only & {"warm", "endpoint"} and "cold" not in only:
        parser.error("warm and endpoint run on the local cloud of the cold run: add cold to --only")
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    home = out / "localcloud"
    shutil.rmtree(home, ignore_errors=True)  # cold means cold: no state, logs or work folders of an earlier bench
    params = load_params(ROOT / "params" / "local.yaml")
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_avg_at_start": _load()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sections": sorted(only, key=SECTIONS.index),
    }
    began = time.perf_counter()
    _stop_cloud(args.port, home)
    failed: list[str] = []
    cold_run: dict[str, Any] = {}

    def section(name: str, work: Any) -> None:
        """Run one section; a failure is recorded (and makes the exit code 1) without stopping the others."""
        if name not in only:
            return
        LOG.info("%s: %s", name, SECTION_TEXT[name])
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - the report says which section failed and why
            LOG.exception("the %s section failed", name)
            failed.append(name)
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}

    def cold() -> None:
        cold_run.update(run_pipeline(args.port, out / "cold", home))
        results["cold"] = describe_run(args.port, cold_run)

    def floor() -> None:
        results["floor"] = run_floor(ROOT, ROOT / params.data_path, dict(params.hyperparameters))
        if "total_s" in results.get("cold", {}):
            results["cold"]["ratio_to_floor"] = round(results["cold"]["total_s"] / results["floor"]["total_s"], 2)

    def warm() -> None:
        if not cold_run:
            raise RuntimeError("the cold run failed, so there is no running local cloud to retrain on")
        run = describe_run(args.port, run_pipeline(args.port, out / "warm", home))
        run["run_s"] = run.pop("total_s")
        results["warm"] = run

    def endpoint() -> None:
        if not cold_run:
            raise RuntimeError("the cold run failed, so no endpoint was deployed")
        validation_uri = (cold_run["summary"].get("data") or {}).get("validation_uri")
        rows = holdout_rows(client(args.port, "s3"), validation_uri)
        results["endpoint"] = bench_endpoint(args.port, params.endpoint_name, rows)

    def scale() -> None:
        results["scale"] = bench_scale(args, out, home, params.seed)

    try:
        for name, work in (("cold", cold), ("floor", floor), ("warm", warm), ("endpoint", endpoint),
                           ("scale", scale)):
            section(name, work)
    finally:
        results["stop_s"] = _stop_cloud(args.port, home)
    results["bench_s"] = round(time.perf_counter() - began, 1)
    results["machine"]["load_avg_at_end"] = _load()
    rows = verdicts(results)
    results["targets"] = rows
    text = table(rows, {name: lookup(results, name) for name in CONTEXT})
    load = f"load average {results['machine']['load_avg_at_start']} at start, {results['machine']['load_avg_at_end']} " \
           f"at end, {results['machine']['cpus']} cpus"
    explained = "".join(f"\n\n{note}" for note in notes(rows))
    results["notes"] = notes(rows)
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out / "bench.md").write_text(f"{text}\n\n{load}; bench took {results['bench_s']} s{explained}\n")
    print(text)
    print(f"\n{load}; bench took {results['bench_s']} s{explained}\n\nwrote {out / 'bench.json'} and "
          f"{out / 'bench.md'}")
    if failed:
        print(f"FAILED sections: {', '.join(failed)} (their errors are in bench.json)", file=sys.stderr)
        return 1
    return 0


def bench_scale(args: argparse.Namespace, out: Path, home: Path, seed: int) -> dict[str, Any]:
    """``retrain run`` on generated data of each size, each on a freshly started local cloud."""
    scale: dict[str, Any] = {}
    for rows in [int(r) for r in args.scale.split(",") if r.strip()]:
        data = _scale_data(out, rows, seed)
        LOG.info("scale: %d rows", rows)
        _stop_cloud(args.port, home)
        run = run_pipeline(args.port, out / f"scale-{rows}", home, f"data_path={data}")
        scale[str(rows)] = describe_run(args.port, run)
        scale[str(rows)]["stop_s"] = _stop_cloud(args.port, home)
    if "100000" in scale and "1000000" in scale:
        scale["ratio_1m_to_100k"] = round(scale["1000000"]["total_s"] / scale["100000"]["total_s"], 2)
    return scale


if __name__ == "__main__":
    sys.exit(main())
