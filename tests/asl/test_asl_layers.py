"""The engine's boundaries: states reach JSONPath only through their query language; the core knows no service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ASL = Path(__file__).resolve().parents[2] / "lib" / "localcloud" / "asl"

#: the JSONPath query language and everything only it uses
JSONPATH = {"paths", "varpaths", "intrinsic_functions", "intrinsics", "templates", "choice", "jsonpath"}
#: the JSONata query language and everything only it uses
JSONATA = {"jsonata_functions", "jsonata_eval", "jsonata_check", "jsonata_lang"}
#: modules that run states or executions: a second query language must plug in without touching them
RUNNERS = {"states", "task", "concurrent", "engine", "env", "retry", "history"}
#: the bottom layer: nothing of the engine below it but the error names
BOTTOM = {"errors": set(), "values": set(), "query": set(), "variables": {"values"}}


def _imported(module: str) -> set[str]:
    """Every ``localcloud...`` module ``asl/<module>.py`` imports, at any depth."""
    tree = ast.parse((ASL / f"{module}.py").read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("localcloud"):
            out |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name.startswith("localcloud")}
    return out


def _engine_modules(imported: set[str]) -> set[str]:
    return {name.split(".")[2] for name in imported if name.startswith("localcloud.asl.") and name.count(".") >= 2}


@pytest.mark.parametrize("module", sorted(RUNNERS))
def test_runners_know_no_jsonpath(module: str) -> None:
    assert not _engine_modules(_imported(module)) & JSONPATH


@pytest.mark.parametrize("module", sorted(RUNNERS))
def test_runners_know_no_jsonata(module: str) -> None:
    assert not _engine_modules(_imported(module)) & JSONATA


@pytest.mark.parametrize("module", sorted(BOTTOM))
def test_the_bottom_imports_nothing_of_the_engine(module: str) -> None:
    assert _engine_modules(_imported(module)) <= BOTTOM[module]


@pytest.mark.parametrize("module", sorted(p.stem for p in ASL.glob("*.py")))
def test_the_core_reaches_services_only_through_the_integrations(module: str) -> None:
    imported = _imported(module)
    assert not {m for m in imported if m.startswith(("localcloud.services", "localcloud.asl.integrations"))}
