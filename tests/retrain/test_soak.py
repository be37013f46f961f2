"""The soak, small (issue 15 part 5; ``make bench``'s ``soak`` section runs more): notebooks 01-03 once with
``schedule: rate(1 minute)`` on a local cloud whose events clock runs four times faster (a firing every 15 s), on
600 generated rows; the schedule starts the real workflow three times; every execution succeeds with its own data
prefix and its record (``retrain history``), none is lost against the schedule's firings, and the cloud's
processes, open files, memory and disk are no higher in the last third of the soak than in the first
(``bench/bench_soak.py`` says how)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_soak import Plan, bench_run

pytestmark = pytest.mark.slow


def test_scheduled_retrains_back_to_back_leave_the_cloud_flat(tmp_path: Path) -> None:
    got = bench_run(tmp_path / "soak", Plan(runs=3, time_scale=0.25, sample_s=0.5, timeout_s=600))
    assert got["problems"] == [], got["problems"]
    assert got["runs"] >= 3 and got["succeeded"] == got["runs"] == got["fired"]
    assert got["details"]["with_data_prefix"] == got["runs"]
    assert got["recorded"] == got["runs"]  # each run's record.json: every run is in ``retrain history``
    assert len({p["prefix"] for p in got["details"]["prefixes"].values()}) == got["runs"]  # a prefix of its own
    assert got["details"]["samples"] >= 10 and got["flat"]
