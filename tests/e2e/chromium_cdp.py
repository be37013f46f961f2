"""A headless Chromium driven over the Chrome DevTools Protocol: just what the JupyterLab test needs.

One page, synchronous calls over its websocket (``websocket-client``, which ``jupyter_server`` already installs),
real mouse and keyboard events, screenshots. The browser runs in its own process group, stopped by :meth:`close`.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio", "--remote-debugging-port=0"]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BrowserError(RuntimeError):
    """Chromium did not start, or a DevTools call failed."""


class Chromium:
    """``Chromium(exe, profile)`` starts the browser; ``page`` methods act on its one tab."""

    def __init__(self, exe: str, profile: Path, *, width: int = 1400, height: int = 1000,
                 start_timeout: float = 60.0) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.log_path = profile.parent / f"{profile.name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, start_new_session=True)
        self._ws: websocket.WebSocket | None = None
        self._next_id = 0
        try:
            port = self._devtools_port(profile / "DevToolsActivePort", start_timeout)
            self._ws = websocket.create_connection(self._page_socket(port, start_timeout), timeout=30,
                                                   suppress_origin=True)
            self.call("Page.enable")
            self.call("Runtime.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                      mobile=False)
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, marker: Path, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError(f"chromium exited with {self.proc.returncode}; see {self.log_path}")
            text = marker.read_text() if marker.exists() else ""
            if text.strip():
                return int(text.split()[0])
            time.sleep(0.1)
        raise BrowserError(f"chromium opened no DevTools port in {timeout:.0f} s; see {self.log_path}")

    @staticmethod
    def _page_socket(port: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            with _NO_PROXY.open(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
                pages = [t for t in json.load(resp) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            if time.monotonic() > deadline:
                raise BrowserError("chromium has no page to drive")
            time.sleep(0.1)

    def call(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events that arrive meanwhile are dropped)."""
        assert self._ws is not None
        self._next_id += 1
        ident = self._next_id
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self._ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
        raise BrowserError(f"{method}: no answer in {timeout:.0f} s")

    # -- the page -------------------------------------------------------------------------------------------

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited, JSON-serialisable values)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('exception', result)}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str, interval: float = 0.25) -> Any:
        """Poll ``expression`` until it is truthy; its value, or a BrowserError naming ``what``."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    def click_at(self, x: float, y: float) -> None:
        """A real left click (move, press, release) at viewport coordinates."""
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        time.sleep(0.1)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", buttons=1, clickCount=1)

    def click(self, expression: str, what: str, timeout: float = 30.0) -> None:
        """Click the middle of the element ``expression`` evaluates to, once it is laid out."""
        box = self.wait_for(
            f"(() => {{ const el = {expression}; if (!el) return null; const r = el.getBoundingClientRect();"
            f" return r.width && r.height ? {{x: r.x + r.width / 2, y: r.y + r.height / 2}} : null; }})()",
            timeout, what)
        self.click_at(box["x"], box["y"])

    def press(self, key: str, code: str, key_code: int, *, ctrl: bool = False) -> None:
        """A key press as the keyboard sends it (``ctrl`` adds the Control modifier)."""
        common = {"key": key, "code": code, "windowsVirtualKeyCode": key_code, "modifiers": 2 if ctrl else 0}
        self.call("Input.dispatchKeyEvent", type="rawKeyDown", **common)
        self.call("Input.dispatchKeyEvent", type="keyUp", **common)

    def screenshot(self, *paths: Path) -> None:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def close(self) -> None:
        """Stop the browser and every process it started (its own process group)."""
        if self._ws is not None:
            try:
                self._ws.close()
            except (OSError, websocket.WebSocketException):
                pass
            self._ws = None
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:  # the renderers of a killed browser may outlive it for a moment
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()
