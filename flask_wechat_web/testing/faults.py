"""The fake WeChat's faults and counters: how it fails when a test asks it to.

:class:`Faults` is a base of :class:`~flask_wechat_web.testing.FakeWeChat`:
:meth:`~Faults.inject` arms a fault on an API endpoint and
:meth:`~Faults.override` changes fields of its answers; the WSGI layer
counts every request in ``calls`` and asks :meth:`~Faults._fail` whether
to answer normally.
"""

from __future__ import annotations

import errno
import time
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass

from werkzeug.wrappers import Response

from .api import api_body, error
from .model import Model
from .transport import TIMEOUT_KEY

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The endpoints :meth:`Faults.inject` accepts.
FAULT_ENDPOINTS = frozenset({"access_token", "refresh_token", "userinfo", "auth", "jscode2session"})
#: The faults :meth:`Faults.inject` knows.
FAULTS = frozenset(
    {"latency", "http_500", "http_503", "not_json", "errcode_-1", "drop", "truncated"}
)


@dataclass
class _Fault:
    kind: str
    times: int | None
    delay: float


@dataclass
class _Override:
    fields: dict[str, object]
    times: int | None


class Faults(Model):
    """Injected faults on the API endpoints, and the request counters."""

    def _reset_faults(self) -> None:
        self._faults: dict[str, _Fault] = {}
        self._overrides: dict[str, _Override] = {}

    def inject(
        self, endpoint: str, fault: str, *, times: int | None = None, delay: float = 0.0
    ) -> None:
        """Make the next ``times`` requests to an API endpoint fail (all if None).

        ``delay`` seconds pass before any fault; ``"latency"`` then answers
        normally. A fault replaces any earlier one on the same endpoint.
        """
        if endpoint not in FAULT_ENDPOINTS:
            raise ValueError(f"endpoint must be one of {sorted(FAULT_ENDPOINTS)}")
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {sorted(FAULTS)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for until cleared")
        with self._lock:
            self._faults[endpoint] = _Fault(fault, times, delay)

    def override(
        self, endpoint: str, fields: t.Mapping[str, object], *, times: int | None = None
    ) -> None:
        """Set ``fields`` in the next ``times`` answers of an API endpoint (all if None).

        Only answers that carry no errcode (or ``0``) are changed, so a test
        can send what WeChat might: ``{"scope": "snsapi_base,snsapi_userinfo,"}``,
        a field of the wrong type, an errcode. An override replaces any
        earlier one on the same endpoint.
        """
        if endpoint not in FAULT_ENDPOINTS:
            raise ValueError(f"endpoint must be one of {sorted(FAULT_ENDPOINTS)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for until cleared")
        with self._lock:
            self._overrides[endpoint] = _Override(dict(fields), times)

    def clear_faults(self) -> None:
        """Disarm every fault and override."""
        with self._lock:
            self._faults.clear()
            self._overrides.clear()

    def _overridden(self, endpoint: str, body: dict[str, object]) -> dict[str, object]:
        """``body`` with the endpoint's override applied, if it has one (lock held)."""
        override = self._overrides.get(endpoint)
        if override is None or body.get("errcode", 0) != 0:
            return body
        if override.times is not None:
            override.times -= 1
            if override.times == 0:
                del self._overrides[endpoint]
        return {**body, **override.fields}

    def _count(self, endpoint: str) -> _Fault | None:
        """Count a request to ``endpoint``; the fault it meets, if any."""
        with self._lock:
            self.calls[endpoint] += 1
            fault = self._faults.get(endpoint)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times == 0:
                    del self._faults[endpoint]
        return fault

    def _fail(self, fault: _Fault, environ: WSGIEnvironment) -> WSGIApplication | None:
        """Wait, then fail as ``fault`` says; None means answer normally.

        Under the in-process adapter the request's read timeout arrives in
        ``environ[TIMEOUT_KEY]``: a longer delay sleeps only that long and
        raises ``TimeoutError``, which the adapter turns into ``ReadTimeout``.
        """
        timeout = environ.get(TIMEOUT_KEY)
        if timeout is not None and fault.delay > timeout:
            time.sleep(timeout)
            raise TimeoutError("fake WeChat: read timed out (injected latency)")
        time.sleep(fault.delay)
        if fault.kind == "drop":
            raise ConnectionResetError(
                errno.ECONNRESET, "fake WeChat dropped the connection (injected fault)"
            )
        if fault.kind == "truncated":
            return _truncated
        if fault.kind in ("http_500", "http_503"):
            status = int(fault.kind[-3:])
            html = f"<html><body><h1>{status} Server Error</h1></body></html>"
            return Response(html, status, content_type="text/html; charset=utf-8")
        if fault.kind == "not_json":
            html = "<html><body><p>系统维护中，请稍后再试。</p></body></html>"
            return Response(html, content_type="text/html; charset=utf-8")
        if fault.kind == "errcode_-1":
            return api_body(error(-1))
        return None


def _truncated(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    """HTTP 200 promising more bytes than it sends, then a dropped connection."""
    body = api_body(error(-1)).get_data()
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body) + 64))],
    )
    yield body[: len(body) // 2]
    raise ConnectionResetError(
        errno.ECONNRESET, "fake WeChat cut the response short (injected fault)"
    )
