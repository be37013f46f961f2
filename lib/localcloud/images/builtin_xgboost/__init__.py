"""SageMaker's built-in XGBoost 1.7-1 algorithm as localcloud runs it: the code of the "image".

The modules here run in the image's own Python environment (xgboost 1.7.4 and the numpy, scipy and scikit-learn
the container pins; see ``requirements.txt`` and :mod:`localcloud.images`), as child processes of the server:
:mod:`.train` for a training job, :mod:`.serve` for an endpoint's model server. They follow the container's source
(github aws/sagemaker-xgboost-container, branch ``1.7-1``) step by step, and call the same xgboost functions, so the
artifact, the metrics and the scores are the container's. They import nothing of localcloud but
:mod:`localcloud.core.childmain` and :mod:`localcloud.errors` (standard library only), and :mod:`.hyperparameters`
and :mod:`.content` import no third-party package at all: the server uses them to check a job before it starts.
"""
