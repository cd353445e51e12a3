"""A working imitation of WeChat's web-login servers, for tests and the sandbox.

:class:`FakeWeChat` is a plain WSGI app (Werkzeug and Jinja2, no Flask) that
answers both WeChat hosts: the authorize pages of ``open.weixin.qq.com`` and
the ``sns`` API of ``api.weixin.qq.com``, with WeChat's real rules and quirks
(codes single-use and short-lived, errors as HTTP 200, ``text/plain`` JSON
with no charset, ``unionid`` only for bound apps, emoji nicknames). Use it
in-process (:meth:`FakeWeChat.requests_adapter`, ``werkzeug.test.Client``),
over loopback HTTP (:meth:`FakeWeChat.serve`), or mounted under a prefix with
``DispatcherMiddleware``: every link it emits honours ``SCRIPT_NAME``.
"""

from __future__ import annotations

import base64
import collections
import errno
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
import typing as t
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..i18n import gettext_noop as N_
from ..i18n import negotiate, template_context, translations
from .server import FakeWeChatServer
from .transport import TIMEOUT_KEY, WSGIAdapter

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from flask import Flask

__all__ = ["FakeApp", "FakeUser", "FakeWeChat"]

#: The endpoints :meth:`FakeWeChat.inject` accepts.
FAULT_ENDPOINTS = frozenset({"access_token", "refresh_token", "userinfo", "auth"})
#: The faults :meth:`FakeWeChat.inject` knows.
FAULTS = frozenset(
    {"latency", "http_500", "http_503", "not_json", "errcode_-1", "drop", "truncated"}
)
LANGS = ("zh_CN", "zh_TW", "en")
#: Not WeChat's: the request counters as JSON, for a fake in another process.
CALLS_PATH = "/_fake/calls"
#: With auto-approve on, the cookie naming who approves (see ``_user_for_cookie``).
USER_COOKIE = "fake_wechat_user"
#: The made-up hosts an in-process fake stands for (see ``FakeWeChat.configure``).
IN_PROCESS_OPEN_URL = "http://open.fake-wechat.invalid"
IN_PROCESS_API_URL = "http://api.fake-wechat.invalid"
#: Where the fake serves its imitation of WeChat's ``wxLogin.js``.
WXLOGIN_JS_PATH = "/connect/zh_CN/htmledition/js/wxLogin.js"

_CODE_TTL = {"website": 600.0, "mp": 300.0}
_ACCESS_TTL = 7200
_REFRESH_TTL = 30 * 24 * 3600.0
_ALNUM = string.ascii_letters + string.digits
# WeChat matches an Official Account link against a fixed pattern.
_MP_ORDER = ("appid", "redirect_uri", "response_type", "scope", "state")
_SCOPES = {"website": {"snsapi_login"}, "mp": {"snsapi_base", "snsapi_userinfo"}}
_ERRMSG = {
    -1: "system error",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40014: "invalid access_token",
    40029: "invalid code",
    40030: "invalid refresh_token",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41002: "appid missing",
    41003: "refresh_token missing",
    41004: "appsecret missing",
    41008: "missing code",
    41009: "missing openid",
    42001: "access_token expired",
    42002: "refresh_token expired",
    42003: "code expired",
    48001: "api unauthorized",
}
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
    ),
}
_URLS = Map(
    [
        Rule("/connect/qrconnect", endpoint="qrconnect", methods=["GET"]),
        Rule("/connect/oauth2/authorize", endpoint="authorize", methods=["GET"]),
        Rule("/connect/confirm", endpoint="confirm", methods=["POST"]),
        Rule(WXLOGIN_JS_PATH, endpoint="wxlogin_js", methods=["GET"]),
        Rule("/sns/oauth2/access_token", endpoint="access_token"),
        Rule("/sns/oauth2/refresh_token", endpoint="refresh_token"),
        Rule("/sns/userinfo", endpoint="userinfo"),
        Rule("/sns/auth", endpoint="auth"),
        Rule(CALLS_PATH, endpoint="calls", methods=["GET"]),
    ],
    strict_slashes=False,
    merge_slashes=False,
)


