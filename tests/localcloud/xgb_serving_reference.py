"""Run in the XGBoost image's environment (xgboost 1.7.4, numpy 1.24.1): the 1.7-1 container's serving code, copied
as it is, against localcloud's model server (``localcloud.images.builtin_xgboost.serve``) on the same bodies.

The container's code below is from github aws/sagemaker-xgboost-container, branch ``1.7-1``:
``encoder.py`` (``_clean_csv_string``, ``csv_to_dmatrix``), ``algorithm_mode/serve_utils.py``
(``_get_sparse_matrix_from_libsvm``, ``parse_content_data``, ``predict``, ``encode_predictions_as_json``),
``algorithm_mode/serve.py`` (``invocations``), and sagemaker-containers 2.8.6.post2 ``_encoders.array_to_csv``
(the encoder of ``encoders.encode(preds_list, "text/csv")``). Logging calls are left out.

Usage: ``python xgb_serving_reference.py SPEC.json OUT.json``; SPEC holds ``cases`` (name → body, content type,
accept) and ``fuzz`` (how many random bodies and score lists); OUT gets, per model and case, both answers.
"""

# The container's code is kept as it is written there, its style included:
# ruff: noqa: B904, UP031, UP032

from __future__ import annotations

import csv
import json
import random
import re
import sys
import tempfile
import warnings
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from scipy.sparse import csr_matrix

warnings.simplefilter("ignore")  # ntree_limit's deprecation, numpy's overflow casts: on both sides alike

# ------------------------------------------------------------------------------------- the container's code


def _clean_csv_string(csv_string, delimiter):  # encoder.py
    return ["nan" if x == "" else x for x in csv_string.split(delimiter)]


def csv_to_array(input, dtype=None):  # encoder.csv_to_dmatrix without its last line, DMatrix(np_payload)
    csv_string = input.decode() if isinstance(input, bytes) else input
    sniff_delimiter = csv.Sniffer().sniff(csv_string.split("\n")[0][:512]).delimiter
    delimiter = "," if sniff_delimiter.isalnum() else sniff_delimiter
    return np.array(list(map(lambda x: _clean_csv_string(x, delimiter), csv_string.split("\n")))).astype(dtype)


def csv_to_dmatrix(input, dtype=None):  # encoder.py
    return xgb.DMatrix(csv_to_array(input, dtype))


def _get_sparse_matrix_from_libsvm(payload):  # serve_utils.py
    pylist = map(lambda x: x.split(" "), payload.split("\n"))
    colon = ":"
    row = []
    col = []
    data = []
    for row_idx, line in enumerate(pylist):
        for item in line:
            if colon in item:
                col_idx = item.split(colon)[0]
                val = item.split(colon)[1]
                row.append(row_idx)
                col.append(col_idx)
                data.append(val)

    row = np.array(row)
    col = np.array(col).astype(int)
    data = np.array(data).astype(float)
    if not (len(row) == len(col) and len(col) == len(data)):
        raise RuntimeError("Dimension checking failed when transforming sparse matrix.")

    return csr_matrix((data, (row, col)))


def parse_content_data(input_data, content_type):  # serve_utils.py (get_content_type done by the caller)
    payload = input_data
    if content_type == "csv":
        try:
            decoded_payload = payload.strip().decode("utf-8")
            dtest = csv_to_dmatrix(decoded_payload, dtype=float)
        except Exception as e:
            raise RuntimeError(
                "Loading csv data failed with Exception, "
                "please ensure data is in csv format:\n {}\n {}".format(type(e), e)
            )
    else:
        try:
            decoded_payload = payload.strip().decode("utf-8")
            dtest = xgb.DMatrix(_get_sparse_matrix_from_libsvm(decoded_payload))
        except Exception as e:
            raise RuntimeError(
                "Loading libsvm data failed with Exception, "
                "please ensure data is in libsvm format:\n {}\n {}".format(type(e), e)
            )
    return dtest


def predict(model, dtest):  # serve_utils.predict for xgb_format boosters (a list for an ensemble)
    if isinstance(model, list):
        ensemble = [
            booster.predict(dtest, ntree_limit=getattr(booster, "best_ntree_limit", 0), validate_features=False)
            for booster in model
        ]
        return np.mean(ensemble, axis=0)
    return model.predict(dtest, ntree_limit=getattr(model, "best_ntree_limit", 0), validate_features=False)


