"""The benchmark's own logic: targets and verdicts, state durations from a history, peak RSS, the floor process,
and the `--keep-cloud` / Spark pre-warm behaviour of `retrain run` that the benchmark relies on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chain_helpers import LOCAL_PARAMS, free_port, summary

from bench import main
from bench_profile import _kernel_notebook, by_component, heaviest_imports
from bench_stats import FIGURES, figures, lookup, median_of, repeated, run_values
from bench_targets import NOTES, TARGETS, notes, table, verdicts
from bench_tools import PeakRss, durations_from_events

ROOT = Path(__file__).resolve().parents[2]


def test_verdicts_compare_each_target_in_its_direction() -> None:
    results = {"cold": {"total_s": 30.0, "ratio_to_floor": 1.5}, "endpoint": {"concurrent_rps": 1500.0},
               "scale": {"1000000": {"total_s": 100.0}}}
    rows = {r["metric"]: r for r in verdicts(results)}
    assert set(rows) == set(TARGETS)
    assert rows["cold.total_s"]["met"] is False and rows["cold.ratio_to_floor"]["met"] is True
    assert rows["endpoint.concurrent_rps"]["met"] is True  # ">=": more is better
    assert rows["scale.1000000.total_s"]["met"] is True  # digits in a dotted key
    assert rows["warm.execution_s"]["met"] is None and rows["warm.execution_s"]["value"] is None
    text = table(list(rows.values()), {"floor.total_s": 7.5, "missing": None})
    assert "| cold.total_s | <= 25 s | 30 |  | **no** |" in text
    assert "| warm.execution_s | <= 5 s | — |  | not measured |" in text
    assert "| floor.total_s | (context) | 7.5 |  | |" in text and "missing" not in text
    assert lookup(results, "cold.total_s.deeper") is None
    assert notes(list(rows.values())) == []  # the ratio was met: nothing to explain
    missed = verdicts({"cold": {"ratio_to_floor": 2.4}})
    assert notes(missed) == [f"cold.ratio_to_floor missed: {NOTES['cold.ratio_to_floor']}"]


def test_each_figure_is_the_median_of_its_runs_with_min_and_max() -> None:
    cold = repeated([{"total_s": 30.0, "notebooks_s": {"01": 2.0, "02": 5.0}, "status": "deployed"},
                     {"total_s": 24.0, "notebooks_s": {"01": 4.0, "02": 1.0}, "status": "deployed"},
                     {"total_s": 27.0, "notebooks_s": {"01": 3.0}, "status": "failed"}])
    assert cold["total_s"] == 27.0 and cold["notebooks_s"] == {"01": 3.0, "02": 3.0}  # key by key
    assert cold["status"] == "deployed" and len(cold["runs"]) == 3
    scale = {"1000000": repeated([{"total_s": 80.0}, {"total_s": 90.0}]),
             **repeated([{"ratio_1m_to_100k": 4.0}, {"ratio_1m_to_100k": 5.0}])}
    results = {"cold": cold, "floor": {"total_s": 9.0}, "scale": scale}
    assert run_values(results, "scale.1000000.total_s") == [80.0, 90.0]  # the deepest section with runs
    assert run_values(results, "scale.ratio_1m_to_100k") == [4.0, 5.0]
    assert run_values(results, "floor.total_s") == [9.0]  # measured once
    got = figures(results)
    assert set(got) == set(FIGURES)  # every figure, measured or not: runs compare key for key
    assert got["cold.total_s"] == {"median": 27.0, "min": 24.0, "max": 30.0, "runs": 3, "unit": "s"}
    assert got["scale.1000000.total_s"]["median"] == 85.0 and got["warm.run_s"] is None
    results["figures"] = got
    rows = {row["metric"]: row for row in verdicts(results)}
    assert rows["cold.total_s"]["value"] == 27.0 and (rows["cold.total_s"]["min"], rows["cold.total_s"]["max"]) == (
        24.0, 30.0)
    assert "| cold.total_s | <= 25 s | 27 | 24–30 (3) | **no** |" in table(list(rows.values()))
    assert set(TARGETS) <= set(FIGURES) and median_of([]) == {}


def test_quick_mode_runs_the_developer_loop_sections(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from bench import _arguments

    quick = _arguments(["--quick", "--out", str(tmp_path)])
    assert quick.sections == ["cold", "floor", "endpoint"] and quick.repeat == 1
    full = _arguments([])
    assert full.sections == ["cold", "floor", "warm", "endpoint", "scale", "canary", "soak"] and full.repeat == 3
    assert _arguments(["--only", "canary"]).sections == ["canary"]  # on a cloud of its own: no cold needed
    soak = _arguments(["--only", "soak", "--soak-runs", "5"])
    assert soak.sections == ["soak"] and soak.soak_runs == 5
    assert full.out.name == "bench" and _arguments(["--quick"]).out.name == "bench-quick"


def test_state_durations_sum_the_visits_of_each_state() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def event(kind: str, name: str, seconds: float) -> dict[str, object]:
        key = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
        return {"type": kind, "timestamp": t0 + timedelta(seconds=seconds), key: {"name": name}}

    events = [event("TaskStateEntered", "ETL", 0), event("TaskStateExited", "ETL", 2.5),
              event("WaitStateEntered", "Wait", 2.5), event("WaitStateExited", "Wait", 3.5),
              event("TaskStateEntered", "Describe", 3.5), event("TaskStateExited", "Describe", 3.6),
              event("WaitStateEntered", "Wait", 3.6), event("WaitStateExited", "Wait", 4.6),
              event("TaskStateEntered", "Never Left", 4.6), {"type": "ExecutionSucceeded", "timestamp": t0}]
    assert durations_from_events(events) == {"ETL": 2.5, "Wait": 2.0, "Describe": 0.1}


def _watch_a_child_running(script: str) -> PeakRss:
    """PeakRss of a process whose child (not itself) runs ``script``, watched until both end."""
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, "
                                                     f"'-c', {script!r}])"])
    try:
        with PeakRss(lambda: [parent.pid], interval=0.05) as rss:
            parent.wait(timeout=60)
    finally:
        parent.kill()
    return rss


def test_peak_rss_counts_the_children_of_a_process() -> None:
    rss = _watch_a_child_running("import time; block = bytearray(80 * 1024 * 1024); time.sleep(1.5)")
    assert rss.peak_bytes > 80 * 1024 * 1024


def test_peak_rss_also_sums_the_cpu_seconds_of_the_tree() -> None:
    script = "import time; t = time.process_time(); exec('while time.process_time() - t < 0.6: pass'); time.sleep(0.3)"
    rss = _watch_a_child_running(script)
    assert 0.6 <= rss.cpu_s < 5


def test_the_profile_puts_each_process_in_its_component() -> None:
    """Kernels are named after the notebooks in the order they started; a fork that has not exec'd yet (same
    command line as its parent) counts with its parent."""
    kernel = "python -m ipykernel_launcher -f /tmp/k{}.json"
    procs = [
        {"pid": 1, "ppid": 0, "cmd": "python retrain run --keep-cloud", "started": 100.0, "last_seen": 130.0, "cpu_s": 3.0},
        {"pid": 2, "ppid": 1, "cmd": "python -m localcloud serve --port 4599", "started": 100.5, "last_seen": 130.0,
         "cpu_s": 5.0},
        {"pid": 3, "ppid": 1, "cmd": kernel.format(1), "started": 101.0, "last_seen": 110.0, "cpu_s": 1.5},
        {"pid": 4, "ppid": 1, "cmd": kernel.format(2), "started": 102.0, "last_seen": 120.0, "cpu_s": 2.5},
        {"pid": 5, "ppid": 4, "cmd": kernel.format(2), "started": 105.0, "last_seen": 105.1, "cpu_s": 0.01},
        {"pid": 6, "ppid": 2, "cmd": "java -cp spark/jars/* org.apache.spark.deploy.SparkSubmit", "started": 101.0,
         "last_seen": 130.0, "cpu_s": 20.0},
        {"pid": 7, "ppid": 2, "cmd": "xgb/bin/python -m localcloud.core.childmain localcloud.images.builtin_xgboost.train 3 4",
         "started": 115.0, "last_seen": 118.0, "cpu_s": 1.0},
    ]
    rows = by_component(procs, ["01_setup_roles", "02_create_resources"], began=100.0)
    assert list(rows) == ["spark jvm (glue worker)", "local cloud server", "runner (retrain run)",
                          "kernel 02_create_resources", "kernel 01_setup_roles", "training job"]
    assert rows["kernel 02_create_resources"]["cpu_s"] == 2.51 and rows["kernel 02_create_resources"]["processes"] == 2
    assert (rows["training job"]["from_s"], rows["training job"]["to_s"]) == (15.0, 18.0)


def test_a_kernel_is_named_by_its_socket(tmp_path: Path) -> None:
    """retrain run gives each notebook's kernel local sockets named after the notebook (retrain.kernels.ipc_config)."""
    from retrain.kernels import ipc_config

    config = ipc_config(tmp_path, "03_build_workflow")
    connection = tmp_path / "kernel-1.json"
    connection.write_text(json.dumps({"transport": config.KernelManager.transport, "ip": config.KernelManager.ip}))
    assert _kernel_notebook(["python", "-m", "ipykernel_launcher", "-f", str(connection)]) == "03_build_workflow"
    assert _kernel_notebook(["python", "-m", "ipykernel_launcher", "-f", str(tmp_path / "gone.json")]) is None


