"""Safe deployment measured (issue 16): the project's guarded update — the workflow's own deploy branch, with
``deployment: canary`` and the project's auto-rollback alarms — on a local cloud whose monitoring clock runs 10 times
faster (``LOCALCLOUD_MONITORING_TIME_SCALE=0.1``), while a client invokes the endpoint at a fixed rate
(``bench/bench_canary.py``, also ``make bench``'s ``canary`` section):

- a good candidate: no request fails; the old model answers, then the canary's share goes to the new one, then all;
- a broken candidate (a model whose server answers 500): the 5xx alarm rolls it back within the alarm's period (plus
  the one-second metric datapoints and the evaluation ticks), the workflow fails with SageMaker's FailureReason, the old model answers every request the
  canary did not get, before and after.

The share of traffic each fleet served over time is drawn into ``reports/test-artifacts/canary/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rel_helpers import free_port

from bench_canary import Plan, measure, start_cloud

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "reports" / "test-artifacts" / "canary"


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import localcloud

    port, home = free_port(), tmp_path_factory.mktemp("canary-cloud")
    url = start_cloud(port, home, Plan().time_scale)
    try:
        return measure(url, ARTIFACTS, Plan())
    finally:
        localcloud.stop(port, home=home)


@pytest.mark.slow
def test_a_canary_update_fails_no_request_and_shifts_the_stated_share(measured: dict[str, Any]) -> None:
    canary = measured["canary"]
    assert canary["status"] == "SUCCEEDED"
    assert (canary["failed"], canary["other"]) == (0, 0), "a request failed or got a third model's answer"
    assert canary["old"] > 0 and canary["new"] > 0
    # SageMaker's stages as DescribeEndpoint showed them ("Events that Amazon SageMaker sends to Amazon
    # EventBridge": the baking messages), the canary first, then full capacity, then InService on the new config
    stages = [stage for _, status, stage in canary["stages"] if status == "Updating"]
    assert any("(WaitIntervalInSeconds) with traffic enabled on canary capacity" in s for s in stages), stages
    assert any("(TerminationWaitInSeconds) with traffic enabled on full capacity" in s for s in stages), stages
    # while the canary baked, about canary_percent (20) of the requests went to the new fleet ("Use canary
    # traffic shifting"); a generous band: ~300 requests at 50/s, fewer on a busy machine
    assert canary["canary_requests"] >= 100
    assert 0.08 <= canary["canary_share_new"] <= 0.35, canary["canary_share_new"]
    assert canary["after_update"] == ["new"]


@pytest.mark.slow
def test_a_broken_candidate_is_rolled_back_by_the_alarm_and_the_old_model_serves_throughout(
        measured: dict[str, Any]) -> None:
    rollback = measured["rollback"]
    endpoint = measured["endpoint"]
    # the workflow reports the rollback: Endpoint Deploy Failed with DescribeEndpoint's FailureReason
    assert (rollback["status"], rollback["error"]) == ("FAILED", "EndpointDeployFailed")
    assert rollback["cause"] == ("Deployment was rolled back because CloudWatch alarm(s) in the auto-rollback "
                                 f"configuration went into ALARM state: {endpoint}-5xx-errors.")
    assert rollback["failed"] > 0, "the canary's requests should have failed (its model server answers 500)"
    assert rollback["new"] == 0 and rollback["other"] == 0  # the broken model never answered a score
    assert rollback["old"] > rollback["failed"]
    assert rollback["failed_after_rollback"] == 0 and rollback["answered_after_rollback"] == ["old"]
    # within one alarm period (10 s at 1/10: 1 s) plus a one-second metric datapoint, one tick of localcloud's
    # alarm evaluator and one of the deployment's alarm check (docs/deployment-guardrails.md, "Where localcloud
    # differs from AWS": a rollback follows the first breaching datapoint within about one period and a tick)
    assert rollback["within_period_and_ticks"], (rollback["rollback_s"], rollback["rollback_bound_s"])


@pytest.mark.slow
def test_the_share_of_traffic_over_time_is_drawn(measured: dict[str, Any]) -> None:
    picture = Path(measured["plot"])
    assert picture.is_file() and picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(measured["series"]).is_file()
