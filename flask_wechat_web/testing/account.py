"""The fake Official Account's followers: who follows, and ``cgi-bin/user/info``.

:class:`Account` is a base of :class:`~flask_wechat_web.testing.FakeWeChat`.
``user/info`` answers as WeChat does since 2021-12-27 (protocol §4): empty
``nickname`` and ``headimgurl``, ``sex`` 0, empty region fields, the
``unionid`` only for a bound account, and ``{subscribe: 0, openid,
tagid_list: []}`` once the person has unfollowed. It takes the server access
token (40001 for one replaced or unknown), and answers 48001 to an account
that is not verified.
"""

from __future__ import annotations

import json
import typing as t

from werkzeug.wrappers import Request, Response

from .api import Body, error
from .model import FakeApp, FakeUser
from .server_token import ServerTokens

#: The endpoints this module answers, as the fake's URL map names them.
ACCOUNT_ENDPOINTS = frozenset({"user_info"})


def cgi_body(body: Body) -> Response:
    """A ``cgi-bin`` answer: HTTP 200, ``application/json; encoding=utf-8`` (sic)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text.encode(), content_type="application/json; encoding=utf-8")


class Account(ServerTokens):
    """Who follows the sample Official Account, and what ``user/info`` says of them."""

    def _reset_account(self) -> None:
        """Called by ``reset`` with the lock held."""
        #: (appid, user key) → when they last followed, in the fake's clock.
        self._followers: dict[tuple[str, str], float] = {}

    def follow(self, user: FakeUser | None = None, app: FakeApp | None = None) -> None:
        """``user`` follows the Official Account (as a scan and a tap on Follow do)."""
        with self._lock:
            self._followers[((app or self.mp_app).appid, (user or self.user).key)] = self._now()

    def unfollow(self, user: FakeUser | None = None, app: FakeApp | None = None) -> None:
        with self._lock:
            self._followers.pop(((app or self.mp_app).appid, (user or self.user).key), None)

    def follows(self, user: FakeUser | None = None, app: FakeApp | None = None) -> bool:
        with self._lock:
            return ((app or self.mp_app).appid, (user or self.user).key) in self._followers

    def _account_answer(self, endpoint: str, request: Request) -> Response:
        with self._lock:
            return cgi_body(self._user_info(request.args))

    def _account_app_or_error(self, params: t.Mapping[str, str]) -> FakeApp | Body:
        """With the lock held: the account whose live server token ``access_token`` is."""
        token = params.get("access_token")
        if not token:
            return error(41001)
        appid = self._server_token_appid(token)
        app = self._apps.get(appid or "")
        if app is None:
            return error(40001)
        if not app.verified:
            return error(48001)
        return app

    def _user_info(self, params: t.Mapping[str, str]) -> Body:
        app = self._account_app_or_error(params)
        if not isinstance(app, FakeApp):
            return app
        openid = params.get("openid")
        if not openid:
            return error(41009)
        user = next((u for u in self.users if self.openid(u, app.appid) == openid), None)
        if user is None:
            return error(40003)
        followed_at = self._followers.get((app.appid, user.key))
        if followed_at is None:
            return {"subscribe": 0, "openid": openid, "tagid_list": []}
        body: Body = {
            "subscribe": 1,
            "openid": openid,
            "nickname": "",
            "sex": 0,
            "language": "zh_CN",
            "city": "",
            "province": "",
            "country": "",
            "headimgurl": "",
            "subscribe_time": int(followed_at),
            "remark": "",
            "groupid": 0,
            "tagid_list": [],
            "subscribe_scene": "ADD_SCENE_QR_CODE",
            "qr_scene": 0,
            "qr_scene_str": "",
        }
        if app.bound:
            body["unionid"] = self.unionid(user)
        return body
