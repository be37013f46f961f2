"""Lambda: functions whose Python handlers really run, in warm subprocesses of this machine's interpreter.

``api.py`` maps the REST-JSON wire protocol (``/2015-03-31/functions...``) to :class:`backend.LambdaBackend`, which
returns plain results; ``code.py`` loads and unpacks deployment packages; ``checks.py`` checks requests;
``runtime.py`` keeps the execution environments of a function, each an ``environment.py`` child process (started
through :mod:`localcloud.core.children`) running ``bootstrap.py``; ``models.py`` holds the function record.
"""