def array_to_csv(array_like):  # sagemaker_containers/_encoders.py
    array = np.array(array_like)
    if len(array.shape) == 1:
        array = np.reshape(array, (array.shape[0], 1))
    stream = StringIO()
    writer = csv.writer(stream, lineterminator="\n", delimiter=",", quotechar='"', doublequote=True, strict=True)
    writer.writerows(array)
    return stream.getvalue()


def encode_predictions_as_json(predictions):  # serve_utils.py
    preds_list_of_dict = []
    for pred in predictions:
        preds_list_of_dict.append({"score": pred})
    return json.dumps({"predictions": preds_list_of_dict})


def invocations(model, payload, content_type, accept):  # serve.py, for csv/libsvm bodies and csv/json answers
    if len(payload) == 0:
        return 204, ""
    try:
        dtest = parse_content_data(payload, content_type)
    except Exception as e:
        return 415, str(e)
    try:
        preds = predict(model, dtest)
    except Exception as e:
        return 400, "Unable to evaluate payload provided: %s" % e
    preds_list = preds.tolist()
    if accept == "application/json":
        return 200, encode_predictions_as_json(preds_list)
    return 200, array_to_csv(preds_list)


# ------------------------------------------------------------------------------------- the comparisons

#: xgboost's error texts carry the time and the library's load address: the same error, told at another moment
_VOLATILE = re.compile(r"\[\d\d:\d\d:\d\d\]|0x[0-9a-f]+|\(\+0x[0-9a-f]+\)")


def _same_text(text: str) -> str:
    return _VOLATILE.sub("#", text)


def train_models(folder: Path) -> dict[str, list[Any]]:
    """Real models of xgboost 1.7.4: a binary classifier (early-stopped, so it serves its best iteration), a
    3-class softprob, a regression with large and tiny scores, a dart booster, and a two-model ensemble."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(600, 6)).round(3)
    X[rng.random(X.shape) < 0.1] = np.nan
    y_bin = (np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) > 0).astype(float)
    y_cls = np.digitize(np.nan_to_num(X[:, 2]), [-0.5, 0.5]).astype(float)
    y_reg = np.exp(3 * np.nan_to_num(X[:, 3])) * 1e5
    train, valid = xgb.DMatrix(X[:450], label=y_bin[:450]), xgb.DMatrix(X[450:], label=y_bin[450:])
    specs = {
        "binary": (xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3}, train, 200,
                             evals=[(valid, "validation")], early_stopping_rounds=5, verbose_eval=False),),
        "softprob": (xgb.train({"objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(X, label=y_cls), 15),),
        "regression": (xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(X, label=y_reg), 20),),
        "dart": (xgb.train({"booster": "dart", "objective": "binary:logistic", "rate_drop": 0.1},
                           xgb.DMatrix(X, label=y_bin), 10),),
    }
    specs["ensemble"] = (specs["binary"][0], xgb.train({"objective": "binary:logistic", "max_depth": 2},
                                                       xgb.DMatrix(X, label=y_bin), 8))
    models = {}
    for name, boosters in specs.items():
        loaded = []
        for index, booster in enumerate(boosters):
            path = folder / f"{name}-{index}"
            booster.save_model(str(path))  # no extension: the binary format a training job writes
            reloaded = xgb.Booster()
            reloaded.load_model(str(path))
            reloaded.set_param("nthread", 1)
            loaded.append(reloaded)
        models[name] = loaded
    return models


def serve_with(serve: Any, folder: Path, boosters: list[Any], name: str) -> None:
    """localcloud's model server loaded with the same model files."""
    model_dir = folder / f"serve-{name}"
    model_dir.mkdir()
    for index, booster in enumerate(boosters):
        booster.save_model(str(model_dir / f"{index}-xgboost-model"))
    info = serve.load(str(model_dir), {})
    assert info["ok"], info


