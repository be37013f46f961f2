"""S3 arguments of Glue runs: staged to local folders, rewritten, and synced back (S3 through the session cloud)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from localcloud.services.glue.staging import Staging, StagingError, parse_s3


@pytest.fixture()
def s3(aws: Any) -> Any:
    return aws("s3")


@pytest.fixture()
def bucket(s3: Any) -> str:
    name = f"stage-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def keys(s3: Any, bucket: str, prefix: str = "") -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_parse_s3() -> None:
    assert parse_s3("s3://b/k/x.csv") == ("b", "k/x.csv")
    assert parse_s3("s3a://b/k/") == ("b", "k/")
    assert parse_s3("s3://b") == ("b", "")
    assert parse_s3("/local/path") is None and parse_s3("https://x/y") is None


def test_stage_rewrites_and_downloads(s3: Any, bucket: str, tmp_path: Path) -> None:
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=bucket, Key="out/old/part-0.csv", Body=b"old")
    s3.put_object(Bucket=bucket, Key="out/keep.txt", Body=b"keep")
    staging = Staging(s3, tmp_path / "s3")
    args = staging.stage({
        "--SOURCE": f"s3://{bucket}/raw/data.csv", "--DEST": f"s3a://{bucket}/out/", "--NESTED": f"s3://{bucket}/out/old",
        "--NEW": f"s3://{bucket}/fresh/result.json", "--PLAIN": "hello", "--extra-py-files": f"s3://{bucket}/x.py",
    }, skip=["--extra-py-files"])  # fmt: skip
    root = str((tmp_path / "s3").resolve())
    assert args["--SOURCE"] == f"{root}/{bucket}/raw/data.csv"
    assert args["--DEST"] == f"{root}/{bucket}/out/"  # trailing slash kept: scripts append keys
    assert args["--NESTED"] == f"{root}/{bucket}/out/old"
    assert args["--PLAIN"] == "hello" and args["--extra-py-files"] == f"s3://{bucket}/x.py"
    assert Path(args["--SOURCE"]).read_bytes() == b"a,b\n1,2\n"
    assert (Path(args["--DEST"]) / "old" / "part-0.csv").read_bytes() == b"old"
    assert len(staging.roots) == 3  # out/old is inside out/: staged once
    assert Path(args["--NEW"]).parent.is_dir() and not Path(args["--NEW"]).exists()
    assert staging.to_uris(f"Path does not exist: file:{args['--DEST']}x") == f"Path does not exist: s3://{bucket}/out/x"


def test_sync_back_mirrors_the_folder(s3: Any, bucket: str, tmp_path: Path) -> None:
    s3.put_object(Bucket=bucket, Key="out/train/part-old.csv", Body=b"old")
    s3.put_object(Bucket=bucket, Key="out/keep.txt", Body=b"keep")
    s3.put_object(Bucket=bucket, Key="in.csv", Body=b"input")
    staging = Staging(s3, tmp_path / "s3")
    args = staging.stage({"--DEST": f"s3://{bucket}/out/", "--IN": f"s3://{bucket}/in.csv",
                          "--NEW": f"s3://{bucket}/new/result.json", "--DIR": f"s3://{bucket}/made"})
    dest = Path(args["--DEST"])
    (dest / "train" / "part-old.csv").unlink()  # what Spark's overwrite does
    (dest / "train" / "part-0000.csv").write_text("1,2\n")
    (dest / "train" / ".part-0000.csv.crc").write_bytes(b"crc")
    (dest / "train" / "_SUCCESS").write_bytes(b"")
    (dest / "train" / "._SUCCESS.crc").write_bytes(b"crc")
    Path(args["--NEW"]).write_text("{}")
    os.makedirs(args["--DIR"])
    Path(args["--DIR"], "part.csv").write_text("x\n")
    counts = staging.sync_back()
    assert keys(s3, bucket) == {"out/keep.txt", "out/train/part-0000.csv", "out/train/_SUCCESS", "in.csv",
                                "new/result.json", "made/part.csv"}
    assert counts == {"uploaded": 4, "deleted": 1}  # unchanged files (keep.txt, in.csv) are not uploaded again
    assert s3.get_object(Bucket=bucket, Key="out/train/part-0000.csv")["Body"].read() == b"1,2\n"


def test_missing_bucket_is_a_clear_error(s3: Any, tmp_path: Path) -> None:
    staging = Staging(s3, tmp_path / "s3")
    with pytest.raises(StagingError, match="no-such-bucket-zz"):
        staging.stage({"--IN": "s3://no-such-bucket-zz/data/"})


def test_large_objects_use_multipart_transfers(s3: Any, bucket: str, tmp_path: Path) -> None:
    body = os.urandom(9 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="big/blob.bin", Body=body)
    staging = Staging(s3, tmp_path / "s3")
    args = staging.stage({"--BIG": f"s3://{bucket}/big/"})
    assert (Path(args["--BIG"]) / "blob.bin").read_bytes() == body
    (Path(args["--BIG"]) / "copy.bin").write_bytes(body[::-1])
    staging.sync_back()
    assert s3.get_object(Bucket=bucket, Key="big/copy.bin")["Body"].read() == body[::-1]
