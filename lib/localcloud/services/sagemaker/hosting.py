"""Model servers: each production variant's model runs in a child process of its image, swapped atomically.

A deployment downloads and extracts each variant's model data into a folder of its own (as SageMaker does into
``/opt/ml/model``; a Scikit-learn model's code from ``SAGEMAKER_SUBMIT_DIRECTORY`` into ``/opt/ml/code``), starts
the image's model server (:mod:`localcloud.images.builtin_xgboost.serve`, :mod:`localcloud.images.scriptmode.serve`)
on it and checks it as SageMaker's ``/ping`` does; then it publishes the endpoint's :class:`Live` routing table in a single
assignment, so requests see either the old models or the new ones, never a mix and never a gap. The servers of a
replaced table are stopped a little later, once requests already routed to them have finished.
"""

from __future__ import annotations

import io
import logging
import random
import shutil
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud import images
from localcloud.core.children import Child, ChildError, ChildRaised, ChildSpec
from localcloud.errors import LocalCloudError
from localcloud.services.sagemaker import containers, s3io
from localcloud.services.sagemaker.capture import Capture
from localcloud.services.sagemaker.models import Model

LOG = logging.getLogger(__name__)

MAX_MODEL_BYTES = 1 << 30
#: each runtime's model server (see :mod:`.containers`)
SERVE_MODULES = {"xgboost": "localcloud.images.builtin_xgboost.serve",
                 "sklearn": "localcloud.images.scriptmode.serve"}
#: InvokeEndpoint's model container timeout (the runtime's 60 seconds)
INVOKE_TIMEOUT = 60.0
#: how long the servers of a replaced routing table live on for requests already routed to them
RETIRE_SECONDS = 2.0
#: what SageMaker says when a variant's container does not answer /ping (the detail is in the endpoint's log)
PING_FAILED = ("The primary container for production variant {variant} did not pass the ping health check. "
               "Please check CloudWatch logs for this endpoint.")


class DeploymentError(LocalCloudError):
    """A model could not be deployed; the message becomes the endpoint's FailureReason."""


class LoadedModel:
    """One variant's model server: ``invoke`` is safe to call from many threads (one request at a time)."""

    def __init__(self, child: Child, name: str, image: str, info: dict[str, Any], folder: Path,
                 kind: str = "xgboost") -> None:
        self.child = child
        self.kind = kind
        self.folder = folder
        self.name = name
        self.image = image
        self.num_features = int(info.get("num_features", 0))
        self.objective = str(info.get("objective", ""))

    def invoke(self, body: bytes, content_type: str | None, accept: str | None,
               timeout: float = INVOKE_TIMEOUT) -> tuple[int, str, bytes]:
        """The container's answer: ``(status, content type, body)``."""
        try:
            answer, out = self.child.call({"op": "invoke", "content_type": content_type, "accept": accept}, body,
                                          timeout=timeout)
        except (ChildError, ChildRaised) as exc:
            LOG.warning("model server of %s failed: %s", self.name, exc)
            return 500, "text/html; charset=utf-8", b"Internal Server Error"
        return int(answer["status"]), str(answer.get("content_type") or ""), out or b""

    def request(self, op: str) -> tuple[int, bytes]:
        """Another of the container's routes (``execution-parameters``): ``(status, body)``; 404 when it has none."""
        try:
            answer, out = self.child.call({"op": op}, timeout=INVOKE_TIMEOUT)
        except ChildRaised:
            return 404, b""
        except ChildError as exc:
            LOG.warning("model server of %s failed: %s", self.name, exc)
            return 500, b""
        return int(answer.get("status", 200)), out or b""

    def close(self) -> None:
        with self.child.lock:  # after a request in flight
            pass
        self.child.stop(grace=1.0)
        shutil.rmtree(self.folder, ignore_errors=True)


