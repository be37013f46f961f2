"""What a rule's target receives: the event, a constant ``Input``, the part ``InputPath`` selects, or
``InputTransformer``'s template filled from the event ("Amazon EventBridge input transformation", EventBridge user
guide; API reference ``InputTransformer``).

How a value fills a placeholder is as recorded on AWS (localstack ``tests/aws/services/events/
test_events_inputs.snapshot.json``, recorded 2024-05 to 2025-10): outside quotes a value is inserted as JSON
(``{"id": <userId>}`` → ``{"id": "0a78..."}``); inside quotes it is inserted as text, a string as is, a list as
``[HIGH]`` or ``[ACTIVE,INACTIVE]``, an object as ``{acc_id:0a78...,sf_id:baz}``; a path the event does not have
gives an empty value (``"command": ""``). ``aws.events.event`` is the event without ``detail`` (``detail-type`` as
``detailType``, ``time`` the ingestion time), ``aws.events.event.json`` the whole event, as recorded there
(test_input_transformer_predefined_variables).
"""

from __future__ import annotations

import json
import re
from typing import Any

_MISSING = object()
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")


def select(path: str, document: Any) -> Any:
    """The value a JSON path (``$``, ``$.a.b-c``, ``$.a[0]``, ``$.a[*]`` / ``$.a.*``) selects, or ``_MISSING``.
    EventBridge supports dot notation, dashes, underscores, array indices and wildcards (the guide's note)."""
    path = path.strip()
    if not path.startswith("$"):
        return _MISSING
    values: list[Any] = [document]
    wild = False
    for match in _STEP.finditer(path[1:]):
        key, index = match.group(1), match.group(2)
        found: list[Any] = []
        for value in values:
            if key == "*" or index == "*":
                wild = True
                found.extend(value.values() if isinstance(value, dict) else value if isinstance(value, list) else [])
            elif key is not None and isinstance(value, dict) and key in value:
                found.append(value[key])
            elif index is not None and isinstance(value, list) and int(index) < len(value):
                found.append(value[int(index)])
        values = found
    if wild:
        return values
    return values[0] if values else _MISSING


def _as_text(value: Any) -> str:
    """A value placed inside quotes in a template."""
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return json.dumps(value)[1:-1]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_as_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_as_text(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _as_json(value: Any) -> str:
    return '""' if value is _MISSING else json.dumps(value)


def predefined(event: dict[str, Any], rule_arn: str, rule_name: str, ingestion_time: str) -> dict[str, Any]:
    """The variables every template may use without defining them."""
    original = {"id": event.get("id"), "account": event.get("account"), "detailType": event.get("detail-type"),
                "time": ingestion_time, "source": event.get("source"), "region": event.get("region"),
                "resources": event.get("resources", []), "version": event.get("version", "0")}
    return {"aws.events.rule-arn": rule_arn, "aws.events.rule-name": rule_name,
            "aws.events.event.ingestion-time": ingestion_time, "aws.events.event": original,
            "aws.events.event.json": event}


def fill(template: str, values: dict[str, Any]) -> str:
    """The template with each ``<name>`` of ``values`` replaced, as JSON outside quotes and as text inside."""
    out: list[str] = []
    quoted = False
    i = 0
    while i < len(template):
        char = template[i]
        if char == "\\" and quoted:
            out.append(template[i:i + 2])
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == "<":
            match = _PLACEHOLDER.match(template, i)
            if match and match.group(1) in values:
                value = values[match.group(1)]
                out.append(_as_text(value) if quoted else _as_json(value))
                i = match.end()
                continue
        out.append(char)
        i += 1
    return "".join(out)


def target_input(target: dict[str, Any], event: dict[str, Any], *, rule_arn: str, rule_name: str,
                 ingestion_time: str) -> str:
    """The text a target is invoked with."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        found = select(str(target["InputPath"]), event)
        return json.dumps(None if found is _MISSING else found)
    transformer = target.get("InputTransformer")
    if transformer:
        values = predefined(event, rule_arn, rule_name, ingestion_time)
        for name, path in (transformer.get("InputPathsMap") or {}).items():
            values[name] = select(str(path), event)
        return fill(str(transformer.get("InputTemplate", "")), values)
    return json.dumps(event)
