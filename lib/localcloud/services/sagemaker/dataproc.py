"""Batch transform's ``DataProcessing``: ``InputFilter``, ``JoinSource`` and ``OutputFilter`` on each record
("Associate Prediction Results with Input Records", SageMaker developer guide; ``DataProcessing`` in the botocore
model ``sagemaker/2017-07-24``).

* A CSV record is a row taken as a JSON array of its cells (RFC 4180 parsing); only index paths apply to it. JSON
  and JSON Lines records are JSON values.
* The supported JSONPath subset: ``$``, ``.name``, ``*``, ``['a','b']``, ``[i]`` and ``[i,j,...]`` (negative
  indexes count from the end), ``[start:end]`` with either end omitted. A slice includes both ends: "``$[1:4]``
  specifies the second through fifth columns", "``[:5]`` ... from the first column (index 0) through the sixth
  column" (the guide's CSV examples). A bracket may hold indexes and one range (``$[0,5:]``, the OutputFilter
  example); more ranges are refused with the message AWS logs ("Invalid JsonPath: $[0:2,246:]: only single range
  filters of format (eg: [1:5]) are supported. Format [0:2,246:] is not supported", quoted in
  github aws/sagemaker-python-sdk issue 1112).
* Joining: a CSV row is followed by the output row's cells; a JSON object gets the output under
  ``SageMakerOutput``; any other JSON input becomes ``{"SageMakerInput": ..., "SageMakerOutput": ...}``.

An index outside the record fails the record (OutputFilter: "If you specify indexes that aren't within the
dimension size of the joined dataset, you get an error").
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

_STEP = re.compile(r"\.(\*|[A-Za-z_][\w-]*)|\[([^\]]*)\]")
_SLICE = re.compile(r"^\s*(-?\d*)\s*:\s*(-?\d*)\s*$")


class DataProcessingError(Exception):
    """A filter that cannot apply to a record; the message goes to the job's data log."""


@dataclass(frozen=True)
class Step:
    kind: str  # "name", "names", "wildcard", "indexes"
    names: tuple[str, ...] = ()
    indexes: tuple[int, ...] = ()
    span: tuple[int | None, int | None] | None = None


def parse(path: str) -> list[Step]:
    """The steps of a JSONPath expression (raises DataProcessingError for what SageMaker does not support)."""
    text = (path or "$").strip()
    if not text.startswith("$"):
        raise DataProcessingError(f"Invalid JsonPath: {path}: a path starts with $")
    steps, pos = [], 1
    while pos < len(text):
        match = _STEP.match(text, pos)
        if not match:
            raise DataProcessingError(f"Invalid JsonPath: {path}")
        pos = match.end()
        steps.append(_step(path, match.group(1), match.group(2)))
    return steps


def _step(path: str, dotted: str | None, bracket: str | None) -> Step:
    if dotted is not None:
        return Step("wildcard") if dotted == "*" else Step("name", (dotted,))
    inner = (bracket or "").strip()
    if inner == "*":
        return Step("wildcard")
    parts = [p.strip() for p in inner.split(",")]
    if all(p[:1] in "'\"" and p[-1:] == p[:1] and len(p) > 1 for p in parts):
        return Step("names", tuple(p[1:-1] for p in parts))
    ranges = [p for p in parts if ":" in p]
    if len(ranges) > 1:
        raise DataProcessingError(f"Invalid JsonPath: {path}: only single range filters of format (eg: [1:5]) are "
                                  f"supported. Format [{inner}] is not supported")
    indexes, span = [], None
    for part in parts:
        found = _SLICE.match(part)
        if found:
            span = (int(found.group(1)) if found.group(1) else None, int(found.group(2)) if found.group(2) else None)
        elif re.fullmatch(r"-?\d+", part):
            indexes.append(int(part))
        else:
            raise DataProcessingError(f"Invalid JsonPath: {path}")
    return Step("indexes", indexes=tuple(indexes), span=span)


def _pick(value: list[Any], step: Step, path: str) -> Any:
    size = len(value)

    def at(index: int) -> Any:
        if not -size <= index < size:
            raise DataProcessingError(f"Index {index} of {path} is outside the record's {size} elements")
        return value[index]

    if step.span is None and len(step.indexes) == 1:
        return at(step.indexes[0])
    picked = [at(i) for i in step.indexes]
    if step.span is not None:
        start = 0 if step.span[0] is None else step.span[0] % size if size else 0
        end = size - 1 if step.span[1] is None else step.span[1] % size if size else -1
        if step.span[1] is not None and step.span[1] >= size:
            raise DataProcessingError(f"Index {step.span[1]} of {path} is outside the record's {size} elements")
        picked.extend(value[start:end + 1])  # both ends included (the guide's CSV examples)
    return picked


def apply(path: str, value: Any) -> Any:
    """The part of ``value`` the path selects."""
    for step in parse(path):
        if step.kind == "wildcard":
            value = list(value.values()) if isinstance(value, dict) else list(value)
        elif step.kind == "name":
            if not isinstance(value, dict) or step.names[0] not in value:
                raise DataProcessingError(f"{path}: no attribute {step.names[0]!r} in the record")
            value = value[step.names[0]]
        elif step.kind == "names":
            if not isinstance(value, dict):
                raise DataProcessingError(f"{path}: the record is not a JSON object")
            value = {k: value[k] for k in step.names if k in value}
        else:
            if not isinstance(value, list):
                raise DataProcessingError(f"{path}: the record is not an array")
            value = _pick(value, step, path)
    return value


def is_identity(path: str | None) -> bool:
    return (path or "$").strip() == "$"


def read_row(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0] if rows else []


def write_row(cells: Any) -> str:
    stream = io.StringIO()
    csv.writer(stream, lineterminator="").writerow(cells if isinstance(cells, list) else [cells])
    return stream.getvalue()


def decode(record: str, csv_format: bool) -> Any:
    if csv_format:
        return read_row(record)
    try:
        return json.loads(record)
    except ValueError as exc:
        raise DataProcessingError(f"the record is not JSON: {exc}") from None


def encode(value: Any, csv_format: bool) -> str:
    return write_row(value) if csv_format else json.dumps(value, separators=(",", ":"))


def join(source: Any, output: Any, csv_format: bool) -> Any:
    """The input record joined with its output (``JoinSource: Input``)."""
    if csv_format:
        return list(source if isinstance(source, list) else [source]) + \
            list(output if isinstance(output, list) else [output])
    if isinstance(source, dict):
        return {**source, "SageMakerOutput": output}
    return {"SageMakerInput": source, "SageMakerOutput": output}
