"""Notifications: the SNS topic ``<project>-notifications`` tells someone how a run ended.

``notify_events`` chooses which ends publish (``failed``, ``rejected``, ``deployed``; default failed and rejected:
what needs a person); ``notify_email`` and ``notify_webhook`` are the topic's subscriptions. With neither set there
is no topic and the workflow publishes nothing. Notebook 02 creates the topic (tagged as the project's) with a
policy that lets only the workflow's role publish, and the subscriptions; the workflow publishes from its
terminal paths (:mod:`retrain.outcomes`); clean-up deletes topic and subscriptions unless the triggers are kept
(a run nobody watches is the one that needs to tell someone it failed).

Sources: botocore's ``sns`` service model (CreateTopic, Subscribe's protocols, SetTopicAttributes ``Policy``,
Publish's ``Subject``: "UTF-8 text with no line breaks or control characters, and less than 100 characters long");
Step Functions developer guide, "Call Amazon SNS with Step Functions" (connect-sns) and its IAM template for SNS
(``sns:Publish`` on the topic); SNS developer guide, "Amazon SNS access control" (topic policies: a ``Principal``,
``SNS:*`` actions on the topic ARN) and "Subscribing an HTTP/S endpoint" (an endpoint must confirm the
subscription before it receives anything; an email subscription waits for the recipient to confirm).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from retrain.errors import CloudError, ParamsError
from retrain.parameters import PROJECT_TAG, Params

VERSION = "2012-10-17"
EVENTS = ("failed", "rejected", "deployed")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: hosts a local-target webhook may use over plain http (the local cloud delivers only on this machine)
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def validate_notifications(params: Params, source: str) -> None:
    """``notify_events`` is a list drawn from :data:`EVENTS`; the email and webhook are well-formed."""
    events = params.notify_events
    if not isinstance(events, list) or any(not isinstance(e, str) for e in events):
        raise ParamsError(f"{source}: notify_events must be a list such as [failed, rejected], got {events!r}.")
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise ParamsError(f"{source}: notify_events has {', '.join(map(repr, unknown))}; choose from "
                          f"{', '.join(EVENTS)} (or [] for none).")
    email = params.notify_email
    if email is not None and (not isinstance(email, str) or not _EMAIL_RE.match(email)):
        raise ParamsError(f"{source}: notify_email={email!r} is not an email address (name@example.com), or null.")
    hook = params.notify_webhook
    if hook is None:
        return
    parts = urlsplit(hook) if isinstance(hook, str) else None
    local_http = (parts is not None and parts.scheme == "http" and parts.hostname in LOCAL_HOSTS
                  and params.target == "local")
    if parts is None or not parts.hostname or not (parts.scheme == "https" or local_http):
        allowed = "an https:// URL" + (" (or http://127.0.0.1:PORT/... on the local target)"
                                       if params.target == "local" else " (AWS SNS delivers to http(s) endpoints "
                                                                        "it can reach; use https)")
        raise ParamsError(f"{source}: notify_webhook={hook!r} must be {allowed}, or null.")


def destinations(params: Params) -> list[tuple[str, str]]:
    """The topic's subscriptions as ``(protocol, endpoint)``."""
    found = []
    if params.notify_email:
        found.append(("email", params.notify_email))
    if params.notify_webhook:
        found.append((urlsplit(params.notify_webhook).scheme, params.notify_webhook))
    return found


def enabled(params: Params) -> bool:
    """True when someone is to be told: a subscription is set."""
    return bool(destinations(params))


def notifies(params: Params, event: str) -> bool:
    """True when the workflow publishes on ``event`` (one of :data:`EVENTS`)."""
    return enabled(params) and event in params.notify_events


def topic_name(params: Params) -> str:
    return f"{params.project_name}-notifications"


def topic_arn(params: Params, account: str) -> str:
    return f"arn:aws:sns:{params.region}:{account}:{topic_name(params)}"


