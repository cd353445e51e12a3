"""The fake WeChat's authorize pages, as ``open.weixin.qq.com`` serves them.

:class:`Pages` is a base of :class:`~flask_wechat_web.testing.FakeWeChat`.
It checks an authorize link as WeChat does (appid, path, parameter order,
scope, state, callback domain) and answers WeChat's error page, HTTP 200,
for a bad one. A good one answers the QR page or the in-WeChat consent page;
a code is minted only when a person approves there (the page's form, or
``approve()`` in a test), except ``snsapi_base`` inside WeChat, which WeChat
approves silently. A HEAD or a browser's prefetch never mints one.

The pages speak the visitor's language (``lang=en`` on ``qrconnect``, else
the browser's ``Accept-Language``; in the sandbox, the site's choice), except
an error page's title: that is WeChat's own, in Chinese, whatever the
language, with its meaning beside it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2
from markupsafe import Markup
from werkzeug.wrappers import Request, Response

from ..i18n import gettext_noop as N_
from ..i18n import negotiate, template_context
from .model import ALNUM, SCOPES, FakeApp, FakeUser, Model, host_of

#: WSGI environ keys the sandbox sets (``sandbox.py``): the language the site
#: chose for this request, and the site's root URL, where a denial leads back.
SITE_LOCALE_KEY = "flask_wechat_web.site_locale"
SITE_ROOT_KEY = "flask_wechat_web.site_root"
#: The cookie naming who is at this browser: the page offers that user, made
#: up on first use, and ``snsapi_base`` logs them in (one per load-test client).
USER_COOKIE = "fake_wechat_user"
# WeChat matches an Official Account link against a fixed pattern.
_MP_ORDER = ("appid", "redirect_uri", "response_type", "scope", "state")
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
    ),
}
_SCOPE_ERROR = "Scope 参数错误或没有 Scope 权限"
_OPEN_IN_WECHAT = "请在微信客户端打开链接"
_BAD_REQUEST = "请求参数错误"
#: What each of WeChat's error titles means, for a visitor who reads no
#: simplified Chinese (the title itself stays WeChat's).
_MEANINGS = {
    "AppID 参数错误": N_("The AppID is wrong."),
    _SCOPE_ERROR: N_("The scope is wrong, or the app may not use it."),
    "response_type 参数错误": N_("The response_type is wrong."),
    "redirect_uri 参数错误": N_("The redirect_uri is wrong."),
    "redirect_uri 域名与后台配置不一致": N_(
        "The redirect_uri's domain is not the one set in the app's console."
    ),
    "state 参数错误": N_("The state is wrong."),
    _OPEN_IN_WECHAT: N_("Open this link in WeChat."),
    _BAD_REQUEST: N_("The request is wrong."),
}


class AuthorizeError(ValueError):
    """An authorize request WeChat would answer with its error page.

    ``title`` is WeChat's, verbatim; ``detail`` is a msgid, translated on the
    page, that takes ``params`` (``%(name)s``).
    """

    def __init__(self, title: str, detail: str, code: int | None = None, **params: str) -> None:
        self.title, self.detail, self.code, self.params = title, detail, code, params
        label = f"{title} ({code})" if code else title
        super().__init__(f"{label}: {detail % params}")


@dataclass(frozen=True)
class Authorization:
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


class Pages(Model):
    """``connect/qrconnect``, ``connect/oauth2/authorize`` and their consent form."""

    #: What "deny" does: ``False`` (today's WeChat) shows a page and tells
    #: the site nothing; ``True`` redirects back with ``state`` only, as
    #: older WeChat did.
    deny_redirect: bool
    #: The sandbox: a page's callback domain is the host it is served on.
    own_host_is_domain: bool = False

    def approve(self, authorize_url: str, user: FakeUser | None = None) -> str:
        """Approve the authorize link as ``user`` (default :attr:`user`); the callback URL.

        What a person's tap on WeChat's page does. Counts as a visit to the page.
        :raises ValueError: the fake's error page text, if the link is invalid.
        """
        auth = self._check_url(authorize_url)
        return self._approved_url(auth, user or self.user)

    def deny(self, authorize_url: str) -> str:
        """The callback URL a redirecting denial sends (``state`` only); mints nothing."""
        return _denied_url(self._check_url(authorize_url))

    def _check_url(self, authorize_url: str) -> Authorization:
        endpoint, query = _split_url(authorize_url)
        with self._lock:
            self.calls[endpoint] += 1
        return self._check_authorize(endpoint, query)

    def _check_authorize(self, endpoint: str, query: str, host: str = "") -> Authorization:
        """Validate like WeChat does; raise the error its page would show.

        ``host`` is the host the page was asked on (the sandbox's domain).
        """
        pairs = parse_qsl(query, keep_blank_values=True)
        args: dict[str, str] = {}
        for name, value in pairs:
            args.setdefault(name, value)
        app = self.app_for(args.get("appid", ""))
        if app is None:
            raise AuthorizeError("AppID 参数错误", N_("unknown appid (register it with add_app)"))
        path_kind = "website" if endpoint == "qrconnect" else "mp"
        if app.kind not in SCOPES:
            detail = N_("this appid is a %(kind)s app, which logs in without a web page")
            raise AuthorizeError(_SCOPE_ERROR, detail, 10005, kind=app.kind)
        if app.kind != path_kind:
            right = "qrconnect" if app.kind == "website" else "oauth2/authorize"
            detail = N_("this appid is a %(kind)s app: use /connect/%(path)s")
            raise AuthorizeError(_SCOPE_ERROR, detail, 10005, kind=app.kind, path=right)
        if app.kind == "mp":
            seen = list(dict.fromkeys(n for n, _ in pairs if n in _MP_ORDER))
            if seen != [n for n in _MP_ORDER if n in args]:
                detail = N_("parameters must come in the order %(order)s")
                raise AuthorizeError(_SCOPE_ERROR, detail, order=", ".join(_MP_ORDER))
        jssdk = endpoint == "qrconnect" and args.get("login_type") == "jssdk"
        response_type = args.get("response_type")
        if response_type != "code" and not (jssdk and response_type is None):
            raise AuthorizeError("response_type 参数错误", N_("response_type must be code"))
        scopes = set(args.get("scope", "").split(","))
        if app.kind == "mp" and len(scopes) != 1:
            scopes = set()
        if not scopes or not scopes <= SCOPES[app.kind]:
            allowed = " / ".join(sorted(SCOPES[app.kind]))
            code = 10005 if app.kind == "mp" else None
            detail = N_("scope must be %(allowed)s")
            raise AuthorizeError(_SCOPE_ERROR, detail, code, allowed=allowed)
        redirect_uri = args.get("redirect_uri", "")
        domain = host if host and self.own_host_is_domain else app.domain
        _check_redirect_uri(app.kind, redirect_uri, domain)
        state = args.get("state")
        if app.kind == "mp" and state is not None:
            if len(state) > 128 or not all(c in ALNUM for c in state):
                detail = N_("state must be at most 128 characters of A-Z a-z 0-9")
                raise AuthorizeError("state 参数错误", detail)
        return Authorization(
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

    def _approved_url(self, auth: Authorization, user: FakeUser) -> str:
        params = [("code", self._mint_code(auth.app, user, auth.scope))]
        if auth.state is not None:
            params.append(("state", auth.state))
        return _add_query(auth.redirect_uri, params)

    # -- the pages -----------------------------------------------------------

    def _authorize_page(self, endpoint: str, request: Request, action: str) -> Response:
        confirm = endpoint == "confirm"
        if confirm:
            endpoint = request.form.get("endpoint", "")
            query = request.form.get("query", "")
        else:
            query = request.query_string.decode("latin-1")
        page = _Pages(_page_locale(query, request))
        if endpoint not in ("qrconnect", "authorize"):
            return page.error(_BAD_REQUEST, N_("the form is not one this page sent"))
        in_wechat = "micromessenger" in request.headers.get("User-Agent", "").lower()
        if not confirm and endpoint == "authorize" and not in_wechat:
            return page.error(_OPEN_IN_WECHAT, N_("this link opens only in WeChat's browser"))
        try:
            auth = self._check_authorize(endpoint, query, request.host)
        except AuthorizeError as exc:
            return page.error(exc.title, exc.detail, exc.code, **exc.params)
        here = self._user_named(request.cookies.get(USER_COOKIE))
        if request.method == "POST":
            if "deny" in request.form:
                return self._denied(auth, page, request)
            users = {user.key: user for user in self.users}
            user = users.get(request.form.get("user", ""))
            if user is None:
                return page.error(_BAD_REQUEST, N_("unknown user"))
            return self._redirect(auth, self._approved_url(auth, user), page)
        person = request.method == "GET" and not _is_prefetch(request)
        if auth.scope == "snsapi_base" and person:  # WeChat shows nothing: silent
            return self._redirect(auth, self._approved_url(auth, here or self.user), page)
        return page(
            "sandbox_consent.html",
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

    def _denied(self, auth: Authorization, page: _Pages, request: Request) -> Response:
        """WeChat's dead end, with a way out: the consent page again, or the site.

        Real WeChat leaves the person there; a fake need not. In wxLogin.js's
        frame the site is all around, so the frame offers only the QR again.
        """
        if not self.deny_redirect:
            path = "qrconnect" if auth.endpoint == "qrconnect" else "oauth2/authorize"
            again = f"{request.script_root}/connect/{path}?{auth.query}"
            site = request.environ.get(SITE_ROOT_KEY) or _origin(auth.redirect_uri)
            return page("sandbox_denied.html", compact=auth.jssdk, again=again, site=site)
        return self._redirect(auth, _denied_url(auth), page)

    @staticmethod
    def _redirect(auth: Authorization, url: str, page: _Pages) -> Response:
        """Back to the site: a 302, or from wxLogin.js's frame the top window."""
        if auth.jssdk and auth.self_redirect != "true":
            return page("sandbox_redirect.html", url=url, compact=True)
        return Response(status=302, headers={"Location": url, **_PAGE_HEADERS})


def _split_url(authorize_url: str) -> tuple[str, str]:
    parts = urlsplit(authorize_url)
    for endpoint, suffix in (
        ("qrconnect", "/connect/qrconnect"),
        ("authorize", "/connect/oauth2/authorize"),
    ):
        if parts.path.endswith(suffix):
            return endpoint, parts.query
    raise ValueError(f"not a WeChat authorize URL: {parts.path!r}")


def _check_redirect_uri(kind: str, redirect_uri: str, domain: str) -> None:
    """The callback domain rule of each app kind (protocol reference §1.5)."""
    absolute = N_("redirect_uri must be an absolute http(s) URL")
    bad = AuthorizeError("redirect_uri 参数错误", absolute)
    parts = urlsplit(redirect_uri)
    host = host_of(redirect_uri)
    if parts.scheme not in ("http", "https") or not host:
        raise bad
    if any(c.isspace() or ord(c) < 32 for c in redirect_uri):
        raise bad
    if kind == "website" and parts.hostname != domain.partition(":")[0]:
        detail = N_(
            "redirect_uri's host must be %(domain)s, the app's authorization callback domain"
        )
        raise AuthorizeError("redirect_uri 参数错误", detail, domain=domain)
    if kind == "mp" and host != domain:
        detail = N_("redirect_uri's host must be exactly %(domain)s, with no other port")
        raise AuthorizeError("redirect_uri 域名与后台配置不一致", detail, 10003, domain=domain)


def _denied_url(auth: Authorization) -> str:
    params = [("state", auth.state)] if auth.state is not None else []
    return _add_query(auth.redirect_uri, params)


def _origin(uri: str) -> str:
    """The root of the site ``uri`` is on."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}/"


def _is_prefetch(request: Request) -> bool:
    """A browser fetching ahead of a click (Chromium's ``Sec-Purpose``, older ``Purpose``)."""
    purpose = request.headers.get("Sec-Purpose") or request.headers.get("Purpose") or ""
    return "prefetch" in purpose.lower() or "prerender" in purpose.lower()


def _add_query(uri: str, params: list[tuple[str, str]]) -> str:
    """Append ``params`` to ``uri``'s query, before any fragment, as WeChat does."""
    parts = urlsplit(uri)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query + extra
    return urlunsplit(parts._replace(query=query))


@dataclass(frozen=True)
class _Pages:
    """Renders the fake's pages in one language."""

    locale: str

    def __call__(self, template: str, **context: object) -> Response:
        context.update(template_context(self.locale))
        html = _templates().get_template(f"wechat/{template}").render(context)
        return Response(html, headers=_PAGE_HEADERS, mimetype="text/html")

    def error(self, title: str, detail: str, code: int | None = None, **params: str) -> Response:
        """WeChat's error page: HTTP 200, WeChat's title, and no way back to the site."""
        meaning = _MEANINGS[title] if self.locale != "zh_CN" else None
        values = {name: Markup("<code>%s</code>") % value for name, value in params.items()}
        context = {"title": title, "meaning": meaning, "detail": detail, "params": values}
        return self("sandbox_error.html", code=code, **context)


def _page_locale(query: str, request: Request) -> str:
    """The pages' language: the site's choice in the sandbox; else ``lang=en``
    as qrconnect takes it, else the browser's.

    WeChat's ``lang`` is ``cn`` (the default) or ``en``; a Chinese page is in
    traditional characters when the browser asks for them.
    """
    chosen = request.environ.get(SITE_LOCALE_KEY)
    if chosen:
        return str(chosen)
    browser = negotiate(request.accept_languages)
    lang = dict(parse_qsl(query)).get("lang")
    if lang == "en":
        return "en"
    if lang == "cn" and browser == "en":
        return "zh_CN"
    return browser or "zh_CN"


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("flask_wechat_web", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def wxlogin_js() -> bytes:
    return resources.files("flask_wechat_web").joinpath("static/wxLogin.js").read_bytes()


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