def _extract(archive: bytes, url: str, folder: Path) -> None:
    """Unpack ``model.tar.gz`` into ``folder`` (regular files only, no path escapes)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("./")
                target = (folder / name).resolve()
                if not member.isfile() or member.size > MAX_MODEL_BYTES or folder.resolve() not in target.parents:
                    continue
                handle = tar.extractfile(member)
                if handle is not None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(handle.read())
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DeploymentError(f'Failed to extract model data archive from URL "{url}". Please ensure that the '
                              "object located at the URL is a valid tar.gz archive.") from exc


def _model_data(s3: Any, model: Model, folder: Path) -> str:
    """Download the model's data into ``folder``; returns its URL."""
    container = model.containers[0]
    source = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
    url = container.get("ModelDataUrl") or source.get("S3Uri")
    if not url:
        raise DeploymentError(f"Model {model.name} has no ModelDataUrl: localcloud's model servers load the "
                              "model.tar.gz of a training job.")
    try:
        if source and str(source.get("CompressionType", "Gzip")).lower() == "none":
            files = ({url.rsplit("/", 1)[-1]: s3io.fetch(s3, url)} if source.get("S3DataType") == "S3Object"
                     else s3io.fetch_prefix(s3, url))
            for name, data in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
        else:
            _extract(s3io.fetch(s3, url), url, folder)
    except s3io.TransferError as exc:
        raise DeploymentError(str(exc)) from exc
    return str(url)


def _code(s3: Any, env: dict[str, str], folder: Path) -> None:
    """A script-mode model's code: ``SAGEMAKER_SUBMIT_DIRECTORY`` (the SDK's ``sourcedir.tar.gz`` in S3, or a
    folder of the model such as ``/opt/ml/model/code`` when the SDK repacked it) into ``/opt/ml/code``."""
    source = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    code = folder / "code"
    code.mkdir(parents=True, exist_ok=True)
    if source.startswith("s3://"):
        try:
            _extract(s3io.fetch(s3, source), source, code)
        except s3io.TransferError as exc:
            raise DeploymentError(str(exc)) from exc
    elif source.startswith("/opt/ml/") and (folder / source[len("/opt/ml/"):]).is_dir():
        shutil.copytree(folder / source[len("/opt/ml/"):], code, dirs_exist_ok=True)


def load_model(s3: Any, model: Model, variant: str, folder: Path, extra_env: dict[str, str] | None = None,
               log_path: Path | None = None) -> LoadedModel:
    """Download a model, start its image's model server on it and ping it (raises :class:`DeploymentError`);
    ``extra_env`` is added to the container's environment (batch transform's variables)."""
    containers_ = model.containers
    if len(containers_) != 1:
        raise DeploymentError(f"Model {model.name} has {len(containers_)} containers; localcloud serves single-"
                              "container models.")
    image = containers_[0].get("Image", "")
    try:
        runtime = containers.for_serving(image)
    except containers.UnsupportedImage as exc:
        raise DeploymentError(str(exc)) from None
    shutil.rmtree(folder, ignore_errors=True)
    model_dir = folder / "model"
    model_dir.mkdir(parents=True)
    _model_data(s3, model, model_dir)
    env = {**runtime.env, **{str(k): str(v) for k, v in (containers_[0].get("Environment") or {}).items()},
           **(extra_env or {})}
    if runtime.kind == "sklearn":
        _code(s3, env, folder)
    try:
        # one log per variant across deployments, as the endpoint's CloudWatch log stream is
        spec = ChildSpec(module=SERVE_MODULES[runtime.kind],
                         log_path=log_path or folder.parent / "logs" / f"{variant}.log",
                         python=images.python(runtime.image), path=(images.pythonpath(runtime.image),),
                         env={"OMP_NUM_THREADS": "1"}, cwd=folder, name=f"the model server of {model.name}")
    except images.ImageNotInstalled as exc:
        raise DeploymentError(str(exc)) from None
    try:
        child = Child.start(spec)
        info, _ = child.call({"op": "load", "model_dir": str(model_dir), "root": str(folder), "env": env},
                             timeout=120.0)
    except (ChildError, ChildRaised) as exc:
        LOG.warning("model server of %s did not start: %s", model.name, exc)
        raise DeploymentError(PING_FAILED.format(variant=variant)) from None
    if not info.get("ok"):
        LOG.info("model %s does not load: %s", model.name, info.get("message"))
        child.stop(grace=1.0)
        raise DeploymentError(PING_FAILED.format(variant=variant))
    return LoadedModel(child, model.name, image, info, folder, runtime.kind)


