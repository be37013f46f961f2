"""Which container images localcloud runs, and as what: a training, processing or serving image URI becomes a
:class:`Runtime` (the image environment of :mod:`localcloud.images` and how the container behaves), or an
:class:`UnsupportedImage` saying what localcloud runs instead.

* ``sagemaker-xgboost:1.7-1``: the built-in XGBoost algorithm (training, serving); a processing job runs its
  command with the image's Python (xgboost 1.7.4);
* ``sagemaker-scikit-learn:1.2-1[-cpu-py3]``: the Scikit-learn framework image (script-mode training through the
  training toolkit, processing, serving with the container's default handlers);
* any other image that is not one of SageMaker's own (a user's ECR image, as in ``ScriptProcessor``) is a
  generic Python image: its processing command runs in the Scikit-learn 1.2-1 environment, and a training job
  that names a script (``sagemaker_program``) runs it as the training toolkit does; localcloud cannot run such an
  image's own entry point;
* SageMaker's other built-in algorithms (PCA, Linear Learner, k-means, ...) and the deep-learning framework images
  (PyTorch, TensorFlow, MXNet, Hugging Face) are not run: the job fails naming the image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from localcloud import images
from localcloud.errors import LocalCloudError

ECR = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/(?P<repo>[^:@]+)"
                 r"(:(?P<tag>[^@]+))?(@sha256:[0-9a-f]{64})?$")
XGBOOST_REPO = re.compile(r"^sagemaker-xgboost$|^xgboost$")
XGBOOST_VERSION = "1.7-1"
SKLEARN_VERSION = "1.2-1"
#: SageMaker's first-party algorithm repositories other than XGBoost (image_uris of the SageMaker Python SDK)
BUILTIN_ALGORITHMS = {
    "blazingtext": "BlazingText", "factorization-machines": "Factorization Machines", "forecasting-deepar": "DeepAR",
    "image-classification": "Image Classification", "ipinsights": "IP Insights", "kmeans": "k-means",
    "knn": "k-NN", "lda": "LDA", "linear-learner": "Linear Learner", "ntm": "Neural Topic Model",
    "object-detection": "Object Detection", "object2vec": "Object2Vec", "pca": "PCA",
    "randomcutforest": "Random Cut Forest", "semantic-segmentation": "Semantic Segmentation",
    "seq2seq": "Sequence-to-Sequence",
}
FRAMEWORKS = re.compile(r"(pytorch|tensorflow|mxnet|huggingface|chainer|autogluon|djl|sagemaker-spark|"
                        r"sagemaker-rl|stabilityai|tei|tgi)", re.IGNORECASE)
WHAT_RUNS = (f"localcloud runs the built-in XGBoost {XGBOOST_VERSION} image "
             f"(sagemaker.image_uris.retrieve('xgboost', region, '{XGBOOST_VERSION}')), the Scikit-learn "
             f"{SKLEARN_VERSION} framework image (sagemaker.image_uris.retrieve('sklearn', region, "
             f"'{SKLEARN_VERSION}')) and, for processing and script-mode training, a generic Python image")


class UnsupportedImage(LocalCloudError):
    """localcloud cannot run this image; the message names it and says what localcloud runs instead."""


@dataclass(frozen=True)
class Runtime:
    """How localcloud runs one image."""

    kind: str  # "xgboost", "sklearn" or "python"
    image: images.Image
    name: str  # how messages name it
    #: the image's own ENV (its Dockerfile): what every container of it starts with
    env: dict[str, str] = field(default_factory=dict)
    #: the interpreter the image's toolkit names in its messages
    python_name: str = "/usr/bin/python3"


XGBOOST = Runtime("xgboost", images.XGBOOST, f"SageMaker XGBoost {XGBOOST_VERSION}",
                  python_name="/miniconda3/bin/python3")
#: docker/1.2-1/final/Dockerfile.cpu of github aws/sagemaker-scikit-learn-container (branch 1.2-1)
SKLEARN = Runtime("sklearn", images.SKLEARN, f"SageMaker Scikit-learn {SKLEARN_VERSION}", env={
    "SAGEMAKER_SKLEARN_VERSION": SKLEARN_VERSION,
    "SAGEMAKER_TRAINING_MODULE": "sagemaker_sklearn_container.training:main",
    "SAGEMAKER_SERVING_MODULE": "sagemaker_sklearn_container.serving:main",
    "SM_INPUT": "/opt/ml/input", "SM_INPUT_TRAINING_CONFIG_FILE": "/opt/ml/input/config/hyperparameters.json",
    "SM_INPUT_DATA_CONFIG_FILE": "/opt/ml/input/config/inputdataconfig.json",
    "SM_CHECKPOINT_CONFIG_FILE": "/opt/ml/input/config/checkpointconfig.json", "SM_MODEL_DIR": "/opt/ml/model",
}, python_name="/miniconda3/bin/python")
PYTHON = Runtime("python", images.SKLEARN, "a generic Python image (localcloud's Scikit-learn 1.2-1 environment)")


def _describe(image: str) -> tuple[str, str, str]:
    """(account, repository, tag) of an ECR image URI ('' when it is not one)."""
    match = ECR.match(image or "")
    if not match:
        return "", "", ""
    return match.group("account"), match.group("repo"), match.group("tag") or "latest"


def _not_run(image: str) -> UnsupportedImage | None:
    """Why an AWS-published image that is not XGBoost or Scikit-learn cannot run here (None for others)."""
    _, repo, tag = _describe(image)
    base = repo.rsplit("/", 1)[-1]
    if base in BUILTIN_ALGORITHMS:
        return UnsupportedImage(f"localcloud does not run SageMaker's built-in {BUILTIN_ALGORITHMS[base]} algorithm "
                                f"(image '{image}'); {WHAT_RUNS}.")
    if FRAMEWORKS.search(base):
        return UnsupportedImage(f"localcloud does not run the image '{image}' (its framework is not installed "
                                f"locally); {WHAT_RUNS}.")
    if XGBOOST_REPO.match(base):
        version = tag.split("-cpu")[0] if base == "sagemaker-xgboost" else "0.72"
        return UnsupportedImage(f"localcloud runs the built-in XGBoost image of version {XGBOOST_VERSION} only "
                                f"(its environment has the container's xgboost 1.7.4); '{image}' is version "
                                f"{version}, whose xgboost reads and writes models differently. Use "
                                f"sagemaker.image_uris.retrieve('xgboost', region, '{XGBOOST_VERSION}').")
    if base == "sagemaker-scikit-learn":
        return UnsupportedImage(f"localcloud runs the Scikit-learn image of version {SKLEARN_VERSION} only (its "
                                f"environment has the container's scikit-learn 1.2.1); '{image}' is "
                                f"{tag}. Use sagemaker.image_uris.retrieve('sklearn', region, '{SKLEARN_VERSION}').")
    return None


def known(image: str) -> Runtime | None:
    """The XGBoost 1.7-1 or Scikit-learn 1.2-1 runtime of an image URI, else None."""
    _, repo, tag = _describe(image)
    base = repo.rsplit("/", 1)[-1]
    if base == "sagemaker-xgboost" and tag.split("-cpu")[0] == XGBOOST_VERSION:
        return XGBOOST
    if base == "sagemaker-scikit-learn" and tag.split("-cpu")[0] == SKLEARN_VERSION:
        return SKLEARN
    return None


def for_processing(image: str) -> Runtime:
    """The runtime of a processing job's image (raises :class:`UnsupportedImage`)."""
    found = known(image)
    if found is not None:
        return found
    reason = _not_run(image)
    if reason is not None:
        raise reason
    return PYTHON


