"""The environment that points unmodified AWS code at a localcloud (``localcloud env``).

Every AWS SDK reads its endpoint from the environment: ``AWS_ENDPOINT_URL`` sets it for every service a client is
made for without an explicit ``endpoint_url`` (botocore's configuration: ``endpoint_url`` / ``AWS_ENDPOINT_URL``,
overridden per service by ``AWS_ENDPOINT_URL_<SERVICE_ID>``), so ``boto3.client("sagemaker")``, the aws CLI, the
Step Functions Data Science SDK and the SageMaker SDK's own ``Session()`` all reach localcloud.

The SageMaker SDK also builds some clients with an explicit endpoint: STS at ``https://sts.<region>.amazonaws.com``
(``sagemaker.utils.sts_regional_endpoint``), used to name the default bucket ``sagemaker-<region>-<account>``.
The SDK's defaults file (``SAGEMAKER_ADMIN_CONFIG_OVERRIDE``; schema ``sagemaker.config.config_schema``) names that
bucket instead (``SageMaker.PythonSDK.Modules.Session.DefaultS3Bucket``), so ``Session.default_bucket()`` needs no
STS call, and turns the SDK's telemetry off (``TelemetryOptOut``) so a local run sends nothing to AWS. The admin
level is used so a user's own SDK defaults (``~/.config/sagemaker/config.yaml``) still apply on top.
``sagemaker.get_execution_role()`` still asks STS on AWS: give the role ARN instead (as on any machine that is not
a SageMaker notebook).

Step Functions' ``StartSyncExecution`` and ``TestState`` carry a host prefix in botocore's service model
(``"endpoint": {"hostPrefix": "sync-"}``), which an SDK prepends to the endpoint's host (``sync-127.0.0.1``: no
such host). ``AWS_DISABLE_HOST_PREFIX_INJECTION=true`` (botocore's ``disable_host_prefix_injection`` setting) keeps
the host as it is.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from localcloud import settings

#: variables that would point an SDK elsewhere or send a real session token with the test keys
UNSET = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
SDK_CONFIG_ENV = "SAGEMAKER_ADMIN_CONFIG_OVERRIDE"
SDK_CONFIG_FILE = "sagemaker-config.yaml"


def default_bucket(region: str) -> str:
    """The SageMaker SDK's default bucket name (``sagemaker.session.generate_default_sagemaker_bucket_name``)."""
    return f"sagemaker-{region}-{settings.ACCOUNT_ID}"


def sdk_config(region: str) -> str:
    """The SageMaker SDK defaults file's text."""
    return ("SchemaVersion: '1.0'\n"
            "SageMaker:\n"
            "  PythonSDK:\n"
            "    Modules:\n"
            "      TelemetryOptOut: true\n"
            "      Session:\n"
            f"        DefaultS3Bucket: {default_bucket(region)}\n")


def write_sdk_config(port: int, region: str, folder: Path | None = None) -> Path:
    """Write the SageMaker SDK defaults file for the localcloud on ``port`` (kept with its state) and return it."""
    folder = folder or settings.instance_dir(port)
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / SDK_CONFIG_FILE).resolve()
    path.write_text(sdk_config(region))
    return path


def environ(port: int = settings.DEFAULT_PORT, region: str = settings.DEFAULT_REGION,
            folder: Path | None = None) -> dict[str, str]:
    """The variables to set (the ones in :data:`UNSET` are to be removed)."""
    return {
        "AWS_ENDPOINT_URL": f"http://{settings.DEFAULT_HOST}:{port}",
        "AWS_ACCESS_KEY_ID": settings.TEST_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": settings.TEST_SECRET_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
        SDK_CONFIG_ENV: str(write_sdk_config(port, region, folder)),
    }


def shell_exports(port: int = settings.DEFAULT_PORT, region: str = settings.DEFAULT_REGION,
                  folder: Path | None = None) -> str:
    """``export``/``unset`` lines for a POSIX shell: ``eval "$(localcloud env)"``."""
    lines = [f"export {name}={shlex.quote(value)}" for name, value in environ(port, region, folder).items()]
    lines.append("unset " + " ".join(UNSET))
    return "\n".join(lines)
