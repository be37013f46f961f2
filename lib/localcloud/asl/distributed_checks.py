"""Definition checks of the Distributed Map fields: ProcessorConfig, ItemReader, ItemBatcher, ResultWriter, Label.

Field rules from the developer guide pages "ItemReader (Map)", "ItemBatcher (Map)", "ResultWriter (Map)" and "Map
state in Distributed mode"; the Label messages are the ones recorded on AWS (localstack snapshot
``tests/aws/services/stepfunctions/v2/test_sfn_api_map_run.snapshot.json``: "Label cannot be empty", "Label cannot
exceed 40 characters", "Label contains invalid character: ' '").
Layer: beside :mod:`.checks`, which calls it for Map states.
"""

from __future__ import annotations

import re
from typing import Any

from localcloud.asl.checker import Checker
from localcloud.asl.templates import template_problems
from localcloud.asl.values import is_int

#: the fields only a Distributed Map has
DISTRIBUTED_FIELDS = frozenset({"ItemReader", "ItemBatcher", "ResultWriter", "Label"})
READER_RESOURCES = ("arn:aws:states:::s3:getObject", "arn:aws:states:::s3:listObjectsV2")
WRITER_RESOURCE = "arn:aws:states:::s3:putObject"
INPUT_TYPES = ("CSV", "JSON", "JSONL", "MANIFEST")
#: characters a Map Run label may not hold (the test above lists each: blanks, brackets, wildcards, punctuation,
#: control characters U+0000-001F and U+007F-009F)
_LABEL_BAD = re.compile(r"[ ?*<>{}\[\]:;,\\|^~$#%&`\"\x00-\x1f\x7f-\x9f]")
MAX_LABEL = 40
#: "MaxInputBytesPerBatch ... up to 256 KiB" (ItemBatcher (Map), developer guide)
MAX_BATCH_BYTES = 262144
MAX_ITEMS = 100_000_000


def check_distributed(checker: Checker, where: str, state: dict[str, Any], mode: Any) -> None:
    """The Distributed Map fields of a Map state (``mode``: its ProcessorConfig.Mode)."""
    distributed = mode == "DISTRIBUTED"
    for key in sorted((DISTRIBUTED_FIELDS - {"Label"}) & set(state)):
        if not distributed:
            checker.add(where, f'"{key}" is only allowed in a Map state whose ItemProcessor.ProcessorConfig.Mode '
                               f'is "DISTRIBUTED"')
    if not distributed:
        return
    block = "ItemProcessor" if "ItemProcessor" in state else "Iterator"  # the older Iterator works alike
    config = (state.get(block) or {}).get("ProcessorConfig") or {}
    if config.get("ExecutionType") not in ("STANDARD", "EXPRESS"):
        checker.add(f"{where}/{block}/ProcessorConfig",
                    'a Distributed Map needs "ExecutionType": "STANDARD" or "EXPRESS"')
    if "Label" in state:
        _label(checker, f"{where}/Label", state["Label"])
    if "ItemReader" in state:
        _reader(checker, f"{where}/ItemReader", state["ItemReader"])
    if "ItemBatcher" in state:
        _batcher(checker, f"{where}/ItemBatcher", state["ItemBatcher"])
    if "ResultWriter" in state:
        _writer(checker, f"{where}/ResultWriter", state["ResultWriter"])


def _label(checker: Checker, where: str, label: Any) -> None:
    if not isinstance(label, str):
        checker.add(where, "must be a string")
    elif not label:
        checker.add(where, "Label cannot be empty")
    elif len(label) > MAX_LABEL:
        checker.add(where, f"Label cannot exceed {MAX_LABEL} characters")
    elif (bad := _LABEL_BAD.search(label)) is not None:
        checker.add(where, f"Label contains invalid character: '{bad.group()}'")


def _count(checker: Checker, where: str, block: dict[str, Any], key: str, low: int, high: int) -> None:
    """A positive integer field and its ``Path`` form (mutually exclusive)."""
    if key in block and key + "Path" in block:
        checker.add(where, f'"{key}" and "{key}Path" are mutually exclusive')
    if key in block and (not is_int(block[key]) or not low <= block[key] <= high):
        checker.add(f"{where}/{key}", f"must be an integer between {low} and {high}")
    if key + "Path" in block:
        checker.path(f"{where}/{key}Path", block[key + "Path"], reference=True)


