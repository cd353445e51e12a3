"""The ``wechat`` blueprint: login, the callback, logout; safe ``next``; failures.

Every failure of a login ends the same way: the ``wechat_login_failed``
signal, a flash, and a redirect to ``WECHAT_WEB_ERROR_VIEW`` or a plain error
page with 400, 403, 502 or 503. Never a 500, never a traceback, never a secret.
"""

from __future__ import annotations

import logging
import re
import typing as t
from urllib.parse import unquote

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import NullSession
from flask_login import current_user, login_user, logout_user
from jinja2 import PackageLoader, TemplateNotFound
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from . import _session, i18n, pending
from ._agents import in_wechat_browser, on_phone
from .errors import (
    AccessDeniedError,
    ConfigurationError,
    InvalidCodeError,
    LoginRefusedError,
    SnapshotUserError,
    StateMismatchError,
    WeChatError,
)
from .relay import register as register_relay
from .signals import wechat_authorized, wechat_logged_out, wechat_login_failed

if t.TYPE_CHECKING:
    from .extension import WeChatWebState

logger = logging.getLogger(__name__)

#: The longest ``next`` kept; longer ones fall back to the site's root.
MAX_NEXT_LENGTH = 1024

_STATE_FORMAT = re.compile(r"[A-Za-z0-9]{1,128}")
_CODE_FORMAT = re.compile(r"[!-~]{1,512}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site, else ``None``.

    Only ``/`` alone or ``/`` followed by something other than ``/`` or ``\\``,
    in printable ASCII, with no backslash and no ``"`` (a URL carries it as
    ``%22``; raw, it costs four bytes in the session cookie), no more than
    :data:`MAX_NEXT_LENGTH` characters, and the same still true once
    percent-decoded (``%2F%2Fevil.com``, ``/%09/evil.com``).
    """
    if not value or len(value) > MAX_NEXT_LENGTH:
        return None
    if any(not "!" <= ch <= "~" or ch == '"' for ch in value):
        return None
    for candidate in (value, unquote(value)):
        if (
            not candidate.startswith("/")
            or candidate.startswith("//")
            or "\\" in candidate
            or _CONTROL.search(candidate)
        ):
            return None
    return value


def site_root() -> str:
    """The site's root path, where a login goes when it has no usable ``next``."""
    return f"{request.script_root}/"


def _state() -> WeChatWebState:
    from .extension import get_state

    state = get_state()
    state.check_logins()  # for apps that set their config after init_app; not on a relay only
    if _no_session():
        raise ConfigurationError(_session.NO_SESSION)
    return state


def create_blueprint() -> Blueprint:
    """The ``wechat`` blueprint; one per extension object, shared by its apps."""
    bp = Blueprint("wechat", __name__, template_folder="templates")
    bp.after_request(_private_headers)
    bp.context_processor(_page_context)
    # No automatic OPTIONS: every route is a navigation that needs no CORS
    # preflight, so OPTIONS gets 405 like any other method a route refuses.
    bp.add_url_rule("/login", "login", login, provide_automatic_options=False)
    bp.add_url_rule("/authorized", "authorized", authorized, provide_automatic_options=False)
    bp.add_url_rule("/qrcode", "qrcode", qrcode, provide_automatic_options=False)
    bp.add_url_rule(
        "/logout", "logout", logout, methods=["GET", "POST"], provide_automatic_options=False
    )
    bp.record(register_relay)  # /relay, only on an app with WECHAT_WEB_RELAY_SITES
    return bp


def _page_context() -> dict[str, str]:
    """``<html lang>`` of the extension's pages; named apart from a site's own ``html_lang``."""
    return {"wechat_html_lang": i18n.HTML_LANG[i18n.current_locale()]}


