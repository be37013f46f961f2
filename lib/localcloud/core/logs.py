"""CloudWatch Logs written by localcloud's services, as AWS services write the output of their jobs and functions.

A :class:`LogShipper` (one per service that logs) sends events with PutLogEvents through :mod:`.clients` with the
server's own credentials, the service's identity, creating the log group and the stream on first use (an existing
one is used as it is). Callers only queue: one background thread per shipper sends the events in batches within
PutLogEvents' limits (botocore's model of ``logs``, PutLogEvents: at most 10,000 events and 1,048,576 bytes
counting 26 bytes per event, in chronological order, an event at most 1 MB), so a handler or a job never waits
for CloudWatch; :meth:`LogShipper.flush` waits until what was queued so far has been sent. A file being written (a
training process's output) can be followed line by line into a stream with :meth:`LogShipper.follow`.

Where each service writes (the names its own guide gives):

- SageMaker training: ``/aws/sagemaker/TrainingJobs``, stream ``<job name>/algo-1-<epoch seconds>``
- Lambda: ``/aws/lambda/<function>``, stream ``YYYY/MM/DD/[$LATEST]<environment id>``, one per environment
- Glue: ``/aws-glue/jobs/output`` (the script's stdout and stderr) and ``/aws-glue/jobs/error`` (the logger's and
  the system's messages), stream ``<JobRunId>``

Delivery is best effort, as a service's logging is on AWS: a failed PutLogEvents is logged here and dropped, it
never fails the job or the invocation.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.core import clients

LOG = logging.getLogger(__name__)

#: PutLogEvents limits (botocore model ``logs`` PutLogEvents documentation)
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 1_048_576 - EVENT_OVERHEAD
#: how often the shipper sends what was queued (seconds)
INTERVAL = 0.2
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class _Stream:
    region: str
    group: str
    name: str
    events: list[tuple[int, str]] = field(default_factory=list)
    last: int = 0  # the latest timestamp sent or queued: events stay chronological
    ready: bool = False  # group and stream exist


@dataclass
class Follower:
    """A file whose new lines go to a stream (see :meth:`LogShipper.follow`)."""

    path: Path
    key: tuple[str, str, str]
    transform: Callable[[str], str] | None = None
    offset: int = 0
    partial: bytes = b""
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False)


class LogShipper:
    """Queues log events and sends them from one background thread."""

    def __init__(self, endpoint_url: str, interval: float = INTERVAL) -> None:
        self.endpoint_url = endpoint_url
        self.interval = interval
        self._cond = threading.Condition()
        self._streams: dict[tuple[str, str, str], _Stream] = {}
        self._followers: list[Follower] = []
        self._queued = 0
        self._sent = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------- queueing
    def put(self, region: str, group: str, stream: str, messages: Iterable[str], timestamp: int | None = None) -> None:
        """Queue one event per message (empty ones are skipped: CloudWatch takes no empty event)."""
        stamp = now_ms() if timestamp is None else timestamp
        with self._cond:
            target = self._stream(region, group, stream)
            for message in messages:
                if message:
                    stamp = max(stamp, target.last)
                    target.events.append((stamp, _clip(message)))
                    target.last = stamp
                    self._queued += 1
            self._start()
            self._cond.notify_all()

    def lines(self, region: str, group: str, stream: str, text: str, timestamp: int | None = None) -> None:
        """Queue ``text`` as one event per line."""
        self.put(region, group, stream, text.splitlines(), timestamp)

    def follow(self, region: str, group: str, stream: str, path: Path,
               transform: Callable[[str], str] | None = None) -> Follower:
        """Send each line written to ``path`` (from its start) until :meth:`unfollow`, through ``transform``."""
        follower = Follower(Path(path), (region, group, stream), transform)
        with self._cond:
            self._stream(region, group, stream)
            self._followers.append(follower)
            self._start()
            self._cond.notify_all()
        return follower

    def unfollow(self, follower: Follower) -> None:
        """Read what is left of the file (a last unfinished line too) and stop following it."""
        with self._cond:
            if follower in self._followers:
                self._followers.remove(follower)
        self._read(follower, final=True)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event queued before this call was sent (or dropped); False on timeout."""
        with self._cond:
            target = self._queued
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._sent >= target or self._thread is None, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, then stop the thread."""
        for follower in list(self._followers):
            self.unfollow(follower)
        self.flush(timeout)
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout)

    # ------------------------------------------------------------------------------------------- internals
    def _stream(self, region: str, group: str, stream: str) -> _Stream:
        key = (region, group, stream)
        found = self._streams.get(key)
        if found is None:
            found = self._streams[key] = _Stream(region, group, stream)
        return found

    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._loop, name="cloudwatch-logs", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                # idle without followers: sleep until something is queued or followed (no wake-ups for nothing)
                following = len(self._followers)
                self._cond.wait_for(lambda n=following: self._closed or self._queued > self._sent
                                    or len(self._followers) != n, self.interval if following else None)
                if self._closed and self._queued <= self._sent:
                    self._thread = None
                    self._cond.notify_all()
                    return
                followers = list(self._followers)
            for follower in followers:
                self._read(follower)
            with self._cond:
                batches = [(s, s.events) for s in self._streams.values() if s.events]
                for stream, _ in batches:
                    stream.events = []
            for stream, events in batches:
                self._send(stream, events)
                with self._cond:
                    self._sent += len(events)
                    self._cond.notify_all()

    def _read(self, follower: Follower, final: bool = False) -> None:
        with follower.lock:
            try:
                with open(follower.path, "rb") as handle:
                    handle.seek(follower.offset)
                    data = handle.read()
            except OSError:
                data = b""
            follower.offset += len(data)
            lines = (follower.partial + data).split(b"\n")
            follower.partial = b"" if final else lines.pop()  # an unfinished line waits for its end
            texts = [line.decode("utf-8", "replace").rstrip("\r") for line in lines]
            if follower.transform is not None:
                texts = [follower.transform(text) for text in texts]
            if any(texts):
                self.put(*follower.key, texts)

    def _send(self, stream: _Stream, events: list[tuple[int, str]]) -> None:
        logs = clients.client(self.endpoint_url, "logs", stream.region)
        try:
            for batch in _batches(events):
                self._put(logs, stream, batch)
        except (ClientError, BotoCoreError) as exc:
            LOG.warning("could not write %d events to %s %s: %s", len(events), stream.group, stream.name, exc)

    @staticmethod
    def _put(logs: Any, stream: _Stream, batch: list[tuple[int, str]]) -> None:
        """One PutLogEvents; a group or stream deleted meanwhile is made again, as a service's next write does."""
        for attempt in (1, 2):
            if not stream.ready:
                _create(logs, stream.group, stream.name)
                stream.ready = True
            try:
                logs.put_log_events(logGroupName=stream.group, logStreamName=stream.name,
                                    logEvents=[{"timestamp": t, "message": m} for t, m in batch])
                return
            except ClientError as exc:
                if attempt == 2 or exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                stream.ready = False


