"""The model server of the built-in XGBoost 1.7-1 image, as a localcloud child process (one per variant worker).

It answers what the container's Flask app answers (``algorithm_mode/serve.py`` and ``serve_utils.py``, branch
``1.7-1``) for ``/ping`` and ``/invocations``:

* the model is every regular, non-dot file of the model folder, each tried with pickle and then
  ``Booster.load_model``; several files are an ensemble whose scores are averaged;
* ``predict(dtest, ntree_limit=best_ntree_limit, validate_features=False)`` (an early-stopped model serves its
  best iteration);
* a CSV payload is stripped, its delimiter sniffed from the first line, split on newlines and the delimiter (no
  quotes, no header; empty cells are NaN); libsvm is parsed to a sparse matrix;
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

import csv
import io
import json
import logging
import os
import pickle
from typing import Any

from localcloud.images.builtin_xgboost.content import CSV, LIBSVM, RECORDIO_PROTOBUF, parse

LOG = logging.getLogger(__name__)

SUPPORTED_ACCEPTS = ["application/json", "application/jsonlines", "application/x-recordio-protobuf", "text/csv"]
ENCODABLE = ("text/csv", "application/json")


class _State:
    models: list[Any] = []
    objective: str = ""
    load_error: str | None = None
    env: dict[str, str] = {}


STATE = _State()


def prepare() -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
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


def parse_payload(payload: bytes, content_type: str | None) -> Any:
    """``parse_content_data``: a DMatrix of the request's rows (raises with the container's messages)."""
    import numpy as np
    import xgboost as xgb

    kind = parse(content_type)
    if kind == CSV:
        try:
            text = payload.strip().decode("utf-8")
            first = text.split("\n")[0][:512]
            sniffed = csv.Sniffer().sniff(first).delimiter
            delimiter = "," if sniffed.isalnum() else sniffed
            rows = [["nan" if cell == "" else cell for cell in line.split(delimiter)] for line in text.split("\n")]
            return xgb.DMatrix(np.array(rows).astype(float))
        except Exception as exc:
            raise RuntimeError("Loading csv data failed with Exception, please ensure data is in csv format:\n "
                               f"{type(exc)}\n {exc}") from None
    if kind == LIBSVM:
        try:
            return xgb.DMatrix(_libsvm_matrix(payload.strip().decode("utf-8")))
        except Exception as exc:
            raise RuntimeError("Loading libsvm data failed with Exception, please ensure data is in libsvm "
                               f"format:\n {type(exc)}\n {exc}") from None
    if kind == RECORDIO_PROTOBUF:
        raise RuntimeError("Loading recordio-protobuf data failed with Exception, please ensure data is in "
                           "recordio-protobuf format: localcloud's XGBoost image has no recordio-protobuf reader")
    raise RuntimeError(f"Content-type {content_type} is not supported.")


def _libsvm_matrix(text: str) -> Any:
    """``_get_sparse_matrix_from_libsvm``: ``index:value`` tokens of each line; the label is ignored."""
    import numpy as np
    from scipy.sparse import csr_matrix

    rows, cols, values = [], [], []
    for index, line in enumerate(text.split("\n")):
        for item in line.split(" "):
            if ":" in item:
                col, value = item.split(":")[0], item.split(":")[1]
                rows.append(index)
                cols.append(col)
                values.append(value)
    return csr_matrix((np.array(values).astype(float), (np.array(rows), np.array(cols).astype(int))))


def predict(dtest: Any) -> Any:
    import numpy as np

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


def encode(predictions: list[Any], accept: str) -> bytes:
    """The container's response body: csv via ``csv.writer`` (sagemaker-containers' ``array_to_csv``) or JSON."""
    import numpy as np

    if STATE.env.get("SAGEMAKER_BATCH"):
        return ("\n".join(map(str, predictions)) + "\n").encode()
    if accept == "application/json":
        return json.dumps({"predictions": [{"score": p} for p in predictions]}).encode()
    array = np.array(predictions)
    if array.ndim == 1:
        array = array.reshape(array.shape[0], 1)
    stream = io.StringIO()
    csv.writer(stream, lineterminator="\n", delimiter=",", quotechar='"', doublequote=True,
               strict=True).writerows(array)
    return stream.getvalue().encode()


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
    return _answer(200, encode(predictions.tolist(), accept), mimetype)


def load(model_dir: str, env: dict[str, str]) -> dict[str, Any]:
    STATE.env = dict(env)
    os.environ.update(env)
    try:
        STATE.models = load_models(model_dir, ensemble=env.get("SAGEMAKER_INFERENCE_ENSEMBLE", "true") == "true")
        config = json.loads(STATE.models[0].save_config())
        STATE.objective = config["learner"]["objective"]["name"]
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
