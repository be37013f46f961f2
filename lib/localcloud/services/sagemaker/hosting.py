"""The model server: boosters loaded from model artifacts, held in memory, swapped atomically per endpoint.

One process serves every endpoint. A deployment loads each production variant's model (download, extract, load
the booster) and then publishes the endpoint's :class:`Live` routing table in a single assignment, so requests see
either the old models or the new ones, never a mix and never a gap.
"""

from __future__ import annotations

import io
import logging
import random
import tarfile
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from localcloud.errors import LocalCloudError
from localcloud.services.sagemaker import s3io
from localcloud.services.sagemaker.algorithm import MODEL_FILE
from localcloud.services.sagemaker.models import Model
from localcloud.services.sagemaker.training import is_xgboost_image

if TYPE_CHECKING:
    import xgboost as xgb

LOG = logging.getLogger(__name__)

MAX_MODEL_BYTES = 1 << 30


class DeploymentError(LocalCloudError):
    """A model could not be deployed; the message becomes the endpoint's FailureReason."""


class LoadedModel:
    """An xgboost booster ready to predict; ``predict`` is safe to call from many threads."""

    def __init__(self, booster: xgb.Booster, name: str, image: str) -> None:
        self.booster = booster
        self.name = name
        self.image = image
        self.num_features = booster.num_features()

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.booster.inplace_predict(rows, validate_features=False)


def booster_from_bytes(data: bytes) -> xgb.Booster:
    import xgboost as xgb  # imported on first deployment: servers that never host a model do not pay for it

    booster = xgb.Booster()
    booster.load_model(bytearray(data))
    booster.set_param({"nthread": 1})
    return booster


def _pick_model_file(files: dict[str, bytes], url: str) -> bytes:
    regular = {k: v for k, v in files.items() if v and not k.rsplit("/", 1)[-1].startswith(".")}
    if MODEL_FILE in regular:
        return regular[MODEL_FILE]
    if len(regular) == 1:
        return next(iter(regular.values()))
    names = ", ".join(sorted(regular)) or "no files"
    raise DeploymentError(f'The model data at "{url}" holds {names}; the built-in XGBoost serves a single booster '
                          f"saved as '{MODEL_FILE}'.")


def _extract(archive: bytes, url: str) -> dict[str, bytes]:
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            files = {}
            for member in tar.getmembers():
                if member.isfile() and member.size <= MAX_MODEL_BYTES:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        files[member.name.removeprefix("./")] = handle.read()
            return files
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DeploymentError(f'Failed to extract model data archive from URL "{url}". Please ensure that the '
                              "object located at the URL is a valid tar.gz archive.") from exc


def load_model(s3: Any, model: Model) -> LoadedModel:
    """Download, extract and load a model's XGBoost booster (raises :class:`DeploymentError`)."""
    containers = model.containers
    if len(containers) != 1:
        raise DeploymentError(f"Model {model.name} has {len(containers)} containers; localcloud serves single-"
                              "container models of the built-in XGBoost algorithm.")
    container = containers[0]
    image = container.get("Image", "")
    if not is_xgboost_image(image):
        raise DeploymentError(f"localcloud serves only SageMaker's built-in XGBoost algorithm; the image '{image}' "
                              f"of model {model.name} is not a SageMaker XGBoost image "
                              "(<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-xgboost:<version>).")
    source = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
    url = container.get("ModelDataUrl") or source.get("S3Uri")
    if not url:
        raise DeploymentError(f"Model {model.name} has no ModelDataUrl: the built-in XGBoost needs the "
                              "model.tar.gz of a training job.")
    try:
        if source and str(source.get("CompressionType", "Gzip")).lower() == "none":
            if source.get("S3DataType") == "S3Object":
                files = {url.rsplit("/", 1)[-1]: s3io.fetch(s3, url)}
            else:
                files = s3io.fetch_prefix(s3, url)
        else:
            files = _extract(s3io.fetch(s3, url), url)
    except s3io.TransferError as exc:
        raise DeploymentError(str(exc)) from exc
    data = _pick_model_file(files, url)
    try:
        booster = booster_from_bytes(data)
    except Exception as exc:  # xgboost.core.XGBoostError and friends
        raise DeploymentError(f'The model data at "{url}" is not an XGBoost model the built-in algorithm can load: '
                              f"{str(exc).strip().splitlines()[0][:300]}") from exc
    return LoadedModel(booster, model.name, image)


@dataclass(frozen=True)
class LiveVariant:
    name: str
    weight: float
    model: LoadedModel


@dataclass(frozen=True)
class Live:
    """The routing table of one serving endpoint (replaced as a whole on every deployment)."""

    variants: tuple[LiveVariant, ...]

    def pick(self, target: str | None = None) -> LiveVariant | None:
        """The variant named ``target``, else one chosen by weight (the first when all weights are zero)."""
        if target is not None:
            return next((v for v in self.variants if v.name == target), None)
        if len(self.variants) == 1:
            return self.variants[0]
        total = sum(v.weight for v in self.variants)
        if total <= 0:
            return self.variants[0]
        point = random.random() * total
        for variant in self.variants:
            point -= variant.weight
            if point < 0:
                return variant
        return self.variants[-1]


class Router:
    """Endpoint name (lower case) → :class:`Live`; reads take no lock, writes replace whole entries."""

    def __init__(self) -> None:
        self._live: dict[str, Live] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Live | None:
        return self._live.get(key)

    def publish(self, key: str, live: Live) -> None:
        with self._lock:
            self._live[key] = live

    def remove(self, key: str) -> None:
        with self._lock:
            self._live.pop(key, None)

    def __len__(self) -> int:
        return len(self._live)
