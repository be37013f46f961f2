"""The model server of the built-in XGBoost 1.7-1 image, as a localcloud child process (one per variant worker).

It answers what the container's Flask app answers (``algorithm_mode/serve.py`` and ``serve_utils.py``, branch
``1.7-1``) for ``/ping`` and ``/invocations``:

* the model is every regular, non-dot file of the model folder, each tried with pickle and then
  ``Booster.load_model``; several files are an ensemble whose scores are averaged;
* ``predict(dtest, ntree_limit=best_ntree_limit, validate_features=False)`` (an early-stopped model serves its
  best iteration); for CSV rows with as many columns as a gbtree model's features, ``inplace_predict`` of the same
  float32 values and iterations, which gives the same scores without building a DMatrix;
* a CSV payload is stripped, its delimiter sniffed from the first line, split on newlines and the delimiter (no
  quotes, no header; empty cells are NaN); libsvm is parsed to a sparse matrix (:mod:`.payloads` does both, and
  writes the answers, with the container's code as the reference);
* status codes: 204 for an empty body, 415 when the payload cannot be parsed, 500 when the model cannot be
  loaded, 400 when xgboost cannot score it, 406 for an Accept it does not support (checked last, as there);
* ``text/csv`` answers one score per line (``csv.writer`` over the scores, a ``\\n`` after each line);
  ``application/json`` answers ``{"predictions": [{"score": ...}, ...]}``; ``application/jsonlines`` and
  ``application/x-recordio-protobuf`` fail with 500 unless selectable output is configured, as in the container.

Requests: ``{"op": "load", "model_dir": ..., "env": {...}}``, ``{"op": "ping"}``,
``{"op": "invoke", "content_type": ..., "accept": ...}`` with the body as the frame's payload; answers carry
``status``, ``content_type`` and the body as payload.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import sys
from typing import Any

from localcloud.images.builtin_xgboost import payloads
from localcloud.images.builtin_xgboost.content import CSV, LIBSVM, RECORDIO_PROTOBUF, parse

LOG = logging.getLogger(__name__)

SUPPORTED_ACCEPTS = ["application/json", "application/jsonlines", "application/x-recordio-protobuf", "text/csv"]
ENCODABLE = ("text/csv", "application/json")


class _State:
    models: list[Any] = []
    objective: str = ""
    load_error: str | None = None
    env: dict[str, str] = {}
    #: per model: the iterations ``predict(ntree_limit=best_ntree_limit)`` uses, and its number of features
    iteration_ranges: list[tuple[int, int]] = []
    num_features: list[int] = []
    #: every model is a gbtree (see :func:`_predict_in_place`)
    in_place: bool = False


STATE = _State()


#: packages xgboost's data dispatch tries to import on every DMatrix and ``inplace_predict`` (``xgboost/data.py``:
#: ``_is_pandas_df``, ``_is_modin_df``, ``_is_arrow``, ...). The container has pandas, so there the import is a
#: dictionary look-up; here an absent package is searched for on disk each time, unless marked absent once.
OPTIONAL_PACKAGES = ("pandas", "modin", "pyarrow", "cudf", "cupy", "cupyx", "datatable", "dask")


def _mark_absent(names: tuple[str, ...]) -> None:
    """``import name`` fails at once (as it would after the search) for each package that is not installed."""
    import importlib.util

    for name in names:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = None  # type: ignore[assignment]  # the import system's "known missing" marker


def prepare() -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    _mark_absent(OPTIONAL_PACKAGES)
    import xgboost

    return {"xgboost": xgboost.__version__}


def _model_files(model_dir: str) -> list[str]:
    files = []
    for name in sorted(os.listdir(model_dir)):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            if name.startswith("."):
                LOG.warning("Ignoring dotfile '%s' found in model directory - please exclude dotfiles from model "
                            "archives", path)
            else:
                files.append(path)
    return files


def load_models(model_dir: str, ensemble: bool = True) -> list[Any]:
    """``get_loaded_booster``: pickle first, then ``load_model``; ``nthread`` 1."""
    import xgboost as xgb

    paths = _model_files(model_dir)
    if not paths:
        raise RuntimeError(f"No model files found in {model_dir}")
    models = []
    for path in paths if ensemble else paths[:1]:
        LOG.info("Loading the model from %s", path)
        try:
            with open(path, "rb") as handle:
                booster = pickle.load(handle)
        except Exception as pickle_error:
            try:
                booster = xgb.Booster()
                booster.load_model(path)
            except Exception as xgb_error:
                raise RuntimeError(f"Model {path} cannot be loaded:\nPickle load error={pickle_error}"
                                   f"\nXGB load model error={xgb_error}") from None
        booster.set_param("nthread", 1)
        models.append(booster)
    return models


class Rows:
    """A request's rows: the float64 array (CSV) or sparse matrix (libsvm) the container builds its DMatrix from.

    ``dense`` is the float32 matrix xgboost would hold (CSV rows only), for :func:`predict`'s in-place route."""

    def __init__(self, source: Any, dense: Any = None, dmatrix: Any = None) -> None:
        self.source, self.dense, self._dmatrix = source, dense, dmatrix

    def dmatrix(self) -> Any:
        """``xgb.DMatrix(source)``, as the container makes it (once)."""
        if self._dmatrix is None:
            import xgboost as xgb

            self._dmatrix = xgb.DMatrix(self.source)
        return self._dmatrix


