"""The soak's own logic (``bench/bench_soak.py``): firings of a rate schedule, the thirds compared, what counts as
a problem. The soak itself runs in tests/retrain/test_soak.py and ``make bench``."""

from __future__ import annotations

from pathlib import Path

from bench_soak import fired, flat, problems, thirds


def test_firings_are_counted_from_the_clocks_log(tmp_path: Path) -> None:
    arn = "arn:aws:scheduler:us-east-1:123456789012:schedule/p/p-retrain"
    log = tmp_path / "server.log"
    log.write_text(f"x INFO clock: schedule {arn} fires (scheduled t1)\n"
                   f"x INFO delivery: {arn} → machine: started execution-1\n"
                   f"x INFO clock: schedule {arn}-other fires (scheduled t1)\n"
                   f"x INFO clock: schedule {arn} fires (scheduled t2)\n")
    assert fired(log, arn) == 2


def _sample(t: float, processes: int, rss: float) -> dict[str, float]:
    return {"t": t, "processes": processes, "open_files": 100, "rss_mb": rss, "disk_mb": 1.0}


def test_the_last_third_is_compared_with_the_first() -> None:
    steady = [_sample(t, 8 if t % 2 else 9 + (t > 20) * 3, 1000 + t) for t in range(30)]  # busier late: peaks
    compared = thirds(steady)
    assert compared["processes"] == {"first": 8, "last": 8, "first_peak": 9, "last_peak": 12}
    assert compared["rss_mb"]["last"] == 1020 and compared["rss_mb"]["last_peak"] == 1029
    assert all(flat(compared).values())  # the floor did not move
    leaking = [_sample(t, 8 + t // 3, 1000 + 40 * t) for t in range(30)]
    grown = flat(thirds(leaking))
    assert not grown["processes"] and not grown["rss_mb"] and grown["open_files"]


def test_problems_name_failed_lost_and_grown() -> None:
    result = {"runs": 3, "fired": 4, "succeeded": 2, "statuses": {"a": "SUCCEEDED", "b": "FAILED"},
              "why": {"b": {"error": "States.TaskFailed"}}, "with_data_prefix": 3, "recorded": 2,
              "thirds": {"rss_mb": {"first": 1.0, "last": 9.0}}, "flat": {"rss_mb": False}}
    found = problems(result)
    assert "1 of 3 executions did not succeed" in found[0] and "States.TaskFailed" in found[0]
    assert found[1] == "3 executions for 4 schedule firings"
    assert found[2] == "only 2 of 3 runs have their record (retrain history)" and found[3].startswith("rss_mb grew")
