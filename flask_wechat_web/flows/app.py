"""The mobile app (Open Platform 移动应用): OpenSDK's ``SendAuth`` code, posted as JSON.

Two calls, as on the web: the code redeemed with the mobile app's own pair
(a code is bound to its AppID), then the profile. No ``state`` round trip:
Android's SDKs drop it.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ..exchange import exchange_code
from .base import AppFlow

if t.TYPE_CHECKING:
    from ..identity import WeChatIdentity
    from ..state import WeChatWebState


@dataclass(frozen=True)
class MobileAppFlow(AppFlow):
    """``POST /app/login``: ``{"code": ...}`` from ``SendAuth.Resp``."""

    def redeem(self, state: WeChatWebState, code: str) -> tuple[dict[str, t.Any], WeChatIdentity]:
        return exchange_code(state, self, code)


MOBILE_APP = MobileAppFlow(
    name="app",
    app_kind="mobile app",
    appid_key="WECHAT_WEB_APP_APPID",
    secret_key="WECHAT_WEB_APP_SECRET",
    scope_key="",
    authorize_path="",
    remote_name="wechat_app",
    console="open.weixin.qq.com > 管理中心 > 移动应用",
    route="/app/login",
    fixed_scope="snsapi_userinfo",  # the only scope SendAuth takes
)
