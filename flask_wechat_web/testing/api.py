"""The fake WeChat's ``sns`` API, as ``api.weixin.qq.com`` answers it.

:class:`Api` is a base of :class:`~flask_wechat_web.testing.FakeWeChat`.
Each endpoint takes the request's parameters (query string or POST form:
peers POST and WeChat accepts it) and returns the JSON body; errors are
``errcode`` bodies, always HTTP 200, as WeChat sends them.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from collections.abc import Callable, Mapping

from werkzeug.wrappers import Response

from .model import ACCESS_TTL, REFRESH_TTL, Access, FakeApp, FakeUser, Grant, Model

LANGS = ("zh_CN", "zh_TW", "en")
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40009: "invalid image size",
    40013: "invalid appid",
    40014: "invalid access_token",
    40029: "invalid code",
    40030: "invalid refresh_token",
    40125: "invalid appsecret",
    40163: "code been used",
    40226: "code blocked",
    41001: "access_token missing",
    41002: "appid missing",
    41003: "refresh_token missing",
    41004: "appsecret missing",
    41008: "missing code",
    41009: "missing openid",
    42001: "access_token expired",
    42002: "refresh_token expired",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit mustslower retry next minute",
    40052: "invalid action name",
    40053: "invalid action info",
    43002: "require POST method",
    44002: "empty post data",
    48001: "api unauthorized",
}


def api_body(data: Mapping[str, object]) -> Response:
    """WeChat's API dialect: ``text/plain`` with no charset, raw UTF-8, ``\\/``."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(text.replace("/", "\\/").encode(), content_type="text/plain")


def error(errcode: int) -> dict[str, object]:
    """WeChat's error body, with the ``rid`` suffix its ``errmsg`` carries."""
    rid = "-".join(secrets.token_hex(4) for _ in range(3))
    return {"errcode": errcode, "errmsg": f"{ERRMSG[errcode]}, rid: {rid}"}


Body = dict[str, object]


