"""The model server of the Scikit-learn 1.2-1 image, as a localcloud child process (one per variant, or per
transform job).

A single-model endpoint of that image runs ``sagemaker_sklearn_container.serving:main`` under gunicorn
(``serving_entrypoint``; github aws/sagemaker-scikit-learn-container, branch ``1.2-1``): the user's module
(``SAGEMAKER_PROGRAM`` from ``SAGEMAKER_SUBMIT_DIRECTORY``) is imported, and its functions drive a
``sagemaker_containers`` ``Transformer`` (tag ``v2.8.6.post2``):

* ``model_fn(model_dir)`` is required: the default raises ``NotImplementedError("Please provide a model_fn
  implementation...")``, so the worker does not start and the endpoint fails its ping;
* ``input_fn`` defaults to ``encoders.decode`` then ``astype(np.float32)`` for csv and json (no reshape: a
  one-row CSV is a 1-D array there), ``predict_fn`` to ``model.predict``, ``output_fn`` to ``encoders.encode`` with
  the Accept type as the response's mimetype; ``transform_fn`` replaces all three (with any of them it is a
  ``UserError``);
* every one of them is wrapped so that any exception is a ``ClientError`` nothing catches: Flask answers
  ``500 Internal Server Error`` (an unsupported content type included);
* Content-Type defaults to ``application/json``; an absent or ``*/*`` Accept to
  ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, else ``application/json``; csv and json bodies are decoded to text.

The model folder is ``/opt/ml/model`` and the code ``/opt/ml/code`` through :mod:`.pathmap` (the server lays out
a folder as the container's ``/opt/ml``). Requests: ``{"op": "load", "root": ..., "env": {...}}``,
``{"op": "ping"}``, ``{"op": "execution-parameters"}``, ``{"op": "invoke", "content_type": ..., "accept": ...}``
with the body as payload.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from localcloud.images.scriptmode import encoders, pathmap

LOG = logging.getLogger("sagemaker_sklearn_container.serving")

#: Werkzeug 2.0's page for an unhandled error (the image pins Werkzeug 2.0.3)
INTERNAL_ERROR = ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>500 Internal Server Error</title>\n'
                  "<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable to "
                  "complete your request. Either the server is overloaded or there is an error in the "
                  "application.</p>\n")
MODEL_DIR = "/opt/ml/model"


class _State:
    model: Any = None
    functions: dict[str, Callable[..., Any]] = {}
    module: Any = None
    load_error: str | None = None


STATE = _State()


def prepare() -> dict[str, Any]:
    logging.basicConfig(format="%(asctime)s %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    import numpy  # noqa: F401 - the worker's imports before the model arrives
    import sklearn

    return {"sklearn": sklearn.__version__}


def default_model_fn(model_dir: str) -> Any:
    raise NotImplementedError("\nPlease provide a model_fn implementation.\nSee documentation for model_fn at "
                              "https://github.com/aws/sagemaker-python-sdk\n")


def default_input_fn(input_data: Any, content_type: str) -> Any:
    import numpy as np

    array = encoders.decode(input_data, content_type)
    return array.astype(np.float32) if content_type in encoders.UTF8_TYPES else array


def default_predict_fn(input_data: Any, model: Any) -> Any:
    return model.predict(input_data)


def default_output_fn(prediction: Any, accept: str) -> tuple[Any, str]:
    return encoders.encode(prediction, accept), accept


def user_functions(module: Any) -> dict[str, Callable[..., Any]]:
    """``_user_module_transformer``: the user's functions, defaults for the missing ones."""
    found = {name: getattr(module, name, None) for name in ("input_fn", "predict_fn", "output_fn", "transform_fn")}
    if found["transform_fn"] and (found["input_fn"] or found["predict_fn"] or found["output_fn"]):
        raise RuntimeError("UserError: Cannot use transform_fn implementation with input_fn, predict_fn, and/or "
                           "output_fn")
    functions = {"model_fn": getattr(module, "model_fn", default_model_fn)}
    if found["transform_fn"]:
        functions["transform_fn"] = found["transform_fn"]
    else:
        functions.update(input_fn=found["input_fn"] or default_input_fn,
                         predict_fn=found["predict_fn"] or default_predict_fn,
                         output_fn=found["output_fn"] or default_output_fn)
    return functions


