"""The model server's payload codec: CSV in, scores out, container-style errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from localcloud.services.sagemaker_runtime.payload import (
    ContainerError,
    accept_type,
    check_content_type,
    encode,
    parse_csv,
)


def test_csv_rows_parse_to_float32_and_skip_blank_lines() -> None:
    rows = parse_csv(b"1,2.5,-3\r\n\n4,5e-1,6\n", 3)
    assert rows.dtype == np.float32 and rows.tolist() == [[1, 2.5, -3], [4, 0.5, 6]]
    assert parse_csv(b"", 3).size == 0


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"1,2\n3,4,5\n", 400, "row 2 has 3 columns, the model expects 2 features"),
    (b"1,x\n", 400, "row 1, column 2: 'x' is not a number"),
    (b"1,2,3\n", 400, "Feature size of csv inference data 3 is not consistent with feature size of trained model 2"),
    (b"\xff\xfe", 415, "not UTF-8"),
])
def test_bad_csv_is_a_container_error(body: bytes, status: int, message: str) -> None:
    with pytest.raises(ContainerError) as err:
        parse_csv(body, 2)
    assert err.value.status == status and message in err.value.message


def test_scores_are_encoded_like_the_container() -> None:
    scores = np.array([0.25, 0.5], dtype=np.float32)
    assert encode(scores, "text/csv") == b"0.25,0.5"
    assert encode(np.array([[0.25, 0.75], [1.0, 0.0]], dtype=np.float32), "text/csv") == b"0.25,0.75\n1.0,0.0"
    assert json.loads(encode(scores, "application/json")) == {"predictions": [{"score": 0.25}, {"score": 0.5}]}
    assert encode(scores, "application/jsonlines") == b'{"score": 0.25}\n{"score": 0.5}'


def test_content_types_and_accepts() -> None:
    for ok in (None, "", "text/csv", "text/csv; charset=utf-8", "csv"):
        check_content_type(ok)
    with pytest.raises(ContainerError) as err:
        check_content_type("image/png")
    assert err.value.status == 415 and "image/png is not an accepted ContentType" in err.value.message
    assert accept_type(None) == accept_type("*/*") == "text/csv"
    assert accept_type("application/json; charset=utf-8") == "application/json"
    with pytest.raises(ContainerError) as err:
        accept_type("text/html")
    assert err.value.status == 406