def _csv_rows(body: bytes) -> Rows:
    """The container's DMatrix of CSV rows, made only when xgboost would refuse the matrix (a value past float32's
    range reads as inf: "Input data contains `inf` or `nan`") so the error is raised here, as the container
    raises it while parsing."""
    import numpy as np
    import xgboost as xgb

    array = payloads.csv_rows(body)
    with np.errstate(over="ignore"):
        dense = array.astype(np.float32)  # the cast xgboost makes of each value
    if np.isinf(dense).any():
        return Rows(array, dmatrix=xgb.DMatrix(array))
    return Rows(array, dense=dense)


def parse_payload(payload: bytes, content_type: str | None) -> Rows:
    """``parse_content_data``: the request's rows (raises with the container's messages)."""
    import xgboost as xgb

    kind = parse(content_type)
    if kind == CSV:
        try:
            return _csv_rows(payload.strip())
        except Exception as exc:
            raise RuntimeError("Loading csv data failed with Exception, please ensure data is in csv format:\n "
                               f"{type(exc)}\n {exc}") from None
    if kind == LIBSVM:
        try:
            matrix = payloads.libsvm_rows(payload.strip())
            return Rows(matrix, dmatrix=xgb.DMatrix(matrix))
        except Exception as exc:
            raise RuntimeError("Loading libsvm data failed with Exception, please ensure data is in libsvm "
                               f"format:\n {type(exc)}\n {exc}") from None
    if kind == RECORDIO_PROTOBUF:
        raise RuntimeError("Loading recordio-protobuf data failed with Exception, please ensure data is in "
                           "recordio-protobuf format: localcloud's XGBoost image has no recordio-protobuf reader")
    raise RuntimeError(f"Content-type {content_type} is not supported.")


def _predict_in_place(rows: Rows) -> Any | None:
    """The scores of dense rows by ``inplace_predict``, or None where it may not equal the container's route.

    For a gbtree model and as many columns as the model has features, ``inplace_predict`` walks the same trees
    over the same float32 values (NaN missing) and the same iterations as ``predict`` of a DMatrix; fewer columns
    (which the container's DMatrix accepts), other boosters and any xgboost error take the container's route."""
    import numpy as np
    import xgboost as xgb

    dense = rows.dense
    if dense is None or not STATE.in_place or any(dense.shape[1] != n for n in STATE.num_features):
        return None
    try:
        scores = [m.inplace_predict(dense, iteration_range=r, validate_features=False)
                  for m, r in zip(STATE.models, STATE.iteration_ranges, strict=True)]
    except xgb.core.XGBoostError:
        return None
    return scores[0] if len(scores) == 1 else np.mean(scores, axis=0)


def predict(rows: Rows) -> Any:
    """``serve_utils.predict``: each model's ``predict(dtest, ntree_limit=best_ntree_limit,
    validate_features=False)``, averaged over an ensemble."""
    import numpy as np

    fast = _predict_in_place(rows)
    if fast is not None:
        return fast
    dtest = rows.dmatrix()
    scores = [m.predict(dtest, ntree_limit=getattr(m, "best_ntree_limit", 0), validate_features=False)
              for m in STATE.models]
    return scores[0] if len(scores) == 1 else np.mean(scores, axis=0)


def accept_type(value: str | None) -> str:
    """``_parse_accept``: the default (``text/csv``) for none or ``*/*``; parameters dropped."""
    accept = (value or "").split(";")[0].strip()
    if not accept or accept == "*/*":
        return STATE.env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv")
    if accept.lower() not in SUPPORTED_ACCEPTS:
        raise ValueError(f"Accept type {accept} is not supported. Please use supported accept types: "
                         f"{SUPPORTED_ACCEPTS}.")
    return accept.lower()


