"""The committed notebooks: no outputs, a `parameters` cell first, the python3 kernel, teaching markdown, and the
same cells as their percent-format .py source (the pair JupyterLab with jupytext keeps in step)."""

from __future__ import annotations

import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

from retrain.notebooks import NOTEBOOKS, pair_problems
from retrain.runner import select

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "notebooks"


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


def test_notebooks_match_their_sources() -> None:
    assert pair_problems(FOLDER) == []


def test_a_notebook_edited_apart_from_its_source_is_found(tmp_path: Path) -> None:
    for name in NOTEBOOKS:
        for ext in (".py", ".ipynb"):
            shutil.copy(FOLDER / f"{name}{ext}", tmp_path / f"{name}{ext}")
    edited = nbformat.read(str(tmp_path / "03_build_workflow.ipynb"), as_version=4)
    edited.cells[-1].source += "\nprint('edited in the notebook only')"
    nbformat.write(edited, str(tmp_path / "03_build_workflow.ipynb"))
    with_output = nbformat.read(str(tmp_path / "01_setup_roles.ipynb"), as_version=4)
    code = next(c for c in with_output.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    nbformat.write(with_output, str(tmp_path / "01_setup_roles.ipynb"))
    problems = pair_problems(tmp_path)
    assert any(p.startswith("03_build_workflow.ipynb differs from 03_build_workflow.py") for p in problems)
    assert any(p.startswith("01_setup_roles.ipynb holds outputs") for p in problems)
    assert len(problems) == 2


def test_notebook_03_builds_one_state_per_cell() -> None:
    """The lesson is in the notebook: each SDK step is constructed in a cell of its own, after prose with a link."""
    notebook = jupytext.read(FOLDER / "03_build_workflow.py")
    constructors = ('"Find Champion"', "steps.GlueStartJobRunStep(", "steps.TrainingStep(", "steps.ProcessingStep(",
                    '"Judge Model"', "register_step(", 'steps.Choice("Deploy?")', "create_model_step(",
                    "EndpointConfigWithSelector(", "steps.EndpointStep(", "Workflow(")
    cells = notebook.cells
    for constructor in constructors:
        (index,) = [i for i, c in enumerate(cells) if c.cell_type == "code" and constructor in c.source]
        before = cells[index - 1]
        assert before.cell_type == "markdown", constructor
    linked = [c for c in cells if c.cell_type == "markdown" and "https://" in c.source]
    assert len(linked) >= 8
    assert "inspect.getsource" not in "".join(c.source for c in cells)


def test_later_notebooks_read_the_run_state_with_a_hint() -> None:
    for name, needs in (("02_create_resources", "01_setup_roles"), ("03_build_workflow", "01_setup_roles"),
                        ("04_run_workflow", "03_build_workflow")):
        text = (FOLDER / f"{name}.py").read_text()
        assert f'"{needs}")' in text, name


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
