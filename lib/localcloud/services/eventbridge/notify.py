"""SNS deliveries moto does not make faithfully: HTTP(S) endpoints, email, and Lambda functions.

- ``http``/``https``: a POST of the notification JSON (Type, MessageId, TopicArn, Subject when one was given,
  Message, Timestamp, SignatureVersion, Signature, SigningCertURL, UnsubscribeURL, MessageAttributes) with the
  ``x-amz-sns-*`` headers and ``Content-Type: text/plain; charset=UTF-8`` (SNS developer guide, "Parse message
  formats" / "HTTP/HTTPS notification JSON format"); the raw message with ``RawMessageDelivery``. A failed POST is
  retried three times, 20 seconds apart (times the time scale), the default HTTP delivery policy's
  ``numRetries``/``minDelayTarget`` ("SNS message delivery retries"). The body is signed by moto's key, not
  Amazon's certificate; the UnsubscribeURL points at this localcloud.
- ``email``/``email-json``: AWS sends mail. Locally the message is appended to ``<home>/sns/mail/<address>.mbox``
  (mbox, read with any mail reader or :mod:`mailbox`): the text of the message, or for ``email-json`` the
  notification JSON.
- ``lambda``: the function is invoked asynchronously with the ``Records[].Sns`` event of the Lambda developer
  guide's sample (``sample-apps/java-events/events/sns-notification.json``).
- ``sqs`` stays moto's (it enqueues in process, as AWS does).

moto confirms every subscription at once (``PendingConfirmation`` false); AWS first sends an HTTP(S) endpoint a
``SubscriptionConfirmation`` and an email address a confirmation mail, and delivers nothing until it is
confirmed. localcloud keeps moto's behaviour (see docs/triggers-and-notifications.md).
"""

from __future__ import annotations

import json
import logging
import mailbox
import re
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

LOG = logging.getLogger(__name__)

HTTP_RETRIES = 3
HTTP_RETRY_DELAY = 20.0
_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def notification(subscription: Any, message: str, message_id: str, subject: str | None,
                 attributes: dict[str, Any] | None, endpoint_url: str) -> dict[str, Any]:
    """The notification JSON an HTTP(S) endpoint or an ``email-json`` address receives."""
    body: dict[str, Any] = subscription.get_post_data(message, message_id, subject, message_attributes=attributes)
    body["UnsubscribeURL"] = unsubscribe_url(endpoint_url, subscription.arn)
    return body


def unsubscribe_url(endpoint_url: str, subscription_arn: str) -> str:
    return f"{endpoint_url}/?Action=Unsubscribe&SubscriptionArn={quote(subscription_arn, safe=':')}"


def post(url: str, body: dict[str, Any] | str, subscription_arn: str, topic_arn: str, message_id: str,
         raw: bool, timeout: float = 15.0) -> int:
    """One POST; the status, or an exception when the endpoint could not be reached."""
    data = (body if isinstance(body, str) else json.dumps(body)).encode()
    headers = {"Content-Type": "text/plain; charset=UTF-8", "User-Agent": "Amazon Simple Notification Service Agent",
               "x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": message_id,
               "x-amz-sns-topic-arn": topic_arn, "x-amz-sns-subscription-arn": subscription_arn}
    if raw:
        headers["x-amz-sns-rawdelivery"] = "true"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - the subscriber's URL
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def mailbox_path(home: Path, address: str) -> Path:
    """Where mail for ``address`` goes: ``<home>/sns/mail/<address>.mbox``."""
    folder = home / "sns" / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{_UNSAFE.sub('_', address)}.mbox"


def mail(home: Path, address: str, topic_arn: str, subject: str | None, text: str, unsubscribe: str | None) -> Path:
    """Append one message to the address's mailbox (with the unsubscribe footer when ``unsubscribe`` is given;
    ``email-json`` mail is the JSON alone)."""
    message = EmailMessage()
    message["From"] = "AWS Notifications <no-reply@sns.amazonaws.com>"
    message["To"] = address
    message["Subject"] = subject or "AWS Notification Message"
    message["X-Amz-Sns-Topic-Arn"] = topic_arn
    footer = (f"\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the "
              f"link below to unsubscribe:\n{unsubscribe}\n") if unsubscribe else "\n"
    message.set_content(text + footer, cte="8bit")
    path = mailbox_path(home, address)
    box = mailbox.mbox(str(path))
    try:
        box.lock()
        box.add(message)
        box.flush()
    finally:
        box.unlock()
        box.close()
    return path


def lambda_event(body: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The event a Lambda subscriber is invoked with."""
    sns = {"Type": body["Type"], "MessageId": body["MessageId"], "TopicArn": body["TopicArn"],
           "Subject": body.get("Subject"), "Message": body["Message"], "Timestamp": body["Timestamp"],
           "SignatureVersion": body["SignatureVersion"], "Signature": body["Signature"],
           "SigningCertUrl": body["SigningCertURL"], "UnsubscribeUrl": body["UnsubscribeURL"],
           "MessageAttributes": body.get("MessageAttributes", {})}
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription_arn,
                         "Sns": sns}]}