def encode(predictions: Any, accept: str) -> bytes:
    """The container's response body: ``SAGEMAKER_BATCH`` lines, JSON or CSV (see :mod:`.payloads`)."""
    if STATE.env.get("SAGEMAKER_BATCH"):
        return ("\n".join(map(str, predictions.tolist())) + "\n").encode()
    if accept == "application/json":
        return payloads.json_answer(predictions)
    return payloads.csv_answer(predictions)


def _answer(status: int, body: str | bytes, content_type: str = "text/html; charset=utf-8"
            ) -> tuple[dict[str, Any], bytes]:
    data = body.encode() if isinstance(body, str) else body
    return {"status": status, "content_type": content_type}, data


def invoke(payload: bytes, content_type: str | None, accept_header: str | None) -> tuple[dict[str, Any], bytes]:
    """One ``POST /invocations``, step for step as the container's ``invocations()``."""
    if not payload:
        return _answer(204, b"")
    try:
        dtest = parse_payload(payload, content_type)
    except Exception as exc:
        LOG.exception(exc)
        return _answer(415, str(exc))
    if STATE.load_error is not None:
        return _answer(500, f"Unable to load model: {STATE.load_error}")
    try:
        predictions = predict(dtest)
    except Exception as exc:
        LOG.exception(exc)
        return _answer(400, f"Unable to evaluate payload provided: {exc}")
    try:
        accept = accept_type(accept_header)
    except ValueError as exc:
        return _answer(406, str(exc))
    if STATE.env.get("SAGEMAKER_INFERENCE_OUTPUT"):
        return _answer(500, "localcloud's XGBoost image does not implement selectable inference output "
                            "(SAGEMAKER_INFERENCE_OUTPUT); remove it from the model's Environment.")
    if accept not in ENCODABLE and not STATE.env.get("SAGEMAKER_BATCH"):
        # sagemaker-containers' encoders know csv, json and npy only: the container answers a bare 500
        return _answer(500, "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<title>500 Internal Server "
                            "Error</title>\n<h1>Internal Server Error</h1>\n<p>The server encountered an internal "
                            "error and was unable to complete your request.</p>\n")
    # Flask adds a charset to text/* mimetypes only
    mimetype = f"{accept}; charset=utf-8" if accept.startswith("text/") else accept
    return _answer(200, encode(predictions, accept), mimetype)


def _plan_in_place(models: list[Any]) -> None:
    """What :func:`_predict_in_place` needs of each model: xgboost's own conversion of ``best_ntree_limit`` to
    iterations (``_convert_ntree_limit``, which also gives the container's deprecation warning), the number of
    features, and whether every model is a gbtree."""
    from xgboost.core import _convert_ntree_limit

    STATE.iteration_ranges = [_convert_ntree_limit(m, getattr(m, "best_ntree_limit", 0), (0, 0)) for m in models]
    STATE.num_features = [int(m.num_features()) for m in models]
    STATE.in_place = all(json.loads(m.save_config())["learner"]["gradient_booster"]["name"] == "gbtree"
                         for m in models)


def load(model_dir: str, env: dict[str, str]) -> dict[str, Any]:
    STATE.env = dict(env)
    os.environ.update(env)
    try:
        STATE.models = load_models(model_dir, ensemble=env.get("SAGEMAKER_INFERENCE_ENSEMBLE", "true") == "true")
        config = json.loads(STATE.models[0].save_config())
        STATE.objective = config["learner"]["objective"]["name"]
        _plan_in_place(STATE.models)
        STATE.load_error = None
    except Exception as exc:
        LOG.exception(exc)
        STATE.models, STATE.load_error = [], str(exc)
        return {"ok": False, "message": str(exc)}
    return {"ok": True, "objective": STATE.objective, "models": len(STATE.models),
            "num_features": int(STATE.models[0].num_features())}


def handle(message: dict[str, Any], payload: bytes | None) -> tuple[dict[str, Any], bytes | None]:
    op = message.get("op")
    if op == "load":
        return load(str(message["model_dir"]), dict(message.get("env") or {})), None
    if op == "ping":
        return {"status": 200 if STATE.load_error is None and STATE.models else 500}, None
    if op == "invoke":
        return invoke(payload or b"", message.get("content_type"), message.get("accept"))
    raise ValueError(f"unknown operation {op!r}")