@dataclass(frozen=True)
class LiveVariant:
    name: str
    weight: float
    model: LoadedModel
    #: the endpoint config the variant's fleet comes from (the EndpointConfigName dimension of its metrics)
    config: str = ""
    #: what that config's DataCaptureConfig captures (None: nothing), written as the model's execution ``role``
    capture: Capture | None = None
    role: str | None = None


def _by_weight(variants: tuple[LiveVariant, ...], target: str | None) -> LiveVariant | None:
    """The variant named ``target``, else one chosen by weight (the first when all weights are zero)."""
    if target is not None:
        return next((v for v in variants if v.name == target), None)
    if len(variants) == 1:
        return variants[0]
    total = sum(v.weight for v in variants)
    if total <= 0:
        return variants[0] if variants else None
    point = random.random() * total
    for variant in variants:
        point -= variant.weight
        if point < 0:
            return variant
    return variants[-1]


@dataclass(frozen=True)
class Live:
    """The routing table of one serving endpoint (replaced as a whole on every change). During a blue/green
    deployment it is the old (blue) fleet with the new (``green``) one taking ``share`` of the requests; each fleet
    has its shadow variants, which get a copy of the requests its production variants answer."""

    variants: tuple[LiveVariant, ...]
    shadows: tuple[LiveVariant, ...] = ()
    green: Live | None = None
    share: float = 0.0

    def route(self, target: str | None = None) -> tuple[LiveVariant | None, tuple[LiveVariant, ...]]:
        """The variant to answer a request, and the shadow variants to copy it to."""
        fleets = [self] if self.green is None else [self.green, self] if random.random() < self.share else \
            [self, self.green]
        for fleet in fleets:
            found = _by_weight(fleet.variants, target)
            if found is not None:
                return found, fleet.shadows
        return None, ()

    def pick(self, target: str | None = None) -> LiveVariant | None:
        return self.route(target)[0]

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(v.name for v in (*self.variants, *(self.green.variants if self.green else ()))))

    def models(self) -> list[LoadedModel]:
        """Every model server this table routes to (both fleets, shadows included)."""
        own = [v.model for v in (*self.variants, *self.shadows)]
        return own + (self.green.models() if self.green is not None else [])

    def close(self) -> None:
        for model in self.models():
            model.close()


def retire(live: Live | list[LoadedModel] | None, delay: float = RETIRE_SECONDS) -> None:
    """Stop model servers (a replaced table's, or the given ones) once requests already routed to them are done."""
    if live is None:
        return
    models = live.models() if isinstance(live, Live) else list(live)
    if not models:
        return

    def later() -> None:
        time.sleep(delay)
        for model in models:
            model.close()

    threading.Thread(target=later, name="retire-models", daemon=True).start()


class Router:
    """Endpoint name (lower case) → :class:`Live`; reads take no lock, writes replace whole entries."""

    def __init__(self) -> None:
        self._live: dict[str, Live] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Live | None:
        return self._live.get(key)

    def publish(self, key: str, live: Live) -> None:
        """Route ``key`` by ``live`` from now on; model servers of the old table it no longer routes to retire."""
        with self._lock:
            old, self._live[key] = self._live.get(key), live
        if old is not None:
            kept = {id(m) for m in live.models()}
            retire([m for m in old.models() if id(m) not in kept])

    def remove(self, key: str) -> None:
        with self._lock:
            old = self._live.pop(key, None)
        retire(old)

    def close(self) -> None:
        """Stop every model server at once (server shutdown)."""
        with self._lock:
            tables, self._live = list(self._live.values()), {}
        for live in tables:
            live.close()

    def __len__(self) -> int:
        return len(self._live)