def _private_headers(response: Response) -> Response:
    """Keep codes out of caches and Referer headers, and our pages out of frames."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    return response


_SLASHES = re.compile(r"/{2,}")


def private_routing_answers(response: Response) -> Response:
    """App-wide: keep codes private in the answers routing gives before any view.

    Werkzeug answers a path with merged slashes (``/wechat//relay?code=``)
    with a 308 whose ``Location`` and body repeat the code, and a method or
    path it cannot route with a 405 or 404, all before the blueprint's own
    hooks could run. Those answers under the blueprint, or to any request
    whose query carries a ``code``, get the blueprint's private headers. Every
    request the site routes costs one attribute check.
    """
    if request.routing_exception is not None and ("code" in request.args or _under_blueprint()):
        _private_headers(response)
    return response


def _under_blueprint() -> bool:
    """Whether the request's path, slashes merged, is under where ``wechat.login`` is."""
    path = _SLASHES.sub("/", request.path)
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint == "wechat.login":
            prefix = rule.rule.removesuffix("/login")
            if path == prefix or path.startswith(f"{prefix}/"):
                return True
    return False


def login() -> Response:
    """Send the browser to WeChat's QR page, or its in-WeChat authorize page.

    A phone browser outside WeChat first gets a page offering to open the
    link in WeChat, since it cannot scan a QR code shown on its own screen.
    """
    state = _state()
    next_url = safe_next(request.args.get("next")) or site_root()
    flow = state.flow_for(request.args.get("mode"), request.user_agent.string)
    if flow is None:
        return _failed(
            WeChatError(
                "mode=mp was asked for, but no Official Account is configured "
                "(WECHAT_WEB_MP_APPID / WECHAT_WEB_MP_SECRET).",
            )
        )
    if flow == "phone":
        return _page(
            "wechat/phone.html",
            has_mp=state.has_mp(),
            open_url=url_for("wechat.login", next=next_url, _external=True),
            qr_url=url_for("wechat.login", next=next_url, mode="qr"),
        )
    return redirect(state.authorize_url(flow, next_url))


def qrcode() -> Response:
    """A page with WeChat's QR code embedded through ``wxLogin.js``.

    Only where it can be scanned: WeChat's own browser goes to the login,
    which is the in-WeChat authorization there, and another phone to the
    login's page for phones.
    """
    _state()
    next_url = safe_next(request.args.get("next"))
    user_agent = request.user_agent.string
    if in_wechat_browser(user_agent) or on_phone(user_agent):
        return redirect(url_for("wechat.login", next=next_url))
    return _page("wechat/qrcode.html", next=next_url)


def _no_session() -> bool:
    """Whether Flask has no working session (no ``SECRET_KEY``, say)."""
    return isinstance(session, NullSession)


def _page(template: str, code: int = 200, **context: t.Any) -> Response:
    return Response(render_template(template, **context), status=code, mimetype="text/html")


def authorized() -> Response:
    """WeChat's callback: check the state, redeem the code, log the user in."""
    if request.method == "HEAD":
        # A HEAD must not consume the state the real GET will need.
        return Response(status=405, headers={"Allow": "GET"})
    try:
        response = _finish_login()
    except WeChatError as error:
        response = _failed(error)
    # wxLogin.js with self_redirect loads the callback inside its iframe, on
    # the site's own page.
    response.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
    return response


def _single_arg(name: str) -> str | None:
    values = request.args.getlist(name)
    if not values:
        return None
    if len(values) > 1 or not values[0]:
        return ""
    return values[0]


def _finish_login() -> Response:
    state = _state()
    ext = state.extension
    state_value, code = _single_arg("state"), _single_arg("code")
    if state_value is None:
        raise StateMismatchError("missing")
    if not _STATE_FORMAT.fullmatch(state_value):
        raise StateMismatchError("malformed")
    cookie_sent = current_app.config["SESSION_COOKIE_NAME"] in request.cookies
    taken = pending.take(state_value, code, ext.clock(), cookie_sent=cookie_sent)
    if isinstance(taken, pending.Replay):
        return redirect(taken.target)
    if code is None:
        raise AccessDeniedError()
    if not _CODE_FORMAT.fullmatch(code):
        raise InvalidCodeError("The callback's code is malformed; it did not come from WeChat.")

    token, identity = state.exchange_code(taken.flow, code)
    if identity.is_snapshot_user:
        raise SnapshotUserError()
    user = ext.user_for(identity)
    if user is None or not user.is_active:  # what login_user would refuse
        raise LoginRefusedError()
    ext.storage.set(token, user)  # first: a storage that refuses the user logs nobody in
    login_user(user, remember=current_app.config["WECHAT_WEB_REMEMBER"])
    _renew_session()
    pending.succeeded(state_value, code, taken.next)
    wechat_authorized.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        identity=identity,
        token=token,
        user=user,
    )
    if taken.in_frame:
        # wxLogin.js with self_redirect loaded this callback inside its iframe.
        return _page("wechat/leave_frame.html", target=taken.next)
    return redirect(taken.next)


