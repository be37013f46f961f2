"""Distributed Map through boto3: items read from S3, results written to S3, the Map Run APIs, child executions.

Expectations are responses recorded on AWS (localstack ``tests/aws/services/stepfunctions/v2/scenarios/
test_base_scenarios.snapshot.json`` and ``test_sfn_api_map_run.snapshot.json``, named per test) and the developer
guide pages ItemReader (Map), ResultWriter (Map), Examining Map Runs.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from typing import Any

import pytest
from sfn_helpers import create_machine, ensure_role, history, wait_done, wait_for

CSV = "Col1,Col2,Col3\nValue1,Value2,Value3\nValue4,Value5,Value6\n,,,\ntrue,1,'HelloWorld'\nNull,None,\n   \n"


@pytest.fixture(scope="module")
def sfn(aws: Any) -> Any:
    return aws("stepfunctions")


@pytest.fixture(scope="module")
def role(aws: Any) -> str:
    return ensure_role(aws("iam"), "sfn-distributed-tests-role")


@pytest.fixture(scope="module")
def bucket(aws: Any) -> str:
    name = f"dmap-{uuid.uuid4().hex[:8]}"
    aws("s3").create_bucket(Bucket=name)
    return name


def _map(reader: dict[str, Any] | None = None, processor: dict[str, Any] | None = None,
         execution_type: str = "STANDARD", **fields: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Map",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
                          **(processor or {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})},
        "End": True, **fields}
    if reader is not None:
        state["ItemReader"] = reader
    return {"StartAt": "MapState", "States": {"MapState": state}}


def _reader(input_type: str | None, key: str = "$.Key", **config: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Resource": "arn:aws:states:::s3:getObject",
                           "Parameters": {"Bucket.$": "$.Bucket", "Key.$": key}}
    if input_type:
        out["ReaderConfig"] = {"InputType": input_type, **config}
    return out


def _run(sfn: Any, role: str, definition: dict[str, Any], input_value: Any) -> dict[str, Any]:
    arn = create_machine(sfn, role, definition)
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(input_value))
    described = wait_done(sfn, started["executionArn"])
    described["history"] = history(sfn, started["executionArn"])
    return described


def _types(described: dict[str, Any]) -> list[str]:
    return [e["type"] for e in described["history"]]


def test_csv_with_headers_from_the_first_row(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    # test_map_item_reader_base_csv_headers_first_line
    aws("s3").put_object(Bucket=bucket, Key="file.csv", Body=CSV)
    done = _run(sfn, role, _map(_reader("CSV", CSVHeaderLocation="FIRST_ROW"), MaxConcurrency=1),
                {"Bucket": bucket, "Key": "file.csv"})
    assert json.loads(done["output"]) == [
        {"Col1": "Value1", "Col2": "Value2", "Col3": "Value3"}, {"Col1": "Value4", "Col2": "Value5", "Col3": "Value6"},
        {"Col1": "", "Col2": "", "Col3": ""}, {"Col1": "true", "Col2": "1", "Col3": "'HelloWorld'"},
        {"Col1": "Null", "Col2": "None", "Col3": ""}, {"Col1": "   ", "Col2": "", "Col3": ""}]
    assert _types(done) == ["ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapRunStarted",
                            "MapRunSucceeded", "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    assert done["history"][2]["mapStateStartedEventDetails"] == {"length": 0}


def test_csv_with_given_headers_and_max_items(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    # test_map_item_reader_base_csv_headers_decl, test_map_item_reader_csv_headers_decl_extra_fields,
    # test_map_item_reader_csv_max_items[2]
    aws("s3").put_object(Bucket=bucket, Key="given.csv", Body="Value1,Value2,Value3\nValue4,Value5,Value6\n")
    done = _run(sfn, role, _map(_reader("CSV", CSVHeaderLocation="GIVEN", CSVHeaders=["H1"], MaxItems=1)),
                {"Bucket": bucket, "Key": "given.csv"})
    assert json.loads(done["output"]) == [{"H1": "Value1"}]


def test_reader_failures(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    # test_map_item_reader_csv_headers_decl_duplicate_headers, test_map_item_reader_json_no_json_list_object,
    # test_map_item_reader_csv_max_items_paths[-1] and [1.5]
    s3 = aws("s3")
    s3.put_object(Bucket=bucket, Key="dup.csv", Body="a,b\n")
    s3.put_object(Bucket=bucket, Key="object.json", Body='{"not": "a list"}')
    dup = _run(sfn, role, _map(_reader("CSV", CSVHeaderLocation="GIVEN", CSVHeaders=["H1", "H1", "H3"])),
               {"Bucket": bucket, "Key": "dup.csv"})
    assert (dup["error"], dup["cause"]) == ("States.ItemReaderFailed", "CSV headers cannot contain duplicates.")
    assert _types(dup)[-4:] == ["MapRunStarted", "MapRunFailed", "MapStateFailed", "ExecutionFailed"]
    assert dup["history"][-3]["mapRunFailedEventDetails"] == {
        "error": "States.ItemReaderFailed", "cause": "CSV headers cannot contain duplicates."}
    single = _run(sfn, role, _map(_reader("JSON")), {"Bucket": bucket, "Key": "object.json"})
    assert (single["error"], single["cause"]) == ("States.ItemReaderFailed",
                                                  "Attempting to map over non-iterable node.")
    negative = _run(sfn, role, _map(_reader("CSV", CSVHeaderLocation="FIRST_ROW", MaxItemsPath="$.MaxItems")),
                    {"Bucket": bucket, "Key": "dup.csv", "MaxItems": -1})
    assert (negative["error"], negative["cause"]) == ("States.ItemReaderFailed", "field MaxItems must be positive")
    fraction = _run(sfn, role, _map(_reader("CSV", CSVHeaderLocation="FIRST_ROW", MaxItemsPath="$.MaxItems")),
                    {"Bucket": bucket, "Key": "dup.csv", "MaxItems": 1.5})
    assert fraction["error"] == "States.Runtime" and "MapRunStarted" not in _types(fraction)
    assert fraction["cause"] == ("An error occurred while executing the state 'MapState' (entered at the event id "
                                 "#2). The MaxItemsPath field refers to value \"1.5\" which is not a valid integer: "
                                 "$.MaxItems")


def test_json_lines_and_a_missing_object(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    aws("s3").put_object(Bucket=bucket, Key="rows.jsonl", Body='{"a": 1}\n\n{"a": 2}\n')
    done = _run(sfn, role, _map(_reader("JSONL")), {"Bucket": bucket, "Key": "rows.jsonl"})
    assert json.loads(done["output"]) == [{"a": 1}, {"a": 2}]
    missing = _run(sfn, role, _map(_reader("JSONL")), {"Bucket": bucket, "Key": "nope.jsonl"})
    assert missing["error"] == "States.ItemReaderFailed" and "NoSuchKey" in missing["cause"]


def test_list_objects_v2(sfn: Any, role: str, aws: Any) -> None:
    # test_map_item_reader_base_list_objects_v2
    name = f"dmap-list-{uuid.uuid4().hex[:8]}"
    s3 = aws("s3")
    s3.create_bucket(Bucket=name)
    for i in range(3):
        s3.put_object(Bucket=name, Key=f"file_{i}.txt", Body=f"{i}HelloWorld!")
    reader = {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket.$": "$.Bucket"}}
    items = json.loads(_run(sfn, role, _map(reader, MaxConcurrency=1), {"Bucket": name})["output"])
    assert [(i["Key"], i["Size"], i["StorageClass"]) for i in items] == [
        (f"file_{i}.txt", 12, "STANDARD") for i in range(3)]
    assert all(set(i) == {"Etag", "LastModified", "Key", "Size", "StorageClass"} for i in items)


def test_s3_inventory_manifest(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    # ItemReader (Map): an S3 inventory manifest names gzipped CSV files described by fileSchema
    s3 = aws("s3")
    data = gzip.compress(b'"src","a.csv","10"\n"src","b.csv","20"\n')
    s3.put_object(Bucket=bucket, Key="inventory/data/part-0.csv.gz", Body=data)
    manifest = {"sourceBucket": "src", "destinationBucket": f"arn:aws:s3:::{bucket}", "fileFormat": "CSV",
                "fileSchema": "Bucket, Key, Size", "files": [{"key": "inventory/data/part-0.csv.gz"}]}
    s3.put_object(Bucket=bucket, Key="inventory/manifest.json", Body=json.dumps(manifest))
    done = _run(sfn, role, _map(_reader("MANIFEST")), {"Bucket": bucket, "Key": "inventory/manifest.json"})
    assert json.loads(done["output"]) == [{"Bucket": "src", "Key": "a.csv", "Size": "10"},
                                          {"Bucket": "src", "Key": "b.csv", "Size": "20"}]


def test_result_writer_exports_to_s3(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    # test_map_state_result_writer (state output), ResultWriter (Map) (manifest and result files)
    processor = {"StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "StringEquals": "bad", "Next": "Boom"}],
                  "Default": "Fine"},
        "Boom": {"Type": "Fail", "Error": "Item.Bad", "Cause": "bad item"},
        "Fine": {"Type": "Pass", "End": True}}}
    writer = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": bucket, "Prefix": "mapJobs"}}
    done = _run(sfn, role, _map(None, processor, Label="TestMap", ResultWriter=writer, ToleratedFailureCount=1),
                ["Hello", "bad", "World"])
    output = json.loads(done["output"])
    run_id = output["MapRunArn"].rsplit(":", 1)[-1]
    assert ":mapRun:" in output["MapRunArn"] and "/TestMap:" in output["MapRunArn"]
    assert output["ResultWriterDetails"] == {"Bucket": bucket, "Key": f"mapJobs/{run_id}/manifest.json"}
    s3 = aws("s3")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"mapJobs/{run_id}/manifest.json")["Body"].read())
    assert manifest["DestinationBucket"] == bucket and manifest["MapRunArn"] == output["MapRunArn"]
    assert manifest["ResultFiles"]["PENDING"] == []
    succeeded_key = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
    assert succeeded_key == f"mapJobs/{run_id}/SUCCEEDED_0.json"
    succeeded = json.loads(s3.get_object(Bucket=bucket, Key=succeeded_key)["Body"].read())
    assert sorted(json.loads(e["Output"]) for e in succeeded) == ["Hello", "World"]
    assert all(e["Status"] == "SUCCEEDED" and e["StateMachineArn"].endswith("/TestMap") for e in succeeded)
    failed = json.loads(s3.get_object(Bucket=bucket, Key=manifest["ResultFiles"]["FAILED"][0]["Key"])["Body"].read())
    assert [(e["Error"], e["Cause"], json.loads(e["Input"])) for e in failed] == [("Item.Bad", "bad item", "bad")]


def test_map_run_apis_and_child_executions(sfn: Any, role: str, bucket: str, aws: Any) -> None:
    # test_list_map_runs_and_describe_map_run
    aws("s3").put_object(Bucket=bucket, Key="two.csv", Body="Col1,Col2,Col3\nValue1,Value2,Value3\nValue4,Value5,Value6")
    done = _run(sfn, role, _map(_reader("CSV", CSVHeaderLocation="FIRST_ROW"), MaxConcurrency=1),
                {"Bucket": bucket, "Key": "two.csv"})
    runs = sfn.list_map_runs(executionArn=done["executionArn"])["mapRuns"]
    assert len(runs) == 1
    run = runs[0]
    machine = done["stateMachineArn"]
    assert run["executionArn"] == done["executionArn"] and run["stateMachineArn"] == f"{machine}/MapState"
    assert "stopDate" in run
    described = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
    counts = {"aborted": 0, "failed": 0, "pending": 0, "resultsWritten": 2, "running": 0, "succeeded": 2,
              "timedOut": 0, "total": 2}
    assert described["itemCounts"] == counts and described["executionCounts"] == counts
    assert (described["status"], described["maxConcurrency"], described["toleratedFailureCount"],
            described["toleratedFailurePercentage"]) == ("SUCCEEDED", 1, 0, 0.0)
    children = sfn.list_executions(mapRunArn=run["mapRunArn"])["executions"]
    assert len(children) == 2 and all(c["mapRunArn"] == run["mapRunArn"] for c in children)
    child = sfn.describe_execution(executionArn=children[0]["executionArn"])
    assert child["status"] == "SUCCEEDED" and child["mapRunArn"] == run["mapRunArn"]
    assert child["stateMachineArn"] == f"{machine}/MapState"
    assert [e["type"] for e in history(sfn, child["executionArn"])] == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    for_child = sfn.describe_state_machine_for_execution(executionArn=child["executionArn"])
    assert for_child["mapRunArn"] == run["mapRunArn"] and for_child["label"] == "MapState"


def test_update_map_run_while_it_runs(sfn: Any, role: str, cloud: Any) -> None:
    backend = next(s for s in cloud.app.services if type(s).__name__ == "StepFunctionsAPI").backend
    backend.time_scale = 0.01
    try:
        waiting = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 20, "End": True}}}
        arn = create_machine(sfn, role, _map(None, waiting, MaxConcurrency=1))
        execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(list(range(6))))["executionArn"]
        run_arn = wait_for(lambda: (sfn.list_map_runs(executionArn=execution)["mapRuns"] or [{}])[0].get("mapRunArn"))
        assert sfn.describe_map_run(mapRunArn=run_arn)["executionCounts"]["running"] == 1
        sfn.update_map_run(mapRunArn=run_arn, maxConcurrency=6)
        wait_for(lambda: sfn.describe_map_run(mapRunArn=run_arn)["executionCounts"]["running"] > 1
                 or sfn.describe_map_run(mapRunArn=run_arn)["status"] != "RUNNING")
        assert wait_done(sfn, execution)["status"] == "SUCCEEDED"
        assert sfn.describe_map_run(mapRunArn=run_arn)["maxConcurrency"] == 6
    finally:
        backend.time_scale = 1.0


def test_stopping_the_parent_aborts_the_children(sfn: Any, role: str) -> None:
    waiting = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
    arn = create_machine(sfn, role, _map(None, waiting))
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps([1, 2]))["executionArn"]
    run_arn = wait_for(lambda: (sfn.list_map_runs(executionArn=execution)["mapRuns"] or [{}])[0].get("mapRunArn"))
    wait_for(lambda: sfn.describe_map_run(mapRunArn=run_arn)["executionCounts"]["running"] == 2)
    sfn.stop_execution(executionArn=execution)
    assert wait_done(sfn, execution)["status"] == "ABORTED"
    described = wait_for(lambda: (d := sfn.describe_map_run(mapRunArn=run_arn))["status"] != "RUNNING" and d)
    assert described["status"] == "ABORTED" and described["executionCounts"]["aborted"] == 2
    time.sleep(0.05)
    assert all(c["status"] == "ABORTED" for c in sfn.list_executions(mapRunArn=run_arn)["executions"])
