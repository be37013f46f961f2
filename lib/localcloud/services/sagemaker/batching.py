"""How batch transform cuts an input object into requests and puts the answers back together ("Use Batch
Transform", SageMaker developer guide; ``TransformInput.SplitType``, ``BatchStrategy``, ``MaxPayloadInMB``,
``TransformOutput.AssembleWith`` in the botocore model ``sagemaker/2017-07-24``).

* ``SplitType`` ``None``: the whole object is one request; ``Line``: records end at each newline (a record keeps
  its line ending, so a mini-batch is a run of the object's own bytes). Empty lines are not records.
* ``BatchStrategy`` ``SingleRecord`` sends one record per request; ``MultiRecord`` as many as fit in
  ``MaxPayloadInMB`` (MiB, as the containers' ``execution-parameters`` compute it: ``max content length /
  1024 ** 2``). A record larger than the limit fails the object ("Exceeding the MaxPayloadInMB limit causes an
  error ... individual records within the dataset exceed the limit", Troubleshooting); 0 means no limit.
* ``AssembleWith`` ``Line`` ends every answer with a newline ("To add a newline character at the end of every
  transformed record, specify Line"; an answer that already ends with one is kept as it is), ``None``
  concatenates the answers as they are ("concatenate the results in binary format").
"""

from __future__ import annotations

from collections.abc import Iterator

MIB = 1024 * 1024
#: what SageMaker uses when neither the request nor the container's execution-parameters say (the values a
#: transform job's data log reports for a container without execution-parameters: "MaxConcurrentTransforms=1,
#: MaxPayloadInMB=6, BatchStrategy=MULTI_RECORD", github aws/amazon-sagemaker-examples issue 1620)
DEFAULTS = {"MaxConcurrentTransforms": 1, "MaxPayloadInMB": 6, "BatchStrategy": "MultiRecord"}


class PayloadTooLarge(Exception):
    """A request would exceed MaxPayloadInMB."""


def split(data: bytes, split_type: str | None) -> list[bytes]:
    """The records of an object."""
    if (split_type or "None") == "None":
        return [data] if data else []
    return [line for line in data.splitlines(keepends=True) if line.strip(b"\r\n")]


def batches(records: list[bytes], strategy: str, max_payload_mb: int) -> Iterator[list[bytes]]:
    """Groups of records, each one request's payload."""
    limit = max_payload_mb * MIB if max_payload_mb else None
    group: list[bytes] = []
    size = 0
    for record in records:
        if limit is not None and len(record) > limit:
            raise PayloadTooLarge(f"a record of {len(record)} bytes is larger than MaxPayloadInMB "
                                  f"({max_payload_mb} MB)")
        if strategy == "SingleRecord":
            yield [record]
            continue
        if group and limit is not None and size + len(record) > limit:
            yield group
            group, size = [], 0
        group.append(record)
        size += len(record)
    if group:
        yield group


def assemble(answers: list[bytes], assemble_with: str | None) -> bytes:
    """The ``.out`` object of one input object."""
    if (assemble_with or "None") != "Line":
        return b"".join(answers)
    return b"".join(a if a.endswith(b"\n") else a + b"\n" for a in answers)
