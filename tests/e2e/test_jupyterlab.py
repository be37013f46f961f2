"""Notebooks 01–03 run in JupyterLab as a learner runs them: opened in a browser, "Run > Run All Cells", live kernels.

One JupyterLab server (the project's environment, 127.0.0.1, a token) serves copies of the notebooks whose
``parameters`` cell is extended to use an isolated local cloud, project name and run state file; headless Chromium,
driven over the DevTools protocol (tests/e2e/chromium_cdp.py) with real mouse and keyboard events, opens each
notebook, runs every cell from the Run menu, saves it with Ctrl+S and is screenshotted. A notebook passes when every
code cell ran, no output is a traceback (on the page and in the saved file), and, for 03, the workflow graph is drawn
inline in an output area. Screenshots and the executed notebooks go to reports/test-artifacts/jupyterlab/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "retrain"))
from chain_helpers import LOCAL_PARAMS, chromium, free_port  # noqa: E402
from chromium_cdp import BrowserError, Chromium  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("01_setup_roles", "02_create_resources", "03_build_workflow")
ARTIFACTS = ROOT / "reports" / "test-artifacts" / "jupyterlab"
GRAPH_STATES = ("Train Model", "Judge Model")
NOTEBOOK_TIMEOUT_S = 420
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# The notebook on show: its panel in the main area (the one not hidden behind another tab).
PANEL = "document.querySelector('#jp-main-dock-panel .jp-NotebookPanel:not(.lm-mod-hidden)')"
STATUS_JS = f"""(() => {{
  const p = {PANEL};
  if (!p) return null;
  const tab = document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel');
  const indicator = p.querySelector('.jp-Notebook-ExecutionIndicator');
  return {{
    title: tab ? tab.textContent.trim() : null,
    cells: p.querySelectorAll('.jp-Notebook .jp-Cell').length,
    prompts: [...p.querySelectorAll('.jp-Notebook .jp-CodeCell')].map(
      c => ((c.querySelector('.jp-InputArea-prompt') || {{}}).textContent || '').trim()),
    status: indicator ? indicator.dataset.status : null,
    dirty: !!document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current.jp-mod-dirty'),
    stderr: [...p.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
      .map(e => e.textContent),
  }};
}})()"""
# Every SVG drawn in an output area: inline <svg> elements, and the <img src="data:image/svg+xml,..."> JupyterLab
# renders an image/svg+xml output as (no file, no network); with whether the browser could draw it.
GRAPHS_JS = f"""(() => {{
  const p = {PANEL};
  const found = [];
  for (const el of p.querySelectorAll('.jp-OutputArea-output svg')) {{
    if (!el.parentElement.closest('svg')) found.push({{kind: 'svg', text: el.outerHTML, drawn: el.getBBox().width > 0}});
  }}
  for (const img of p.querySelectorAll('.jp-OutputArea-output img[src^="data:image/svg+xml"]')) {{
    const data = img.src.slice(img.src.indexOf(',') + 1);
    found.push({{kind: 'img', text: decodeURIComponent(data), drawn: img.complete && img.naturalWidth > 0}});
  }}
  return found;
}})()"""
MENU_ITEM_JS = """[...document.querySelectorAll('.lm-MenuBar-item')]
  .find(e => e.textContent.trim() === %s)"""
MENU_ENTRY_JS = """[...document.querySelectorAll('.lm-Menu .lm-Menu-item:not(.lm-mod-disabled)')]
  .find(e => (e.querySelector('.lm-Menu-itemLabel') || {}).textContent === %s)"""


@dataclass
class Lab:
    url: str
    token: str
    folder: Path
    log: Path

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with _NO_PROXY.open(request, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def cloud_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A localcloud of this test's own on a free port (Spark is not pre-started: no Glue job runs here)."""
    import localcloud

    home = tmp_path / "localcloud"
    port = free_port()
    monkeypatch.setenv("LOCALCLOUD_HOME", str(home))  # the kernels inherit it through the server
    monkeypatch.setenv("LOCALCLOUD_GLUE_PREWARM", "off")
    started = False
    try:
        started = localcloud.ensure_running(port, home=home)[1]
        yield port
    finally:
        info = localcloud.health(port)
        if started and info:  # our child: reap it as it exits, or stop() waits its full grace on the zombie
            threading.Thread(target=_reap, args=(int(info["pid"]),), daemon=True).start()
        localcloud.stop(port, home=home)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _copy_notebook(name: str, folder: Path, overrides: dict[str, Any]) -> Path:
    """``folder/<name>.ipynb``: the committed notebook (or its jupytext source) with its parameters cell extended
    to point at the project's local.yaml by absolute path and at the test's cloud, project and run state."""
    source = ROOT / "notebooks" / f"{name}.ipynb"
    if source.exists():
        nb = nbformat.read(str(source), as_version=4)
    else:
        import jupytext

        nb = jupytext.read(str(source.with_suffix(".py")))
    cell = next(c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", []))
    cell.source = (cell.source.rstrip() + "\n# JupyterLab test: an isolated local cloud and run state\n"
                   f"params_file = {str(LOCAL_PARAMS)!r}\noverrides = {overrides!r}\n")
    nb.metadata.pop("jupytext", None)  # no pairing with a .py in the copy
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                          "language": "python"})  # no kernel-choice dialog
    target = folder / f"{name}.ipynb"
    nbformat.write(nb, str(target))
    return target


