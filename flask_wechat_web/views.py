"""The ``wechat`` blueprint: ``/login`` by the way that fits, the callback, logout.

Every way in adds its own routes (:meth:`Flow.register`); the routes here
are those they share. Every failure of a login ends in :func:`login.fail`:
never a 500, never a traceback, never a secret.
"""

from __future__ import annotations

import logging
import re
import typing as t

from flask import Blueprint, current_app, flash, jsonify, redirect, request, url_for
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response

from . import _session, bearer, builtin_user, i18n, login, pending, push
from .errors import (
    AccessDeniedError,
    ConfigurationError,
    InvalidCodeError,
    StateMismatchError,
    StorageUnavailableError,
    WeChatError,
)
from .exchange import exchange_code
from .flows import FLOWS, choose
from .pages import has_session, page, page_context, private_headers, safe_next, site_root
from .relay import register as register_relay
from .signals import wechat_logged_out
from .state import WeChatWebState, get_state, login_state

logger = logging.getLogger(__name__)

_STATE_FORMAT = re.compile(r"[A-Za-z0-9]{1,128}")
_CODE_FORMAT = re.compile(r"[!-~]{1,512}")


def create_blueprint() -> Blueprint:
    """The ``wechat`` blueprint; one per extension object, shared by its apps."""
    bp = Blueprint("wechat", __name__, template_folder="templates")
    bp.after_request(private_headers)
    bp.context_processor(page_context)
    bp.context_processor(ways_in)
    # No automatic OPTIONS: every route is a navigation that needs no CORS
    # preflight, so OPTIONS gets 405 like any other method a route refuses.
    bp.add_url_rule("/login", "login", login_view, provide_automatic_options=False)
    bp.add_url_rule("/authorized", "authorized", authorized, provide_automatic_options=False)
    bp.add_url_rule(
        "/logout", "logout", logout, methods=["GET", "POST"], provide_automatic_options=False
    )
    bp.add_url_rule("/session", "session", session_view)
    for flow in FLOWS:
        flow.register(bp)
    bp.record(register_relay)  # /relay, only on an app with WECHAT_WEB_RELAY_SITES
    bp.record(push.register)  # /mp/push, only on an app with WECHAT_WEB_MP_TOKEN
    return bp


def ways_in() -> dict[str, frozenset[str]]:
    """``wechat_ways``: the names of the ways in a browser may take (``?mode=``).

    The pages offer each other by it: the QR page the follow and code
    sign-ins, the phone's page the code, the follow and code pages each other.
    """
    state = get_state()
    ways = (flow.name for flow in state.flows if flow.browser and flow.configured(state.config))
    return {"wechat_ways": frozenset(ways)}


def login_view() -> Response:
    """Start a login the way that fits the browser: WeChat's QR page, or its in-WeChat page."""
    state = login_state()
    next_url = safe_next(request.args.get("next")) or site_root()
    mode = request.args.get("mode")
    flow = choose(state.flows, state.config, mode, request.user_agent.string)
    if flow is None:  # ?mode= named a way in whose app is not configured
        named = state.flow_named(t.cast(str, mode))
        return login.fail(
            WeChatError(
                f"mode={mode} was asked for, but no {named.app_kind} is configured "
                f"({named.appid_key} / {named.secret_key}).",
            )
        )
    return flow.start(state, next_url, forced=flow.name == mode)


def authorized() -> Response:
    """WeChat's callback: check the state, redeem the code, log the user in."""
    if request.method == "HEAD":
        # A HEAD must not consume the state the real GET will need.
        return Response(status=405, headers={"Allow": "GET"})
    try:
        response = _callback()
    except WeChatError as error:
        response = login.fail(error)
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


def _callback() -> Response:
    state = login_state()
    state_value, code = _single_arg("state"), _single_arg("code")
    if state_value is None:
        raise StateMismatchError("missing")
    if not _STATE_FORMAT.fullmatch(state_value):
        raise StateMismatchError("malformed")
    cookie_sent = current_app.config["SESSION_COOKIE_NAME"] in request.cookies
    clock = state.extension.clock
    taken = pending.take(state_value, code, clock(), cookie_sent=cookie_sent)
    if isinstance(taken, pending.Replay):
        return redirect(taken.target)
    if code is None:
        raise AccessDeniedError()
    if not _CODE_FORMAT.fullmatch(code):
        raise InvalidCodeError("The callback's code is malformed; it did not come from WeChat.")

    flow = state.flow_named(taken.flow)
    token, identity = exchange_code(state, flow, code)
    login.finish(state, token, identity)
    pending.succeeded(state_value, code, taken.next)
    if taken.in_frame:
        # wxLogin.js with self_redirect loaded this callback inside its iframe.
        return page("wechat/leave_frame.html", target=taken.next)
    return redirect(taken.next)


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
    state = login_state()
    next_url = safe_next(request.values.get("next"))
    if request.method != "POST":
        return page("wechat/logout.html", next=next_url, name=_display_name(current_user))
    user = current_user._get_current_object() if current_user.is_authenticated else None
    api_client = bearer.sent() or request.is_json
    if user is not None:
        try:
            bearer.revoke_current(state)
        except StorageUnavailableError as error:
            if api_client:  # its token still works: nothing changed, try again later
                return login.fail_json(error)
            # A browser's session ends all the same; its login's token, if a
            # single-page site took one, is refused while the store is down.
            logger.warning("Logged out without revoking the bearer token: %s", error.message)
        state.extension.storage.delete()
        if has_session() and not api_client:
            flash(i18n.gettext("You have logged out."), "success")
    logout_user()
    builtin_user.forget()  # which WeChat account, and the built-in user's profile
    wechat_logged_out.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        user=user,
    )
    if api_client:  # an app or a script: nothing to follow
        return Response(status=204)
    return redirect(next_url or site_root())


def session_view() -> Response:
    """``GET /session``: who is logged in (or ``null``) and the login URL, for single-page sites.

    A browser logged in by its cookie also gets its login's bearer token:
    a single-page site on another origin reads it here (where the site
    allows that origin), never from a URL.
    """
    try:
        state = login_state()
    except ConfigurationError as error:
        return login.setup_json(error)
    body: dict[str, t.Any] = {
        "user": None,
        "login_url": url_for("wechat.login", _external=True),
    }
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        body["user"] = bearer.public_user(user, _login_ids(state))
        if bearer.current_claims() is None:
            body.update(bearer.for_session(state, user))
    return jsonify(body)


def _login_ids(state: WeChatWebState) -> dict[str, t.Any] | None:
    """The WeChat ids of this request's login: its bearer token's, else its session's."""
    claims = bearer.current_claims()
    if claims is not None:
        return {"openid": claims.openid, "unionid": claims.unionid, "source": claims.source}
    account = _session.data().account() if has_session() else None
    if account is None:
        return None
    appid, openid, unionid, _ = account
    return {"openid": openid, "unionid": unionid, "source": state.flow_of({"appid": appid}).name}
