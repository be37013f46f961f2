"""Kernels started ahead of their notebook, so a chain of notebooks does not wait for start-up and imports.

Every notebook of ``retrain run`` gets a fresh kernel of its own (notebooks never share memory: state travels in
the run state file). What a fresh kernel costs before the first cell does anything useful — the process start and
the imports of sagemaker, stepfunctions, boto3 and matplotlib, 2-4 s — does not depend on the notebook's state,
so :class:`PreparedKernel` pays it in the background while the previous notebook runs: it starts the kernel in the
notebook's folder and imports the modules the notebook's own cells import (read from its source), silently and
without leaving names behind. papermill then runs the notebook in that kernel (``km=``).

Anything that goes wrong here only costs speed: :meth:`PreparedKernel.manager` returns None and papermill starts a
kernel the usual way.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from queue import Empty
from typing import Any, Protocol

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

LOG = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
PRELOAD_TIMEOUT_S = 120.0
#: how long the ready check waits for the IOPub message of a ``kernel_info`` (then asks again), and for more
IOPUB_PROBE_S = 0.05
IOPUB_DRAIN_S = 0.01
#: what nbclient passes to the kernels it starts (no history file on disk)
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:"]
#: modules a notebook needs that its cells import only indirectly (inside retrain's functions)
INDIRECT_IMPORTS: dict[str, tuple[str, ...]] = {
    "retrain.reports": ("matplotlib.pyplot",),
    "retrain.deploy": ("xgboost",),
}


def notebook_imports(path: str | Path) -> list[str]:
    """The modules the code cells of the notebook at ``path`` import, in order, without duplicates.

    Relative imports and cells that are not plain Python (magics) are skipped.
    """
    cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    names: list[str] = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse("".join(source) if isinstance(source, list) else source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found = [node.module]
            else:
                continue
            for name in found:
                for module in (name, *INDIRECT_IMPORTS.get(name, ())):
                    if module not in names:
                        names.append(module)
    return names


def preload_code(modules: list[str]) -> str:
    """Code that imports ``modules`` (each failure ignored: the notebook's own cell will show it) and leaves no
    name in the kernel's namespace."""
    return (
        "def _retrain_preload(names):\n"
        "    import importlib\n"
        "    for name in names:\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "        except Exception:\n"
        "            pass\n"
        f"_retrain_preload({modules!r})\n"
        "del _retrain_preload\n"
    )


class ChainKernelClient(AsyncKernelClient):
    """An ``AsyncKernelClient`` whose ready check does not sit idle.

    jupyter_client's check waits 0.2 s for an IOPub message after each ``kernel_info`` reply (to know IOPub is
    connected) and then drains IOPub until it has been quiet for 0.2 s: 0.2-0.4 s per notebook, mostly idle. This
    one asks the same questions with short waits: ``kernel_info`` until its reply *and* an IOPub message arrive
    (proof that IOPub is connected), then it drains what is already queued. nbclient matches every IOPub message
    to its request, so nothing older can be mistaken for a cell's output.
    """

    async def wait_for_ready(self, timeout: float | None = None) -> None:  # type: ignore[override]
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.get_shell_msg(timeout=1)
            except Empty:
                reply = None
            if reply is not None and reply.get("msg_type") == "kernel_info_reply":
                try:
                    await self.get_iopub_msg(timeout=IOPUB_PROBE_S)
                except Empty:
                    pass
                else:
                    self._handle_kernel_info_reply(reply)
                    break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while True:
            try:
                await self.get_iopub_msg(timeout=IOPUB_DRAIN_S)
            except Empty:
                break


class ChainKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose clients check readiness quickly (:class:`ChainKernelClient`), remembered to
    close their channels afterwards (nbclient leaves a client open when it does not own the kernel manager)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("client_class", f"{__name__}.ChainKernelClient")
        super().__init__(**kwargs)
        self.made_clients: list[Any] = []

    def client(self, **kwargs: Any) -> Any:
        kc = super().client(**kwargs)
        self.made_clients.append(kc)
        return kc


class PreparedKernel:
    """A kernel for one notebook, started (and its imports done) on a background thread.

    ``PreparedKernel(notebook, cwd=..., kernel_name=..., config=..., after=None)`` starts at once, or once the
    kernel ``after`` is ready (so the kernel needed first gets the CPU first); :meth:`manager` waits for it and
    returns the kernel manager to hand to papermill (or None when preparing failed); :meth:`shutdown` stops the
    kernel (in the background) whether or not it was used.
    """

    def __init__(self, notebook: str | Path, *, cwd: str | Path, kernel_name: str = "python3",
                 config: Any = None, after: PreparedKernel | None = None) -> None:
        self.notebook = Path(notebook)
        self.after = after
        self.cwd = str(cwd)
        self.km = ChainKernelManager(kernel_name=kernel_name, **({"config": config} if config is not None else {}))
        self.error: BaseException | None = None
        self.preloaded: list[str] = []
        self._stopper: threading.Thread | None = None
        self._thread = threading.Thread(target=self._prepare, name=f"kernel-{self.notebook.stem}", daemon=True)
        self._thread.start()

    def _prepare(self) -> None:
        if self.after is not None:
            self.after._thread.join()
            self.after = None
        loop = asyncio.new_event_loop()
        try:
            modules = notebook_imports(self.notebook)
            loop.run_until_complete(self._start(modules))
            self.preloaded = modules
        except BaseException as exc:  # noqa: BLE001 - any failure only means "start a kernel the usual way"
            self.error = exc
            LOG.warning("preparing a kernel for %s failed (%s); papermill starts one instead", self.notebook.name,
                        exc)
        finally:
            loop.close()

    async def _start(self, modules: list[str]) -> None:
        await self.km.start_kernel(cwd=self.cwd, extra_arguments=list(KERNEL_ARGUMENTS))
        kc = self.km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=START_TIMEOUT_S)
            reply = await kc.execute_interactive(preload_code(modules), silent=True, store_history=False,
                                                 timeout=PRELOAD_TIMEOUT_S, output_hook=lambda msg: None)
            if reply["content"].get("status") != "ok":
                LOG.debug("preloading modules for %s: %s", self.notebook.name, reply["content"])
        finally:
            kc.stop_channels()
            self.km.made_clients.remove(kc)

    def manager(self) -> ChainKernelManager | None:
        """Wait until the kernel is ready; the kernel manager, or None when it could not be prepared."""
        self._thread.join()
        if self.error is not None:
            self.shutdown()
            return None
        return self.km

    def shutdown(self) -> None:
        """Close the clients and kill the kernel on a background thread (its notebook has written its state)."""
        if self._stopper is not None:
            return

        def stop() -> None:
            self._thread.join()
            for kc in self.km.made_clients:
                try:
                    kc.stop_channels()
                except Exception:  # noqa: BLE001 - best effort
                    LOG.debug("closing a kernel client failed", exc_info=True)
            loop = asyncio.new_event_loop()
            try:
                if self.km.has_kernel:
                    loop.run_until_complete(self.km.shutdown_kernel(now=True))
                else:
                    loop.run_until_complete(self.km.cleanup_resources())
            except Exception:  # noqa: BLE001 - the process may already be gone
                LOG.debug("stopping the kernel of %s failed", self.notebook.name, exc_info=True)
            finally:
                loop.close()

        self._stopper = threading.Thread(target=stop, name=f"kernel-stop-{self.notebook.stem}", daemon=True)
        self._stopper.start()

    def join(self, timeout: float | None = 30.0) -> None:
        """Wait for :meth:`shutdown` to finish."""
        if self._stopper is not None:
            self._stopper.join(timeout)