@dataclass(frozen=True)
class FakeUser:
    """A WeChat user of the fake. ``key`` is stable; ids derive from it.

    ``province``, ``city`` and ``country`` map a ``lang`` (``zh_CN``,
    ``zh_TW``, ``en``) to the name in that language.
    """

    key: str
    nickname: str
    headimgurl: str = ""
    sex: int = 0
    province: Mapping[str, str] = field(default_factory=dict, hash=False)
    city: Mapping[str, str] = field(default_factory=dict, hash=False)
    country: Mapping[str, str] = field(default_factory=dict, hash=False)
    privilege: tuple[str, ...] = ()


@dataclass
class FakeApp:
    """An app registered with the fake: a website app or an Official Account.

    ``kind`` is ``"website"`` (Open Platform, ``qrconnect``, ``snsapi_login``)
    or ``"mp"`` (Official Account, ``oauth2/authorize``). ``bound`` means
    bound to an Open Platform account, so ``unionid`` is returned. With
    ``domain`` set, the redirect_uri's host must equal it (``mp``: no port).
    ``empty_profile`` imitates apps after the 2021 change: no sex or region.
    """

    appid: str
    secret: str
    kind: str = "website"
    bound: bool = True
    domain: str | None = None
    empty_profile: bool = False


class AuthorizeError(ValueError):
    """An authorize request WeChat would answer with its error page.

    ``title`` and ``detail`` are msgids, translated on the page; ``detail``
    takes ``params`` (``%(name)s``). The message names the title WeChat's page
    shows in Chinese, e.g. ``Invalid appid (appid 参数错误): ...``.
    """

    def __init__(self, title: str, detail: str, code: int | None = None, **params: object) -> None:
        self.title, self.detail, self.code, self.params = title, detail, code, params
        label = f"{title} ({translations('zh_CN').gettext(title)})"
        label = f"{label}, errcode {code}" if code else label
        super().__init__(f"{label}: {detail % params}")


@dataclass(frozen=True)
class _Authorization:
    """A validated authorize request."""

    app: FakeApp
    endpoint: str
    query: str
    redirect_uri: str
    scope: str
    state: str | None
    jssdk: bool
    self_redirect: str
    style: str


@dataclass
class _Code:
    appid: str
    user: FakeUser
    scope: str
    snapshot: bool
    expires_at: float
    used: bool = False


@dataclass
class _Grant:
    appid: str
    openid: str
    unionid: str | None
    scope: str
    user: FakeUser
    snapshot: bool
    refresh_token: str
    refresh_expires_at: float
    access_token: str


@dataclass
class _Access:
    grant: _Grant
    expires_at: float


@dataclass
class _Fault:
    kind: str
    times: int | None
    delay: float


def _names(zh_cn: str, zh_tw: str, en: str) -> dict[str, str]:
    return {"zh_CN": zh_cn, "zh_TW": zh_tw, "en": en}


def _sample_users() -> list[FakeUser]:
    avatar = "https://thirdwx.qlogo.cn/mmopen/vi_32/{}/132".format
    china = _names("中国", "中國", "China")
    return [
        FakeUser(
            "zhangsan",
            "张三😀",
            avatar("zhangsan"),
            sex=1,
            province=_names("广东", "廣東", "Guangdong"),
            city=_names("深圳", "深圳", "Shenzhen"),
            country=china,
        ),
        FakeUser(
            "alice",
            "Alice Smith",
            avatar("alice"),
            sex=2,
            province=_names("上海", "上海", "Shanghai"),
            city=_names("徐汇", "徐匯", "Xuhui"),
            country=china,
            privilege=("chinaunicom",),
        ),
        FakeUser("wangwu", "王五", ""),
    ]


def _digest(*parts: str) -> str:
    raw = hashlib.sha256("\0".join(parts).encode()).digest()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _random_code() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(32))


