"""The mini program: ``wx.login``'s code, posted as JSON, redeemed at ``sns/jscode2session``.

One call. The identity has the openid and, when the mini program is bound
to an Open Platform account, the unionid; no profile (WeChat gives none
since 2022). The ``session_key`` stays on the server, in ``WECHAT_WEB_STORE``:
never in an answer, a cookie, a token or a log.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ..client import JSCODE_PATH
from ..identity import WeChatIdentity
from .base import AppFlow

if t.TYPE_CHECKING:
    from ..state import WeChatWebState

#: The scope its identities carry: ids only, no profile.
SCOPE = "snsapi_base"


def session_key_name(appid: str, openid: str) -> str:
    """Where a user's latest ``session_key`` is kept in ``WECHAT_WEB_STORE``."""
    return f"flask_wechat_web.session_key.{appid}.{openid}"


@dataclass(frozen=True)
class MiniProgramFlow(AppFlow):
    """``POST /miniprogram/login``: ``{"code": ...}`` from ``wx.login``."""

    def probe(self, state: WeChatWebState, code: str) -> None:
        self._jscode2session(state, code)

    def _jscode2session(self, state: WeChatWebState, code: str) -> dict[str, t.Any]:
        config = state.config
        return state.remote(self).get_json(
            JSCODE_PATH,
            appid=config[self.appid_key],
            secret=config[self.secret_key],
            js_code=code,
            grant_type="authorization_code",
        )

    def redeem(self, state: WeChatWebState, code: str) -> tuple[dict[str, t.Any], WeChatIdentity]:
        config = state.config
        appid = config[self.appid_key]
        answer = self._jscode2session(state, code)
        openid, unionid = answer["openid"], answer.get("unionid")
        # It lives as long as the login's bearer token; a new login replaces it.
        ttl = int(config["WECHAT_WEB_API_TOKEN_TTL"])
        with state.store_calls() as store:
            store.set(session_key_name(appid, openid), answer["session_key"], timeout=ttl)
        token = {"appid": appid, "openid": openid, "unionid": unionid, "scope": SCOPE}
        identity = WeChatIdentity(appid, openid, unionid, SCOPE, raw={}, source=self.name)
        return {key: value for key, value in token.items() if value}, identity


MINIPROGRAM = MiniProgramFlow(
    name="miniprogram",
    app_kind="mini program",
    appid_key="WECHAT_WEB_MINIPROGRAM_APPID",
    secret_key="WECHAT_WEB_MINIPROGRAM_SECRET",
    scope_key="",
    authorize_path="",
    remote_name="wechat_miniprogram",
    console="mp.weixin.qq.com > 开发 > 开发管理 > 开发设置",
    route="/miniprogram/login",
    fixed_scope=SCOPE,
)
