"""Request bodies to rows, and scores to response bodies, as the 1.7-1 container makes them, without its loops.

The container's code is the contract (github aws/sagemaker-xgboost-container, branch ``1.7-1``):
``encoder.csv_to_dmatrix`` splits a CSV body on newlines and the sniffed delimiter, maps empty cells to ``"nan"``
and casts the strings with numpy (``np.array(rows).astype(float)``, Python's ``float`` per cell);
``serve_utils._get_sparse_matrix_from_libsvm`` does the same per ``index:value`` token; the answer is written by
sagemaker-containers' ``encoders.array_to_csv`` (``csv.writer``, so ``repr`` of each score) or
``serve_utils.encode_predictions_as_json`` (``json.dumps``). Those per-cell Python loops cost 25 ms for 1,000 rows
of 69 features, 25 times the prediction itself.

Each function here keeps the container's code as its reference and takes a faster route only where that route gives
the same numbers by construction; every other input goes the reference way, so odd payloads keep the container's
values and error messages:

* CSV: when the body holds nothing but digits, ``.+-eE``, the letters of ``nan``/``inf``, newlines and a sniffed
  delimiter of :data:`FAST_DELIMITERS`, numpy's C reader (``np.loadtxt``, which converts each field with
  ``PyOS_string_to_double``, the function behind ``float``) reads it after empty cells are filled with ``nan`` as
  the container fills them. A field ``float`` would refuse, or rows of different lengths, fail the reader, and the
  body is read the reference way for the container's error.
* libsvm: when every line is an optional label and ``index:value`` tokens (an index of at most 18 digits, as
  numpy's reader does not check an int64 overflow that ``int()`` refuses; one colon; single spaces), the tokens are
  split on the whole body at once and read by the same C reader; anything else (a token with two colons, a signed
  index, a line without features) goes the reference way.
* answers: ``repr`` of each score joined by newlines is what ``csv.writer`` writes for one float per row (a float
  is written with ``repr`` and never quoted); the JSON answer is ``json.dumps`` of the same scores with the
  ``{"score": ...}`` wrapping written around them.
"""

from __future__ import annotations

import csv
import json
import re
from typing import Any

#: bytes a CSV body may hold for the fast reader (besides the delimiter): a number's characters, nan/inf/infinity
#: in any case, and newlines
CSV_NUMBER_BYTES = b"0123456789.+-eE"
CSV_FAST_BYTES = CSV_NUMBER_BYTES + b"nNaAiIfFtTyY\n"
#: delimiters the fast CSV reader takes (csv.Sniffer's preferred ones and ``|``; the random bodies of the tests use
#: each): none can be part of a number or end a line
FAST_DELIMITERS = (",", ";", "|", ":", "\t", " ")
#: bytes of a libsvm body the fast reader takes: tokens ``label`` and ``index:value`` separated by single spaces
LIBSVM_FAST_BYTES = CSV_NUMBER_BYTES + b"nNaAiIfFtTyY\n :"
_LIBSVM_LINE = r"(?:[^ :\n]+ )?[0-9]{1,18}:[^ :\n]+(?: [0-9]{1,18}:[^ :\n]+)*"
_LIBSVM_BODY = re.compile(rf"{_LIBSVM_LINE}(?:\n{_LIBSVM_LINE})*")


def sniff_delimiter(text: str) -> str:
    """``csv_to_dmatrix``'s delimiter: ``csv.Sniffer`` on the first 512 characters of the first line, ``,`` when
    it answers a letter or digit (raises ``csv.Error`` as the container does when it cannot tell)."""
    first = text.partition("\n")[0][:512]  # text.split("\n")[0], without splitting the whole body
    sniffed = _sniff_line(first) if first and '"' not in first and "'" not in first else None
    if sniffed is None:
        sniffed = csv.Sniffer().sniff(first).delimiter
    return "," if sniffed.isalnum() else sniffed


def _sniff_line(line: str) -> str | None:
    """``csv.Sniffer().sniff(line).delimiter`` for one non-empty line without quotes, None when it cannot tell.

    Without a quote ``_guess_quote_and_delimiter`` finds nothing (each of its patterns needs one), so
    ``_guess_delimiter`` decides; on a single line every 7-bit character in it (``chr(0)``..``chr(126)``) occurs
    as often as its mode in all rows, so all are candidates: the only one, else the first of ``Sniffer.preferred``
    present, else the most frequent (the greatest character on a tie). Sniffing costs 0.1 ms a request, a third
    of a one-row invocation; the tests compare this with ``csv.Sniffer`` on random lines."""
    counts = {char: line.count(char) for char in set(line) if ord(char) < 127}
    if not counts:
        return None  # the sniffer raises "Could not determine delimiter"
    if len(counts) == 1:
        return next(iter(counts))
    for preferred in csv.Sniffer().preferred:
        if preferred in counts:
            return preferred
    return max((count, char) for char, count in counts.items())[1]


def csv_reference(text: str, delimiter: str) -> Any:
    """The container's expression (``encoder.csv_to_dmatrix``): a float64 array, or its exception."""
    import numpy as np

    return np.array([["nan" if cell == "" else cell for cell in line.split(delimiter)]
                     for line in text.split("\n")]).astype(float)


def _empty_cells(text: str, delimiter: str) -> bool:
    return (text.startswith(delimiter) or text.endswith(delimiter)
            or any(pair in text for pair in (delimiter * 2, "\n" + delimiter, delimiter + "\n", "\n\n")))


