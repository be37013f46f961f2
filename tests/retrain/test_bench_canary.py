"""The canary measurement's own logic (``bench/bench_canary.py``): the deploy branch cut out of the workflow, the
share of traffic per time bin, and the rollback figures read from DescribeEndpoint's stages. The measurement itself
runs in tests/reliability/test_canary_measured.py."""

from __future__ import annotations

from bench_canary import Plan, canary_figures, deploy_fragment, rollback_figures, run_input, shares


def test_the_deploy_branch_is_every_state_reachable_from_create_endpoint_config() -> None:
    definition = {"StartAt": "Train", "States": {
        "Train": {"Type": "Task", "Next": "Create Endpoint Config"},
        "Create Endpoint Config": {"Type": "Task", "Next": "Exists?"},
        "Exists?": {"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "Update"}],
                    "Default": "Create"},
        "Create": {"Type": "Task", "Next": "Done", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}]},
        "Update": {"Type": "Task", "Next": "Done"},
        "Done": {"Type": "Succeed"}, "Failed": {"Type": "Fail"}, "Rejected": {"Type": "Fail"}}}
    fragment = deploy_fragment(definition)
    assert fragment["StartAt"] == "Create Endpoint Config"
    assert set(fragment["States"]) == {"Create Endpoint Config", "Exists?", "Create", "Update", "Done", "Failed"}
    names = {"EndpointName": "e", "EndpointConfigName": "c"}
    assert run_input(names) == {**names, "Run": names}


def test_shares_are_counted_per_bin_of_the_requests_sent_in_it() -> None:
    answers = [(0.0, "old"), (0.1, "old"), (0.3, "old"), (0.4, "new"), (0.45, "failed"), (0.9, "new")]
    bins = shares(answers, 0.0, 1.0, 0.25)
    assert [b["requests"] for b in bins] == [2, 3, 0, 1]
    assert bins[1] == {"t": 0.25, "requests": 3, "old": 0.333, "new": 0.333, "failed": 0.333, "other": 0.0}
    assert bins[2]["old"] is None and bins[3]["new"] == 1.0


def _result(answers: list[tuple[float, str]], stages: list[tuple[float, str, str]], status: str) -> dict:
    return {"answers": answers, "stages": stages, "began": 1.0, "ended": 5.0, "start": 0.0,
            "execution": {"status": status, "error": None, "cause": None}}


def test_rollback_time_runs_from_the_first_failure_to_in_service_after_the_update() -> None:
    stages = [(1.0, "InService", "old-config"), (1.5, "Updating", "Launching 1 instance(s)."),
              (2.0, "Updating", "Baking for 60 seconds (WaitIntervalInSeconds) with traffic enabled on canary"),
              (3.5, "InService", "old-config")]
    answers = [(1.9, "old"), (2.1, "failed"), (2.2, "old"), (3.0, "failed"), (3.6, "old"), (6.0, "old")]
    got = rollback_figures(_result(answers, stages, "FAILED"), Plan(time_scale=0.1), 10)
    assert got["rollback_s"] == 1.4 and got["alarm_period_s"] == 1.0 and got["evaluation_tick_s"] == 1.0
    assert got["rollback_bound_s"] == 1.0 + 1.0 + 2 * 1.0 and got["within_period_and_ticks"]
    assert (got["failed"], got["failed_after_rollback"], got["answered_after_rollback"]) == (2, 0, ["old"])
    good = canary_figures(_result(answers[:1] + [(2.5, "new"), (2.6, "old"), (5.5, "new")], stages, "SUCCEEDED"),
                          Plan())
    assert (good["canary_requests"], good["canary_share_new"], good["after_update"]) == (2, 0.5, ["new"])