def _stop_server(proc: subprocess.Popen[bytes], lab: Lab | None) -> None:
    """Shut the kernels down through the API, then the server; kill by pid whatever of theirs is left."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if lab is not None and proc.poll() is None:
        try:
            for kernel in lab.api("GET", "/api/kernels"):
                lab.api("DELETE", f"/api/kernels/{kernel['id']}")
        except (OSError, urllib.error.URLError, ValueError):
            pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(children, timeout=10)


@pytest.fixture
def lab(tmp_path: Path, cloud_port: int) -> Iterator[Lab]:
    """One JupyterLab server from the project's environment for the three notebooks, kernels isolated too."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    overrides = {"localcloud_port": cloud_port, "project_name": "jl-test",
                 "state_file": str(tmp_path / "state" / "state.json")}
    for name in NOTEBOOKS:
        _copy_notebook(name, folder, overrides)
    jupyter = tmp_path / "jupyter"
    settings = jupyter / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # No news toast over the screenshots and no request to jupyter.org (the machine may be offline).
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(jupyter / "config"), "JUPYTER_DATA_DIR": str(jupyter / "data"),
           "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"), "IPYTHONDIR": str(jupyter / "ipython"),
           "JUPYTER_PREFER_ENV_PATH": "1", "PYTHONUNBUFFERED": "1"}
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "jupyterlab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={folder}", "--LabApp.extension_manager=readonly",
             *(["--allow-root"] if os.geteuid() == 0 else [])],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, cwd=folder, start_new_session=True)
    running: Lab | None = None
    try:
        candidate = Lab(f"http://127.0.0.1:{port}", token, folder, log)
        deadline = time.monotonic() + 120
        while running is None:
            assert proc.poll() is None, f"JupyterLab exited with {proc.returncode}:\n{candidate.log_tail()}"
            assert time.monotonic() < deadline, f"JupyterLab did not answer in 120 s:\n{candidate.log_tail()}"
            try:
                candidate.api("GET", "/api/status")
                running = candidate
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        yield running
    finally:
        _stop_server(proc, running)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    exe = chromium()
    if exe is None:
        pytest.skip("Chromium is not installed and could not be installed with apt-get "
                    "(needs root and a reachable Debian mirror): cannot drive JupyterLab")
    page = Chromium(exe, tmp_path / "chromium-profile")
    try:
        yield page
    finally:
        page.close()


def _status(page: Chromium) -> dict[str, Any]:
    return page.evaluate(STATUS_JS) or {}


def _kernel_ready(lab: Lab, path: str) -> bool:
    """The notebook's kernel has started, is idle and has the page connected (the page's own indicator says
    idle before the kernel even exists: Run All then runs nothing)."""
    return any(s.get("path") == path and s["kernel"]["execution_state"] == "idle"
               and s["kernel"].get("connections", 0) >= 1 for s in lab.api("GET", "/api/sessions"))


def _open(page: Chromium, lab: Lab, name: str, cells: int) -> None:
    """Open the notebook alone in a fresh workspace and wait for its kernel."""
    path = f"{name}.ipynb"
    page.navigate(f"{lab.url}/lab/tree/{urllib.parse.quote(path)}?reset&token={lab.token}")
    shown = (f"(() => {{ const s = {STATUS_JS}; return s && s.title === {json.dumps(path)}"
             f" && s.cells === {cells} && s.status === 'idle'; }})()")
    what = f"{path} to open with its {cells} cells and an idle kernel"
    page.wait_for(shown, 120, what)
    deadline = time.monotonic() + 120
    while not (_kernel_ready(lab, path) and page.evaluate(shown)):
        if time.monotonic() > deadline:
            raise BrowserError(f"timed out after 120 s waiting for {what}")
        time.sleep(0.25)


def _menu(page: Chromium, menu: str, entry: str) -> None:
    page.click(MENU_ITEM_JS % json.dumps(menu), f"the {menu} menu")
    page.click(MENU_ENTRY_JS % json.dumps(entry), f"{menu} > {entry}")


def _run_all(page: Chromium, name: str) -> dict[str, Any]:
    """Run > Run All Cells, then wait until the kernel is idle with no cell queued or running."""
    _menu(page, "Run", "Run All Cells")
    started = time.monotonic()
    deadline = started + NOTEBOOK_TIMEOUT_S
    settled = 0
    while settled < 2:  # the same finished picture twice in a row
        status = _status(page)
        prompts = status.get("prompts", [])
        if time.monotonic() - started > 60 and not any(re.search(r"[\d*]", p) for p in prompts):
            raise BrowserError(f"{name}: Run > Run All Cells started no cell in 60 s: {status}")
        finished = (status.get("status") == "idle" and prompts and not any("*" in p for p in prompts)
                    and any(re.search(r"\d", p) for p in prompts))
        settled = settled + 1 if finished else 0
        if time.monotonic() > deadline:
            raise BrowserError(f"{name}: cells still queued or running after {NOTEBOOK_TIMEOUT_S} s: {status}")
        time.sleep(1)
    return status


