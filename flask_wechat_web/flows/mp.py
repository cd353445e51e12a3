"""Inside WeChat's own browser: the Official Account's web authorization.

No QR code: WeChat asks for consent (``snsapi_userinfo``) or none at all
(``snsapi_base``) and comes back with a code. Taken only in WeChat's
browser, and only when an Official Account is configured that may authorize
web pages (a verified service account; ``WECHAT_WEB_MP_WEB_AUTH = False``
says the site's cannot, and WeChat's browser then gets the site's other
sign-in).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from .base import MP_VERIFY_NOTE, MP_WEB_AUTH_CONSOLE, Flow


@dataclass(frozen=True)
class InWeChatFlow(Flow):
    """The Official Account's web authorization, unless the account has none."""

    def configured(self, config: t.Mapping[str, t.Any]) -> bool:
        return super().configured(config) and bool(config.get("WECHAT_WEB_MP_WEB_AUTH", True))


IN_WECHAT = InWeChatFlow(
    name="mp",
    app_kind="Official Account",
    appid_key="WECHAT_WEB_MP_APPID",
    secret_key="WECHAT_WEB_MP_SECRET",
    scope_key="WECHAT_WEB_MP_SCOPE",
    authorize_path="connect/oauth2/authorize",
    remote_name="wechat_mp",
    console=MP_WEB_AUTH_CONSOLE,
    in_wechat_only=True,
    console_note=MP_VERIFY_NOTE,
    console_refuses_port=True,
)
