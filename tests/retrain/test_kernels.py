"""Kernels prepared ahead of their notebook: what they import, that they run the notebook in a fresh process with
its outputs intact, and that they go away afterwards."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import psutil
import pytest

from retrain.kernels import PreparedKernel, ipc_config, notebook_imports, preload_code
from retrain.notebooks import NOTEBOOKS, notebooks_dir


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    params = nbformat.v4.new_code_cell("value = 1", id="params")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(src, id=f"c{i}") for i, src in enumerate(sources))]
    nbformat.write(nb, str(path))
    return path


def test_imports_are_read_from_code_cells_in_order(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "n.ipynb", "import json, csv\nfrom pathlib import Path", "%matplotlib inline",
                   "from . import sibling\nfrom retrain.reports import plot_roc\nimport json")
    nb_json = nbformat.read(str(nb), 4)
    nb_json.cells.append(nbformat.v4.new_markdown_cell("import not_code"))
    nbformat.write(nb_json, str(nb))
    # the magic cell is skipped, relative imports too; retrain.reports brings matplotlib.pyplot (imported inside it)
    assert notebook_imports(nb) == ["json", "csv", "pathlib", "retrain.reports", "matplotlib.pyplot"]


def test_every_project_notebook_preloads_the_sdk_it_uses() -> None:
    folder = notebooks_dir()
    imports = {name: notebook_imports(folder / f"{name}.ipynb") for name in NOTEBOOKS}
    assert all("retrain.session" in found for found in imports.values())
    assert "stepfunctions.workflow" in imports["03_build_workflow"]
    assert {"matplotlib.pyplot", "xgboost"} <= set(imports["04_run_workflow"])


def test_preload_code_imports_and_leaves_no_names() -> None:
    namespace: dict[str, object] = {}
    code = preload_code(["json", "no_such_module_anywhere", "colorsys"])
    exec(code, namespace)  # noqa: S102 - the code under test is what kernels run
    assert set(namespace) == {"__builtins__"}
    assert "colorsys" in sys.modules  # the missing module did not stop the ones after it


@pytest.mark.slow
def test_a_prepared_kernel_runs_its_notebook_and_is_stopped(tmp_path: Path) -> None:
    import papermill as pm

    nb = _notebook(tmp_path / "in.ipynb", "import colorsys\nimport sys, os\nprint('pid', os.getpid())",
                   "print('preloaded' if 'colorsys' in sys.modules else 'fresh')", "value * 21")
    sockets = tempfile.mkdtemp(dir=tmp_path)
    kernel = PreparedKernel(nb, cwd=tmp_path, config=ipc_config(sockets, "k"))
    km = kernel.manager()
    assert km is not None and kernel.preloaded == ["colorsys", "sys", "os"]
    pid = km.provisioner.process.pid
    pm.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), parameters={"value": 2}, km=km, progress_bar=False)
    kernel.shutdown()
    kernel.join()
    out = nbformat.read(str(tmp_path / "out.ipynb"), 4)
    texts = ["".join(o.get("text", "")) for c in out.cells if c.cell_type == "code" for o in c.outputs]
    assert texts[0] == f"pid {pid}\n"  # the first cell's output is not lost while IOPub connects
    assert texts[1] == "preloaded\n"
    assert out.cells[-1].outputs[0]["data"]["text/plain"] == "42"  # papermill's parameters reached the kernel
    assert [c.execution_count for c in out.cells] == [1, 2, 3, 4, 5]  # the silent preload left no trace
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert km.made_clients and all(not kc.channels_running for kc in km.made_clients)


@pytest.mark.slow
def test_kernels_starting_together_do_not_share_sockets(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "in.ipynb", "1 + 1")
    sockets = tempfile.mkdtemp(dir=tmp_path)
    first = PreparedKernel(nb, cwd=tmp_path, config=ipc_config(sockets, "a"))
    second = PreparedKernel(nb, cwd=tmp_path, config=ipc_config(sockets, "b"))
    try:
        assert first.manager() is not None and second.manager() is not None
        assert first.error is None and second.error is None
    finally:
        for kernel in (first, second):
            kernel.shutdown()
            kernel.join()


def test_a_kernel_that_cannot_start_falls_back_to_none(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "in.ipynb", "1")
    kernel = PreparedKernel(nb, cwd=tmp_path, kernel_name="no-such-kernel-spec")
    assert kernel.manager() is None
    assert kernel.error is not None
    kernel.join()


def test_the_iri_grammar_is_loaded_only_when_used() -> None:
    code = (
        "import sys\n"
        "import retrain, jsonschema\n"
        "assert type(sys.modules['rfc3987_syntax']).__name__ == '_Deferred', 'the grammar was built on import'\n"
        "v = jsonschema.Draft7Validator({'format': 'iri'}, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)\n"
        "assert not v.is_valid('http://a b') and v.is_valid('http://example.com/é')\n"
        "import rfc3987_syntax\n"
        "assert rfc3987_syntax.RFC3987_SYNTAX_PARSER_TYPE == 'earley'\n"
        "from retrain.lazy import defer_iri_grammar\n"
        "assert defer_iri_grammar() is False  # already the real module: nothing to defer\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
