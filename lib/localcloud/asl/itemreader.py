"""A Distributed Map's ItemReader (items from Amazon S3) and ItemBatcher (items grouped per child execution).

The reader reads through the Task integrations registry (``arn:aws:states:::s3:getObject`` and
``arn:aws:states:::s3:listObjectsV2``), so the read is made with the execution role's credentials, as Step
Functions reads with the state machine's role ("IAM policies for ItemReader", developer guide).

Item shapes and errors are the ones recorded on AWS (localstack snapshot
``tests/aws/services/stepfunctions/v2/scenarios/test_base_scenarios.snapshot.json``, tests
``test_map_item_reader_*``): CSV rows become objects of strings keyed by the headers (missing fields are ``""``,
extra fields are dropped), duplicate headers fail with ``States.ItemReaderFailed`` "CSV headers cannot contain
duplicates.", a JSON file that is not an array fails with "Attempting to map over non-iterable node.", a negative
MaxItems with "field MaxItems must be positive". Layer: beside :mod:`.distributed`, which uses it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import Any

from localcloud.asl.env import Frame, TaskContext
from localcloud.asl.errors import EvaluationError, StatesError, StatesErrorName, TaskFailed
from localcloud.asl.query import ABSENT, QueryLanguage
from localcloud.asl.values import to_json

LOG = logging.getLogger(__name__)

GET_OBJECT = "arn:aws:states:::s3:getObject"
LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
PUT_OBJECT = "arn:aws:states:::s3:putObject"
#: "MaxItems ... limit of 100,000,000" (ItemReader (Map), developer guide); a larger value reads everything
MAX_ITEMS_LIMIT = 100_000_000
#: ReaderConfig CSVDelimiter values ("ItemReader (Map)", developer guide)
DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}


class View:
    """A StateView over a field of the state (ItemReader, ItemBatcher, ResultWriter) so the state's query
    language renders its Parameters/Arguments and ``*Path`` fields the way it renders the state's own."""

    def __init__(self, raw: dict[str, Any], state_input: Any, visit: Any) -> None:
        self.raw = raw
        self.input = state_input
        self._visit = visit

    def context(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._visit.context(extra)


def reader_failed(cause: str) -> StatesError:
    return StatesError(StatesErrorName.ITEM_READER_FAILED, cause)


def whole_number(lang: QueryLanguage, view: View, field: str) -> int | None:
    """An integer field of ``view.raw`` given literally or as an expression (None: not given).

    A value that is no integer is the ``States.Runtime`` AWS records: "The MaxItemsPath field refers to value
    "1.5" which is not a valid integer: $.MaxItems" (test_map_item_reader_csv_max_items_paths[1.5])."""
    if field in view.raw:
        value = view.raw[field]
    else:
        value = lang.expression(view, field)
        if value is ABSENT:
            return None
    if isinstance(value, bool) or not isinstance(value, int):
        shown = value if isinstance(value, str) else to_json(value)
        path = view.raw.get(lang.expression_field(field), "")
        raise EvaluationError(StatesErrorName.RUNTIME, f'The {lang.expression_field(field)} field refers to value '
                                                       f'"{shown}" which is not a valid integer: {path}')
    return value


class ItemReader:
    """Reads the items of one Map Run."""

    def __init__(self, raw: dict[str, Any], lang: QueryLanguage) -> None:
        self.raw = raw
        self.lang = lang
        self.resource: str = raw.get("Resource", "")
        self.config: dict[str, Any] = raw.get("ReaderConfig") or {}

    def max_items(self, visit: Any, data: Any) -> int | None:
        """MaxItems(Path), checked before the Map Run starts (a non-integer fails the state)."""
        return whole_number(self.lang, View(self.config, data, visit), "MaxItems")

    def parameters(self, visit: Any, data: Any) -> Any:
        """The reader's Parameters (JSONPath) or Arguments (JSONata) rendered on the state input."""
        raw = {k: v for k, v in self.raw.items() if k in ("Parameters", "Arguments")}
        return self.lang.state_input(View(raw, data, visit), arguments=True)

    def read(self, frame: Frame, state_name: str, parameters: Any, max_items: int | None) -> list[Any]:
        """Every item (at most ``max_items``; 0 or more than 100,000,000: all of them)."""
        if max_items is not None and max_items < 0:
            raise reader_failed("field MaxItems must be positive")
        if self.resource == LIST_OBJECTS:
            items = self._call(frame, state_name, LIST_OBJECTS, parameters)["Contents"]
        else:
            items = self._parse(frame, state_name, parameters)
        if max_items and max_items <= MAX_ITEMS_LIMIT:
            items = items[:max_items]
        return items

    def _call(self, frame: Frame, state_name: str, resource: str, parameters: Any) -> Any:
        service, _, action = resource.rpartition(":")
        task = TaskContext(frame, state_name=state_name, resource=resource, token=None, timeout_seconds=None,
                           heartbeat_seconds=None, resource_type="s3", resource_name=action)
        try:
            return frame.env.integrations.invoke(resource, parameters, task)
        except TaskFailed as failure:
            raise reader_failed(failure.cause or failure.error) from None
        finally:
            task.close()

    def _text(self, frame: Frame, state_name: str, parameters: Any) -> str:
        return str(self._call(frame, state_name, GET_OBJECT, parameters)["Body"])

    def _parse(self, frame: Frame, state_name: str, parameters: Any) -> list[Any]:
        kind = self.config.get("InputType", "JSON")
        if kind == "MANIFEST":
            return self._inventory(frame, state_name, parameters)
        text = self._text(frame, state_name, parameters)
        if kind == "CSV":
            return csv_items(text, self.config)
        if kind == "JSONL":
            return [_json(line) for line in text.splitlines() if line.strip()]
        value = _json(text)
        if not isinstance(value, list):
            raise reader_failed("Attempting to map over non-iterable node.")
        return value

    def _inventory(self, frame: Frame, state_name: str, parameters: Any) -> list[Any]:
        """An S3 inventory: the manifest names gzipped CSV files whose columns ``fileSchema`` lists ("Step
        Functions supports only CSV format for S3 inventory", ItemReader (Map), developer guide)."""
        manifest = _json(self._text(frame, state_name, parameters))
        if not isinstance(manifest, dict) or manifest.get("fileFormat", "CSV") != "CSV":
            raise reader_failed("The S3 inventory manifest must describe CSV files.")
        headers = [h.strip() for h in str(manifest.get("fileSchema", "")).split(",")]
        bucket = str(manifest.get("destinationBucket", "")).rsplit(":", 1)[-1]
        items: list[Any] = []
        for entry in manifest.get("files") or []:
            text = self._text(frame, state_name, {"Bucket": bucket, "Key": entry.get("key")})
            items.extend(csv_items(text, {"CSVHeaderLocation": "GIVEN", "CSVHeaders": headers}))
        return items


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise reader_failed(f"The item reader could not parse the JSON content: {exc}") from None


def csv_items(text: str, config: dict[str, Any]) -> list[dict[str, str]]:
    """CSV rows as objects keyed by the headers (the first row, or the ``CSVHeaders`` given)."""
    delimiter = DELIMITERS.get(config.get("CSVDelimiter", "COMMA"), ",")
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]
    if config.get("CSVHeaderLocation") == "GIVEN":
        headers = [str(h) for h in config.get("CSVHeaders") or []]
    else:
        headers, rows = (rows[0], rows[1:]) if rows else ([], [])
    if len(set(headers)) != len(headers):
        raise reader_failed("CSV headers cannot contain duplicates.")
    return [{h: (row[i] if i < len(row) else "") for i, h in enumerate(headers)} for row in rows]


