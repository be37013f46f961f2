"""The committed notebooks: no outputs, a `parameters` cell first, the python3 kernel, teaching markdown, and in
sync with their generator (notebooks/make_notebooks.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from retrain.runner import NOTEBOOKS, select

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "notebooks"


def load_generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", FOLDER / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_clean_and_parameterised(name: str) -> None:
    nb = nbformat.read(str(FOLDER / f"{name}.ipynb"), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert cell.outputs == [], f"{name}: a committed cell carries outputs"
        assert cell.execution_count is None
    assert "parameters" in code[0].metadata.get("tags", [])
    assert "params_file" in code[0].source and "overrides" in code[0].source
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(markdown) >= 2 and nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith(f"# {name[:2]} ")


def test_notebooks_match_their_generator() -> None:
    assert load_generator().main(["--check"]) == 0


def test_later_notebooks_read_the_run_state_with_a_hint() -> None:
    for name, needs in (("02_create_resources", "01_setup_roles"), ("03_build_workflow", "01_setup_roles"),
                        ("04_run_workflow", "03_build_workflow")):
        text = (FOLDER / f"{name}.ipynb").read_text()
        assert f'\\"{needs}\\")' in text, name


def test_key_sdk_calls_are_visible() -> None:
    text = {n: (FOLDER / f"{n}.ipynb").read_text() for n in NOTEBOOKS}
    assert "Workflow(" in text["03_build_workflow"] and "steps.Chain(" in text["03_build_workflow"]
    assert "workflow.execute(" in text["04_run_workflow"] and "list_executions(html=True)" in text["04_run_workflow"]
    assert "Workflow.list_workflows(" in text["04_run_workflow"] and "list_events(" in text["04_run_workflow"]
    code = "".join(c.source for n in NOTEBOOKS for c in nbformat.read(str(FOLDER / f"{n}.ipynb"), 4).cells
                   if c.cell_type == "code")
    assert "render_graph(" not in code and "render_progress(" not in code  # they need a CDN


def test_select_notebooks() -> None:
    assert select(None) == list(NOTEBOOKS)
    assert select(["01,02", "05"]) == ["01_setup_roles", "02_create_resources", "05_clean_up"]
    with pytest.raises(Exception, match="unknown notebook"):
        select(["07"])
