"""Lambda: functions whose Python handlers really run, in warm subprocesses of this machine's interpreter.

``api.py`` maps the REST-JSON wire protocol (``/2015-03-31/functions...``) to :class:`backend.LambdaBackend`;
``code.py`` loads and unpacks deployment packages; ``runtime.py`` keeps the execution environments (one
``bootstrap.py`` process each, reused across invocations); ``models.py`` holds the function record.
"""
