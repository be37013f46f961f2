"""HTTP/1.1 keep-alive for the localcloud server.

werkzeug's development server answers every request with ``Connection: close``, because ``http.server`` cannot
find the next request when an application leaves part of a body unread. So every SDK call paid a new TCP
connection and a new server thread: about half of the server's time on a single-row InvokeEndpoint.

:class:`KeepAliveRequestHandler` keeps a connection open when that is safe: an HTTP/1.1 client that did not ask to
close, a body framed by ``Content-Length`` (not chunked) that the application read to its end. Anything else is
answered and closed as before. ``wsgi.input`` is limited to ``Content-Length``, so no application can read into
the next request. An idle connection is closed after ``IDLE_SECONDS``; :func:`close_connections` closes the open
ones when the server stops, so no request reaches a stopped server.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler

LOG = logging.getLogger(__name__)

#: an open connection with no request for this long is closed (clients reconnect transparently)
IDLE_SECONDS = 30.0


class _Body:
    """A request body stream that stops at ``Content-Length`` and knows how much of it is left unread."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self.remaining = length

    def _limit(self, size: int | None) -> int:
        return self.remaining if size is None or size < 0 else min(size, self.remaining)

    def read(self, size: int | None = -1) -> bytes:
        wanted = self._limit(size)
        if wanted <= 0:
            return b""
        data = self._stream.read(wanted)
        self.remaining -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        wanted = self._limit(size)
        if wanted <= 0:
            return b""
        line = self._stream.readline(wanted)
        self.remaining -= len(line)
        return bytes(line)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        while line := self.readline():
            lines.append(line)
            if 0 < hint <= sum(map(len, lines)):
                break
        return lines

    def __iter__(self) -> Any:
        return iter(self.readline, b"")


class _NoInput:
    """Stands in for the connection's input while werkzeug "drains" it after a response it will keep open: that
    drain reads whatever the client sent next, which on a kept-alive connection is its next request."""

    @staticmethod
    def read(size: int = -1) -> bytes:
        return b""


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler (which keeps headers spelled with underscores) with HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    _body: _Body | None = None
    _input: Any = None

    def run_wsgi(self) -> None:
        try:
            super().run_wsgi()
        finally:
            if self._input is not None:  # the real input again, for the next request line
                self.rfile, self._input = self._input, None

    def setup(self) -> None:
        super().setup()
        # headers and body leave in separate writes: without NODELAY a kept-alive connection waits ~40 ms for
        # the client's delayed ACK before the body goes out (Nagle)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with _lock(self.server):
            _connections(self.server).add(self.connection)

    def finish(self) -> None:
        with _lock(self.server):
            _connections(self.server).discard(self.connection)
        super().finish()

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        self._body = None
        if not environ.get("wsgi.input_terminated"):  # chunked bodies are not framed by a length: close after
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length >= 0:
                self._body = _Body(environ["wsgi.input"], length)
                environ["wsgi.input"] = self._body
                self._input, self.rfile = self.rfile, _NoInput()  # the application reads through _body
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """werkzeug formats a line for every request (path, colours, a timestamp) before its logger drops it:
        the server sets that logger to warnings only, so the line is made only when it will be written."""
        if logging.getLogger("werkzeug").isEnabledFor(logging.INFO):
            super().log_request(code, size)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        """A kept-alive connection that stays idle for :data:`IDLE_SECONDS` ends in ``http.server``'s "Request
        timed out" (the socket's timeout while it waits for a next request line), which werkzeug logs as an
        ERROR: that is the intended close of an idle connection, so it is logged at debug level."""
        if format.startswith("Request timed out"):
            LOG.debug("closed a connection idle for %.1f s", self.timeout)
            return
        super().log_error(format, *args)

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close":
            if self._reusable():
                return  # werkzeug closes every connection; this one can serve the client's next request
            if self._input is not None:  # closing: let werkzeug drain what the application left unread
                self.rfile, self._input = self._input, None
        super().send_header(keyword, value)

    def _reusable(self) -> bool:
        return (not self.close_connection and self.request_version == "HTTP/1.1" and self._body is not None
                and self._body.remaining == 0 and not getattr(self.server, "localcloud_closing", False))


def attach(server: Any) -> None:
    """Prepare a new server for this handler (the set of open connections and its lock)."""
    server.localcloud_lock = threading.Lock()
    server.localcloud_connections = set()
    server.localcloud_closing = False


def _lock(server: Any) -> threading.Lock:
    return server.localcloud_lock  # type: ignore[no-any-return]


def _connections(server: Any) -> set[socket.socket]:
    return server.localcloud_connections  # type: ignore[no-any-return]


def close_connections(server: Any) -> None:
    """Close every connection the server still holds open (after it stopped accepting new ones)."""
    server.localcloud_closing = True
    with _lock(server):
        connections = list(_connections(server))
    for conn in connections:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
