"""Which browser asks: WeChat's own, or a phone's (shared by the extension and its views)."""

from __future__ import annotations

import re

#: User-Agents of phones and tablets, which cannot scan a QR on their own screen.
_PHONE = re.compile(r"iphone|ipad|ipod|android|mobile|harmonyos|windows phone")


def in_wechat_browser(user_agent: str) -> bool:
    """WeChat's own browser; not WeCom's (``wxwork``), which also says MicroMessenger."""
    ua = user_agent.lower()
    return "micromessenger" in ua and "wxwork" not in ua


def on_phone(user_agent: str) -> bool:
    """A phone or tablet, which cannot scan a QR code shown on its own screen."""
    return bool(_PHONE.search(user_agent.lower()))
