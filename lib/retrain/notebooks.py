"""The five notebooks: where they are, how their paired sources agree, and building the workflow with notebook 03.

Each notebook's source is a percent-format ``.py`` file (jupytext) paired with the ``.ipynb`` JupyterLab opens;
``make notebooks`` writes the ``.ipynb`` from the ``.py``, and JupyterLab with jupytext keeps them paired while a
learner edits (``notebooks/jupytext.toml``). The ``.ipynb`` are committed without outputs.

Notebook 03 is the one place the workflow is built: :func:`workflow_definition` runs it with no cloud
(``offline_account``) and reads the definition it writes, for ``retrain plan`` and the tests.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from retrain.errors import RetrainError, WorkflowError

LOG = logging.getLogger(__name__)

NOTEBOOKS = ("01_setup_roles", "02_create_resources", "03_build_workflow", "04_run_workflow", "05_clean_up")
BUILD_NOTEBOOK = "03_build_workflow"


def notebooks_dir() -> Path:
    """The folder of the five notebooks (``<project root>/notebooks``)."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        candidate = folder / "notebooks"
        if (candidate / f"{NOTEBOOKS[0]}.ipynb").is_file():
            return candidate
    raise RetrainError("cannot find the notebooks folder next to the retrain package; run from a clone of the "
                       "project.")


def _cells(notebook: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in notebook.cells]


def pair_problems(folder: Path | None = None) -> list[str]:
    """Every way a committed ``.ipynb`` differs from its ``.py`` source (cells, tags, kernel) or holds outputs."""
    import jupytext
    import nbformat

    folder = folder or notebooks_dir()
    problems = []
    for name in NOTEBOOKS:
        source, notebook = folder / f"{name}.py", folder / f"{name}.ipynb"
        if not source.is_file() or not notebook.is_file():
            problems.append(f"{name}: the .py source or the .ipynb is missing")
            continue
        expected = jupytext.read(source)
        found = nbformat.read(notebook, as_version=4)
        if _cells(expected) != _cells(found):
            problems.append(f"{name}.ipynb differs from {name}.py: run `make notebooks` (or open it in JupyterLab "
                            "with jupytext, which keeps the pair in step)")
        if found.metadata.get("kernelspec", {}).get("name") != "python3":
            problems.append(f"{name}.ipynb: its kernel is not python3")
        if any(c.get("outputs") or c.get("execution_count") for c in found.cells if c.cell_type == "code"):
            problems.append(f"{name}.ipynb holds outputs: commit notebooks without them (`make notebooks`)")
    return problems


def workflow_definition(params_file: str | Path, overrides: Mapping[str, Any] | None = None, *,
                        account: str, kernel: str = "python3") -> dict[str, Any]:
    """The state machine definition notebook 03 builds for these parameters in ``account``, with no cloud."""
    import papermill as pm

    from retrain.kernels import ipc_config

    folder = notebooks_dir()
    with tempfile.TemporaryDirectory(prefix="retrain-build-") as tmp:
        out = Path(tmp)
        overrides = {**(overrides or {}), "state_file": str(out / "state.json")}
        try:
            pm.execute_notebook(str(folder / f"{BUILD_NOTEBOOK}.ipynb"), str(out / f"{BUILD_NOTEBOOK}.ipynb"),
                                parameters={"params_file": str(Path(params_file).resolve()),
                                            "overrides": overrides, "out_dir": str(out),
                                            "offline_account": account},
                                kernel_name=kernel, cwd=str(folder), progress_bar=False, log_output=False,
                                config=ipc_config(out, "kernel"))
        except Exception as exc:  # papermill's execution error names the cell
            raise WorkflowError(f"notebook 03 could not build the workflow: {exc}") from exc
        return dict(json.loads((out / "artifacts" / "definition.json").read_text()))
