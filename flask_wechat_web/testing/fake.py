"""A working imitation of WeChat's web-login servers, for tests and the sandbox.

:class:`FakeWeChat` is plain WSGI (Werkzeug and Jinja2, no Flask) for both
WeChat hosts: :attr:`~FakeWeChat.open_app` serves the authorize pages of
``open.weixin.qq.com``, :attr:`~FakeWeChat.api_app` the ``sns`` API of
``api.weixin.qq.com``, each answering 404 for the other's paths. It keeps
WeChat's rules and refuses what WeChat refuses (callback domains, codes
only on a person's approval, single-use and short-lived codes, errors as
HTTP 200, ``text/plain`` JSON with no charset, profiles as since
2021-10-20). Use it in-process (:meth:`FakeWeChat.requests_adapter`,
``werkzeug.test.Client``), over loopback HTTP (:meth:`FakeWeChat.serve`),
or mounted under a prefix with ``DispatcherMiddleware``: every link it
emits honours ``SCRIPT_NAME``. A mobile app's and a mini program's codes
come from the person's phone, not a page: :meth:`FakeWeChat.app_code` and
:meth:`FakeWeChat.miniprogram_code` stand in for it.

The parts live in ``model.py`` (apps, users, codes, tokens), ``pages.py``
(the authorize pages), ``api.py`` (the API), ``server_token.py`` (the
Official Account's server access tokens), ``account.py`` (its followers and
``user/info``), ``follow.py`` (its QR codes, and a phone that scans them), ``faults.py`` (faults and
counters) and ``app_codes.py`` (the sandbox's page of app codes).
"""

from __future__ import annotations

import json
import typing as t
from collections.abc import Iterable

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .account import ACCOUNT_ENDPOINTS, Account
from .faults import FAULT_ENDPOINTS, FAULTS, Faults
from .follow import QRCODE_ENDPOINTS, QRCodes
from .model import DEFAULT_DOMAIN, FakeApp, FakeUser, host_of
from .pages import USER_COOKIE, AuthorizeError, Pages, wxlogin_js
from .push import Pusher
from .server_token import SERVER_TOKEN_ENDPOINTS
from .transport import WSGIAdapter

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

    from .server import FakeWeChatServer

__all__ = [
    "FAULTS",
    "FAULT_ENDPOINTS",
    "USER_COOKIE",
    "AuthorizeError",
    "FakeApp",
    "FakeUser",
    "FakeWeChat",
]

#: Not WeChat's: the request counters as JSON, for a fake in another process.
CALLS_PATH = "/_fake/calls"
#: Not WeChat's: POST here for the code a phone would get (``app_code()``,
#: ``miniprogram_code()``), for a fake in another process.
CODE_PATHS = {"app_code": "/_fake/app-code", "miniprogram_code": "/_fake/miniprogram-code"}
#: Not WeChat's: POST here to have the fake push to a site (``Pusher``'s form).
PUSH_PATH = "/_fake/push"
#: Not WeChat's: POST here to have a phone scan a QR code (``QRCodes``'s form).
SCAN_PATH = "/_fake/scan"
#: The made-up hosts an in-process fake stands for (see ``FakeWeChat.configure``).
IN_PROCESS_OPEN_URL = "http://open.fake-wechat.invalid"
IN_PROCESS_API_URL = "http://api.fake-wechat.invalid"
#: Where the fake serves its imitation of WeChat's ``wxLogin.js``.
WXLOGIN_JS_PATH = "/connect/zh_CN/htmledition/js/wxLogin.js"

