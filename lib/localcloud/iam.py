"""localcloud's IAM evaluation as a public face: what a request needs and whether policies allow it, with no server.

The same rules the server applies when it enforces IAM (``--enforce-iam``): :func:`needs_of` names the action,
resource and condition keys of a call, :func:`evaluate` decides identity policies, :func:`trusts` decides whether a
service may assume a role under the context it sends. ``retrain plan`` uses them to check the AWS target offline.
"""

from __future__ import annotations

from localcloud.core.permissions import Need, needs_of
from localcloud.core.policy import Decision, evaluate
from localcloud.core.trust import source_context, trusts

__all__ = ["Decision", "Need", "evaluate", "needs_of", "source_context", "trusts"]
