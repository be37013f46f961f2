"""The child side of localcloud's warm child processes: ``python -m localcloud.core.childmain MODULE R W``.

A child imports ``MODULE`` once (paying for its imports before any work arrives), then answers requests one at a
time over two pipes (file descriptors ``R`` and ``W``); its stdout and stderr are the log the parent chose, so
whatever the work prints never mixes with the protocol.

Frames: one line of JSON; when the object has ``"bytes": N``, N raw bytes follow the newline (a CSV payload, a
model answer). The child first sends ``{"event": "ready", "pid": ..., **MODULE.prepare()}`` (or
``{"event": "failed", "error": ...}`` and exits 1), then answers each request ``{"op": ...}`` with the frame
``MODULE.handle(message, payload)`` returns. ``{"op": "exit"}`` or a closed request pipe ends the loop. A handler
that raises is answered ``{"error": TYPE, "message": ..., "traceback": ...}`` and the child keeps serving.

The module may define ``prepare() -> dict`` (imports and warm-up before "ready") and must define
``handle(message, payload) -> (answer, payload_or_None)``; setting ``answer["exit"] = True`` ends the child after
the answer (a one-shot job process). Two optional hooks: ``after(message, answer)`` runs once an answer is sent
(clean-up the next request waits for, the caller does not), ``close()`` when the loop ends without an error
(releasing what ``prepare`` started, such as a Spark session). This file imports the standard library only: it
runs in interpreters that have nothing of localcloud's own dependencies (the built-in algorithm images).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any, BinaryIO

PARENT_POLL_SECONDS = 1.0


def read_frame(stream: BinaryIO) -> tuple[dict[str, Any], bytes | None] | None:
    """The next frame from a blocking binary stream, or None at end of stream."""
    line = stream.readline()
    if not line:
        return None
    message = json.loads(line)
    size = message.get("bytes")
    if size is None:
        return message, None
    payload = stream.read(int(size))
    if len(payload) != int(size):
        return None
    return message, payload


def encode_frame(message: dict[str, Any], payload: bytes | None = None) -> bytes:
    """A frame's bytes: the JSON line (with ``bytes`` set when a payload follows) and the payload."""
    if payload is not None:
        message = {**message, "bytes": len(payload)}
        return json.dumps(message).encode() + b"\n" + payload
    return json.dumps(message).encode() + b"\n"


def peak_rss_kb() -> int:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss it does not carry the parent's over exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def redirect_output(path: str) -> None:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path`` from now on (truncated)."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _watch_parent(parent: int, group: bool) -> None:
    """End this child (with its own children when it leads a process group) once its parent is gone."""
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent:
            try:
                if group:
                    os.killpg(0, signal.SIGKILL)
            finally:
                os._exit(1)


def _error_answer(exc: BaseException) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc))}


def serve(module: Any, requests: BinaryIO, responses: BinaryIO) -> int:
    """Answer requests with ``module.handle`` until told to stop; returns the exit status."""

    def send(message: dict[str, Any], payload: bytes | None = None) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        responses.write(encode_frame({**message, "max_rss_kb": peak_rss_kb()}, payload))
        responses.flush()

    started = time.monotonic()
    try:
        info = module.prepare() if hasattr(module, "prepare") else {}
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the work with it
        traceback.print_exc()
        send({"event": "failed", **_error_answer(exc)})
        return 1
    send({"event": "ready", "pid": os.getpid(), "startup_s": round(time.monotonic() - started, 3), **(info or {})})
    while True:
        frame = read_frame(requests)
        if frame is None or frame[0].get("op") == "exit":
            break
        message, payload = frame
        try:
            answer, out = module.handle(message, payload)
        except Exception as exc:  # a handler bug or a failure it did not expect: answered, the child lives on
            traceback.print_exc()
            answer, out = _error_answer(exc), None
        send(answer, out)
        if answer.get("exit"):
            break
        if hasattr(module, "after"):
            module.after(message, answer)
    if hasattr(module, "close"):
        module.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m localcloud.core.childmain MODULE REQUEST_FD RESPONSE_FD", file=sys.stderr)
        return 2
    module_name, req_fd, resp_fd = args[0], int(args[1]), int(args[2])
    group = os.getpgrp() == os.getpid()
    threading.Thread(target=_watch_parent, args=(os.getppid(), group), name="parent-watch", daemon=True).start()
    requests = os.fdopen(req_fd, "rb")
    responses = os.fdopen(resp_fd, "wb")
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:  # noqa: BLE001 - the parent reports it as the child's start-up failure
        traceback.print_exc()
        responses.write(encode_frame({"event": "failed", **_error_answer(exc)}))
        responses.flush()
        return 1
    return serve(module, requests, responses)


if __name__ == "__main__":
    sys.exit(main())
