"""Bad data through the project's Glue job (code/glue_etl.py with the job definition and arguments the pipeline
uses) on the session's local cloud: each run fails with a message naming the column or row, quickly, and writes
nothing (no train/validation split, no features.json) that a later step could pick up.

The full pipeline with bad data (exit code 1, the serving endpoint untouched) is in test_pipeline_faults.py.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from rel_helpers import ANSWER_WITHIN_S, FINAL_GLUE, ROOT, churn_csv, set_field, unique, wait_for

from retrain.config import load_params
from retrain.resources import Layout, glue_job_spec, upload_etl_code
from retrain.workflow import execution_names, glue_arguments

pytestmark = pytest.mark.slow  # one Spark start (the warm worker), then a few seconds per case
MAX_MESSAGE = 2000


def _drop_column(text: str, column: str) -> str:
    rows = [line.split(",") for line in text.splitlines()]
    index = rows[0].index(column)
    return "\n".join(",".join(r[:index] + r[index + 1:]) for r in rows) + "\n"


def _ragged(text: str, row: int) -> str:
    lines = text.splitlines()
    lines[row + 1] += ",surplus"
    return "\n".join(lines) + "\n"


GOOD = churn_csv(rows=80, seed=11)
HEADER = GOOD.splitlines()[0] + "\n"

#: the input's shape is wrong (nothing written) or a data check failed (only data_report.json written)
SHAPE, CHECK = "InputDataError", "DataCheckFailed"
# name -> (input_format, file content, words the error message must hold)
CASES: dict[str, tuple[str, str, list[str]]] = {
    "empty file": ("raw", "", ["is empty"]),
    "header only": ("raw", HEADER, ["no data rows"]),
    "wrong columns": ("raw", _drop_column(GOOD, "Churn?"), ["lacks the column(s) 'Churn?'"]),
    "unknown label values": ("raw", set_field(GOOD, 5, "Churn?", "Maybe."),
                             ["column 'Churn?'", "unknown label value", "'Maybe.' (1 row)"]),
    "non-numeric values": ("raw", set_field(set_field(GOOD, 3, "Day Mins", "lots"), 9, "Day Mins", "n/a"),
                           ["column 'Day Mins'", "2 rows", "non-numeric", "'lots'"]),
    "unknown category": ("raw", set_field(GOOD, 2, "State", "ZZ"),
                         ["column 'State'", "does not know", "'ZZ' (1 row)"]),
    "ragged row": ("raw", _ragged(GOOD, 7), ["1 row", "ragged", "surplus"]),
    "huge field": ("raw", set_field(GOOD, 4, "State", "X" * 2_000_000), ["column 'State'", "does not know"]),
    "raw data read as prepared": ("prepared", GOOD, ["column 'Churn?'", "label other than 0 or 1",
                                                     "use --INPUT_FORMAT raw"]),
}


@pytest.fixture(scope="module")
def etl(rel: dict[str, Any]) -> dict[str, Any]:
    """The project's ETL job (its script and definition) in the session's bucket."""
    params = load_params(ROOT / "params" / "local.yaml", {"project_name": unique("reldata")})
    script, modules = upload_etl_code(rel["s3"], ROOT / "code", Layout(rel["bucket"], params.project_name))
    rel["glue"].create_job(Name=params.glue_job_name, **glue_job_spec(params, rel["roles"]["glue"], script, modules))
    return {"params": params}


def _run(rel: dict[str, Any], etl: dict[str, Any], content: str, input_format: str) -> dict[str, Any]:
    params = etl["params"]
    params.input_format = input_format
    layout = Layout(rel["bucket"], f"{params.project_name}/{unique('case')}")
    rel["s3"].put_object(Bucket=rel["bucket"], Key=layout.data_key, Body=content.encode())
    glue = rel["glue"]
    names = execution_names(params, "run", layout)  # the run writes under <project>/runs/run/
    arguments = glue_arguments(params, layout, names, "none")  # "none": no model serves, so no drift check
    run_id = glue.start_job_run(JobName=params.glue_job_name, Arguments=arguments)["JobRunId"]
    run = wait_for(lambda: (r := glue.get_job_run(JobName=params.glue_job_name, RunId=run_id)["JobRun"])
                   ["JobRunState"] in FINAL_GLUE and r, limit=300, every=0.2, what="the end of the run")
    left = rel["s3"].list_objects_v2(Bucket=rel["bucket"], Prefix=layout.key("")).get("Contents", [])
    run["left"] = sorted(o["Key"][len(layout.key("")):] for o in left)
    return run


def test_good_data_passes(rel: dict[str, Any], etl: dict[str, Any]) -> None:
    """The control case (it also starts the warm Spark worker the cases below reuse)."""
    run = _run(rel, etl, GOOD, "raw")
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert "runs/run/features.json" in run["left"] and any(k.startswith("runs/run/train/") for k in run["left"])


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_fails_the_etl_naming_the_problem(rel: dict[str, Any], etl: dict[str, Any], case: str) -> None:
    input_format, content, words = CASES[case]
    began = time.monotonic()
    run = _run(rel, etl, content, input_format)
    took = time.monotonic() - began
    assert run["JobRunState"] == "FAILED"
    message = run["ErrorMessage"]
    checked = "DataCheckFailed:" in message
    assert checked or "InputDataError:" in message, message[:MAX_MESSAGE]
    for word in words:
        assert word in message, message[:MAX_MESSAGE]
    assert len(message) <= MAX_MESSAGE, f"the message is {len(message)} characters long: {message[:300]}..."
    # nothing a training job could read: at most the data check's report
    assert run["left"] == ["data/customer-churn.csv", *(["runs/run/data_report.json"] if checked else [])], run["left"]
    assert took < ANSWER_WITHIN_S, f"answered after {took:.0f} s"