def compare_invocations(serve: Any, models: dict[str, list[Any]], folder: Path,
                        cases: dict[str, list[str]]) -> dict[str, Any]:
    from localcloud.images.builtin_xgboost.content import parse

    out: dict[str, Any] = {}
    for name, boosters in models.items():
        serve_with(serve, folder, boosters, name)
        model = boosters if len(boosters) > 1 else boosters[0]
        for case, (body, content_type, accept) in cases.items():
            payload = body.encode("utf-8", "surrogateescape")
            status, text = invocations(model, payload, parse(content_type), accept)
            answer, data = serve.invoke(payload, content_type, accept)
            out[f"{name}/{case}"] = {"container": [status, _same_text(text)],
                                     "localcloud": [answer["status"], _same_text(data.decode())]}
    return out


_TOKENS = ["0", "1", "-1", "+2", "0.5", ".5", "5.", "1e3", "1E-3", "-2.5e+10", "1e400", "-1e400", "3.4028236e38",
           "1e-50", "nan", "NaN", "-nan", "inf", "-Infinity", "", "e", "1e", "-", "+", ".", "1.2.3", "--1", "0x10",
           "1_0", " 1", "1 ", "\t2", '"1"', "'2'", "abc", "tiny", "١٢", "0.1234567890123456789", "00012",
           "123456789012345678901234567890", "4.9e-324", "2.2250738585072014e-308", "1;2", "1|2", "#1", "1\r"]


def _random_csv(rnd: random.Random) -> str:
    delimiter = rnd.choice([",", ",", ",", ";", "\t", "|", " ", ":"])
    width = rnd.choice([1, 1, 2, 3, 5])
    lines = []
    for _ in range(rnd.randint(1, 5)):
        cells = width + (rnd.random() < 0.1) * rnd.choice([-1, 1])
        lines.append(delimiter.join(rnd.choice(_TOKENS) if rnd.random() < 0.4 else str(round(rnd.gauss(0, 50), 4))
                                    for _ in range(max(cells, 1))))
    text = "\n".join(lines)
    if rnd.random() < 0.2:
        text = text.replace("\n", "\n\n", 1)
    return rnd.choice(["", " ", "\n"]) + text + rnd.choice(["", "\n", "\n\n", " "])


def _random_libsvm(rnd: random.Random) -> str:
    lines = []
    for _ in range(rnd.randint(1, 5)):
        tokens = [rnd.choice(["1", "0", "", "x"])] if rnd.random() < 0.7 else []
        for _ in range(rnd.randint(0 if rnd.random() < 0.1 else 1, 4)):
            odd = rnd.random() < 0.04
            index = rnd.choice(["+1", "-1", "1.0", "", "a", "1_0", "99999999999999999999"] if odd
                               else ["0", "1", "2", "5", "17", "01"])
            value = rnd.choice(_TOKENS) if rnd.random() < 0.1 else str(round(rnd.gauss(0, 9), 3))
            tokens.append(f"{index}:{value}" if rnd.random() < 0.96 else rnd.choice([f"{index}:{value}:9", index, ":"]))
        lines.append((" " if rnd.random() < 0.97 else "  ").join(tokens))
    return "\n".join(lines) + rnd.choice(["", "\n", " "])


def _outcome(call: Any) -> list[Any]:
    """``["ok", shape, float64 bits]`` or ``["error", type, message]``: NaN payloads compared bit for bit."""
    try:
        value = call()
    except Exception as exc:  # noqa: BLE001 - the type and text are what is compared
        return ["error", type(exc).__name__, _same_text(str(exc))]
    if hasattr(value, "toarray"):  # a sparse matrix: its shape and entries as stored
        value = value.tocoo()
        return ["ok", list(value.shape), value.row.tolist(), value.col.tolist(),
                np.asarray(value.data, dtype=np.float64).view(np.uint64).tolist()]
    return ["ok", list(value.shape), np.asarray(value, dtype=np.float64).view(np.uint64).ravel().tolist()]