def _renew_session() -> None:
    """Give the browser a new session id, where the session interface can.

    Server-side sessions (Flask-Session's ``regenerate``) then make an id
    known before the login worthless after it. The session's contents, other
    tabs' pending logins among them, move to the new id. Flask's own cookie
    session has no id to renew.
    """
    regenerate = getattr(current_app.session_interface, "regenerate", None)
    if callable(regenerate):
        regenerate(session._get_current_object())  # type: ignore[attr-defined]


def _failed(error: WeChatError) -> Response:
    """End a failed login: signal, log, flash, then the error view or page."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    wechat_login_failed.send(app, error=error)
    if isinstance(error, ConfigurationError):
        return configuration_error_page(error)
    logger.warning("WeChat login failed: %s: %s", type(error).__name__, error.message)
    if not _no_session():
        flash(str(error.user_message), "error")
    error_view = current_app.config["WECHAT_WEB_ERROR_VIEW"]
    if error_view:
        try:
            return redirect(url_for(error_view))
        except BuildError:
            # Never its value: it may be a secret pasted into the wrong key.
            logger.error("WECHAT_WEB_ERROR_VIEW is not an endpoint of this app")
    status = error.status if error.status in (400, 403, 502, 503) else 502
    return _page("wechat/error.html", status, error=error, status=status)


def configuration_error_page(error: ConfigurationError) -> Response:
    """The site's own bug: logged as an error, a 500 page for the site owner.

    Registered by ``init_app`` as the app's handler of
    :class:`ConfigurationError`, wherever it is raised.
    """
    logger.error("Flask-WeChat-Web is not set up correctly: %s", error.message)
    # Raised in any view: the blueprint's context processor may not have run.
    context = {"error": error, **_page_context()}
    try:
        html = render_template("wechat/setup_error.html", **context)
    except TemplateNotFound:  # our blueprint, with its templates, is not registered
        env = current_app.jinja_env.overlay(loader=PackageLoader(__package__))
        html = env.get_template("wechat/setup_error.html").render(context)
    response = Response(html, status=500, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _display_name(user: t.Any) -> str | None:
    """Who the logout page names: the user's ``nickname`` when it is a non-empty string.

    :class:`WeChatUser` has one, as most sites' user models for WeChat do; for
    any other user the page says "logged in with WeChat" without a name.
    """
    if not getattr(user, "is_authenticated", False):
        return None
    nickname = getattr(user, "nickname", None)
    return nickname if isinstance(nickname, str) and nickname.strip() else None


def logout() -> Response:
    """``POST``: log out, drop the stored token, then go to ``next`` or the site's root.

    ``GET`` changes nothing: it shows a page whose button POSTs, so a link or
    an image on another site cannot log users out.
    """
    state = _state()
    next_url = safe_next(request.values.get("next"))
    if request.method != "POST":
        return _page("wechat/logout.html", next=next_url, name=_display_name(current_user))
    user = current_user._get_current_object() if current_user.is_authenticated else None
    if user is not None:
        state.extension.storage.delete()
        if not _no_session():
            flash(i18n.gettext("You have logged out."), "success")
    logout_user()
    data = _session.data()
    data.set("account", None)  # which WeChat account, and the built-in user's profile
    data.set("profile", None)
    wechat_logged_out.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        user=user,
    )
    return redirect(next_url or site_root())
