"""Bearer tokens for clients without cookies (a mini program's ``wx.request``, an app).

A token is the login's ids signed with the app's ``SECRET_KEY`` under its
own salt, with its time: it expires after ``WECHAT_WEB_API_TOKEN_TTL`` and
stops working when its login logs out (its id kept in ``WECHAT_WEB_STORE``
until it would have expired anyway). It is read only from the
``Authorization`` header, never from a URL.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import typing as t
from dataclasses import dataclass

from flask import Flask, Request, current_app, g, request
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from . import _session, builtin_user
from .errors import StorageUnavailableError, TokenExpiredError
from .identity import WeChatIdentity, WeChatUser
from .login import json_error
from .state import WeChatWebState, get_state

logger = logging.getLogger(__name__)

SALT = "flask-wechat-web.api-token"
_HEADER = re.compile(r"Bearer[ \t]+([A-Za-z0-9_.\-]{1,4096})[ \t]*", re.IGNORECASE)
_G_KEY = "_wechat_web_bearer"


@dataclass(frozen=True)
class Claims:
    """What a bearer token says: whose it is, through which way in, and its own id."""

    user_id: str
    token_id: str
    source: str
    appid: str
    openid: str
    unionid: str | None

    def fields(self) -> list[str | None]:
        return [self.user_id, self.token_id, self.source, self.appid, self.openid, self.unionid]


def _serializer(app: Flask) -> URLSafeTimedSerializer:
    """Signs with ``SECRET_KEY``; checks with it and ``SECRET_KEY_FALLBACKS`` (as the session)."""
    keys = [*(app.config.get("SECRET_KEY_FALLBACKS") or ()), app.secret_key]
    return URLSafeTimedSerializer(keys, salt=SALT)


def issue(state: WeChatWebState, user: t.Any, identity: WeChatIdentity) -> dict[str, t.Any]:
    """A new bearer token for ``user``'s login; the session remembers it, for its logout."""
    ids = (identity.source, identity.appid, identity.openid, identity.unionid)
    return _issue(state, Claims(str(user.get_id()), secrets.token_urlsafe(12), *ids))


def for_session(state: WeChatWebState, user: t.Any) -> dict[str, t.Any]:
    """The bearer token of this browser's WeChat login: the one it was given, else a new one.

    Only a token of this very login (its user and WeChat account) is answered
    again: never one of an earlier login in the same session. None for a
    login that did not go through WeChat.
    """
    data = _session.data()
    account = data.account()
    if account is None:
        return {}
    appid, openid, unionid, _ = account
    token = data.get("api")
    claims = _verify(state, token) if isinstance(token, str) else None
    if claims is not None and (claims.user_id, claims.appid, claims.openid) == (
        str(user.get_id()),
        appid,
        openid,
    ):
        age = time.time() - _issued_at(state, t.cast(str, token))  # itsdangerous's own clock
        left = int(state.config["WECHAT_WEB_API_TOKEN_TTL"] - age)
        return {"access_token": token, "token_type": "Bearer", "expires_in": max(left, 0)}
    source = state.flow_of({"appid": appid}).name
    ids = (source, appid, openid, unionid)
    return _issue(state, Claims(str(user.get_id()), secrets.token_urlsafe(12), *ids))


def _issue(state: WeChatWebState, claims: Claims) -> dict[str, t.Any]:
    token = _serializer(state.app).dumps(claims.fields())
    _session.data().set("api", token)
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": state.config["WECHAT_WEB_API_TOKEN_TTL"],
    }


