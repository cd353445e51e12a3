"""WeChat sign-in for Flask-AppBuilder sites, and so Superset and Airflow.

A site puts :func:`wechat_provider` entries in ``OAUTH_PROVIDERS`` and uses
:class:`WeChatSecurityManagerMixin` in its security manager. The providers
use this project's Authlib client (WeChat's ``appid``/``secret``, GET token
calls, ``#wechat_redirect``); the mixin maps a WeChat identity to FAB's user
fields; everything else (registration, roles, the login itself) is FAB's.

One part of FAB cannot meet WeChat's rules, and only that is replaced: the
``state``. FAB sends a JWT of the login's query string as ``state``, signed
with a key kept in the session. The Official Account's authorize page (the
in-WeChat sign-in) refuses any ``state`` over 128 bytes or with a character
other than A-Z, a-z, 0-9, and a JWT has dots and is longer. So
:class:`WeChatAuthOAuthView` sends a random 32-character alphanumeric state
instead, keeps it and the ``next`` URL in the session, and checks it on the
way back before the code is redeemed. Other providers get FAB's own view.
"""

from __future__ import annotations

import logging
import secrets
import string
import typing as t

from authlib.integrations.flask_client import FlaskOAuth2App
from flask import flash, redirect, request, session, url_for
from flask_appbuilder.security.views import AuthOAuthView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_appbuilder.views import expose
from flask_login import current_user, login_user
from werkzeug.wrappers import Response

from ..agents import in_wechat_browser
from ..answers import USERINFO_PATH
from ..client import WeChatRemoteApp, registration
from ..errors import MalformedAnswerError
from ..flows.mp import IN_WECHAT
from ..flows.qr import QR

__all__ = ["WeChatAuthOAuthView", "WeChatSecurityManagerMixin", "wechat_provider"]

log = logging.getLogger(__name__)

#: The state's alphabet and length: 32 of 62 characters (190 bits), well
#: within the Official Account page's 128 alphanumeric bytes.
_ALNUM = string.ascii_letters + string.digits
_STATE_LENGTH = 32
#: The session key of the pending logins (state -> next URL).
_PENDING_KEY = "wechat_fab_pending"
#: How many started logins a session keeps (a few tabs); the oldest goes first.
_MAX_PENDING = 5
#: The ``first_name`` and ``last_name`` columns of FAB's user hold 64 characters.
_NAME_LENGTH = 64


def wechat_provider(
    appid: str,
    secret: str,
    *,
    name: str = "wechat",
    in_wechat: bool = False,
    scope: str | None = None,
    icon: str = "fa-weixin",
    open_base_url: str = "https://open.weixin.qq.com",
    api_base_url: str = "https://api.weixin.qq.com",
    timeout: float = 5,
) -> dict[str, t.Any]:
    """An ``OAUTH_PROVIDERS`` entry for WeChat.

    ``in_wechat=False``: the website app's QR page (``connect/qrconnect``,
    scope ``snsapi_login``), with the Open Platform website app's pair.
    ``in_wechat=True``: the Official Account's authorize page inside
    WeChat's browser (``connect/oauth2/authorize``, scope
    ``snsapi_userinfo``, or ``snsapi_base`` for the openid only), with the
    Official Account's pair. The base URLs are for tests (the fake WeChat).
    """
    flow = IN_WECHAT if in_wechat else QR
    scopes = ("snsapi_userinfo", "snsapi_base") if in_wechat else ("snsapi_login",)
    scope = scope or scopes[0]
    if scope not in scopes:
        raise ValueError(f"scope must be one of {', '.join(scopes)} for this provider")
    settings = registration(
        appid=appid,
        secret=secret,
        authorize_url=f"{open_base_url.rstrip('/')}/{flow.authorize_path}",
        api_base_url=api_base_url,
        scope=scope,
        timeout=timeout,
    )
    return {
        "name": name,
        "icon": icon,
        "token_key": "access_token",
        "remote_app": {"client_cls": WeChatRemoteApp, **settings},
    }


def _is_wechat(remote: object) -> t.TypeGuard[WeChatRemoteApp]:
    return isinstance(remote, WeChatRemoteApp)


_F = t.TypeVar("_F", bound=t.Callable[..., t.Any])


def _expose(url: str) -> t.Callable[[_F], _F]:
    """FAB's ``expose`` (untyped), typed: a view's route, as FAB's own view has it."""
    return t.cast(t.Callable[[_F], _F], expose(url))


def _in_wechat_only(remote: FlaskOAuth2App) -> bool:
    """Whether ``remote`` is the Official Account's page, which opens only in WeChat."""
    return str(remote.authorize_url).endswith(IN_WECHAT.authorize_path)


def _new_state() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(_STATE_LENGTH))


