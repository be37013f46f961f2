"""The rows held back from training: chosen by a hash of each row, so a row held back once stays held back when the
data grows, and a model in production and a candidate are judged on rows neither trained on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from retrain.errors import ParamsError


@dataclass
class DataSplit:
    """The data file split into what the workflow trains on and the rows held back for the smoke test."""

    header: str | None
    training_lines: list[str]
    holdout_lines: list[str]

    def training_bytes(self) -> bytes:
        return _join(self.header, self.training_lines)

    def holdout_bytes(self) -> bytes:
        return _join(self.header, self.holdout_lines)


def _join(header: str | None, lines: list[str]) -> bytes:
    rows = ([header] if header is not None else []) + lines
    return ("\n".join(rows) + "\n").encode("utf-8")


def row_rank(line: str, seed: int) -> int:
    """A row's place in the hold-back order: a hash of the seed and the row's text, so a row keeps its place
    whatever other rows the file holds."""
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{line.strip()}".encode()).digest()[:8], "big")


def split_holdout(path: Path, input_format: str, rows: int, seed: int) -> DataSplit:
    """Hold back ``rows`` rows of the file at ``path``: those whose :func:`row_rank` is smallest.

    The choice depends on each row alone, not on the file around it: a row held back once stays held back when a
    later file adds rows (it can only be pushed out), so a model in production and a candidate trained on a
    grown file are judged on rows neither was trained on. The lines are kept byte for byte, in file order.
    """
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    header = None
    if input_format == "raw":
        if not lines:
            raise ParamsError(f"data_path {path} is empty; it needs a header and rows.")
        header, lines = lines[0], lines[1:]
    if rows >= len(lines):
        raise ParamsError(f"holdout_rows={rows} leaves no rows to train on ({path} has {len(lines)} data rows).")
    ranked = sorted(range(len(lines)), key=lambda i: (row_rank(lines[i], seed), i))
    chosen = set(ranked[:rows])
    training = [line for i, line in enumerate(lines) if i not in chosen]
    holdout = [line for i, line in enumerate(lines) if i in chosen]
    return DataSplit(header=header, training_lines=training, holdout_lines=holdout)
