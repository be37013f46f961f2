"""``/opt/ml`` inside a job's Python processes: the job folder seen at the container's own paths.

A SageMaker container finds its data, code and configuration under ``/opt/ml`` (``/opt/ml/processing/<...>`` in a
processing job, ``/opt/ml/input/data/<channel>``, ``/opt/ml/model`` in a training job; "How Amazon SageMaker
Processing Configures Input and Output For Your Processing Container" and "How Amazon SageMaker Provides Training
Information" in the SageMaker developer guide). localcloud keeps each job in a folder of its own (jobs run side by
side and localcloud needs no root), so a job's Python processes get a path mapping: every path that starts with
``/opt/ml`` given to Python's file functions (``open``, ``io.open_code``, the ``os`` functions ``pathlib``,
``shutil``, ``glob`` and ``tempfile`` rely on) and every ``/opt/ml`` argument of a command started with
``subprocess`` or ``os.system`` means the same path under the job folder. ``os.getcwd`` answers the ``/opt/ml``
path of a working directory inside the job folder. Scripts see exactly the paths AWS gives them (arguments,
``SM_*`` variables, hard-coded paths all work); what is not Python (a C library opening a file by name) sees the
real folder.

:func:`install` is called by the ``sitecustomize`` of :mod:`localcloud.images.scriptmode` (``startup/``) when
``LOCALCLOUD_OPT_ML`` names the job folder, so every Python process of the job, including those a script starts,
has the mapping. Standard library only.
"""

from __future__ import annotations

import builtins
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

ENV = "LOCALCLOUD_OPT_ML"
PREFIX = "/opt/ml"
_IN_TEXT = re.compile(r"(?<![\w./-])/opt/ml(?=/|\b|$)")
#: ``os`` functions whose first argument is a path
_ONE_PATH = ("stat", "lstat", "access", "listdir", "scandir", "mkdir", "rmdir", "remove", "unlink", "chdir",
             "chmod", "utime", "readlink", "truncate", "statvfs", "open", "chown", "lchown", "mkfifo",
             "pathconf", "removexattr", "getxattr", "setxattr", "listxattr", "chroot")
#: ``os`` functions whose first two arguments are paths
_TWO_PATHS = ("rename", "replace", "link", "symlink")

_state: dict[str, str] = {}


def to_real(path: Any) -> Any:
    """The job-folder path for ``path`` when it starts with ``/opt/ml``; anything else unchanged."""
    root = _state.get("root")
    if root is None or isinstance(path, int):
        return path
    try:
        text = os.fspath(path)
    except TypeError:
        return path
    if isinstance(text, bytes):
        decoded = text.decode(errors="surrogateescape")
        mapped = to_real(decoded)
        return mapped.encode(errors="surrogateescape") if mapped is not decoded else path
    if text == PREFIX or text.startswith(PREFIX + "/"):
        return root + text[len(PREFIX):]
    return path


def to_virtual(path: str) -> str:
    """The ``/opt/ml`` path for a real path inside the job folder."""
    root = _state.get("root")
    if root and (path == root or path.startswith(root + "/")):
        return PREFIX + path[len(root):]
    return path


def in_text(text: str) -> str:
    """``/opt/ml`` occurrences of a shell command line replaced by the job folder."""
    root = _state.get("root")
    return _IN_TEXT.sub(lambda _: root, text) if root else text


def _one(func: Callable[..., Any]) -> Callable[..., Any]:
    def mapped(path: Any = None, *args: Any, **kwargs: Any) -> Any:
        if path is None and func.__name__ in ("listdir", "scandir"):
            return func(*args, **kwargs)
        return func(to_real(path), *args, **kwargs)

    mapped.__name__ = mapped.__qualname__ = func.__name__
    mapped.__doc__ = func.__doc__
    return mapped


def _two(func: Callable[..., Any]) -> Callable[..., Any]:
    def mapped(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        return func(to_real(src), to_real(dst), *args, **kwargs)

    mapped.__name__ = mapped.__qualname__ = func.__name__
    mapped.__doc__ = func.__doc__
    return mapped


def _args(args: Any) -> Any:
    if isinstance(args, (str, bytes)):
        return in_text(args) if isinstance(args, str) else args
    try:
        return [to_real(a) if isinstance(a, (str, bytes, os.PathLike)) else a for a in args]
    except TypeError:
        return args


def _patch_subprocess() -> None:
    original = subprocess.Popen.__init__

    def init(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
        if kwargs.get("cwd") is not None:
            kwargs["cwd"] = to_real(kwargs["cwd"])
        if kwargs.get("executable") is not None:
            kwargs["executable"] = to_real(kwargs["executable"])
        original(self, _args(args), *rest, **kwargs)

    subprocess.Popen.__init__ = init  # type: ignore[method-assign]
    system = os.system
    os.system = lambda command: system(in_text(command))  # type: ignore[assignment]


def virtual_argv() -> None:
    """``sys.argv[0]`` as the container shows it (a script under the job folder is started by its real path)."""
    if sys.argv and sys.argv[0]:
        sys.argv[0] = to_virtual(sys.argv[0])


def configure(root: str) -> None:
    """Set the job folder :func:`to_real` and :func:`in_text` map onto, without patching anything (the process
    that starts a job's command resolves paths itself and starts the command with exactly its arguments)."""
    _state["root"] = os.path.abspath(root).rstrip("/")


def install(root: str) -> None:
    """Map ``/opt/ml`` onto ``root`` in this process: Python's file functions and the commands it starts
    (idempotent)."""
    if _state.get("installed"):
        return
    configure(root)
    _state["installed"] = "yes"
    real_open, open_code, getcwd = builtins.open, io.open_code, os.getcwd

    def open_(file: Any, *args: Any, **kwargs: Any) -> Any:
        return real_open(to_real(file), *args, **kwargs)

    open_.__doc__ = real_open.__doc__
    builtins.open = io.open = open_  # type: ignore[assignment]
    io.open_code = lambda path: open_code(to_real(path))  # type: ignore[assignment]
    for name in _ONE_PATH:
        if hasattr(os, name):
            setattr(os, name, _one(getattr(os, name)))
    for name in _TWO_PATHS:
        if hasattr(os, name):
            setattr(os, name, _two(getattr(os, name)))
    os.getcwd = lambda: to_virtual(getcwd())  # type: ignore[assignment]
    _patch_subprocess()