class Api(Model):
    """The ``sns`` endpoints, the mini program's ``jscode2session`` among them."""

    def _api_endpoint(self, name: str) -> Callable[[Mapping[str, str]], Body]:
        endpoints: dict[str, Callable[[Mapping[str, str]], Body]] = {
            "access_token": self._api_access_token,
            "refresh_token": self._api_refresh_token,
            "userinfo": self._api_userinfo,
            "auth": self._api_auth,
            "jscode2session": self._api_jscode2session,
        }
        return endpoints[name]

    def _api_answer(self, name: str, params: Mapping[str, str]) -> Response:
        with self._lock:
            return api_body(self._overridden(name, self._api_endpoint(name)(params)))

    def _overridden(self, endpoint: str, body: Body) -> Body:
        """``body`` as a test's override changes it (see :class:`.faults.Faults`)."""
        return body

    # -- called with the lock held -------------------------------------------

    def _app_or_error(self, params: Mapping[str, str]) -> FakeApp | Body:
        appid = params.get("appid")
        if not appid:
            return error(41002)
        return self._apps.get(appid) or error(40013)

    def _signed_app_or_error(self, params: Mapping[str, str]) -> FakeApp | Body:
        """The app of ``appid``, when ``secret`` is its secret."""
        app = self._app_or_error(params)
        if not isinstance(app, FakeApp):
            return app
        secret = params.get("secret")
        if not secret:
            return error(41004)
        if not hmac.compare_digest(secret.encode(), app.secret.encode()):
            return error(40125)
        return app

    def _api_access_token(self, params: Mapping[str, str]) -> Body:
        app = self._signed_app_or_error(params)
        if not isinstance(app, FakeApp):
            return app
        code = params.get("code")
        if not code:
            return error(41008)
        if params.get("grant_type") != "authorization_code":
            return error(40002)
        issued = self._codes.get(code)
        if issued is None or issued.appid != app.appid or app.kind == "miniprogram":
            return error(40029)
        if issued.used:
            return error(40163)
        if self._now() >= issued.expires_at:
            return error(40029)  # expired: WeChat says "invalid code" (reference §2)
        issued.used = True
        user = issued.user
        if issued.snapshot:  # a virtual account: ids unlike the user's real ones
            user = FakeUser(f"snapshot\0{user.key}", user.nickname)
        openid, unionid = self.openid(user, app.appid), self.unionid(user)
        grant = Grant(
            appid=app.appid,
            openid=openid,
            unionid=unionid if app.bound and issued.scope != "snsapi_base" else None,
            scope=issued.scope,
            user=user,
            snapshot=issued.snapshot,
            refresh_token=secrets.token_urlsafe(66),
            refresh_expires_at=self._now() + REFRESH_TTL,
            access_token=secrets.token_urlsafe(66),
        )
        self._refresh[grant.refresh_token] = grant
        self._access[grant.access_token] = Access(grant, self._now() + ACCESS_TTL)
        body = self._token_body(grant)
        if grant.unionid:
            body["unionid"] = grant.unionid
        if grant.snapshot:
            body["is_snapshotuser"] = 1
        return body

    @staticmethod
    def _token_body(grant: Grant) -> Body:
        return {
            "access_token": grant.access_token,
            "expires_in": ACCESS_TTL,
            "refresh_token": grant.refresh_token,
            "openid": grant.openid,
            "scope": grant.scope,
        }

    def _api_refresh_token(self, params: Mapping[str, str]) -> Body:
        app = self._app_or_error(params)
        if not isinstance(app, FakeApp):
            return app
        token = params.get("refresh_token")
        if not token:
            return error(41003)
        if params.get("grant_type") != "refresh_token":
            return error(40002)
        grant = self._refresh.get(token)
        if grant is None or grant.appid != app.appid:
            return error(40030)
        now = self._now()
        if now >= grant.refresh_expires_at:
            return error(42002)
        access = self._access[grant.access_token]
        if now >= access.expires_at:
            grant.access_token = secrets.token_urlsafe(66)
            self._access[grant.access_token] = Access(grant, now + ACCESS_TTL)
        else:
            access.expires_at = now + ACCESS_TTL
        return self._token_body(grant)

    def _grant_or_error(self, params: Mapping[str, str]) -> Grant | Body:
        token = params.get("access_token")
        if not token:
            return error(41001)
        openid = params.get("openid")
        if not openid:
            return error(41009)
        access = self._access.get(token)
        if access is None:
            return error(40014)
        if self._now() >= access.expires_at:
            return error(42001)
        if openid != access.grant.openid:
            return error(40003)
        return access.grant

    def _api_userinfo(self, params: Mapping[str, str]) -> Body:
        grant = self._grant_or_error(params)
        if not isinstance(grant, Grant):
            return grant
        if grant.scope == "snsapi_base" or grant.snapshot:
            return error(48001)
        lang = params.get("lang", "zh_CN")
        lang = lang if lang in LANGS else "zh_CN"
        user, app = grant.user, self._apps.get(grant.appid)
        empty = app is None or app.empty_profile
        body: Body = {
            "openid": grant.openid,
            "nickname": user.nickname,
            "sex": 0 if empty else user.sex,
            "language": "" if empty else lang,
            "city": "" if empty else user.city.get(lang, ""),
            "province": "" if empty else user.province.get(lang, ""),
            "country": "" if empty else user.country.get(lang, ""),
            "headimgurl": user.headimgurl,
            "privilege": [] if empty else list(user.privilege),
        }
        if grant.unionid:
            body["unionid"] = grant.unionid
        return body

    def _api_auth(self, params: Mapping[str, str]) -> Body:
        grant = self._grant_or_error(params)
        if not isinstance(grant, Grant):
            return grant
        return {"errcode": 0, "errmsg": "ok"}

    def _api_jscode2session(self, params: Mapping[str, str]) -> Body:
        """A ``wx.login`` code for the openid, a new ``session_key`` and the unionid.

        An appid that is no mini program's is invalid here (40013).
        """
        app = self._signed_app_or_error(params)
        if not isinstance(app, FakeApp):
            return app
        if app.kind != "miniprogram":
            return error(40013)
        code = params.get("js_code")
        if not code:
            return error(41008)
        if params.get("grant_type") != "authorization_code":
            return error(40002)
        issued = self._codes.get(code)
        if issued is None or issued.appid != app.appid:
            return error(40029)
        user = issued.user
        if self._over_quota(user):
            return error(45011)
        if user.key in self._blocked:
            return error(40226)
        if issued.used:
            return error(40163)
        if self._now() >= issued.expires_at:
            return error(40029)
        issued.used = True
        session_key = base64.b64encode(secrets.token_bytes(16)).decode()
        self._session_keys[user.key, app.appid] = session_key
        body: Body = {"openid": self.openid(user, app.appid), "session_key": session_key}
        if app.bound:
            body["unionid"] = self.unionid(user)
        return body