def public_user(user: t.Any, ids: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """What the JSON answers say of a user: its Flask-Login id, its login's ids, its profile.

    ``ids`` (``openid``, ``unionid``, ``source``) are the WeChat login's;
    ``nickname`` and ``headimgurl`` are the user's own attributes, where it
    has them as strings (the built-in user does), else ``None``.
    """
    ids = ids or {}

    def text(name: str) -> str | None:
        value = getattr(user, name, None)
        return value if isinstance(value, str) else None

    return {
        "id": user.get_id(),
        "openid": ids.get("openid"),
        "unionid": ids.get("unionid"),
        "source": ids.get("source"),
        "nickname": text("nickname"),
        "headimgurl": text("headimgurl"),
    }


def login_answer(state: WeChatWebState, user: t.Any, identity: WeChatIdentity) -> dict[str, t.Any]:
    """The answer of an app's login: the user, a new bearer token, and the site's additions.

    The site's ``@wechat.api_token`` may replace the token's fields and add
    its own; the user stays.
    """
    ids = {"openid": identity.openid, "unionid": identity.unionid, "source": identity.source}
    answer = {**issue(state, user, identity)}
    hook = state.extension.api_token_handler
    if hook is not None:
        answer.update(hook(user, identity))
    user_fields = public_user(user, ids)
    user_fields["nickname"] = user_fields["nickname"] or identity.nickname
    user_fields["headimgurl"] = user_fields["headimgurl"] or identity.headimgurl
    return {"user": user_fields, **answer}


def _issued_at(state: WeChatWebState, token: str) -> float:
    _, issued = _serializer(state.app).loads(token, return_timestamp=True)
    return float(issued.timestamp())


def _verify(state: WeChatWebState, token: str, *, revocable: bool = True) -> Claims | None:
    """The claims of ``token`` if it is ours, unexpired and (``revocable``) not revoked."""
    try:
        fields = _serializer(state.app).loads(
            token, max_age=state.config["WECHAT_WEB_API_TOKEN_TTL"]
        )
    except BadData:
        return None
    if not (
        isinstance(fields, list)
        and len(fields) == 6
        and all(isinstance(field, str) for field in fields[:5])
        and isinstance(fields[5], (str, type(None)))
    ):
        return None
    claims = Claims(*fields)
    if not revocable:
        return claims
    try:
        with state.store_calls() as store:
            revoked = store.get(_revoked_key(claims.token_id)) is not None
    except StorageUnavailableError as error:
        # A token that cannot be checked for revocation is not trusted.
        logger.warning("A bearer token was refused: %s", error.message)
        return None
    return None if revoked else claims


def _revoked_key(token_id: str) -> str:
    return f"flask_wechat_web.revoked.{token_id}"


def sent() -> bool:
    """Whether this request carries a bearer token (valid or not)."""
    return request.headers.get("Authorization", "").lstrip()[:7].lower() == "bearer "


def load_user(req: Request) -> t.Any:
    """Flask-Login's request loader: the user of a valid bearer token, else ``None``."""
    found = _HEADER.fullmatch(req.headers.get("Authorization", ""))
    if found is None:
        return None
    state = get_state()
    claims = _verify(state, found.group(1))
    if claims is None:
        return None
    manager = current_app.login_manager  # type: ignore[attr-defined]
    if manager._user_callback is builtin_user.load:
        flows = {flow.name: flow for flow in state.flows}
        if claims.source not in flows:
            return None
        scope = flows[claims.source].scope(state.config)
        identity = WeChatIdentity(
            claims.appid, claims.openid, claims.unionid, scope, raw={}, source=claims.source
        )
        user: t.Any = WeChatUser(identity)
    else:
        user = manager._user_callback(claims.user_id)
    if user is None or str(user.get_id()) != claims.user_id:
        return None
    setattr(g, _G_KEY, claims)
    return user


def current_claims() -> Claims | None:
    """The claims of the bearer token this request was authenticated by, if any."""
    return t.cast("Claims | None", g.get(_G_KEY))


def revoke_current(state: WeChatWebState) -> None:
    """Logout: the token of this request, or of this session's login, stops working."""
    claims = current_claims()
    if claims is None:
        token = _session.data().get("api")
        # Revoked again, if it was: no need to ask the store first.
        claims = _verify(state, token, revocable=False) if isinstance(token, str) else None
    if claims is not None:
        ttl = state.config["WECHAT_WEB_API_TOKEN_TTL"]
        with state.store_calls() as store:
            store.set(_revoked_key(claims.token_id), 1, timeout=int(ttl) + 60)
    _session.data().set("api", None)


def unauthorized() -> Response:
    """What a request with a refused bearer token gets at ``@login_required``: 401 JSON.

    Forged, expired or logged out: the client cannot tell them apart, and
    needs only to log in again.
    """
    response = json_error(TokenExpiredError())
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response