def load(root: str, env: dict[str, str]) -> dict[str, Any]:
    """Import the user's module and call its ``model_fn`` (the worker's start)."""
    os.environ.update(env)
    pathmap.install(root)
    program = env.get("SAGEMAKER_PROGRAM", "")
    name = program[:-3] if program.endswith(".py") else program
    for folder in (os.path.join(root, "packages"), os.path.join(root, "code")):
        if os.path.isdir(folder) and folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        if not name:
            raise RuntimeError("SAGEMAKER_PROGRAM is not set: the model names no script with a model_fn")
        STATE.module = importlib.import_module(name)
        STATE.functions = user_functions(STATE.module)
        STATE.model = STATE.functions["model_fn"](MODEL_DIR)
        STATE.load_error = None
    except Exception as exc:  # the worker dies and the container never answers /ping
        traceback.print_exc()
        STATE.load_error = f"{type(exc).__name__}: {exc}"
        return {"ok": False, "message": STATE.load_error}
    return {"ok": True, "module": name}


def _response(result: Any, accept: str) -> tuple[dict[str, Any], bytes]:
    """What Flask makes of a transform function's return value."""
    if isinstance(result, tuple):
        body, mimetype = result[0], str(result[1])
    elif isinstance(result, dict):
        body, mimetype = json.dumps(result) + "\n", "application/json"
    elif isinstance(result, (str, bytes)):
        body, mimetype = result, "text/html"
    else:
        raise TypeError(f"The view function did not return a valid response: {type(result).__name__}")
    data = body.encode() if isinstance(body, str) else bytes(body)
    # Flask adds a charset to text/* mimetypes only
    content_type = f"{mimetype}; charset=utf-8" if mimetype.startswith("text/") else mimetype
    return {"status": 200, "content_type": content_type}, data


def invoke(payload: bytes, content_type: str | None, accept_header: str | None) -> tuple[dict[str, Any], bytes]:
    """One ``POST /invocations``: ``Transformer.transform`` behind the Flask worker."""
    ctype = content_type or encoders.JSON
    accept = accept_header if accept_header and accept_header != "*/*" else \
        os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", encoders.JSON)
    content: Any = payload.decode("utf-8", errors="replace") if ctype in encoders.UTF8_TYPES else payload
    functions = STATE.functions
    try:
        if "transform_fn" in functions:
            result = functions["transform_fn"](STATE.model, content, ctype, accept)
        else:
            data = functions["input_fn"](content, ctype)
            prediction = functions["predict_fn"](data, STATE.model)
            result = functions["output_fn"](prediction, accept)
        return _response(result, accept)
    except Exception:  # wrapped in ClientError, which nothing catches: Flask's 500
        traceback.print_exc()
        return {"status": 500, "content_type": "text/html; charset=utf-8"}, INTERNAL_ERROR.encode()


def execution_parameters() -> tuple[dict[str, Any], bytes]:
    """``GET /execution-parameters``: only when the user's module defines ``execution_parameters_fn``."""
    function = getattr(STATE.module, "execution_parameters_fn", None)
    if function is None:
        return {"status": 404, "content_type": "text/html; charset=utf-8"}, b""
    try:
        return _response(function(), encoders.JSON)
    except Exception:
        traceback.print_exc()
        return {"status": 500, "content_type": "text/html; charset=utf-8"}, INTERNAL_ERROR.encode()


def handle(message: dict[str, Any], payload: bytes | None) -> tuple[dict[str, Any], bytes | None]:
    op = message.get("op")
    if op == "load":
        return load(str(message["root"]), dict(message.get("env") or {})), None
    if op == "ping":
        return {"status": 200 if STATE.load_error is None and STATE.functions else 500}, None
    if op == "execution-parameters":
        return execution_parameters()
    if op == "invoke":
        return invoke(payload or b"", message.get("content_type"), message.get("accept"))
    raise ValueError(f"unknown operation {op!r}")