def topic_policy(params: Params, account: str, workflow_role_arn: str) -> dict[str, Any]:
    """The topic's access policy: the owning account manages it; only the workflow's role may publish."""
    arn = topic_arn(params, account)
    return {"Version": VERSION, "Statement": [
        {"Sid": "OwnerManagesTheTopic", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
         "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:Subscribe",
                    "SNS:ListSubscriptionsByTopic", "SNS:DeleteTopic"],
         "Resource": arn},
        {"Sid": "OnlyTheWorkflowPublishes", "Effect": "Allow", "Principal": {"AWS": workflow_role_arn},
         "Action": "SNS:Publish", "Resource": arn},
    ]}


def requests(params: Params, account: str, workflow_role_arn: str) -> list[tuple[str, str, dict[str, Any]]]:
    """What notebook 02 sends (``retrain plan`` checks them against botocore's model)."""
    if not enabled(params):
        return []
    arn = topic_arn(params, account)
    found: list[tuple[str, str, dict[str, Any]]] = [
        ("sns", "CreateTopic", {"Name": topic_name(params),
                                "Tags": [{"Key": k, "Value": v} for k, v in params.tags.items()]}),
        ("sns", "SetTopicAttributes", {"TopicArn": arn, "AttributeName": "Policy",
                                       "AttributeValue": json.dumps(topic_policy(params, account,
                                                                                 workflow_role_arn))}),
    ]
    found += [("sns", "Subscribe", {"TopicArn": arn, "Protocol": protocol, "Endpoint": endpoint,
                                    "ReturnSubscriptionArn": True})
              for protocol, endpoint in destinations(params)]
    return found


def _find_topic(sns: Any, params: Params, account: str) -> str | None:
    arn = topic_arn(params, account)
    try:
        sns.get_topic_attributes(TopicArn=arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NotFound", "NotFoundException"):
            return None
        raise
    tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=arn).get("Tags", [])}
    if tags.get(PROJECT_TAG) != params.project_name:
        raise CloudError(f"SNS topic {topic_name(params)} exists but is not this project's (tags {tags or 'none'}"
                             f"); rename project_name or delete the topic yourself.")
    return arn


def _subscriptions(sns: Any, arn: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn):
        found += page.get("Subscriptions", [])
    return found


def ensure(sns: Any, params: Params, account: str, workflow_role_arn: str) -> dict[str, Any]:
    """Create (or bring up to date) the topic and its subscriptions; remove them when no one is to be told."""
    if not enabled(params):
        removed = remove(sns, params, account)
        return {"topic_arn": None, "subscriptions": [], "removed": removed}
    arn = _find_topic(sns, params, account)
    if arn is None:
        arn = sns.create_topic(Name=topic_name(params),
                               Tags=[{"Key": k, "Value": v} for k, v in params.tags.items()])["TopicArn"]
    sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy",
                             AttributeValue=json.dumps(topic_policy(params, account, workflow_role_arn)))
    wanted = destinations(params)
    subscribed = []
    existing = _subscriptions(sns, arn)
    for sub in existing:
        confirmed = sub["SubscriptionArn"].startswith("arn:")  # "PendingConfirmation" has no ARN to unsubscribe
        if (sub["Protocol"], sub["Endpoint"]) not in wanted and confirmed:
            sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    have = {(s["Protocol"], s["Endpoint"]): s["SubscriptionArn"] for s in existing}
    for protocol, endpoint in wanted:
        sub_arn = have.get((protocol, endpoint)) or sns.subscribe(
            TopicArn=arn, Protocol=protocol, Endpoint=endpoint, ReturnSubscriptionArn=True)["SubscriptionArn"]
        subscribed.append({"protocol": protocol, "endpoint": endpoint, "arn": sub_arn})
    return {"topic_arn": arn, "subscriptions": subscribed, "events": list(params.notify_events)}


def remove(sns: Any, params: Params, account: str) -> list[tuple[str, str]]:
    """Delete the project's topic and its subscriptions (nothing when there is none, or it is not this project's:
    a same-named topic without the project's tag is left alone)."""
    try:
        arn = _find_topic(sns, params, account)
    except CloudError:
        return []
    if arn is None:
        return []
    removed = []
    for sub in _subscriptions(sns, arn):
        if sub["SubscriptionArn"].startswith("arn:"):
            sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
            removed.append(("SNS subscription", sub["Endpoint"]))
    sns.delete_topic(TopicArn=arn)
    removed.append(("SNS topic", topic_name(params)))
    return removed
