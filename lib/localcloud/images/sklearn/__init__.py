"""SageMaker's Scikit-learn 1.2-1 framework image as localcloud runs it: an environment with the container's
scikit-learn (see ``requirements.txt``); the code its jobs and model servers run is the framework-neutral
:mod:`localcloud.images.scriptmode` (the training toolkit, the processing container, the model server with the
Scikit-learn container's default handlers)."""