def fuzz_parsers(count: int) -> dict[str, Any]:
    """Random awkward bodies: the container's array (or exception) against :mod:`.payloads`'."""
    from localcloud.images.builtin_xgboost import payloads

    rnd = random.Random(17)
    differences, fast, libsvm_fast = [], 0, 0
    for _ in range(count):
        body = _random_csv(rnd).encode()
        stripped = body.strip()
        ours = _outcome(lambda s=stripped: payloads.csv_rows(s))
        theirs = _outcome(lambda s=stripped: csv_to_array(s.decode("utf-8"), dtype=float))
        if ours != theirs:
            differences.append({"kind": "csv", "body": body.decode(), "container": theirs, "localcloud": ours})
        try:
            text = stripped.decode()
            fast += payloads.csv_fast(stripped, text, payloads.sniff_delimiter(text)) is not None
        except Exception:  # noqa: BLE001, S110 - the sniffer refused it: counted as not fast
            pass
    for _ in range(count):
        body = _random_libsvm(rnd).encode()
        stripped = body.strip()
        ours = _outcome(lambda s=stripped: payloads.libsvm_rows(s))
        theirs = _outcome(lambda s=stripped: _get_sparse_matrix_from_libsvm(s.decode("utf-8")))
        if ours != theirs:
            differences.append({"kind": "libsvm", "body": body.decode(), "container": theirs, "localcloud": ours})
        libsvm_fast += payloads.libsvm_fast(stripped, stripped.decode()) is not None
    return {"differences": differences[:20], "count": len(differences), "csv_fast": fast, "libsvm_fast": libsvm_fast}


def fuzz_sniffer(count: int) -> dict[str, Any]:
    """Random first lines: ``csv.Sniffer``'s delimiter (or its error) against :mod:`.payloads`' shortcut."""
    from localcloud.images.builtin_xgboost import payloads

    rnd = random.Random(29)
    alphabet = "0123456789.,;:\t |-+eEnaif\r\x00\x7e\x7f\u00e9\u0661#_/=$ab"
    differences = []
    for index in range(count):
        size = rnd.choice([1, 2, 3, 8, 40, 600])
        line = "".join(rnd.choice(alphabet[: 10 + index % (len(alphabet) - 9)]) for _ in range(size)).strip()

        def sniffed(first: str = line) -> str:
            delimiter = csv.Sniffer().sniff(first.split("\n")[0][:512]).delimiter  # as csv_to_dmatrix does
            return "," if delimiter.isalnum() else delimiter

        ours, theirs = _outcome_text(lambda s=line: payloads.sniff_delimiter(s)), _outcome_text(sniffed)
        if ours != theirs:
            differences.append({"line": line, "container": theirs, "localcloud": ours})
    return {"differences": differences[:10], "count": len(differences)}


def _outcome_text(call: Any) -> list[str]:
    try:
        return ["ok", call()]
    except Exception as exc:  # noqa: BLE001 - the type and text are what is compared
        return ["error", type(exc).__name__, str(exc)]


def fuzz_answers(count: int) -> dict[str, Any]:
    """Random float32 scores (any bit pattern: tiny, huge, NaN, inf, -0.0) written both ways."""
    from localcloud.images.builtin_xgboost import payloads

    rng = np.random.default_rng(3)
    differences = []
    for index in range(count):
        shape = (rng.integers(1, 40),) if index % 3 else (rng.integers(1, 9), rng.integers(1, 4))
        scores = rng.integers(0, 2**32, size=shape, dtype=np.uint64).astype(np.uint32).view(np.float32)
        if index % 2:
            scores = rng.random(size=shape).astype(np.float32)
        pairs = [(payloads.csv_answer(scores).decode(), array_to_csv(scores.tolist())),
                 (payloads.json_answer(scores).decode(), encode_predictions_as_json(scores.tolist()))]
        for ours, theirs in pairs:
            if ours != theirs:
                differences.append({"scores": scores.view(np.uint32).tolist(), "container": theirs,
                                    "localcloud": ours})
    return {"differences": differences[:10], "count": len(differences)}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    from localcloud.images.builtin_xgboost import serve

    serve.prepare()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = train_models(folder)
        result = {"invocations": compare_invocations(serve, models, folder, spec["cases"]),
                  "parsers": fuzz_parsers(spec["fuzz"]), "answers": fuzz_answers(spec["fuzz"]),
                  "sniffer": fuzz_sniffer(spec["fuzz"]),
                  "versions": {"xgboost": xgb.__version__, "numpy": np.__version__}}
    Path(sys.argv[2]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