def for_training(image: str | None, algorithm: str | None, script_mode: bool) -> Runtime:
    """The runtime of a training job (raises :class:`UnsupportedImage`); ``script_mode`` when the
    hyperparameters name a script (``sagemaker_program``)."""
    if not image:
        raise UnsupportedImage(f"localcloud does not run the algorithm '{algorithm}' (AlgorithmName); {WHAT_RUNS}.")
    found = known(image)
    if found is XGBOOST and script_mode:
        raise UnsupportedImage(f"localcloud runs the XGBoost {XGBOOST_VERSION} image as the built-in algorithm; "
                               "its framework (script) mode is not implemented: remove entry_point, or train your "
                               f"script with the Scikit-learn {SKLEARN_VERSION} image.")
    if found is SKLEARN and not script_mode:
        raise UnsupportedImage(f"The Scikit-learn {SKLEARN_VERSION} image runs a training script: the "
                               "hyperparameter sagemaker_program names none (use sagemaker.sklearn.SKLearn with "
                               "entry_point).")
    if found is not None:
        return found
    reason = _not_run(image)
    if reason is not None:
        raise reason
    if not script_mode:
        raise UnsupportedImage(f"localcloud cannot run the image '{image}' (it has no copy of its own training "
                               "program); a training job of your own image runs when its hyperparameters name a "
                               f"script (sagemaker_program), as the SageMaker training toolkit does. {WHAT_RUNS}.")
    return PYTHON


def for_serving(image: str) -> Runtime:
    """The runtime of a model's container (raises :class:`UnsupportedImage`)."""
    found = known(image)
    if found is not None:
        return found
    raise _not_run(image) or UnsupportedImage(
        f"localcloud cannot serve the image '{image}' (it has no copy of its model server); {WHAT_RUNS}.")
