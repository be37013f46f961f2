"""Request decoding and response encoding of the Scikit-learn container's model server: ``sagemaker_containers``'
``_encoders`` and ``_content_types`` (github aws/sagemaker-containers, tag ``v2.8.6.post2``, the version the
Scikit-learn 1.2-1 image installs), used by ``sagemaker_sklearn_container.serving``'s default ``input_fn`` and
``output_fn``.

* ``text/csv``: ``csv.reader`` rows into ``np.array(...).squeeze()``, then ``astype(None)`` (a float array; when
  that fails the strings are kept, as there); out, one row per line with ``csv.writer`` (a 1-D array as a column);
* ``application/json``: ``np.array(json.loads(...))``; out, ``json.dumps`` with ``tolist`` for arrays;
* ``application/x-npy``: ``np.load(..., allow_pickle=True)``; out, ``np.save``;
* any other content type raises :class:`UnsupportedFormatError`. The names must match exactly (no parameters).
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from typing import Any

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
UTF8_TYPES = (JSON, CSV)


class ClientError(Exception):
    """``_errors.ClientError``: what the serving stack wraps every user-facing function's error in."""


class UnsupportedFormatError(Exception):
    """``_errors.UnsupportedFormatError``."""

    def __init__(self, content_type: str) -> None:
        self.message = textwrap.dedent(
            f"""Content type {content_type} is not supported by this framework.
            Please implement input_fn to to deserialize the request data or an output_fn to
            serialize the response. For more information, see the SageMaker Python SDK README.""")
        super().__init__(self.message)


def csv_to_numpy(text: str, dtype: Any = None) -> Any:
    import numpy as np

    try:
        array = np.array(list(csv.reader(io.StringIO(text), delimiter=",", quotechar='"', doublequote=True,
                                         strict=True))).squeeze()
        array = array.astype(dtype)
    except ValueError as exc:
        if dtype is not None:
            raise ClientError(f"Error while writing numpy array: {exc}. dtype is: {dtype}") from None
    except Exception as exc:
        raise ClientError(f"Error while decoding csv: {exc}") from None
    return array


def json_to_numpy(text: str | bytes, dtype: Any = None) -> Any:
    import numpy as np

    return np.array(json.loads(text), dtype=dtype)


def npy_to_numpy(data: bytes) -> Any:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=True)


def array_to_csv(array_like: Any) -> str:
    import numpy as np

    array = np.array(array_like)
    if len(array.shape) == 1:
        array = np.reshape(array, (array.shape[0], 1))
    try:
        stream = io.StringIO()
        csv.writer(stream, lineterminator="\n", delimiter=",", quotechar='"', doublequote=True,
                   strict=True).writerows(array)
        return stream.getvalue()
    except csv.Error as exc:
        raise ClientError(f"Error while encoding csv: {exc}") from None


def array_to_json(array_like: Any) -> str:
    def default(value: Any) -> Any:
        if hasattr(value, "tolist"):
            return value.tolist()
        return json.JSONEncoder().default(value)

    return json.dumps(array_like, default=default)


def array_to_npy(array_like: Any) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array_like)
    return buffer.getvalue()


def decode(data: Any, content_type: str) -> Any:
    decoders = {NPY: npy_to_numpy, CSV: csv_to_numpy, JSON: json_to_numpy}
    if content_type not in decoders:
        raise UnsupportedFormatError(content_type)
    return decoders[content_type](data)  # type: ignore[operator]


def encode(array_like: Any, content_type: str) -> Any:
    encoders = {NPY: array_to_npy, CSV: array_to_csv, JSON: array_to_json}
    if content_type not in encoders:
        raise UnsupportedFormatError(content_type)
    return encoders[content_type](array_like)