class WeChatAuthOAuthView(AuthOAuthView):  # type: ignore[misc]
    """FAB's OAuth view, with a state WeChat takes for its providers.

    Only the state's making (``login``) and checking (``oauth_authorized``)
    differ for a WeChat provider; the rest follows FAB's own view, and other
    providers get FAB's view unchanged.
    """

    @_expose("/login/")
    @_expose("/login/<provider>")
    def login(self, provider: str | None = None) -> Response:
        """Off to WeChat with a short alphanumeric state, kept in the session.

        A WeChat button fits the browser: in WeChat's own browser the
        Official Account's page (when configured), elsewhere the QR page.
        """
        remotes = self.appbuilder.sm.oauth_remotes or {}
        if not _is_wechat(remotes.get(provider)) or current_user.is_authenticated:
            return t.cast(Response, super().login(provider))
        provider = self._fitting(t.cast(str, provider))
        state = _new_state()
        pending = dict(session.get(_PENDING_KEY) or {})
        pending[state] = request.args.get("next", "")
        session[_PENDING_KEY] = dict(list(pending.items())[-_MAX_PENDING:])
        callback = url_for(".oauth_authorized", provider=provider, _external=True)
        try:
            return t.cast(Response, remotes[provider].authorize_redirect(callback, state=state))
        except Exception as error:  # as FAB's view: a message, never a 500
            log.error("Error on OAuth authorize: %s", error)
            flash(str(self.invalid_login_message), "warning")
            return redirect(self.appbuilder.get_url_for_index)

    def _fitting(self, provider: str) -> str:
        """``provider``, or the other WeChat page where only that one works."""
        remotes = self.appbuilder.sm.oauth_remotes
        wanted = in_wechat_browser(request.user_agent.string)
        if _in_wechat_only(remotes[provider]) == wanted:
            return provider
        for name, remote in remotes.items():
            if _is_wechat(remote) and _in_wechat_only(remote) == wanted:
                return t.cast(str, name)
        return provider

    @_expose("/oauth-authorized/<provider>")
    def oauth_authorized(self, provider: str) -> Response:
        """Check the state, then log in as FAB's view does (minus its JWT)."""
        sm = self.appbuilder.sm
        remote = (sm.oauth_remotes or {}).get(provider)
        if not _is_wechat(remote):
            return t.cast(Response, super().oauth_authorized(provider))
        pending = dict(session.get(_PENDING_KEY) or {})
        next_url = pending.pop(request.args.get("state", ""), None)
        session[_PENDING_KEY] = pending
        if next_url is None:  # forged, replayed, or from another browser
            flash("Invalid state signature", "warning")
            return redirect(self.appbuilder.get_url_for_login)
        if not request.args.get("code"):  # WeChat's older "deny" came back with no code
            flash("You denied the request to sign in.", "warning")
            return redirect(self.appbuilder.get_url_for_login)
        try:
            resp = remote.authorize_access_token()
            sm.set_oauth_session(provider, resp)
            userinfo = sm.oauth_user_info(provider, resp)
        except Exception as error:  # WeChat refused the code, or is down
            log.error("Error on WeChat sign-in: %s", error)
            flash("The request to sign in was denied.", "error")
            return redirect(self.appbuilder.get_url_for_login)
        user = sm.auth_user_oauth(userinfo)
        if user is None:
            flash(str(self.invalid_login_message), "warning")
            return redirect(self.appbuilder.get_url_for_login)
        login_user(user)
        return redirect(
            get_safe_redirect(next_url) if next_url else sm.appbuilder.get_url_for_index
        )


class WeChatSecurityManagerMixin:
    """Put first in a FAB security manager's bases: WeChat's user info and view.

    ``class SecurityManager(WeChatSecurityManagerMixin, SupersetSecurityManager)``.
    A WeChat user's FAB ``username`` is ``wechat_<unionid>`` when the app is
    bound to an Open Platform account (one person, one user, across the QR
    and in-WeChat sign-ins), else ``wechat_<openid>`` (one per app).
    """

    authoauthview = WeChatAuthOAuthView
    oauth_remotes: dict[str, t.Any]

    def get_oauth_user_info(self, provider: str, resp: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        remote = self.oauth_remotes.get(provider)
        if not _is_wechat(remote):
            return t.cast(dict[str, t.Any], super().get_oauth_user_info(provider, resp))  # type: ignore[misc]
        return wechat_user_info(remote, resp)


def wechat_user_info(remote: WeChatRemoteApp, token: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """FAB's user fields for WeChat's token answer, its profile read when the scope allows.

    ``snsapi_base`` gives the openid only: the first name is then "WeChat".
    """
    openid = token["openid"]
    profile: dict[str, t.Any] = {}
    if "snsapi_base" not in str(token.get("scope", "")).split(","):
        profile = remote.get_json(USERINFO_PATH, access_token=token["access_token"], openid=openid)
        if profile.get("openid") != openid:
            raise MalformedAnswerError(USERINFO_PATH, "openid", "is not the token's openid")
    unionid = token.get("unionid") or profile.get("unionid")
    nickname = str(profile.get("nickname") or "").strip()
    return {
        "username": f"wechat_{unionid or openid}",
        "first_name": (nickname or "WeChat")[:_NAME_LENGTH],
        "last_name": "",
    }