def _save(page: Chromium, lab: Lab, name: str) -> nbformat.NotebookNode:
    """Ctrl+S, as a learner saves; the saved notebook."""
    page.press("s", "KeyS", 83, ctrl=True)
    page.wait_for(f"(() => {{ const s = {STATUS_JS}; return s && !s.dirty; }})()", 60, f"{name}.ipynb to be saved")
    return nbformat.read(str(lab.folder / f"{name}.ipynb"), as_version=4)


def _screenshot(page: Chromium, tmp_path: Path, stem: str) -> Path:
    shot = ARTIFACTS / f"{stem}.png"
    page.screenshot(shot, tmp_path / "screenshots" / f"{stem}.png")
    print(f"screenshot: {shot}")
    return shot


def _close_kernel(page: Chromium, lab: Lab, name: str) -> None:
    """Leave the page, then shut the notebook's kernel down (the next notebook starts from the run state file)."""
    page.navigate("about:blank")
    page.wait_for("document.readyState === 'complete' && location.href === 'about:blank'", 30, "about:blank")
    for session in lab.api("GET", "/api/sessions"):
        if session.get("path") == f"{name}.ipynb":
            lab.api("DELETE", f"/api/sessions/{session['id']}")


def _graph_problem(page: Chromium) -> str | None:
    """Why the workflow graph is not drawn inline in an output area (None: it is; then it is scrolled into view)."""
    graphs = page.evaluate(GRAPHS_JS) or []
    workflow = [g for g in graphs if all(state in g["text"] for state in GRAPH_STATES)]
    if not workflow:
        return f"no SVG in an output area names the states {GRAPH_STATES} ({len(graphs)} SVG outputs found)"
    if not all(g["drawn"] for g in workflow):
        return "the workflow SVG is in the page but the browser did not draw it"
    _scroll_to(page, "o => o.querySelector('svg, img[src^=\"data:image/svg+xml\"]')", "start")
    return None


def _scroll_to(page: Chromium, predicate: str, block: str) -> bool:
    """Scroll the first output area matching the JavaScript ``predicate`` into view (``block``: start, center)."""
    found = page.evaluate(f"""(() => {{ const p = {PANEL};
      const el = [...p.querySelectorAll('.jp-OutputArea-output')].find({predicate});
      if (el) el.scrollIntoView({{block: {json.dumps(block)}}}); return !!el; }})()""")
    time.sleep(0.5)
    return bool(found)


def _check_saved(nb: nbformat.NotebookNode, name: str) -> None:
    code = [c for c in nb.cells if c.cell_type == "code"]
    missing = [i for i, c in enumerate(code, 1) if c.execution_count is None]
    assert not missing, f"{name}: code cells {missing} were not run (saved notebook)"
    for i, cell in enumerate(code, 1):
        for out in cell.outputs:
            assert out.output_type != "error", (
                f"{name}: code cell {i} raised {out.ename}: {out.evalue}\n{cell.source[:300]}")


def test_notebooks_01_to_03_run_all_cells_in_jupyterlab(lab: Lab, browser: Chromium, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.glob("*.*"):  # an earlier run's screenshots must not pass for this run's
        stale.unlink()
    for name in NOTEBOOKS:
        started = time.monotonic()
        cells = len(nbformat.read(str(lab.folder / f"{name}.ipynb"), as_version=4).cells)
        try:
            _open(browser, lab, name, cells)
            status = _run_all(browser, name)
            # On show: the first traceback if there is one, else the graph for 03.
            failed = _scroll_to(browser, "o => o.dataset.mimeType === 'application/vnd.jupyter.stderr'"
                                         " && o.textContent.includes('Traceback')", "center")
            graph = _graph_problem(browser) if name.startswith("03") and not failed else None
            _screenshot(browser, tmp_path, name)
            saved = _save(browser, lab, name)
        except BrowserError as exc:
            try:
                _screenshot(browser, tmp_path, f"{name}-failed")
            except (BrowserError, OSError) as shot_error:
                print(f"no screenshot of the failure: {shot_error}")
            pytest.fail(f"{exc}\nJupyterLab log:\n{lab.log_tail()}")
        (ARTIFACTS / f"{name}.ipynb").write_text(nbformat.writes(saved))
        not_run = [i for i, p in enumerate(status["prompts"], 1) if not re.search(r"\d", p)]
        tracebacks = [text for text in status["stderr"] if "Traceback" in text]
        assert not tracebacks, f"{name}: an output shows an error:\n" + "\n---\n".join(t[-3000:] for t in tracebacks)
        assert not not_run, f"{name}: code cells {not_run} did not run: {status['prompts']}"
        _check_saved(saved, name)
        assert graph is None, f"{name}: {graph}"
        for text in status["stderr"]:
            print(f"{name}: stderr output: {text.strip()[:500]}")
        print(f"{name}: {len(status['prompts'])} code cells ran in JupyterLab in {time.monotonic() - started:.0f} s")
        _close_kernel(browser, lab, name)
