"""HTTP/1.1 keep-alive on the localcloud server: connections are reused when that is safe, closed otherwise, and
never reach a stopped server."""

from __future__ import annotations

import http.client
import io
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud import LocalCloud
from localcloud.core.keepalive import _Body


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(port=0, home=tmp_path) as running:
        yield running


def _get(conn: http.client.HTTPConnection, method: str = "GET", path: str = "/_localcloud/health",
         body: bytes | None = None, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    response.read()
    return response


def test_one_connection_serves_many_requests(server: LocalCloud) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    first = _get(conn)
    local_port = conn.sock.getsockname()[1]
    for _ in range(20):
        response = _get(conn)
        assert response.status == 200 and not response.will_close
    assert conn.sock.getsockname()[1] == local_port  # still the first TCP connection
    assert first.getheader("Connection") is None
    conn.close()


def test_a_body_the_application_did_not_read_closes_the_connection(server: LocalCloud) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    response = _get(conn, "POST", body=b"x" * 5000)  # the health page never reads a body
    assert response.status == 200 and response.will_close and response.getheader("Connection") == "close"
    assert _get(conn).status == 200  # the client simply opens a new connection
    conn.close()


def test_http_10_clients_and_clients_asking_to_close_are_closed(server: LocalCloud) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    assert _get(conn, headers={"Connection": "close"}).will_close
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(b"GET /_localcloud/health HTTP/1.0\r\nHost: x\r\n\r\n")
    data = b""
    while chunk := raw.recv(65536):  # the server closes after the answer: recv returns b"" at the end
        data += chunk
    raw.close()
    assert data.startswith(b"HTTP/1.1 200") and b"Connection: close" in data
    conn.close()


def test_a_chunked_body_is_answered_then_the_connection_closed(server: LocalCloud) -> None:
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(b"POST /_localcloud/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n0\r\n\r\n")
    data = b""
    while chunk := raw.recv(65536):
        data += chunk
    raw.close()
    assert data.startswith(b"HTTP/1.1 200") and b"Connection: close" in data


def test_pipelined_requests_are_each_answered(server: LocalCloud) -> None:
    """The body of the first request is read to its length and no further: the second request is intact."""
    body = b"1,2,3"
    first = (b"POST /endpoints/none/invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    second = b"GET /_localcloud/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(first + second)
    data = b""
    while chunk := raw.recv(65536):
        data += chunk
    raw.close()
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"400", b"200"]  # no such endpoint; then the health page
    assert b"ValidationError" in answers[0] and b'"localcloud": true' in answers[1]


def test_a_stopped_server_answers_no_kept_alive_connection(tmp_path: Path) -> None:
    cloud = LocalCloud(port=0, home=tmp_path)
    cloud.start()
    conn = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=10)
    assert _get(conn).status == 200
    cloud.stop()
    with pytest.raises((http.client.HTTPException, OSError)):
        _get(conn)


def test_the_body_stream_stops_at_the_content_length() -> None:
    stream = io.BufferedReader(io.BytesIO(b"abc\ndefNEXT REQUEST"))  # type: ignore[arg-type]
    body = _Body(stream, 7)
    assert body.readline() == b"abc\n"
    assert body.read() == b"def" and body.remaining == 0
    assert body.read(100) == b"" and body.readline() == b""
    assert stream.read() == b"NEXT REQUEST"
    buffer = bytearray(10)
    other = _Body(io.BufferedReader(io.BytesIO(b"0123456789")), 4)  # type: ignore[arg-type]
    assert other.readinto(buffer) == 4 and bytes(buffer[:4]) == b"0123"
    assert list(_Body(io.BufferedReader(io.BytesIO(b"a\nb\nc")), 4)) == [b"a\n", b"b\n"]  # type: ignore[arg-type]


def test_an_idle_connection_is_closed_without_an_error_in_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """Closing a connection idle past ``IDLE_SECONDS`` is the design, not a failure: no ERROR line for it."""
    import logging
    import time

    from localcloud.core.keepalive import KeepAliveRequestHandler

    monkeypatch.setattr(KeepAliveRequestHandler, "timeout", 0.3)
    with caplog.at_level(logging.DEBUG), LocalCloud(port=0, home=tmp_path) as running:
        conn = http.client.HTTPConnection("127.0.0.1", running.port)
        assert _get(conn).status == 200
        time.sleep(1.0)  # the server closes the idle connection
        assert conn.sock.recv(1) == b""  # closed by the server
        conn.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not any("timed out" in message for message in errors), errors
    assert any("closed a connection idle" in r.getMessage() for r in caplog.records)
