"""Notifications and the history of unattended runs through the real pipeline, on a local cloud that enforces IAM.

`retrain run` (notebooks 01-04, so the workflow stays) deploys a first model and the webhook hears ``deployed``;
then the state machine is started as a schedule starts it (input ``{}``, no notebook): the gate asks the new model
to beat the champion by 0.5, so it is rejected, the webhook hears ``rejected`` with the gate's reason, and the
run's record — written by the workflow itself — is in ``retrain history``, marked as started by the schedule.
What a webhook receives: SNS developer guide, "HTTP/HTTPS notification JSON format".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from chain_helpers import LOCAL_PARAMS, free_port, state

from retrain.cli import main

pytestmark = pytest.mark.slow

PROJECT = "notify-e2e"


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import localcloud

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port, home = free_port(), tmp_path_factory.mktemp("localcloud")
    url, _ = localcloud.ensure_running(port, home=home, enforce_iam=True)
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
    yield {"port": port, "client": lambda name: session.client(name, endpoint_url=url),
           "hook": f"http://127.0.0.1:{server.server_address[1]}/notify", "received": _Hook.received}
    localcloud.stop(port, home=home)
    server.shutdown()


def _notice(received: list[dict[str, Any]], run_id: str, limit: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for body in received:
            if body.get("Type") == "Notification" and run_id in body.get("Subject", ""):
                return body
        time.sleep(0.2)
    raise AssertionError(f"no notification of run {run_id}: {received}")


def _state_output(sfn: Any, arn: str, name: str) -> dict[str, Any]:
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    exits = [e["stateExitedEventDetails"] for e in events
             if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == name]
    assert exits, f"{name} did not run"
    return dict(json.loads(exits[-1]["output"]))


def test_a_deployed_run_and_an_unattended_rejected_run_are_told_and_recorded(
        setup: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "first"
    code = main(["run", "--params", str(LOCAL_PARAMS), "--out", str(out), "--only", "01,02,03,04",
                 "-p", f"project_name={PROJECT}", "-p", f"localcloud_port={setup['port']}",
                 "-p", f"notify_webhook={setup['hook']}", "-p", "notify_events=[failed, rejected, deployed]",
                 "-p", "min_absolute_improvement=0.5", "-p", "deployment=all_at_once"])
    assert code == 0
    first = state(out)
    sfn = setup["client"]("stepfunctions")
    notice = _notice(setup["received"], first["run_id"])
    assert notice["Subject"] == f"{PROJECT}: run {first['run_id']} deployed"
    assert f"s3://{first['bucket']}/{PROJECT}/runs/{first['run_id']}/" in notice["Message"]
    recorded = _state_output(sfn, first["execution_arn"], "Record Deployed")
    assert "RecordError" not in recorded, recorded  # the gate's role may write the record (IAM enforced)

    # a schedule's execution: no RunId, no notebook
    arn = sfn.start_execution(stateMachineArn=first["state_machine_arn"], input="{}")["executionArn"]
    deadline = time.monotonic() + 600
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(1)
    assert described["status"] == "FAILED" and described["error"] == "ModelRejected"
    run_id = _state_output(sfn, arn, "Record Rejection")["Run"]["RunId"]
    notice = _notice(setup["received"], run_id)
    assert notice["Subject"] == f"{PROJECT}: run {run_id} rejected"
    assert described["cause"] in notice["Message"] and arn in notice["Message"]

    capsys.readouterr()
    assert main(["history", "--params", str(LOCAL_PARAMS), "-p", f"project_name={PROJECT}",
                 "-p", f"localcloud_port={setup['port']}"]) == 0
    listed = capsys.readouterr().out
    rows = {line.split()[0]: line for line in listed.splitlines()[1:]}
    assert "started by" in listed.splitlines()[0]
    assert "deployed" in rows[first["run_id"]] and "retrain run" in rows[first["run_id"]]
    assert "rejected" in rows[run_id] and "schedule" in rows[run_id]
    s3 = setup["client"]("s3")
    record = json.loads(s3.get_object(Bucket=first["bucket"],
                                      Key=f"{PROJECT}/runs/{run_id}/record.json")["Body"].read())
    assert record["recorded_by"] == "workflow" and record["started_by"] == "schedule"
    assert record["gate"]["decision"] == "reject" and record["gate"]["champion"] is not None
    first_record = json.loads(s3.get_object(Bucket=first["bucket"],
                                            Key=f"{PROJECT}/runs/{first['run_id']}/record.json")["Body"].read())
    assert first_record["recorded_by"] == "notebook 04"  # 04 replaced the workflow's record with its richer one