def _add_query(uri: str, params: list[tuple[str, str]]) -> str:
    """Append ``params`` to ``uri``'s query, before any fragment, as WeChat does."""
    parts = urlsplit(uri)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query + extra
    return urlunsplit(parts._replace(query=query))


def _initials(nickname: str) -> str:
    words = nickname.split()
    if len(words) > 1 and all(w[0].isascii() for w in words[:2]):
        return (words[0][0] + words[1][0]).upper()
    return nickname[:1].upper() or "?"


def _qr_path(seed: str, size: int = 25) -> str:
    """An SVG path of a pretend QR code: finder squares and seeded noise."""
    bits = "".join(
        f"{byte:08b}"
        for i in range(size * size // 256 + 1)
        for byte in hashlib.sha256(f"{seed}\0{i}".encode()).digest()
    )

    def dark(x: int, y: int) -> bool:
        for fx, fy in ((0, 0), (size - 7, 0), (0, size - 7)):
            if fx - 1 <= x <= fx + 7 and fy - 1 <= y <= fy + 7:
                dx, dy = x - fx, y - fy
                ring = max(abs(dx - 3), abs(dy - 3))
                return ring in (0, 1, 3)
        return bits[y * size + x] == "1"

    runs = []
    for y in range(size):
        x = 0
        while x < size:
            if dark(x, y):
                start = x
                while x < size and dark(x, y):
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return "".join(runs)


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("flask_wechat_web", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class _Pages:
    """Renders the fake's pages in one language (the browser's ``Accept-Language``)."""

    locale: str

    def __call__(self, template: str, status: int, **context: object) -> Response:
        context.update(template_context(self.locale))
        html = _templates().get_template(f"wechat/{template}").render(context)
        return Response(html, status, headers=_PAGE_HEADERS, mimetype="text/html")


def _page_locale(query: str, request: Request) -> str:
    """The pages' language: ``lang=en`` as qrconnect takes it, else the browser's.

    WeChat's ``lang`` is ``cn`` (the default) or ``en``; a Chinese page is in
    traditional characters when the browser asks for them.
    """
    browser = negotiate(request.accept_languages)
    lang = dict(parse_qsl(query)).get("lang")
    if lang == "en":
        return "en"
    if lang == "cn" and browser == "en":
        return "zh_CN"
    return browser or "zh_CN"


#: WeChat's page title for a bad or forbidden scope (Scope 参数错误或没有 Scope 权限).
_SCOPE_ERROR = N_("Invalid scope, or no permission for this scope")


@cache
def _wxlogin_js() -> bytes:
    return resources.files("flask_wechat_web").joinpath("static/wxLogin.js").read_bytes()


def _api_body(data: Mapping[str, object]) -> Response:
    """WeChat's API dialect: ``text/plain`` with no charset, raw UTF-8, ``\\/``."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(text.replace("/", "\\/").encode(), content_type="text/plain")


def _error(errcode: int) -> dict[str, object]:
    rid = "-".join(secrets.token_hex(4) for _ in range(3))
    return {"errcode": errcode, "errmsg": f"{_ERRMSG[errcode]}, rid: {rid}"}


class FakeWeChat:
    """WeChat's web-login servers, imitated. A WSGI app; thread-safe.

    :param clock: seconds, monotonic; :meth:`advance` adds to it.
    :param auto_approve: authorize pages redirect straight back with a code
        as :attr:`user`; ``False`` shows the sandbox consent page instead.
    """

    website_app: FakeApp
    mp_app: FakeApp
    users: list[FakeUser]
    user: FakeUser
    auto_approve: bool
    #: What "deny" does: redirect with ``state`` only, or show a page.
    deny_redirect: bool
    #: Official Account ``snsapi_userinfo`` logins become snapshot-page users.
    snapshot: bool
    #: The server :meth:`serve` started last, if any.
    server: FakeWeChatServer | None = None

    def __init__(
        self, *, clock: Callable[[], float] | None = None, auto_approve: bool = True
    ) -> None:
        self._clock = clock or time.monotonic
        self._auto_approve = auto_approve
        self._lock = threading.Lock()
        self.calls: collections.Counter[str] = collections.Counter()
        self.users = []
        self.reset()

    def reset(self) -> None:
        """Back to a fresh fake, as constructed (the ``calls`` object is kept)."""
        with self._lock:
            self.website_app = FakeApp(
                "wx5f2b8e9c1d3a7b60", "3f9c2e7a1b4d6f8e0a2c4e6b8d0f1a3c", "website"
            )
            self.mp_app = FakeApp("wx9c3e7a1b5d2f8064", "c1e3a5b7d9f0e2c4a6b8d0f2e4c6a8b9", "mp")
            self._apps = {app.appid: app for app in (self.website_app, self.mp_app)}
            self.users[:] = _sample_users()
            self.user = self.users[0]
            self.auto_approve = self._auto_approve
            self.deny_redirect = True
            self.snapshot = False
            self.calls.clear()
            self._codes: dict[str, _Code] = {}
            self._access: dict[str, _Access] = {}
            self._refresh: dict[str, _Grant] = {}
            self._faults: dict[str, _Fault] = {}
            self._offset = 0.0

    # -- configuration -----------------------------------------------------

    def add_app(
        self,
        appid: str,
        secret: str,
        *,
        kind: str = "website",
        bound: bool = True,
        domain: str | None = None,
        empty_profile: bool = False,
    ) -> FakeApp:
        """Register an app, replacing any with the same ``appid``."""
        if kind not in _SCOPES:
            raise ValueError(f"kind must be 'website' or 'mp', not {kind!r}")
        app = FakeApp(appid, secret, kind, bound, domain, empty_profile)
        with self._lock:
            self._apps[appid] = app
            if appid == self.website_app.appid:
                self.website_app = app
            if appid == self.mp_app.appid:
                self.mp_app = app
        return app

    def app_for(self, appid: str) -> FakeApp | None:
        with self._lock:
            return self._apps.get(appid)

    def openid(self, user: FakeUser, appid: str) -> str:
        """The user's openid in one app: 28 characters, deterministic."""
        return "o" + _digest("app", appid)[:5] + _digest("openid", appid, user.key)[:22]

    def unionid(self, user: FakeUser) -> str:
        """The user's unionid, the same in every bound app."""
        return "o" + _digest("unionid", user.key)[:27]

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

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward: codes and tokens expire."""
        with self._lock:
            self._offset += seconds

    def _now(self) -> float:
        return self._clock() + self._offset

    # -- in-process authorization -----------------------------------------

    def approve(self, authorize_url: str, user: FakeUser | None = None) -> str:
        """Run the authorize step as ``user`` approving; return the callback URL.

        Counts as a visit to the authorize page.
        :raises ValueError: the fake's error page text, if the URL is invalid.
        """
        auth = self._check_url(authorize_url)
        return self._approved_url(auth, user or self.user)

    def deny(self, authorize_url: str) -> str:
        """The callback URL a redirecting denial sends: ``state`` only."""
        return self._denied_url(self._check_url(authorize_url))

    def _check_url(self, authorize_url: str) -> _Authorization:
        parts = urlsplit(authorize_url)
        for endpoint, suffix in (
            ("qrconnect", "/connect/qrconnect"),
            ("authorize", "/connect/oauth2/authorize"),
        ):
            if parts.path.endswith(suffix):
                with self._lock:
                    self.calls[endpoint] += 1
                return self._check_authorize(endpoint, parts.query)
        raise ValueError(f"not a WeChat authorize URL: {parts.path!r}")

    def _check_authorize(self, endpoint: str, query: str) -> _Authorization:
        """Validate like WeChat does; raise the error its page would show."""
        pairs = parse_qsl(query, keep_blank_values=True)
        args: dict[str, str] = {}
        for name, value in pairs:
            args.setdefault(name, value)
        app = self.app_for(args.get("appid", ""))
        if app is None:
            raise AuthorizeError(
                N_("Invalid appid"), N_("unknown appid (register it with add_app)")
            )
        path_kind = "website" if endpoint == "qrconnect" else "mp"
        if app.kind != path_kind:
            right = "qrconnect" if app.kind == "website" else "oauth2/authorize"
            raise AuthorizeError(
                _SCOPE_ERROR,
                N_("this appid is a %(kind)s app: use /connect/%(path)s"),
                10005,
                kind=app.kind,
                path=right,
            )
        if app.kind == "mp":
            seen = list(dict.fromkeys(n for n, _ in pairs if n in _MP_ORDER))
            if seen != [n for n in _MP_ORDER if n in args]:
                raise AuthorizeError(
                    _SCOPE_ERROR,
                    N_("parameters must come in the order %(order)s"),
                    order=", ".join(_MP_ORDER),
                )
        jssdk = endpoint == "qrconnect" and args.get("login_type") == "jssdk"
        response_type = args.get("response_type")
        if response_type != "code" and not (jssdk and response_type is None):
            raise AuthorizeError(N_("Invalid response_type"), N_("response_type must be code"))
        scopes = set(args.get("scope", "").split(","))
        if app.kind == "mp" and len(scopes) != 1:
            scopes = set()
        if not scopes or not scopes <= _SCOPES[app.kind]:
            raise AuthorizeError(
                _SCOPE_ERROR,
                N_("scope must be %(allowed)s"),
                10005 if app.kind == "mp" else None,
                allowed=" / ".join(sorted(_SCOPES[app.kind])),
            )
        redirect_uri = args.get("redirect_uri", "")
        self._check_redirect_uri(app, redirect_uri)
        state = args.get("state")
        if app.kind == "mp" and state is not None:
            if len(state) > 128 or not all(c in _ALNUM for c in state):
                raise AuthorizeError(
                    N_("Invalid state"), N_("state must be at most 128 characters of A-Z a-z 0-9")
                )
        return _Authorization(
            app=app,
            endpoint=endpoint,
            query=query,
            redirect_uri=redirect_uri,
            scope=scopes.pop(),
            state=state,
            jssdk=jssdk,
            self_redirect=args.get("self_redirect", "default"),
            style=args.get("style", "black"),
        )

    @staticmethod
    def _check_redirect_uri(app: FakeApp, redirect_uri: str) -> None:
        bad = AuthorizeError(
            N_("Invalid redirect_uri"), N_("redirect_uri must be an absolute http(s) URL")
        )
        try:
            parts = urlsplit(redirect_uri)
            port = parts.port
        except ValueError:
            raise bad from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad
        if any(c.isspace() or ord(c) < 32 for c in redirect_uri):
            raise bad
        if app.domain is None:
            return
        host_ok = parts.hostname == app.domain.lower()
        if app.kind == "website" and not host_ok:
            raise AuthorizeError(
                N_("Invalid redirect_uri"),
                N_("redirect_uri's host must be %(domain)s"),
                domain=app.domain,
            )
        if app.kind == "mp" and (not host_ok or port is not None):
            raise AuthorizeError(
                N_("The redirect_uri domain does not match the console's"),
                N_("redirect_uri's host must be exactly %(domain)s, with no port"),
                10003,
                domain=app.domain,
            )

    def _approved_url(self, auth: _Authorization, user: FakeUser) -> str:
        snapshot = self.snapshot and auth.app.kind == "mp" and auth.scope == "snsapi_userinfo"
        code = _random_code()
        with self._lock:
            self._codes[code] = _Code(
                auth.app.appid,
                user,
                auth.scope,
                snapshot,
                self._now() + _CODE_TTL[auth.app.kind],
            )
        params = [("code", code)]
        if auth.state is not None:
            params.append(("state", auth.state))
        return _add_query(auth.redirect_uri, params)

    @staticmethod
    def _denied_url(auth: _Authorization) -> str:
        params = [("state", auth.state)] if auth.state is not None else []
        return _add_query(auth.redirect_uri, params)

    # -- WSGI ---------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        urls = _URLS.bind_to_environ(environ)
        try:
            endpoint, _ = urls.match()
        except HTTPException as exc:
            text = f"{exc.code} {exc.name}"
            response = Response(text, exc.code, content_type="text/plain")
            return response(environ, start_response)
        endpoint = str(endpoint)
        if endpoint == "calls":
            with self._lock:
                counts = json.dumps(dict(self.calls))
            return Response(counts, content_type="application/json")(environ, start_response)
        with self._lock:
            self.calls[endpoint] += 1
            fault = self._take_fault(endpoint)
        if fault is not None:
            faulty = self._faulty(fault, environ)
            if fault.kind == "truncated":
                return self._truncated(start_response)
            if faulty is not None:
                return faulty(environ, start_response)
        api = {
            "access_token": self._api_access_token,
            "refresh_token": self._api_refresh_token,
            "userinfo": self._api_userinfo,
            "auth": self._api_auth,
        }.get(endpoint)
        if api is not None:
            with self._lock:
                body = api(request.values)
            response = _api_body(body)
        elif endpoint == "wxlogin_js":
            js_type = "application/javascript; charset=utf-8"
            response = Response(_wxlogin_js(), content_type=js_type)
        else:
            response = self._authorize_page(endpoint, request, urls.build("confirm"))
        return response(environ, start_response)

    def _take_fault(self, endpoint: str) -> _Fault | None:
        fault = self._faults.get(endpoint)
        if fault is not None and fault.times is not None:
            fault.times -= 1
            if fault.times == 0:
                del self._faults[endpoint]
        return fault

    def _faulty(self, fault: _Fault, environ: WSGIEnvironment) -> Response | None:
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
        if fault.kind in ("http_500", "http_503"):
            status = int(fault.kind[-3:])
            html = f"<html><body><h1>{status} Server Error</h1></body></html>"
            return Response(html, status, content_type="text/html; charset=utf-8")
        if fault.kind == "not_json":
            html = "<html><body><p>系统维护中，请稍后再试。</p></body></html>"
            return Response(html, content_type="text/html; charset=utf-8")
        if fault.kind == "errcode_-1":
            return _api_body(_error(-1))
        return None

    @staticmethod
    def _truncated(start_response: StartResponse) -> Iterator[bytes]:
        """HTTP 200 promising more bytes than it sends, then a dropped connection."""
        body = _api_body(_error(-1)).get_data()
        start_response(
            "200 OK",
            [("Content-Type", "text/plain"), ("Content-Length", str(len(body) + 64))],
        )
        yield body[: len(body) // 2]
        raise ConnectionResetError(
            errno.ECONNRESET, "fake WeChat cut the response short (injected fault)"
        )

    # -- the API (called with the lock held) ---------------------------------

    def _app_or_error(
        self, params: Mapping[str, str]
    ) -> tuple[FakeApp | None, dict[str, object] | None]:
        appid = params.get("appid")
        if not appid:
            return None, _error(41002)
        app = self._apps.get(appid)
        return (app, None) if app else (None, _error(40013))

    def _api_access_token(self, params: Mapping[str, str]) -> dict[str, object]:
        app, error = self._app_or_error(params)
        if app is None:
            return error or _error(40013)
        secret = params.get("secret")
        if not secret:
            return _error(41004)
        if not hmac.compare_digest(secret.encode(), app.secret.encode()):
            return _error(40125)
        code = params.get("code")
        if not code:
            return _error(41008)
        if params.get("grant_type") != "authorization_code":
            return _error(40002)
        issued = self._codes.get(code)
        if issued is None or issued.appid != app.appid:
            return _error(40029)
        if issued.used:
            return _error(40163)
        if self._now() >= issued.expires_at:
            return _error(42003)
        issued.used = True
        user = issued.user
        if issued.snapshot:  # a virtual account: ids unlike the user's real ones
            user = FakeUser(f"snapshot\0{user.key}", user.nickname)
        openid, unionid = self.openid(user, app.appid), self.unionid(user)
        grant = _Grant(
            appid=app.appid,
            openid=openid,
            unionid=unionid if app.bound and issued.scope != "snsapi_base" else None,
            scope=issued.scope,
            user=user,
            snapshot=issued.snapshot,
            refresh_token=secrets.token_urlsafe(66),
            refresh_expires_at=self._now() + _REFRESH_TTL,
            access_token=secrets.token_urlsafe(66),
        )
        self._refresh[grant.refresh_token] = grant
        self._access[grant.access_token] = _Access(grant, self._now() + _ACCESS_TTL)
        body: dict[str, object] = {
            "access_token": grant.access_token,
            "expires_in": _ACCESS_TTL,
            "refresh_token": grant.refresh_token,
            "openid": grant.openid,
            "scope": grant.scope,
        }
        if grant.unionid:
            body["unionid"] = grant.unionid
        if grant.snapshot:
            body["is_snapshotuser"] = 1
        return body

    def _api_refresh_token(self, params: Mapping[str, str]) -> dict[str, object]:
        app, error = self._app_or_error(params)
        if app is None:
            return error or _error(40013)
        token = params.get("refresh_token")
        if not token:
            return _error(41003)
        if params.get("grant_type") != "refresh_token":
            return _error(40002)
        grant = self._refresh.get(token)
        if grant is None or grant.appid != app.appid:
            return _error(40030)
        now = self._now()
        if now >= grant.refresh_expires_at:
            return _error(42002)
        access = self._access[grant.access_token]
        if now >= access.expires_at:
            grant.access_token = secrets.token_urlsafe(66)
            self._access[grant.access_token] = _Access(grant, now + _ACCESS_TTL)
        else:
            access.expires_at = now + _ACCESS_TTL
        return {
            "access_token": grant.access_token,
            "expires_in": _ACCESS_TTL,
            "refresh_token": grant.refresh_token,
            "openid": grant.openid,
            "scope": grant.scope,
        }

    def _grant_or_error(self, params: Mapping[str, str]) -> _Grant | dict[str, object]:
        token = params.get("access_token")
        if not token:
            return _error(41001)
        openid = params.get("openid")
        if not openid:
            return _error(41009)
        access = self._access.get(token)
        if access is None:
            return _error(40014)
        if self._now() >= access.expires_at:
            return _error(42001)
        if openid != access.grant.openid:
            return _error(40003)
        return access.grant

    def _api_userinfo(self, params: Mapping[str, str]) -> dict[str, object]:
        grant = self._grant_or_error(params)
        if not isinstance(grant, _Grant):
            return grant
        if grant.scope == "snsapi_base" or grant.snapshot:
            return _error(48001)
        lang = params.get("lang", "zh_CN")
        lang = lang if lang in LANGS else "zh_CN"
        user, app = grant.user, self._apps.get(grant.appid)
        empty = app is not None and app.empty_profile
        body: dict[str, object] = {
            "openid": grant.openid,
            "nickname": user.nickname,
            "sex": 0 if empty else user.sex,
            "language": "" if empty else lang,
            "city": "" if empty else user.city.get(lang, ""),
            "province": "" if empty else user.province.get(lang, ""),
            "country": "" if empty else user.country.get(lang, ""),
            "headimgurl": user.headimgurl,
            "privilege": list(user.privilege),
        }
        if grant.unionid:
            body["unionid"] = grant.unionid
        return body

    def _api_auth(self, params: Mapping[str, str]) -> dict[str, object]:
        grant = self._grant_or_error(params)
        if not isinstance(grant, _Grant):
            return grant
        return {"errcode": 0, "errmsg": "ok"}

    # -- pages ----------------------------------------------------------------

    def _authorize_page(self, endpoint: str, request: Request, action: str) -> Response:
        if endpoint == "confirm":
            endpoint = request.form.get("endpoint", "")
            query = request.form.get("query", "")
        else:
            query = request.query_string.decode("latin-1")
        page = _Pages(_page_locale(query, request))
        if endpoint not in ("qrconnect", "authorize"):
            return page("sandbox_error.html", 400, title=N_("Invalid request parameters"))
        try:
            auth = self._check_authorize(endpoint, query)
        except AuthorizeError as exc:
            return page(
                "sandbox_error.html",
                400,
                title=exc.title,
                detail=exc.detail,
                params=exc.params,
                code=exc.code,
            )
        if request.method == "POST":
            if "deny" in request.form:
                return self._denied(auth, page)
            users = {user.key: user for user in self.users}
            user = users.get(request.form.get("user", ""))
            if user is None:
                return page("sandbox_error.html", 400, title=N_("Unknown user"))
            return self._redirect(auth, self._approved_url(auth, user), page)
        if self.auto_approve:
            user = self._user_for_cookie(request.cookies.get(USER_COOKIE)) or self.user
            return self._redirect(auth, self._approved_url(auth, user), page)
        return page(
            "sandbox_consent.html",
            200,
            auth=auth,
            action=action,
            compact=auth.jssdk,
            style=auth.style,
            silent=auth.scope == "snsapi_base",
            snapshot=self.snapshot and auth.app.kind == "mp" and auth.scope == "snsapi_userinfo",
            redirect_host=urlsplit(auth.redirect_uri).netloc,
            qr=_qr_path(f"{auth.app.appid}\0{auth.redirect_uri}\0{auth.state}"),
            users=[(user, _initials(user.nickname)) for user in self.users],
        )

    def _user_for_cookie(self, key: str | None) -> FakeUser | None:
        """The user a ``fake_wechat_user`` cookie names, made up on first use.

        Lets a load test log many browsers in as many different people.
        """
        if not key or len(key) > 32 or not key.replace("-", "").replace("_", "").isalnum():
            return None
        with self._lock:
            for user in self.users:
                if user.key == key:
                    return user
            user = FakeUser(key, f"用户 {key}")
            self.users.append(user)
            return user

    def _denied(self, auth: _Authorization, page: _Pages) -> Response:
        if not self.deny_redirect:
            return page("sandbox_denied.html", 200, compact=auth.jssdk)
        return self._redirect(auth, self._denied_url(auth), page)

    def _redirect(self, auth: _Authorization, url: str, page: _Pages) -> Response:
        """Back to the site: a 302, or from wxLogin.js's frame the top window."""
        if auth.jssdk and auth.self_redirect != "true":
            return page("sandbox_redirect.html", 200, url=url, compact=True)
        return Response(status=302, headers={"Location": url, **_PAGE_HEADERS})

    # -- serving ----------------------------------------------------------------

    def requests_adapter(self) -> WSGIAdapter:
        """A requests transport that calls this fake in-process."""
        return WSGIAdapter(self)

    def serve(self, **kwargs: t.Any) -> FakeWeChatServer:
        """Serve this fake over loopback HTTP(S); see :class:`FakeWeChatServer`."""
        self.server = FakeWeChatServer(self, **kwargs)
        return self.server

    def config(self) -> dict[str, str]:
        """The ``WECHAT_WEB_*`` settings that point an app at this fake.

        At :attr:`server` when it is serving, else at made-up hosts that
        :meth:`configure` answers in-process.
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
            "WECHAT_WEB_OPEN_BASE_URL": open_url,
            "WECHAT_WEB_API_BASE_URL": api_url,
            "WECHAT_WEB_WXLOGIN_JS_URL": f"{open_url}{WXLOGIN_JS_PATH}",
        }

    def configure(self, app: Flask) -> None:
        """Point a Flask app's base URLs at this fake.

        Credentials the app already has are kept (a test may want an appid
        the fake does not know); missing ones become the sample apps'. With
        no server running, the app's calls to WeChat are answered
        in-process: call this after ``WeChatWeb(app)`` then.
        """
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