def syslog_escape(line: str) -> str:
    """A container's output line as SageMaker's log agent writes it to CloudWatch: control characters as ``#`` and
    three octal digits (a tab is ``#011``; the XGBoost 1.7-1 container's own metric regexes match
    ``.*\\[[0-9]+\\].*#011validation-`` in its training logs: ``algorithm_mode/metrics.py``)."""
    return _CONTROL.sub(lambda m: f"#{ord(m.group()):03o}", line)


def _create(logs: Any, group: str, stream: str) -> None:
    for call, params in (("create_log_group", {"logGroupName": group}),
                         ("create_log_stream", {"logGroupName": group, "logStreamName": stream})):
        try:
            getattr(logs, call)(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise


def _clip(message: str) -> str:
    data = message.encode()
    return message if len(data) <= MAX_EVENT_BYTES else data[:MAX_EVENT_BYTES].decode("utf-8", "ignore")


def _batches(events: list[tuple[int, str]]) -> Iterable[list[tuple[int, str]]]:
    """Split events into PutLogEvents batches (count and size limits)."""
    batch: list[tuple[int, str]] = []
    size = 0
    for event in events:
        cost = len(event[1].encode()) + EVENT_OVERHEAD
        if batch and (len(batch) >= MAX_BATCH_EVENTS or size + cost > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += cost
    if batch:
        yield batch
