"""``getResolvedOptions`` with AWS Glue's semantics (argparse over ``sys.argv``, unknown arguments ignored)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

LOG = logging.getLogger(__name__)

#: Arguments Glue itself passes to every run; a script may not ask for them by name.
_BOOKMARK_OPTION = "job-bookmark-option"
_BOOKMARK_CHOICES = ("job-bookmark-enable", "job-bookmark-pause", "job-bookmark-disable")
_CONTINUATION_OPTION = "continuation-option"
_CONTINUATION_CHOICES = ("continuation-enabled", "continuation-readonly", "continuation-ignore")
_BOOKMARK_RANGE = ("job-bookmark-from", "job-bookmark-to")
_ID_PARAMS = ("JOB_ID", "JOB_RUN_ID", "SECURITY_CONFIGURATION")
_ENCRYPTION_OPTION = "encryption-type"
_TEMP_DIRS = ("RedshiftTempDir", "TempDir")

_global_args: dict[str, str | None] = {}


class GlueArgumentError(Exception):
    """A job argument is missing or malformed (Glue raises this same error type)."""


class GlueArgumentParser(argparse.ArgumentParser):
    """An argument parser that raises :class:`GlueArgumentError` instead of exiting the process."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise GlueArgumentError(message)


def _reserved(options: Sequence[str]) -> None:
    for name in (_BOOKMARK_OPTION, _CONTINUATION_OPTION, _ENCRYPTION_OPTION, *_BOOKMARK_RANGE, *_ID_PARAMS):
        if name in options:
            raise RuntimeError(f"Using reserved arguments --{name}")


def getResolvedOptions(args: Sequence[str], options: Sequence[str]) -> dict[str, str | None]:  # noqa: N802
    """Resolve ``--NAME value`` / ``--NAME=value`` pairs of ``args`` (``sys.argv``) for each name in ``options``.

    Every name in ``options`` is required; a missing one raises :class:`GlueArgumentError` with argparse's
    message ``the following arguments are required: --NAME``. Arguments not asked for are ignored. As on Glue, the
    result also holds ``job_bookmark_option`` and the optional ``TempDir``/``RedshiftTempDir``, ``JOB_ID``,
    ``JOB_RUN_ID``, ``SECURITY_CONFIGURATION`` and ``encryption_type`` keys.
    """
    _reserved(options)
    parser = GlueArgumentParser(prog="glue-job", add_help=False)
    parser.add_argument(f"--{_BOOKMARK_OPTION}", choices=_BOOKMARK_CHOICES, required=False)
    parser.add_argument(f"--{_CONTINUATION_OPTION}", choices=_CONTINUATION_CHOICES, required=False)
    for name in (*_BOOKMARK_RANGE, *_ID_PARAMS):
        parser.add_argument(f"--{name}", required=False)
    parser.add_argument(f"--{_ENCRYPTION_OPTION}", choices=("sse-s3",), required=False)
    for name in _TEMP_DIRS:
        parser.add_argument(f"--{name}", required=False)
    for name in options:
        if name not in _TEMP_DIRS:
            parser.add_argument(f"--{name}", required=True)
    parsed, _extra = parser.parse_known_args(list(args[1:]))
    resolved: dict[str, str | None] = vars(parsed)

    if resolved.get("TempDir") is not None:
        resolved["RedshiftTempDir"] = resolved["TempDir"]
    elif resolved.get("RedshiftTempDir") is not None:
        resolved["TempDir"] = resolved["RedshiftTempDir"]

    continuation = resolved.pop("continuation_option", None)
    if resolved.get("job_bookmark_option") is None:
        if continuation is None:
            resolved["job_bookmark_option"] = "job-bookmark-disable"
        else:
            resolved["job_bookmark_option"] = _BOOKMARK_CHOICES[_CONTINUATION_CHOICES.index(continuation)]
    absent = [f"--{n}" for n in _BOOKMARK_RANGE if resolved.get(n.replace("-", "_")) is None]
    if resolved["job_bookmark_option"] == "job-bookmark-pause":
        if len(absent) == 1:
            raise RuntimeError(f"Missing option or value for {absent[0]}")
    elif not absent:
        raise RuntimeError("Invalid option(s) " + " ".join(f"--{n}" for n in _BOOKMARK_RANGE))

    _global_args.update(resolved)
    LOG.debug("resolved job arguments %s", sorted(resolved))
    return resolved
