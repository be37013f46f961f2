"""libsvm channels and quoted CSV rows read as the 1.7-1 container reads them, neither stricter nor looser.

The container (aws/sagemaker-xgboost-container, branch 1.7-1, ``data_utils.py``) checks a libsvm file line by line
only until the first line with more than one feature (``_validate_libsvm_format``: a line with one feature or none
is passed over, a malformed one before it fails the job), then hands the folder to xgboost's own reader; it checks
a CSV file's first line only with ``csv.Sniffer`` and then reads it with xgboost's CSV reader, which knows no quotes
(a quoted number reads as 0 in the label column and as missing elsewhere).
"""

from __future__ import annotations

from typing import Any

import pytest
from test_sagemaker_support import channel, job_log, put, training_request, unique, wait_job

HPS = {"num_round": "2", "objective": "binary:logistic"}
LIBSVM_ERROR = "of file 'data.txt' is not 'LIBSVM' format. Please ensure the file is in 'LIBSVM' format."

#: body, content type, then ("Completed", rows, columns) or ("Failed", text of the FailureReason)
CASES: dict[str, tuple[str, str, tuple[Any, ...]]] = {
    "libsvm": ("1 1:2.5 2:3\n0 1:1.5 2:2\n1 1:3 2:1\n", "text/libsvm", ("Completed", 3, 3)),
    "libsvm-instance-weights": ("1:0.5 1:2.5 2:3\n0:2 1:1.5 2:2\n", "text/libsvm", ("Completed", 2, 3)),
    "libsvm-x-libsvm-type": ("1 1:2.5 2:3\n0 1:1.5 2:2\n", "text/x-libsvm", ("Completed", 2, 3)),
    # the check ends at line 1 (two features): the trailing space of line 2 is xgboost's to read
    "libsvm-checked-up-to-first-full-line": ("1 1:2.5 2:3\n0 1:1 \n", "text/libsvm", ("Completed", 2, 3)),
    # lines of one feature are passed over, so the malformed third line is checked and fails the job
    "libsvm-one-feature-lines-then-bad": ("1 1:2.5\n0 1:1.5\nx 1:2\n", "text/libsvm",
                                          ("Failed", "First line 'x 1:2\n...' " + LIBSVM_ERROR)),
    "libsvm-tabs": ("1\t1:2.5\t2:3\n", "text/libsvm", ("Failed", LIBSVM_ERROR)),
    "libsvm-quoted-rows": ('"1 1:2.5 2:3"\n', "text/libsvm", ("Failed", LIBSVM_ERROR)),
    # csv.Sniffer finds the comma; xgboost's reader takes "1" as 0 and "2.5" as missing, but trains
    "csv-label-quoted": ('"1",2.5,3\n"0",1.5,2\n', "text/csv", ("Completed", 2, 2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_inputs_read_as_the_container_reads_them(cloud: Any, sm: Any, s3: Any, role: str, bucket: str,
                                                 case: str) -> None:
    body, content_type, expected = CASES[case]
    prefix = unique(case)
    put(s3, bucket, f"{prefix}/train/data.txt", body)
    name = unique("inputs")
    sm.create_training_job(**training_request(
        name, role, bucket, [channel("train", f"s3://{bucket}/{prefix}/train", content_type=content_type)], HPS))
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == expected[0], job.get("FailureReason")
    if expected[0] == "Completed":
        assert f"Train matrix has {expected[1]} rows and {expected[2]} columns" in job_log(cloud, name)
    else:
        assert job["FailureReason"].startswith("ClientError: ") and expected[1] in job["FailureReason"]