class ItemBatcher:
    """Groups items: each child execution gets ``{"BatchInput": ..., "Items": [...]}`` (recorded on AWS:
    test_map_item_batching_base_json_max_per_batch_jsonata)."""

    def __init__(self, raw: dict[str, Any], lang: QueryLanguage) -> None:
        self.raw = raw
        self.lang = lang

    def batches(self, visit: Any, data: Any, items: list[Any]) -> list[dict[str, Any]]:
        view = View(self.raw, data, visit)
        per_batch = whole_number(self.lang, view, "MaxItemsPerBatch") or 0
        max_bytes = whole_number(self.lang, view, "MaxInputBytesPerBatch") or 0
        batch_input: Any = ABSENT
        if "BatchInput" in self.raw:
            key = "Arguments" if self.lang.name == "JSONata" else "Parameters"
            batch_input = self.lang.state_input(View({key: self.raw["BatchInput"]}, data, visit), arguments=True)
        out: list[dict[str, Any]] = []
        current: list[Any] = []

        def child_input(group: list[Any]) -> dict[str, Any]:
            value: dict[str, Any] = {} if batch_input is ABSENT else {"BatchInput": batch_input}
            value["Items"] = group
            return value

        for item in items:
            candidate = current + [item]
            too_many = per_batch and len(candidate) > per_batch
            too_big = max_bytes and current and len(to_json(child_input(candidate)).encode()) > max_bytes
            if too_many or too_big:
                out.append(child_input(current))
                candidate = [item]
            current = candidate
        if current:
            out.append(child_input(current))
        return out