def _fill_empty_cells(text: str, delimiter: str) -> str:
    """Every empty cell written as ``nan``, as the container maps ``""`` to ``"nan"`` before casting."""
    for pair in (delimiter * 2, "\n" + delimiter, delimiter + "\n", "\n\n"):
        while pair in text:  # two passes at most: replace() does not see a pair that overlaps the last one
            text = text.replace(pair, pair[0] + "nan" + pair[1])
    if text.startswith(delimiter):
        text = "nan" + text
    if text.endswith(delimiter):
        text += "nan"
    return text


def _read_csv(text: str, delimiter: str) -> Any | None:
    """numpy's C reader over the lines; None when it skipped a blank line (the container reads one as a row of one
    empty cell). Raises ValueError for a cell ``float()`` refuses (an empty one too) or rows of different lengths."""
    import numpy as np

    lines = text.split("\n")
    rows = np.loadtxt(lines, delimiter=delimiter, dtype=float, ndmin=2, comments=None, quotechar=None)
    return rows if rows.shape[0] == len(lines) else None


def csv_fast(body: bytes, text: str, delimiter: str) -> Any | None:
    """The reference's array by numpy's C reader, or None when this body must go the reference way.

    ``body`` is the stripped payload (``text`` decoded from it)."""
    if not text or delimiter not in FAST_DELIMITERS:
        return None
    if body.translate(None, CSV_FAST_BYTES + delimiter.encode()):
        return None  # a byte the fast reader does not take (quotes, spaces, underscores, other letters, non-ASCII)
    try:
        rows = _read_csv(text, delimiter)
    except ValueError:
        rows = None
    if rows is None and _empty_cells(text, delimiter):  # looked for only now: most bodies have none
        try:
            rows = _read_csv(_fill_empty_cells(text, delimiter), delimiter)
        except ValueError:  # a cell float() refuses, or rows of different lengths: the reference says how
            rows = None
    return rows


def csv_rows(body: bytes) -> Any:
    """A CSV request body (already stripped) as the container's float64 array; raises as the container does."""
    text = body.decode("utf-8")
    delimiter = sniff_delimiter(text)
    rows = csv_fast(body, text, delimiter)
    return csv_reference(text, delimiter) if rows is None else rows


def libsvm_reference(text: str) -> Any:
    """``serve_utils._get_sparse_matrix_from_libsvm``: ``index:value`` tokens of each line, the label ignored."""
    import numpy as np
    from scipy.sparse import csr_matrix

    row, col, data = [], [], []
    for row_idx, line in enumerate(text.split("\n")):
        for item in line.split(" "):
            if ":" in item:
                row.append(row_idx)
                col.append(item.split(":")[0])
                data.append(item.split(":")[1])
    cols = np.array(col).astype(int)
    values = np.array(data).astype(float)
    rows = np.array(row)
    if not (len(rows) == len(cols) and len(cols) == len(values)):
        raise RuntimeError("Dimension checking failed when transforming sparse matrix.")
    return csr_matrix((values, (rows, cols)))


def libsvm_fast(body: bytes, text: str) -> Any | None:
    """The reference's matrix from whole-body splits and numpy's C reader, or None for the reference way."""
    import numpy as np
    from scipy.sparse import csr_matrix

    if body.translate(None, LIBSVM_FAST_BYTES) or not _LIBSVM_BODY.fullmatch(text):
        return None
    lines = text.split("\n")
    # the body's shape is checked: a label (no colon) may lead a line, every other token is digits:value
    features = [line if ":" in line.partition(" ")[0] else line.partition(" ")[2] for line in lines]
    fields = " ".join(features).replace(" ", ":").split(":")
    try:
        cols = np.loadtxt(fields[0::2], dtype=np.int64, ndmin=1, comments=None, quotechar=None)
        values = np.loadtxt(fields[1::2], dtype=float, ndmin=1, comments=None, quotechar=None)
    except (ValueError, OverflowError):  # a value float() refuses, an index past int64
        return None
    rows = np.repeat(np.arange(len(lines)), [line.count(":") for line in features])
    return csr_matrix((values, (rows, cols)))


def libsvm_rows(body: bytes) -> Any:
    """A libsvm request body (already stripped) as the container's sparse matrix; raises as the container does."""
    text = body.decode("utf-8")
    matrix = libsvm_fast(body, text)
    return libsvm_reference(text) if matrix is None else matrix


def csv_answer(predictions: Any) -> bytes:
    """sagemaker-containers' ``array_to_csv`` of ``predictions.tolist()``: one row per score (or per row of
    scores), each float written with ``repr``, ``\\n`` after each line."""
    import numpy as np

    scores = predictions.tolist()
    if predictions.ndim == 1 and predictions.dtype.kind == "f":
        return ("\n".join(map(repr, scores)) + "\n").encode()
    if predictions.ndim == 2 and predictions.dtype.kind == "f":
        return "".join(",".join(map(repr, row)) + "\n" for row in scores).encode()
    import io

    array = np.array(scores)
    if array.ndim == 1:
        array = array.reshape(array.shape[0], 1)
    stream = io.StringIO()
    csv.writer(stream, lineterminator="\n", delimiter=",", quotechar='"', doublequote=True,
               strict=True).writerows(array)
    return stream.getvalue().encode()


def json_answer(predictions: Any) -> bytes:
    """``serve_utils.encode_predictions_as_json`` of ``predictions.tolist()``."""
    scores = predictions.tolist()
    if predictions.ndim == 1 and predictions.dtype.kind == "f":
        # json.dumps writes each float as it writes it alone: the list's items are the scores' own texts
        items = json.dumps(scores)[1:-1]
        if not items:
            return b'{"predictions": []}'
        return ('{"predictions": [{"score": ' + '}, {"score": '.join(items.split(", ")) + "}]}").encode()
    return json.dumps({"predictions": [{"score": p} for p in scores]}).encode()
