"""A requests transport that calls a WSGI app in-process, for the fake WeChat.

Mount it on a session (``session.mount("https://api.weixin.qq.com/", adapter)``)
and requests' calls go to the app with no socket. Transport failures look as
they would over a network: an app raising ``ConnectionResetError`` before
answering gives ``requests.exceptions.ConnectionError`` (after starting the
body: ``ChunkedEncodingError``), and ``TimeoutError`` gives ``ReadTimeout``.
The request's read timeout reaches the app as ``environ[TIMEOUT_KEY]`` (absent
when there is none), so the fake's injected latency can stop at it.
"""

from __future__ import annotations

import io
import typing as t
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPHeaderDict, HTTPResponse
from werkzeug.test import EnvironBuilder, run_wsgi_app

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["TIMEOUT_KEY", "WSGIAdapter"]

#: The environ key carrying the request's read timeout, in seconds.
TIMEOUT_KEY = "fake_wechat.timeout"


class WSGIAdapter(BaseAdapter):
    """Send requests to a WSGI app in-process; the URL's host is ignored."""

    def __init__(self, app: WSGIApplication) -> None:
        super().__init__()
        self.app = app

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        body = request.body.encode() if isinstance(request.body, str) else request.body
        builder = EnvironBuilder(
            path=url.path or "/",
            base_url=f"{url.scheme}://{url.netloc}",
            query_string=url.query,
            method=request.method or "GET",
            headers=list(request.headers.items()),
            data=body,
            environ_overrides={TIMEOUT_KEY: read_timeout} if read_timeout else None,
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        started = False
        try:
            app_iter, status, headers = run_wsgi_app(self.app, environ)
            started = True
            try:
                content = b"".join(app_iter)
            finally:
                close = getattr(app_iter, "close", None)
                if close is not None:
                    close()
        except TimeoutError as exc:
            raise requests.exceptions.ReadTimeout(exc, request=request) from exc
        except ConnectionResetError as exc:
            if started:
                raise requests.exceptions.ChunkedEncodingError(exc, request=request) from exc
            raise requests.exceptions.ConnectionError(exc, request=request) from exc
        return self._response(request, status, headers.to_wsgi_list(), content)

    def _response(
        self,
        request: requests.PreparedRequest,
        status: str,
        headers: list[tuple[str, str]],
        content: bytes,
    ) -> requests.Response:
        """Build the response as ``HTTPAdapter.build_response`` would."""
        code, _, reason = status.partition(" ")
        raw = HTTPResponse(
            body=io.BytesIO(content),
            headers=HTTPHeaderDict(headers),
            status=int(code),
            reason=reason,
            preload_content=False,
            request_method=request.method,
            request_url=request.url,
        )
        response = requests.Response()
        response.status_code = int(code)
        response.reason = reason
        response.headers = CaseInsensitiveDict(raw.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = raw
        response.url = request.url or ""
        response.request = request
        response.connection = self  # type: ignore[assignment]  # stubs say HTTPAdapter
        return response

    def close(self) -> None:
        """Nothing to release: there is no connection."""
