"""A job's command in an image's environment, with ``/opt/ml`` mapped onto the job folder; and the processing
container (``{"op": "process", ...}``), as a localcloud child process (one job per process).

SageMaker Processing runs a container like ``docker run --entry-point [ContainerEntrypoint] [ImageUri]
[ContainerArguments]``, and the job completes when it exits 0 and fails otherwise ("How Amazon SageMaker
Processing Runs Your Processing Container Image", SageMaker developer guide). localcloud has no image to start, so
the command runs in the image's Python environment:

* ``python``, ``python3``, ``python3.9``... (any path) are the image environment's interpreter, ``pip``/``pip3``
  its ``python -m pip``; ``PATH`` has the environment's ``bin`` first;
* every argument that is an ``/opt/ml`` path means the job folder's, and every Python process of the job runs with
  the :mod:`.pathmap` mapping (``PYTHONPATH`` starts with the ``sitecustomize`` that installs it);
* a ``bash``/``sh`` script (the SDK's ``runproc.sh`` of a ``FrameworkProcessor``) runs from a copy whose ``/opt/ml``
  paths are the job folder's, as does a ``-c`` command;
* ``pip install`` goes to the job's own ``packages`` folder (``PIP_TARGET``), first on ``PYTHONPATH``: what a job
  installs lives as long as the job, as in a container.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

from localcloud.core.childmain import redirect_output
from localcloud.images.scriptmode import STARTUP_DIR, pathmap

PYTHON_NAME = re.compile(r"^python(\d+(\.\d+)?)?$")
SHELLS = ("bash", "sh")


def job_env(root: str, packages: str, env: dict[str, str], extra_path: tuple[str, ...] = ()) -> dict[str, str]:
    """The environment of a job's processes: ``env`` plus the interpreter's ``PATH``, the path mapping and the
    job's own package folder."""
    out = dict(env)
    image_bin = os.path.dirname(sys.executable)
    out["PATH"] = os.pathsep.join([image_bin, out.get("PATH") or os.environ.get("PATH", "/usr/bin:/bin")])
    inherited = os.environ.get("PYTHONPATH", "")
    out["PYTHONPATH"] = os.pathsep.join([*extra_path, STARTUP_DIR, packages, *filter(None, [inherited])])
    out[pathmap.ENV] = root
    out["PIP_TARGET"] = packages
    out.setdefault("HOME", os.environ.get("HOME", root))
    return out


def _script_index(args: list[str]) -> int | None:
    """Where the script is in a Python or shell command's arguments (None with ``-c``/``-m`` or no script)."""
    for index, arg in enumerate(args):
        if arg in ("-c", "-m"):
            return None
        if not arg.startswith("-"):
            return index
    return None


def resolve(argv: list[str], scratch: str) -> list[str]:
    """The command to start for the container's ``argv`` (see the module docstring). A Python or shell script's
    own path is the real one (the interpreter opens it before any Python code runs); the arguments after it stay
    as given, since the script sees ``/opt/ml`` through the mapping. Any other program gets real paths."""
    name = os.path.basename(argv[0])
    args = list(argv[1:])
    script = _script_index(args)
    if PYTHON_NAME.match(name) or name in ("pip", "pip3"):
        if script is not None:
            args[script] = str(pathmap.to_real(args[script]))
        return [sys.executable, *args] if PYTHON_NAME.match(name) else [sys.executable, "-m", "pip", *args]
    if name in SHELLS:
        if args[:1] == ["-c"] and len(args) > 1:
            return [argv[0], "-c", pathmap.in_text(args[1]), *args[2:]]
        path = str(pathmap.to_real(args[script])) if script is not None else ""
        if path and os.path.isfile(path):
            os.makedirs(scratch, exist_ok=True)
            copy = os.path.join(scratch, os.path.basename(path))
            with open(path, encoding="utf-8", errors="surrogateescape") as source:
                text = pathmap.in_text(source.read())
            with open(copy, "w", encoding="utf-8", errors="surrogateescape") as target:
                target.write(text)
            return [argv[0], *args[:script], copy, *args[script + 1:]]  # type: ignore[operator]
        return [argv[0], *args]
    return [str(pathmap.to_real(argv[0])), *(str(pathmap.to_real(a)) for a in args)]


def run(argv: list[str], env: dict[str, str], cwd: str) -> int:
    """Start ``argv`` with ``env`` in ``cwd``, its output going to this process's log; its exit status."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"exec {argv[0]}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    return process.wait()


def process(message: dict[str, Any]) -> dict[str, Any]:
    """Run a processing job's command; the answer carries its exit code."""
    root = str(message["root"])
    redirect_output(str(message["log"]))
    pathmap.configure(root)
    command = [str(c) for c in message.get("command") or []]
    env = job_env(root, str(message["packages"]), dict(message.get("env") or {}))
    argv = resolve(command, str(message["scratch"]))
    code = run(argv, env, str(message.get("cwd") or root))
    return {"ok": True, "exit_code": code, "exit": True}


def handle(message: dict[str, Any], payload: bytes | None) -> tuple[dict[str, Any], bytes | None]:
    if message.get("op") != "process":
        raise ValueError(f"unknown operation {message.get('op')!r}")
    return process(message), None
