"""Calls to WeChat bounded as a whole: one deadline, a size cap, no inflating.

requests' timeouts are per socket operation, so an answer trickled in one
byte at a time never times out. Here a call's time is counted once: connects
get what is left of it, and when it runs out a watchdog shuts the call's
socket, which ends any read in progress. The body is read by this adapter,
at most :data:`~.answers.MAX_BODY` bytes of it, and inflated (if a server
compresses though we ask it not to) to no more than that. WeChat's API never
redirects, and a redirect is refused rather than followed.
"""

from __future__ import annotations

import heapq
import math
import os
import socket
import threading
import time
import typing as t
import zlib

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager, poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, ReadTimeoutError

from .answers import MAX_BODY
from .errors import MalformedAnswerError

_current = threading.local()


class _Watchdog:
    """One thread per process that expires calls when their deadlines pass."""

    def __init__(self) -> None:
        self.reset()
        if hasattr(os, "register_at_fork"):  # a forked child has no watchdog thread
            os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._heap: list[tuple[float, int, _Call]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, call: _Call) -> None:
        entry = (call.deadline, id(call), call)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wechat-web-deadlines", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:  # sooner than what the thread waits for
                self._cond.notify()

    def _run(self) -> None:
        """Expire the calls whose deadline passed, and drop the finished ones.

        A finished call at the front is dropped on any wake rather than
        waited for, so the thread wakes about once per timeout, not once
        per call.
        """
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                    heapq.heappop(self._heap)[2].expire()
                self._cond.wait(self._heap[0][0] - now if self._heap else None)


class _Call:
    """One call's deadline, and the sockets to shut when it passes."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.expired = False
        self.done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)

    def watch(self, sock: socket.socket | None) -> None:
        if sock is not None:
            with self._lock:
                self._sockets.append(sock)

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return  # the socket may already serve another call
            self.expired = True
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> _Call:
        _current.call = self
        _watchdog.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.done = True
            self._sockets.clear()
        _current.call = None


_watchdog = _Watchdog()


class _WatchedConnection(HTTPConnection):
    """A connection that keeps to the current call's deadline."""

    def connect(self) -> None:
        call: _Call | None = getattr(_current, "call", None)
        if call is not None and isinstance(self.timeout, (int, float)):
            self.timeout = min(self.timeout, max(call.remaining(), 0.001))
        super().connect()

    def getresponse(self) -> t.Any:
        call: _Call | None = getattr(_current, "call", None)
        if call is not None:
            call.watch(self.sock)
        return super().getresponse()


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


def _watch_pools(manager: PoolManager) -> PoolManager:
    """Make ``manager``'s pools keep to deadlines, unless it has its own (SOCKS)."""
    if manager.pool_classes_by_scheme is poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _POOLS
    return manager


class BoundedAdapter(HTTPAdapter):
    """An adapter whose calls end by their deadline and read a capped body.

    The deadline is the largest number in the call's ``timeout``
    (``WECHAT_WEB_TIMEOUT``).
    """

    def init_poolmanager(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **kwargs: t.Any) -> t.Any:
        return _watch_pools(super().proxy_manager_for(proxy, **kwargs))

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: t.Any = None,
        **kwargs: t.Any,
    ) -> requests.Response:
        request.headers["Accept-Encoding"] = "identity"
        seconds = _seconds(timeout)
        if seconds is None:
            return _read_body(super().send(request, stream=True, timeout=timeout, **kwargs))
        with _Call(seconds) as call:
            try:
                return _read_body(super().send(request, stream=True, timeout=timeout, **kwargs))
            except (requests.RequestException, HTTPError, OSError):
                if not call.expired:
                    raise
        raise requests.ReadTimeout("the call took longer than its timeout")


def _seconds(timeout: t.Any) -> float | None:
    values = timeout if isinstance(timeout, tuple) else (timeout,)
    numbers = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v) and v > 0]
    return max(numbers) if numbers else None


def _read_body(resp: requests.Response) -> requests.Response:
    """Read at most ``MAX_BODY`` bytes (inflated), or refuse the answer unread."""
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    body = bytearray()
    try:
        if resp.is_redirect:  # followed, it would restart the clock elsewhere
            raise MalformedAnswerError(
                _endpoint(resp),
                "(body)",
                f"is a redirect (HTTP {resp.status_code}), never followed",
            )
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise MalformedAnswerError(_endpoint(resp), "(body)", f"comes {encoding}-encoded")
        while chunk := resp.raw.read(16384, decode_content=False):
            body += chunk
            if len(body) > MAX_BODY:
                raise MalformedAnswerError(
                    _endpoint(resp), "(body)", f"is larger than {MAX_BODY} bytes"
                )
    except ReadTimeoutError:
        resp.close()
        raise requests.ReadTimeout("reading the answer timed out") from None
    except (HTTPError, OSError):
        resp.close()
        raise requests.ConnectionError("the answer was cut short") from None
    except MalformedAnswerError:
        resp.close()  # the rest is never read, and the connection never reused
        raise
    if encoding not in ("", "identity"):
        body = bytearray(_inflate(bytes(body), _endpoint(resp)))
    # requests has no public way to hand a Response a body it did not read
    # itself; these two attributes are what its ``content`` and ``json()`` read.
    resp._content = bytes(body)
    resp._content_consumed = True  # type: ignore[attr-defined]
    return resp


def _endpoint(resp: requests.Response) -> str:
    """The API path ``resp`` answers, for an error's text: parsed only on failure."""
    return (resp.request.path_url or "/").split("?")[0].lstrip("/")


def _inflate(data: bytes, endpoint: str) -> bytes:
    """``data`` gunzipped or inflated, refused past ``MAX_BODY`` bytes."""
    inflater = zlib.decompressobj(wbits=47)  # zlib or gzip header, detected
    try:
        body = inflater.decompress(data, MAX_BODY + 1)
    except zlib.error:
        raise MalformedAnswerError(endpoint, "(body)", "does not inflate") from None
    if len(body) > MAX_BODY or inflater.unconsumed_tail:
        raise MalformedAnswerError(endpoint, "(body)", f"inflates to more than {MAX_BODY} bytes")
    return body