def test_import_times_are_summed_per_top_level_package() -> None:
    text = ("import time: self [us] | cumulative | imported package\n"
            "import time:       100 |        100 |     botocore.utils\n"
            "import time:       200 |       1300 |   botocore\n"
            "import time:       500 |       2000 | boto3\n"
            "import time:       300 |     400000 | sagemaker\n")
    assert heaviest_imports(text) == {"sagemaker": 0.4, "boto3": 0.002}


def test_warm_and_endpoint_need_the_cold_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--only", "warm", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "add cold" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--only", "cold,nap", "--out", str(tmp_path)])
    assert "unknown section" in capsys.readouterr().err


@pytest.mark.slow
def test_the_floor_section_writes_json_and_a_table(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench.py"), "--only", "floor", "--out", str(tmp_path),
                           "--port", str(free_port()), "--repeat", "1"], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "bench.json").read_text())
    floor = results["floor"]
    assert floor["total_s"] > floor["inner_s"] > floor["etl_s"] > 0 and floor["train_s"] > 0
    assert results["sections"] == ["floor"] and results["repeat"] == 1
    assert {row["metric"] for row in results["targets"]} == set(TARGETS)
    assert set(results["figures"]) == set(FIGURES) and results["figures"]["floor.total_s"]["runs"] == 1
    assert len(results["machine"]["load_avg_at_start"]) == 3 and results["machine"]["cpus"]
    assert "| floor.total_s | (context) |" in (tmp_path / "bench.md").read_text()


