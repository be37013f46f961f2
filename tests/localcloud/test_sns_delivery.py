"""SNS delivers: an HTTP subscription receives the notification JSON AWS documents (with the x-amz-sns headers),
an email subscription's messages land in a local mailbox under localcloud's home, a filter policy still filters.

Sources: SNS developer guide ("HTTP/HTTPS notification JSON format", "HTTP/HTTPS headers"); localcloud's
stand-in for email is described in docs/triggers-and-notifications.md.
"""

from __future__ import annotations

import json
import mailbox
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from eventbridge_helpers import events_cloud, unique

from localcloud.services.eventbridge.notify import mailbox_path


class _Inbox(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        _Inbox.received.append(({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with events_cloud(tmp_path_factory.mktemp("sns")) as clients:
        yield clients


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Inbox)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def _wait(predicate: Any, limit: float = 10.0) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    return predicate()


def test_an_http_subscription_receives_the_notification(c: dict[str, Any], webhook: str) -> None:
    topic = c["sns"].create_topic(Name=unique("retrain-events"))["TopicArn"]
    subscription = c["sns"].subscribe(TopicArn=topic, Protocol="http", Endpoint=webhook,
                                      ReturnSubscriptionArn=True)["SubscriptionArn"]
    _Inbox.received.clear()
    sent = c["sns"].publish(TopicArn=topic, Subject="Retrain failed", Message="run 7 failed: see report.html")
    received = _wait(lambda: list(_Inbox.received))
    assert len(received) == 1
    headers, body = received[0]
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == sent["MessageId"]
    assert headers["x-amz-sns-topic-arn"] == topic and headers["x-amz-sns-subscription-arn"] == subscription
    assert headers["content-type"].startswith("text/plain")
    notification = json.loads(body)
    assert {"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature",
            "SigningCertURL", "UnsubscribeURL"} <= set(notification)
    assert notification["Message"] == "run 7 failed: see report.html" and notification["Subject"] == "Retrain failed"
    assert subscription in notification["UnsubscribeURL"]


def test_an_unreachable_endpoint_does_not_fail_the_publish(c: dict[str, Any]) -> None:
    topic = c["sns"].create_topic(Name=unique("nobody-listens"))["TopicArn"]
    c["sns"].subscribe(TopicArn=topic, Protocol="http", Endpoint="http://127.0.0.1:9/closed")
    assert c["sns"].publish(TopicArn=topic, Message="hello")["MessageId"]


def test_email_goes_to_a_local_mailbox(c: dict[str, Any]) -> None:
    topic = c["sns"].create_topic(Name=unique("retrain-mail"))["TopicArn"]
    address = f"{unique('ops')}@example.com"
    c["sns"].subscribe(TopicArn=topic, Protocol="email", Endpoint=address)
    c["sns"].subscribe(TopicArn=topic, Protocol="email-json", Endpoint=f"json-{address}")
    c["sns"].publish(TopicArn=topic, Subject="Model deployed", Message="endpoint retrain-prod now serves v8")
    home = c["cloud"].home
    box = _wait(lambda: list(mailbox.mbox(str(mailbox_path(home, address)))))
    assert len(box) == 1
    assert box[0]["Subject"] == "Model deployed" and box[0]["To"] == address
    assert "endpoint retrain-prod now serves v8" in box[0].get_payload()
    json_box = _wait(lambda: list(mailbox.mbox(str(mailbox_path(home, f"json-{address}")))))
    assert json.loads(json_box[0].get_payload())["Message"] == "endpoint retrain-prod now serves v8"


def test_a_filter_policy_still_filters(c: dict[str, Any], webhook: str) -> None:
    topic = c["sns"].create_topic(Name=unique("filtered"))["TopicArn"]
    c["sns"].subscribe(TopicArn=topic, Protocol="http", Endpoint=webhook,
                       Attributes={"FilterPolicy": json.dumps({"event": ["failure"]})})
    _Inbox.received.clear()
    for event in ("deployment", "failure"):
        c["sns"].publish(TopicArn=topic, Message=event,
                         MessageAttributes={"event": {"DataType": "String", "StringValue": event}})
    received = _wait(lambda: list(_Inbox.received))
    time.sleep(0.3)
    assert [json.loads(body)["Message"] for _, body in _Inbox.received] == ["failure"] == \
        [json.loads(b)["Message"] for _, b in received]