def ipc_config(folder: str | Path, name: str) -> Any:
    """Kernel settings for local sockets in ``folder`` (no TCP ports, no "unencrypted TCP" warning per notebook).

    Each kernel gets its own socket name prefix ``name``: kernels starting at the same time would otherwise pick
    the same socket files.
    """
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(Path(folder) / name)
    return config


class KernelSource(Protocol):
    """Where ``retrain run`` gets each notebook's kernel: :meth:`papermill_arguments` are the keyword arguments
    for ``papermill.execute_notebook`` (a ready kernel manager ``km``, or how papermill starts one itself)."""

    def start(self) -> None: ...

    def papermill_arguments(self, name: str) -> dict[str, Any]: ...

    def release(self, name: str) -> None: ...

    def close(self) -> None: ...


class PreparedKernels:
    """The kernel source ``retrain run`` uses by default: each notebook's kernel started (with its imports) while
    the notebooks before it run, ``ahead`` notebooks ahead and at most ``at_once`` starting together. Kernels
    talk over local sockets in a folder of their own, removed by :meth:`close`."""

    def __init__(self, folder: Path, order: list[str], *, kernel_name: str = "python3", ahead: int = 2,
                 at_once: int = 2) -> None:
        self.folder, self.order, self.kernel_name = folder, order, kernel_name
        self.ahead, self.at_once = ahead, at_once
        self.sockets = tempfile.mkdtemp(prefix="retrain-kernel-")
        self._kernels: dict[str, PreparedKernel] = {}

    def _prepare(self, names: list[str]) -> None:
        for name in names:
            if name not in self._kernels:
                started = list(self._kernels.values())  # the first kernel starts alone: its notebook waits
                previous = started[max(0, len(started) - self.at_once)] if started else None
                self._kernels[name] = PreparedKernel(self.folder / f"{name}.ipynb", cwd=self.folder,
                                                     kernel_name=self.kernel_name,
                                                     config=ipc_config(self.sockets, name), after=previous)

    def start(self) -> None:
        """Start preparing the first kernels (call as early as possible)."""
        self._prepare(self.order[:1 + self.ahead])

    def papermill_arguments(self, name: str) -> dict[str, Any]:
        """The ready kernel for ``name`` (or, when it could not be prepared, papermill starts one); the next
        notebooks' kernels start preparing."""
        position = self.order.index(name) if name in self.order else len(self.order)
        self._prepare(self.order[position:position + 1 + self.ahead])
        prepared = self._kernels.get(name)
        km = prepared.manager() if prepared is not None else None
        if km is not None:
            return {"km": km, "kernel_name": self.kernel_name}
        return {"kernel_name": self.kernel_name, "cwd": str(self.folder),
                "config": ipc_config(self.sockets, f"{name}-fallback")}

    def release(self, name: str) -> None:
        """The notebook ``name`` is done: stop its kernel in the background."""
        if name in self._kernels:
            self._kernels[name].shutdown()

    def close(self) -> None:
        """Stop every kernel (those prepared for notebooks that did not run too), wait for them, and remove the
        sockets' folder."""
        for prepared in self._kernels.values():
            prepared.shutdown()
        for prepared in self._kernels.values():
            prepared.join()
        shutil.rmtree(self.sockets, ignore_errors=True)


class FreshKernels:
    """A kernel source that prepares nothing: papermill starts each notebook's kernel itself, in the notebooks'
    folder."""

    def __init__(self, folder: Path, kernel_name: str = "python3") -> None:
        self.folder, self.kernel_name = folder, kernel_name

    def start(self) -> None:
        return None

    def papermill_arguments(self, name: str) -> dict[str, Any]:
        return {"kernel_name": self.kernel_name, "cwd": str(self.folder)}

    def release(self, name: str) -> None:
        return None

    def close(self) -> None:
        return None