_OPEN_URLS = Map(
    [
        Rule("/connect/qrconnect", endpoint="qrconnect", methods=["GET"]),
        Rule("/connect/oauth2/authorize", endpoint="authorize", methods=["GET"]),
        Rule("/connect/confirm", endpoint="confirm", methods=["POST"]),
        Rule(WXLOGIN_JS_PATH, endpoint="wxlogin_js", methods=["GET"]),
        Rule("/cgi-bin/showqrcode", endpoint="showqrcode", methods=["GET"]),
        Rule(CALLS_PATH, endpoint="calls", methods=["GET"]),
        *(Rule(path, endpoint=name, methods=["POST"]) for name, path in CODE_PATHS.items()),
        Rule(PUSH_PATH, endpoint="push", methods=["POST"]),
        Rule(SCAN_PATH, endpoint="scan", methods=["POST"]),
    ],
    strict_slashes=False,
    merge_slashes=False,
)
_API_URLS = Map(
    [
        Rule("/sns/oauth2/access_token", endpoint="access_token"),
        Rule("/sns/oauth2/refresh_token", endpoint="refresh_token"),
        Rule("/sns/userinfo", endpoint="userinfo"),
        Rule("/sns/auth", endpoint="auth"),
        Rule("/sns/jscode2session", endpoint="jscode2session"),
        Rule("/cgi-bin/token", endpoint="token", methods=["GET"]),
        Rule("/cgi-bin/stable_token", endpoint="stable_token"),
        Rule("/cgi-bin/user/info", endpoint="user_info", methods=["GET"]),
        Rule("/cgi-bin/qrcode/create", endpoint="qrcode_create"),
        Rule(CALLS_PATH, endpoint="calls", methods=["GET"]),
        *(Rule(path, endpoint=name, methods=["POST"]) for name, path in CODE_PATHS.items()),
    ],
    strict_slashes=False,
    merge_slashes=False,
)


