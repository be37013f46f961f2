"""The rows held back from training: chosen by a hash of each row, so a row held back once stays held back when the
data grows, and a model in production and a candidate are judged on rows neither trained on."""

from __future__ import annotations

import collections
import hashlib
import heapq
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from retrain.errors import ParamsError

#: bytes read at a time; a piece always ends just after a newline, so it splits into whole lines
PIECE_BYTES = 16 << 20


@dataclass
class DataSplit:
    """The data file split into what the workflow trains on and the rows held back for the smoke test.

    The training file is kept as the bytes that are uploaded (header first, one row a line), not as a list of
    lines: a list of five million strings takes several times the file's size.
    """

    header: str | None
    holdout_lines: list[str]
    training_rows: int
    training: bytes

    @property
    def training_lines(self) -> list[str]:
        lines = self.training.decode("utf-8").splitlines()
        return lines[1:] if self.header is not None else lines

    def training_bytes(self) -> bytes:
        return self.training

    def holdout_bytes(self) -> bytes:
        return _join(self.header, self.holdout_lines)


def _join(header: str | None, lines: list[str]) -> bytes:
    rows = ([header] if header is not None else []) + lines
    return ("\n".join(rows) + "\n").encode("utf-8")


def row_rank(line: str, seed: int) -> int:
    """A row's place in the hold-back order: a hash of the seed and the row's text, so a row keeps its place
    whatever other rows the file holds."""
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{line.strip()}".encode()).digest()[:8], "big")


def _pieces(path: Path) -> Iterator[list[str]]:
    """The file's lines that are not blank, a piece at a time: the lines ``path.read_text().splitlines()`` gives
    (every piece ends just after a ``\n``, and no line break runs past one), without the whole file in memory."""
    with open(path, "rb") as handle:
        rest = b""
        while True:
            block = handle.read(PIECE_BYTES)
            if not block:
                break
            block = rest + block
            cut = block.rfind(b"\n") + 1
            rest, block = block[cut:], block[:cut]
            if block:
                yield [line for line in block.decode("utf-8").splitlines() if line.strip()]
        if rest:
            yield [line for line in rest.decode("utf-8").splitlines() if line.strip()]


def _rows(path: Path, input_format: str) -> Iterator[tuple[str | None, list[str]]]:
    """``(header, data lines)`` piece by piece; the header (raw files: the first line that is not blank) is None
    until it has been read."""
    header: str | None = None
    for lines in _pieces(path):
        if input_format == "raw" and header is None and lines:
            header, lines = lines[0], lines[1:]
        yield header, lines


def split_holdout(path: Path, input_format: str, rows: int, seed: int) -> DataSplit:
    """Hold back ``rows`` rows of the file at ``path``: those whose :func:`row_rank` is smallest (ties: the earlier
    row).

    The choice depends on each row alone, not on the file around it: a row held back once stays held back when a
    later file adds rows (it can only be pushed out), so a model in production and a candidate trained on a
    grown file are judged on rows neither was trained on. The lines are kept byte for byte, in file order. The
    file is read twice, a piece at a time (ranks, then the split), so memory grows with the training file's
    bytes only.
    """

    def ranked() -> Iterator[tuple[int, int]]:
        index = 0
        for _, lines in _rows(path, input_format):
            for line in lines:
                yield row_rank(line, seed), index
                index += 1
        counted.append(index)

    counted: list[int] = []
    chosen = {index for _, index in heapq.nsmallest(rows, ranked())} if rows > 0 else set()
    if rows <= 0:
        collections.deque(ranked(), maxlen=0)
    total = counted[0]
    header = None
    training, holdout, index = io.BytesIO(), [], 0
    for header, lines in _rows(path, input_format):
        if header is not None and training.tell() == 0:
            training.write(f"{header}\n".encode())
        kept = []
        for line in lines:
            (holdout if index in chosen else kept).append(line)
            index += 1
        if kept:
            training.write(("\n".join(kept) + "\n").encode("utf-8"))
    if input_format == "raw" and header is None:
        raise ParamsError(f"data_path {path} is empty; it needs a header and rows.")
    if rows >= total:
        raise ParamsError(f"holdout_rows={rows} leaves no rows to train on ({path} has {total} data rows).")
    data = training.getvalue() or b"\n"  # no header and no training rows: one empty line, as before
    return DataSplit(header=header, holdout_lines=holdout, training_rows=total - len(holdout), training=data)
