"""On a computer: WeChat's QR page, or its QR embedded in the site's page.

The website app's way in, and the one any browser gets when no other takes
it. A phone cannot scan a QR code on its own screen: outside WeChat it gets
a page offering to open the link in WeChat, or the QR code anyway.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from urllib.parse import quote

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import i18n
from ..agents import in_wechat_browser, on_phone
from ..pages import page, safe_next, site_root
from ..state import WeChatWebState, get_state, login_state
from .base import Flow


@dataclass(frozen=True)
class QRFlow(Flow):
    """The QR page (``connect/qrconnect``), the phone's page, and the embedded QR."""

    def register(self, blueprint: Blueprint) -> None:
        blueprint.add_url_rule("/qrcode", "qrcode", qrcode, provide_automatic_options=False)

    def start(self, state: WeChatWebState, next_url: str, *, forced: bool) -> Response:
        user_agent = request.user_agent.string
        # Inside WeChat (with no Official Account) the QR page all the same, as WeChat does.
        if forced or in_wechat_browser(user_agent) or not on_phone(user_agent):
            return super().start(state, next_url, forced=forced)
        in_wechat = [flow for flow in state.flows if flow.in_wechat_only]
        return page(
            "wechat/phone.html",
            has_mp=any(flow.configured(state.config) for flow in in_wechat),
            open_url=url_for("wechat.login", next=next_url, _external=True),
            qr_url=url_for("wechat.login", next=next_url, mode=self.name),
            next=next_url,
        )

    def page_lang(self) -> str | None:
        # WeChat's QR page is Chinese unless asked for English.
        return "en" if i18n.current_locale() == "en" else None

    def wxlogin_options(self, next_url: str | None, self_redirect: bool) -> dict[str, t.Any]:
        """``WxLogin`` options for an embedded QR code, with a new pending state."""
        state = get_state()
        value = self.new_state(state, next_url or site_root(), in_frame=self_redirect)
        return {
            "appid": state.config[self.appid_key],
            "scope": self.scope(state.config),
            # wxLogin.js pastes redirect_uri into its URL as given.
            "redirect_uri": quote(state.callback_url(), safe=""),
            "state": value,
            "self_redirect": self_redirect,
        }


QR = QRFlow(
    name="qr",
    app_kind="website app",
    appid_key="WECHAT_WEB_APPID",
    secret_key="WECHAT_WEB_SECRET",
    scope_key="WECHAT_WEB_SCOPE",
    authorize_path="connect/qrconnect",
    remote_name="wechat",
    console="open.weixin.qq.com > 管理中心 > 网站应用 > 开发信息 > 授权回调域"
    " (authorization callback domain)",
)


def qrcode() -> Response:
    """A page with WeChat's QR code embedded through ``wxLogin.js``.

    Only where it can be scanned: WeChat's own browser goes to the login,
    which is the in-WeChat authorization there, and another phone to the
    login's page for phones.
    """
    login_state()
    next_url = safe_next(request.args.get("next"))
    user_agent = request.user_agent.string
    if in_wechat_browser(user_agent) or on_phone(user_agent):
        return redirect(url_for("wechat.login", next=next_url))
    return page("wechat/qrcode.html", next=next_url)
