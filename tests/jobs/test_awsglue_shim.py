"""The awsglue shim's getResolvedOptions and Job follow AWS Glue's semantics."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture
def utils(awsglue_shim: Path) -> ModuleType:
    from awsglue import utils

    return utils


def test_shim_is_the_awsglue_on_the_path(awsglue_shim: Path) -> None:
    import awsglue

    assert Path(awsglue.__file__).parent == awsglue_shim / "awsglue"


def test_space_and_equals_forms_resolve_and_unknown_arguments_are_ignored(utils: ModuleType) -> None:
    argv = [
        "script.py",
        "--JOB_NAME",
        "etl",
        "--S3_SOURCE=s3://b/raw/x.csv",
        "--OTHER",
        "1",
        "--TempDir",
        "s3://t/",
    ]
    args = utils.getResolvedOptions(argv, ["JOB_NAME", "S3_SOURCE"])
    assert args["JOB_NAME"] == "etl"
    assert args["S3_SOURCE"] == "s3://b/raw/x.csv"
    assert "OTHER" not in args
    assert args["TempDir"] == args["RedshiftTempDir"] == "s3://t/"
    assert args["job_bookmark_option"] == "job-bookmark-disable"
    assert args["JOB_RUN_ID"] is None


def test_missing_argument_raises_glue_argument_error_naming_it(utils: ModuleType) -> None:
    with pytest.raises(utils.GlueArgumentError, match="the following arguments are required: --VAL_KEY"):
        utils.getResolvedOptions(
            ["script.py", "--JOB_NAME", "etl", "--TRAIN_KEY", "t"], ["JOB_NAME", "TRAIN_KEY", "VAL_KEY"]
        )


def test_argument_without_value_is_an_error(utils: ModuleType) -> None:
    with pytest.raises(utils.GlueArgumentError, match="--SEED"):
        utils.getResolvedOptions(["script.py", "--SEED"], ["SEED"])


def test_reserved_names_and_bookmark_options(utils: ModuleType) -> None:
    with pytest.raises(RuntimeError, match="reserved"):
        utils.getResolvedOptions(["script.py", "--JOB_ID", "1"], ["JOB_ID"])
    args = utils.getResolvedOptions(["script.py", "--continuation-option", "continuation-enabled"], [])
    assert args["job_bookmark_option"] == "job-bookmark-enable"
    with pytest.raises(utils.GlueArgumentError, match="invalid choice"):
        utils.getResolvedOptions(["script.py", "--job-bookmark-option", "sometimes"], [])


def test_job_commit_needs_init(awsglue_shim: Path) -> None:
    from awsglue.job import Job

    job = Job(glue_context=None)
    assert not job.isInitialized()
    with pytest.raises(RuntimeError, match="job.init"):
        job.commit()
    job.init("etl", {"JOB_NAME": "etl"})
    job.commit()
    assert job.committed