def _parameters(checker: Checker, where: str, block: dict[str, Any]) -> None:
    if "Parameters" in block:
        for location, problem in template_problems(f"{where}/Parameters", block["Parameters"]):
            checker.add(location, problem)


def _reader(checker: Checker, where: str, reader: Any) -> None:
    if not isinstance(reader, dict):
        checker.add(where, "must be a JSON object")
        return
    for key in reader:
        if key not in ("Resource", "Parameters", "Arguments", "ReaderConfig"):
            checker.add(where, f'field "{key}" is not allowed in an ItemReader')
    if reader.get("Resource") not in READER_RESOURCES:
        checker.add(f"{where}/Resource", f"must be one of {', '.join(READER_RESOURCES)}")
    _parameters(checker, where, reader)
    config = reader.get("ReaderConfig", {})
    if not isinstance(config, dict):
        checker.add(f"{where}/ReaderConfig", "must be a JSON object")
        return
    if "InputType" in config and config["InputType"] not in INPUT_TYPES:
        checker.add(f"{where}/ReaderConfig/InputType", f"must be one of {', '.join(INPUT_TYPES)}")
    if reader.get("Resource") == READER_RESOURCES[0] and "InputType" not in config:
        checker.add(f"{where}/ReaderConfig", 'an s3:getObject ItemReader needs "InputType"')
    location = config.get("CSVHeaderLocation")
    if location is not None and location not in ("FIRST_ROW", "GIVEN"):
        checker.add(f"{where}/ReaderConfig/CSVHeaderLocation", 'must be "FIRST_ROW" or "GIVEN"')
    headers = config.get("CSVHeaders")
    if location == "GIVEN" and (not isinstance(headers, list) or not headers
                                or not all(isinstance(h, str) for h in headers)):
        checker.add(f"{where}/ReaderConfig/CSVHeaders", 'with "CSVHeaderLocation": "GIVEN", a non-empty array of '
                                                        "header strings is required")
    _count(checker, f"{where}/ReaderConfig", config, "MaxItems", 0, MAX_ITEMS)


def _batcher(checker: Checker, where: str, batcher: Any) -> None:
    if not isinstance(batcher, dict):
        checker.add(where, "must be a JSON object")
        return
    for key in batcher:
        if key not in ("MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch",
                       "MaxInputBytesPerBatchPath", "BatchInput"):
            checker.add(where, f'field "{key}" is not allowed in an ItemBatcher')
    if not any(k in batcher for k in ("MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch",
                                      "MaxInputBytesPerBatchPath")):
        checker.add(where, "an ItemBatcher needs MaxItemsPerBatch or MaxInputBytesPerBatch (or their Path forms)")
    _count(checker, where, batcher, "MaxItemsPerBatch", 1, MAX_ITEMS)
    _count(checker, where, batcher, "MaxInputBytesPerBatch", 1, MAX_BATCH_BYTES)
    if "BatchInput" in batcher:
        for location, problem in template_problems(f"{where}/BatchInput", batcher["BatchInput"]):
            checker.add(location, problem)


def _writer(checker: Checker, where: str, writer: Any) -> None:
    if not isinstance(writer, dict) or not writer:
        checker.add(where, "The ResultWriter field cannot be empty: give WriterConfig, or Resource and Parameters")
        return
    for key in writer:
        if key not in ("Resource", "Parameters", "Arguments", "WriterConfig"):
            checker.add(where, f'field "{key}" is not allowed in a ResultWriter')
    if "Resource" in writer and writer["Resource"] != WRITER_RESOURCE:
        checker.add(f"{where}/Resource", f"must be {WRITER_RESOURCE}")
    if "Resource" in writer and "Parameters" not in writer and "Arguments" not in writer:
        checker.add(where, 'a ResultWriter with "Resource" needs "Parameters" (Bucket, Prefix)')
    _parameters(checker, where, writer)
    config = writer.get("WriterConfig", {})
    if not isinstance(config, dict):
        checker.add(f"{where}/WriterConfig", "must be a JSON object")
        return
    if config.get("Transformation", "NONE") not in ("NONE", "COMPACT", "FLATTEN"):
        checker.add(f"{where}/WriterConfig/Transformation", 'must be "NONE", "COMPACT" or "FLATTEN"')
    if config.get("OutputType", "JSON") not in ("JSON", "JSONL"):
        checker.add(f"{where}/WriterConfig/OutputType", 'must be "JSON" or "JSONL"')
