"""Content types as the 1.7-1 container checks them (standard library only; the server imports this too).

Two layers, as in the container (aws/sagemaker-xgboost-container, branch ``1.7-1``):

* a training channel's ``ContentType`` must be one of :data:`VALID_CONTENT_TYPES` *exactly*
  (``algorithm_mode/channel_validation.py``; a missing one defaults to ``text/libsvm``), else
  ``Channel configuration for 'train' channel is not supported: {...}``;
* :func:`parse` (``data_utils.get_content_type``) maps a value to ``csv``/``libsvm``/``parquet``/
  ``recordio-protobuf``: lower-cased, parameters allowed (``text/csv;label_size=1``; another label_size is
  refused), a missing value means libsvm. Inference requests go through this layer only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from localcloud.errors import LocalCloudError

CSV, LIBSVM, PARQUET, RECORDIO_PROTOBUF = "csv", "libsvm", "parquet", "recordio-protobuf"
VALID_CONTENT_TYPES: tuple[str, ...] = (CSV, LIBSVM, PARQUET, RECORDIO_PROTOBUF, "text/csv", "text/libsvm",
                                        "text/x-libsvm", "application/x-parquet", "application/x-recordio-protobuf")
#: Pipe mode takes the same list without the libsvm ones
PIPE_CONTENT_TYPES: tuple[str, ...] = tuple(t for t in VALID_CONTENT_TYPES if "libsvm" not in t)
DEFAULT_CONTENT_TYPE = "text/libsvm"
CHANNELS = ("train", "validation")


class UserError(LocalCloudError):
    """A problem with the job's or the request's input: the container's ``UserError`` (a ClientError)."""


def invalid_content_type(value: str) -> str:
    return f"{value} is not an accepted ContentType: {', '.join(VALID_CONTENT_TYPES)}."


def _split(value: str) -> tuple[str, dict[str, str]]:
    """``cgi.parse_header`` for the cases that occur: ``type; key=value; ...``."""
    head, *rest = value.split(";")
    params = {}
    for part in rest:
        key, sep, item = part.strip().partition("=")
        if sep:
            params[key.strip().lower()] = item.strip().strip('"')
    return head.strip(), params


def parse(value: str | None) -> str:
    """``csv``, ``libsvm``, ``parquet`` or ``recordio-protobuf`` for a ContentType (raises :class:`UserError`)."""
    if value is None:
        return LIBSVM
    media, params = _split(value.lower())
    if media in (CSV, "text/csv"):
        if params.get("label_size", "1") != "1":
            raise UserError(f"{value} is not an accepted csv ContentType. Optional parameter label_size must be "
                            "equal to 1")
        return CSV
    if media in (LIBSVM, "text/libsvm", "text/x-libsvm"):
        return LIBSVM
    if media in (PARQUET, "application/x-parquet"):
        return PARQUET
    if media in (RECORDIO_PROTOBUF, "application/x-recordio-protobuf"):
        return RECORDIO_PROTOBUF
    raise UserError(invalid_content_type(value))


def channel_config(channel: Mapping[str, Any]) -> dict[str, Any]:
    """A channel as the container reads it from ``inputdataconfig.json`` (with the toolkit's default type)."""
    config: dict[str, Any] = {"ContentType": channel.get("ContentType") or DEFAULT_CONTENT_TYPE,
                              "TrainingInputMode": channel.get("InputMode") or "File",
                              "S3DistributionType": channel.get("S3DistributionType") or "FullyReplicated",
                              "RecordWrapperType": channel.get("RecordWrapperType") or "None"}
    return config


def validate_channels(channels: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The channel checks of the container (names, required ``train``, supported configurations)."""
    for name in channels:
        if name not in CHANNELS:
            raise UserError(f"Extraneous channel found: {name}")
    if "train" not in channels:
        raise UserError("Missing required channel: train")
    configs = {name: channel_config(spec) for name, spec in channels.items()}
    for name, config in configs.items():
        allowed = PIPE_CONTENT_TYPES if config["TrainingInputMode"] == "Pipe" else VALID_CONTENT_TYPES
        if config["ContentType"] not in allowed or config["S3DistributionType"] not in ("FullyReplicated",
                                                                                          "ShardedByS3Key"):
            raise UserError(f"Channel configuration for '{name}' channel is not supported: {config}")
    return configs