@pytest.mark.slow
def test_keep_cloud_leaves_it_running_without_spark_for_a_run_that_needs_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import localcloud
    from retrain.cli import main as cli

    home = tmp_path / "home"
    monkeypatch.setenv("LOCALCLOUD_HOME", str(home))
    port = free_port()
    try:
        code = cli(["run", "--params", str(LOCAL_PARAMS), "--out", str(tmp_path / "out"), "--only", "01",
                    "--keep-cloud", "-p", f"localcloud_port={port}", "-p", "project_name=bench-keep"])
        assert code == 0 and summary(tmp_path / "out")["status"] == "partial"
        info = localcloud.health(port)
        assert info is not None, "--keep-cloud stopped the cloud"
        assert info["services"]["Glue"]["workers"] == []  # 04 does not run: no Spark started for nothing
    finally:
        localcloud.stop(port, home=home)
    assert localcloud.health(port) is None


@pytest.mark.slow
def test_a_cloud_started_with_glue_prewarm_starts_spark_at_once(tmp_path: Path) -> None:
    import localcloud

    port = free_port()
    try:
        localcloud.ensure_running(port, home=tmp_path, prewarm=("glue",))
        deadline = time.monotonic() + 300
        workers: list[dict[str, object]] = []
        while time.monotonic() < deadline and not workers:
            workers = (localcloud.health(port) or {}).get("services", {}).get("Glue", {}).get("workers", [])
            time.sleep(0.5)
        assert workers and workers[0]["alive"] and workers[0]["runs"] == 0  # ready, before any job exists
    finally:
        localcloud.stop(port, home=tmp_path)


def test_the_floor_runs_the_spark_of_the_local_glue_worker(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from bench_tools import FLOOR_JAVA_OPTIONS, FLOOR_SPARK_CONF
    from localcloud.core.context import ServerContext
    from localcloud.services.glue.spark import DEFAULT_JAVA_OPTIONS, spark_conf

    monkeypatch.delenv("LOCALCLOUD_GLUE_SHUFFLE_PARTITIONS", raising=False)
    monkeypatch.delenv("LOCALCLOUD_GLUE_DRIVER_MEMORY", raising=False)
    monkeypatch.delenv("LOCALCLOUD_GLUE_SPARK_MASTER", raising=False)
    worker = spark_conf(ServerContext(endpoint_url="http://127.0.0.1:1", home=tmp_path, port=1))
    assert FLOOR_JAVA_OPTIONS == DEFAULT_JAVA_OPTIONS
    assert {key: worker[key] for key in FLOOR_SPARK_CONF} == FLOOR_SPARK_CONF


def test_the_served_library_and_the_model_servers_own_steps_are_timed() -> None:
    """``bench_endpoint._served_predict`` times xgboost 1.7.4 in the image's environment and the model server's
    parse, predict and encode of the batch's body there: the answer to split a batch's time by."""
    import numpy as np

    import xgb17
    from bench_endpoint import _served_predict

    rng = np.random.default_rng(7)
    features = rng.integers(0, 5, size=(300, 4)).astype(float)
    model = xgb17.train_model(features, (features[:, 0] > 2).astype(float), {"objective": "binary:logistic"}, 5)
    body = "\n".join(",".join(f"{v:g}" for v in row) for row in features).encode()
    timed = _served_predict(model, features.astype(np.float32), body, 5)
    assert timed["xgboost"] == "1.7.4"
    server = timed["server"]
    assert set(server) == {"parse_s", "predict_s", "encode_s", "invoke_s"}
    assert all(value > 0 for value in server.values())
    assert server["invoke_s"] >= server["parse_s"]  # the invocation parses, predicts and encodes