class FakeWeChat(Faults, Pages, Account, QRCodes, Pusher):
    """WeChat's web-login servers, imitated. Thread-safe.

    As a WSGI app itself it answers as the API host for a ``Host`` that
    starts with ``api.`` and as the open host for any other.

    :param clock: seconds, monotonic; :meth:`advance` adds to it.
    :param domain: the sample apps' authorization callback domain, kept
        by :meth:`reset`; :meth:`configure` sets it to the app's host.
    """

    #: The server :meth:`serve` started last, if any.
    server: FakeWeChatServer | None = None

    def __init__(
        self, *, clock: t.Callable[[], float] | None = None, domain: str = DEFAULT_DOMAIN
    ) -> None:
        super().__init__(clock, domain)
        self.reset()

    def reset(self) -> None:
        """Back to a fresh fake, as constructed (the ``calls`` object is kept)."""
        with self._lock:
            self._reset_model()
            self._reset_faults()
            self._reset_server_tokens()
            self._reset_account()
            self._reset_qrcodes()
            self.deny_redirect = False

    # -- WSGI ------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        host = str(environ.get("HTTP_HOST", ""))
        app = self.api_app if host.lower().startswith("api.") else self.open_app
        return app(environ, start_response)

    def open_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """WSGI: ``open.weixin.qq.com``, the authorize pages (and ``wxLogin.js``)."""
        return self._serve(_OPEN_URLS, environ, start_response)

    def api_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """WSGI: ``api.weixin.qq.com``, the ``sns`` API."""
        return self._serve(_API_URLS, environ, start_response)

    def _serve(
        self, urls: Map, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        request = Request(environ)
        adapter = urls.bind_to_environ(environ)
        try:
            endpoint = str(adapter.match()[0])
        except HTTPException as exc:
            text = f"{exc.code} {exc.name}"
            return Response(text, exc.code, content_type="text/plain")(environ, start_response)
        response: WSGIApplication
        if endpoint == "calls":
            with self._lock:
                counts = json.dumps(dict(self.calls))
            response = Response(counts, content_type="application/json")
        elif endpoint in CODE_PATHS:
            response = self._phone_code(endpoint, request)
        elif endpoint == "push":
            response = self._push_request(request)
        elif endpoint == "scan":
            response = self._scan_request(request)
        elif endpoint in FAULT_ENDPOINTS:
            fault = self._count(endpoint)
            failed = self._fail(fault, environ) if fault is not None else None
            response = failed or self._api_answer(endpoint, request.values)
        elif endpoint in SERVER_TOKEN_ENDPOINTS:
            self._count(endpoint)
            response = self._server_token_answer(endpoint, request)
        elif endpoint in ACCOUNT_ENDPOINTS:
            self._count(endpoint)
            response = self._account_answer(endpoint, request)
        elif endpoint in QRCODE_ENDPOINTS:
            self._count(endpoint)
            response = self._qrcode_answer(endpoint, request)
        elif endpoint == "wxlogin_js":
            self._count(endpoint)
            js_type = "application/javascript; charset=utf-8"
            response = Response(wxlogin_js(), content_type=js_type)
        else:
            self._count(endpoint)
            response = self._authorize_page(endpoint, request, adapter.build("confirm"))
        return response(environ, start_response)

    def _phone_code(self, endpoint: str, request: Request) -> Response:
        """A code as the phone gets it, for the form's ``user`` (made up on first use)."""
        key = request.form.get("user")
        user = self.user if key is None else self._user_named(key)
        if user is None:
            text = "user must be up to 32 letters, digits, - and _"
            return Response(text, 400, content_type="text/plain")
        code = self.app_code(user) if endpoint == "app_code" else self.miniprogram_code(user)
        return Response(json.dumps({"code": code}), content_type="application/json")

    # -- serving ---------------------------------------------------------------

    def requests_adapter(self) -> WSGIAdapter:
        """A requests transport that answers as the API host, in-process."""
        return WSGIAdapter(self.api_app)

    def serve(self, **kwargs: t.Any) -> FakeWeChatServer:
        """Serve this fake over loopback HTTP(S); see :class:`FakeWeChatServer`."""
        from .server import FakeWeChatServer  # needs the "testing" extra (cheroot)

        self.server = FakeWeChatServer(self, **kwargs)
        return self.server

    def config(self) -> dict[str, str]:
        """The ``WECHAT_WEB_*`` settings that point an app at this fake.

        At :attr:`server` when it is serving, else at made-up hosts that
        :meth:`configure` answers in-process. The sample apps' callback
        domain stays as it is: ``localhost`` (the test client's host)
        unless set otherwise.
        """
        if self.server is not None:
            open_url, api_url = self.server.open_base_url, self.server.api_base_url
        else:
            open_url, api_url = IN_PROCESS_OPEN_URL, IN_PROCESS_API_URL
        return {
            "WECHAT_WEB_APPID": self.website_app.appid,
            "WECHAT_WEB_SECRET": self.website_app.secret,
            "WECHAT_WEB_MP_APPID": self.mp_app.appid,
            "WECHAT_WEB_MP_SECRET": self.mp_app.secret,
            "WECHAT_WEB_APP_APPID": self.mobile_app.appid,
            "WECHAT_WEB_APP_SECRET": self.mobile_app.secret,
            "WECHAT_WEB_MINIPROGRAM_APPID": self.miniprogram.appid,
            "WECHAT_WEB_MINIPROGRAM_SECRET": self.miniprogram.secret,
            "WECHAT_WEB_OPEN_BASE_URL": open_url,
            "WECHAT_WEB_API_BASE_URL": api_url,
            "WECHAT_WEB_WXLOGIN_JS_URL": f"{open_url}{WXLOGIN_JS_PATH}",
        }

    def configure(self, app: Flask) -> None:
        """Point a Flask app's base URLs at this fake, and register its host.

        The sample apps' callback domain becomes the app's host: that of
        ``WECHAT_WEB_CALLBACK_URL``, else ``SERVER_NAME``, else
        ``localhost`` (the test client's). Credentials the app already has
        are kept (a test may want an appid the fake does not know); missing
        ones become the sample apps'. With no server running, the app's
        calls to WeChat are answered in-process: call this after
        ``WeChatWeb(app)`` then.
        """
        self.set_domain(callback_domain(app))
        for key, value in self.config().items():
            if key.endswith("_URL"):
                app.config[key] = value
            else:
                app.config.setdefault(key, value)
        if self.server is None:
            state = app.extensions.get("wechat_web")
            if state is None:
                raise RuntimeError(
                    "An in-process FakeWeChat can only be wired to an app that has "
                    "WeChatWeb set up: call configure(app) after WeChatWeb(app)."
                )
            state.pool.mounts[f"{IN_PROCESS_API_URL}/"] = self.requests_adapter()


def callback_domain(app: Flask) -> str:
    """The host WeChat sends ``app``'s codes to, as a callback domain names it."""
    url = app.config.get("WECHAT_WEB_CALLBACK_URL")
    if url:
        return host_of(str(url)) or DEFAULT_DOMAIN
    server_name = app.config.get("SERVER_NAME")
    return host_of(f"http://{server_name}/") if server_name else DEFAULT_DOMAIN
