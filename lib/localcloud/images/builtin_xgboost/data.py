"""Training data as the 1.7-1 container reads it in File mode (``data_utils.py``, branch ``1.7-1``).

The steps and their quirks are the container's, on purpose:

1. :func:`size_of` walks the channel; a file whose name starts with ``.`` anywhere stops the job
   ("Hidden file found in the data path! ..."). A channel of empty files counts as having no data.
2. :func:`validate_files` checks the files of the first leaf folder that do not start with ``.`` or ``_``: for
   CSV, ``csv.Sniffer`` must find a delimiter on each file's first line; for libsvm the first lines must look
   like libsvm.
3. :func:`load` links every file up to three folders deep into one folder and hands that folder to xgboost's own
   reader (dmlc): CSV as ``<folder>?format=csv&label_column=0&delimiter=<d>``, libsvm as the bare folder. dmlc
   skips empty files but reads every other file, ``_``-prefixed ones included; it knows no quotes and no header
   (an unparsable label reads as 0, an unparsable feature as missing).

Where localcloud is deliberately not random: the container sniffs the delimiter from whichever file the
directory lists first, which varies from run to run, so an empty ``_SUCCESS`` marker fails the job only when it
happens to come first. localcloud checks every file as if it came first: a channel that fails on SageMaker some
of the time fails here every time, with the container's message.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any

from localcloud.images.builtin_xgboost.content import CSV, LIBSVM, PARQUET, RECORDIO_PROTOBUF, UserError

LOG = logging.getLogger(__name__)

MAX_FOLDER_DEPTH = 3
INVALID_FORMAT = ("First line '{snippet}...' of file '{name}' is not '{kind}' format. Please ensure the file is in "
                  "'{kind}' format.")
NO_LABELS = ("Got input data without labels. Please check the input data set. If training job is running on "
             "multiple instances, please switch to using single instance if number of records in the data set is "
             "less than number of workers (16 * number of instance) in the cluster.")


def size_of(path: Path) -> int:
    """Bytes of data under ``path`` (``get_size``); raises on a hidden file."""
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            if name.startswith("."):
                raise UserError("Hidden file found in the data path! Remove that before training.")
            total += os.path.getsize(os.path.join(root, name))
    return total


def is_data_file(folder: str, name: str) -> bool:
    """``_is_data_file``: a regular file not starting with ``.`` or ``_`` and not an xgboost cache file."""
    if not os.path.isfile(os.path.join(folder, name)) or name.startswith((".", "_")):
        return False
    return not (".cache" in name and ("dtrain" in name or "dval" in name))


def sniff_delimiter(line: str) -> str:
    """``_get_csv_delimiter``: ``csv.Sniffer`` on one line, its failure a UserError."""
    try:
        delimiter = csv.Sniffer().sniff(line).delimiter
    except Exception as exc:  # csv.Error, and whatever else the sniffer raises on odd input
        raise UserError(f"Could not determine delimiter on line {line[:50]}:\n{exc}") from None
    LOG.info("Determined delimiter of CSV input is '%s'", delimiter)
    return delimiter


def _first_line(path: str) -> str:
    with open(path, errors="ignore") as handle:
        return handle.readline()


def _libsvm_features(line: str) -> int:
    """``_get_num_valid_libsvm_features``: -1 when the line is not libsvm."""
    parts = line.split(" ")
    label = parts[0].split(":")
    if len(label) > 2:
        return -1
    for part in label:
        try:
            float(part)
        except ValueError:
            return -1
    count = 0
    for part in parts[1:]:
        if ":" not in part or len(parts[1].split(":")) != 2:
            return -1
        count += 1
    return count


def _validate_libsvm(path: str) -> None:
    with open(path, errors="ignore") as handle:
        for line in handle:
            features = _libsvm_features(line)
            if features > 1:
                return
            if features < 0:
                raise UserError(INVALID_FORMAT.format(snippet=line[:50], name=path.split("/")[-1], kind="LIBSVM"))


def validate_files(path: Path, kind: str) -> None:
    """``validate_data_file_path``: the first lines of the data files of the first leaf folder."""
    if path.is_file():
        files = [str(path)]
    else:
        leaf = next((root for root, dirs, _ in os.walk(path) if not dirs), str(path))
        files = [os.path.join(leaf, n) for n in sorted(os.listdir(leaf)) if is_data_file(leaf, n)]
    for file in files:
        if kind == CSV:
            sniff_delimiter(_first_line(file))
        elif kind == LIBSVM:
            _validate_libsvm(file)


def link_files(source: Path, dest: Path) -> list[Path]:
    """Link every file up to :data:`MAX_FOLDER_DEPTH` folders deep into ``dest`` (one flat folder)."""
    dest.mkdir(parents=True, exist_ok=True)
    linked: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        if depth > MAX_FOLDER_DEPTH:
            LOG.warning("The depth of folder %s exceed the limit %s. Files in deeper sub dirs won't be loaded. "
                        "Please adjust the folder structure accordingly.", source, MAX_FOLDER_DEPTH)
            return
        for item in sorted(folder.iterdir()):
            if item.is_file():
                target = dest / f"{item.name}-{len(linked)}"
                target.symlink_to(item)
                linked.append(target)
            elif item.is_dir():
                walk(item, depth + 1)

    if source.is_file():
        target = dest / source.name
        target.symlink_to(source)
        return [target]
    walk(source, 1)
    return linked


def _csv_delimiter(files: list[Path]) -> str:
    """The delimiter of the file listed first; every file is tried as the first (see the module notes)."""
    delimiters = [sniff_delimiter(_first_line(str(f))) for f in files]
    return delimiters[0] if delimiters else ","


def load(path: Path, kind: str, links: Path, csv_weights: bool = False) -> Any:
    """The channel's DMatrix (``get_dmatrix``), or None when the channel holds no data."""
    import xgboost as xgb

    files = link_files(path, links)
    if kind == CSV:
        delimiter = _csv_delimiter(files)
        uri = f"{links}?format=csv&label_column=0&delimiter={delimiter}" + ("&weight_column=1" if csv_weights else "")
        try:
            dmatrix = xgb.DMatrix(uri)
        except Exception as exc:
            raise UserError(f"Failed to load csv data with exception:\n{exc}") from None
    elif kind == LIBSVM:
        try:
            dmatrix = xgb.DMatrix(str(links))
        except Exception as exc:
            raise UserError(f"Failed to load libsvm data with exception:\n{exc}") from None
    elif kind in (PARQUET, RECORDIO_PROTOBUF):
        raise UserError(f"localcloud's built-in XGBoost reads csv and libsvm channels; {kind} input is not "
                        "implemented locally. Convert the channel to text/csv or text/libsvm.")
    else:  # pragma: no cover - content.parse returned something else
        raise UserError(f"unknown content type {kind}")
    if dmatrix.get_label().size == 0:
        raise UserError(NO_LABELS)
    return dmatrix
