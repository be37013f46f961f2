"""Clients for the target cloud: boto3 clients, the account, and a ``sagemaker.Session``.

``target: local`` points every client at the local cloud's endpoint with test credentials (and starts the local
cloud in the background when none answers on ``localcloud_port``); ``target: aws`` uses the normal credential
chain, and botocore's own ``AWS_ENDPOINT_URL*`` variables still apply.

Never call ``sagemaker.Session.default_bucket()``, ``account_id()`` or ``get_execution_role()`` here: they reach
a hard-coded STS endpoint. The account comes from STS through our own client, the bucket from its name rule.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from retrain import plain_tracebacks
from retrain.config import Params
from retrain.errors import CloudError
from retrain.local import local_endpoint, local_home

LOG = logging.getLogger(__name__)

__all__ = ["LOCAL_CREDENTIALS", "Cloud", "OfflineCloud", "connect", "local_endpoint", "local_home", "offline"]

#: Credentials the local cloud accepts (it checks the signature format, not the secret).
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=120)


def _sagemaker() -> Any:
    """The SageMaker SDK, imported when a session is first asked for: ``import sagemaker`` costs 1.4 s of CPU, and a
    notebook that only makes boto3 clients does not need it."""
    import sagemaker

    plain_tracebacks()  # importing sagemaker installed a rich traceback hook
    return sagemaker


@dataclass
class Cloud:
    """One target cloud: make clients with :meth:`client`, read the account with :attr:`account_id`."""

    params: Params
    boto_session: boto3.Session
    endpoint_url: str | None = None
    started_local: bool = False
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _account: str | None = field(default=None, repr=False)

    @property
    def region(self) -> str:
        return self.params.region

    @property
    def is_local(self) -> bool:
        return self.params.target == "local"

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on this target (cached per service)."""
        if service not in self._clients:
            kwargs: dict[str, Any] = {"config": _CLIENT_CONFIG}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._clients[service] = self.boto_session.client(service, **kwargs)
        return self._clients[service]

    @property
    def account_id(self) -> str:
        """The 12-digit account of the caller, from STS GetCallerIdentity."""
        if self._account is None:
            try:
                self._account = self.client("sts").get_caller_identity()["Account"]
            except (ClientError, BotoCoreError) as exc:
                where = self.endpoint_url or "AWS"
                raise CloudError(f"cannot read the account from STS at {where}: {exc}. Check credentials "
                                 f"(target aws) or that the local cloud is running (target local).") from exc
        return self._account

    def sagemaker_session(self, bucket: str) -> Any:
        """A ``sagemaker.Session`` on this target with ``bucket`` as its default bucket (no STS lookups)."""
        sagemaker = _sagemaker()
        return sagemaker.Session(
            boto_session=self.boto_session,
            sagemaker_client=self.client("sagemaker"),
            sagemaker_runtime_client=self.client("sagemaker-runtime"),
            default_bucket=bucket,
        )

    def describe(self) -> str:
        """One line saying where this cloud is."""
        where = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or "AWS (default endpoints)"
        return f"target={self.params.target} region={self.region} endpoint={where}"


@dataclass
class OfflineCloud:
    """A target described but not reached: clients to build requests with (no credentials needed to create
    them; none is called), a given account, an offline ``sagemaker.Session``. For building the workflow with no
    cloud (``retrain plan``, tests)."""

    params: Params
    account_id: str

    @property
    def region(self) -> str:
        return self.params.region

    def client(self, service: str) -> Any:
        return boto3.Session(region_name=self.params.region).client(service)

    def sagemaker_session(self, bucket: str) -> Any:
        return _sagemaker().Session(boto_session=boto3.Session(region_name=self.params.region), default_bucket=bucket)

    def describe(self) -> str:
        return f"target={self.params.target} region={self.region} offline (account {self.account_id}, no calls)"


def offline(params: Params, account: str) -> OfflineCloud:
    """The target of ``params`` in ``account``, for building requests without reaching it."""
    return OfflineCloud(params, account)


def connect(params: Params, *, start_local: bool = True) -> Cloud:
    """Open the target of ``params``; for ``local`` start the local cloud if none answers on its port."""
    if params.target == "local":
        endpoint, started = local_endpoint(params.localcloud_port, start=start_local, home=local_home(params))
        session = boto3.Session(region_name=params.region, **LOCAL_CREDENTIALS)
        return Cloud(params, session, endpoint_url=endpoint, started_local=started)
    try:
        session = boto3.Session(region_name=params.region)
    except BotoCoreError as exc:
        raise CloudError(f"cannot open an AWS session for region {params.region}: {exc}") from exc
    return Cloud(params, session)
