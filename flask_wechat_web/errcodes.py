"""WeChat's errcodes, and the error each becomes.

Matched on ``errcode`` only: ``errmsg`` carries a varying request id, which
no message of ours repeats.
"""

from __future__ import annotations

import re

from .errors import (
    APIUnauthorizedError,
    ConfigurationError,
    InvalidCodeError,
    InvalidCredentialError,
    RateLimitError,
    TokenExpiredError,
    UserBlockedError,
    WeChatAPIError,
    WeChatError,
    WeChatUnavailableError,
)

#: What WeChat answers when an access token was replaced, expired or revoked
#: early: a call made with one is retried once with a renewed one.
REJECTED_TOKEN_CODES = frozenset({40001, 40014, 42001})

#: What 48001 on ``sns/userinfo`` may mean beside the app's permission.
_UNAUTHORIZED_USERINFO = (
    ". On sns/userinfo it also answers a token of the snsapi_base scope (no "
    "profile) and a user of WeChat's snapshot page."
)


_CODE_ERRORS = frozenset({40029, 40163, 42003, 41008})
_CREDENTIAL_ERRORS = frozenset({40013, 40125, 41002, 41004})
_TOKEN_ERRORS = frozenset({42001, 42002, 40014, 40030, 41003})


#: The calls that send the AppSecret: 40001 there means the secret is wrong.
_SECRET_CALLS = frozenset({"sns/oauth2/access_token", "cgi-bin/token", "cgi-bin/stable_token"})
_IP_ALLOW_LIST = (
    "WeChat refused this server's IP address (the one in WeChat's message): add it "
    "to the Official Account's API IP allow-list, mp.weixin.qq.com > 设置与开发 > "
    "基本配置 > IP白名单 (on newer consoles: 开发接口管理 > 基本配置 > IP白名单). Behind a NAT "
    "pool or proxy, add every address it leaves from."
)
#: What the Official Account's server API answers about the account's own setup:
#: retrying never helps, the site owner has to change something in the console.
_SERVER_SETUP = {
    45009: (
        "WeChat's daily quota of this API call is used up for the Official Account "
        "(stable_token: 500,000 a day, and 20 force refreshes; other calls: see "
        "mp.weixin.qq.com > 设置与开发 > 接口权限). It resets at midnight Beijing time; "
        "clear_quota (接口调用次数清零, 10 times a month) resets it sooner. Check that "
        "nothing else uses WECHAT_WEB_MP_SECRET to force a refresh"
    ),
    40164: _IP_ALLOW_LIST,
    61004: _IP_ALLOW_LIST,
    89503: (
        "WeChat judged this server's IP address risky and sent the Official "
        "Account's administrator a message asking to approve it: approve it in "
        "WeChat, or add it to mp.weixin.qq.com > 设置与开发 > 基本配置 > IP白名单, then retry"
    ),
}


def error_for_errcode(errcode: int, errmsg: str, *, endpoint: str) -> WeChatError:
    """The error for a WeChat ``{"errcode", "errmsg"}`` body.

    Matched on ``errcode`` only: ``errmsg`` carries a varying request id.
    ``endpoint`` is the API path (``"sns/oauth2/access_token"`` ...), since
    40001 means a bad AppSecret on the token calls (the only calls that send
    the secret) but a bad token elsewhere, and quota and IP allow-list errors
    of the Official Account's server API are the console's to fix.
    """
    where = f"{endpoint} answered errcode {errcode} ({_clean(errmsg)})"
    if errcode == -1:
        return WeChatUnavailableError(
            f"WeChat is busy: {where}. Try again in a moment.",
            errcode=errcode,
            errmsg=errmsg,
        )
    if endpoint.startswith("cgi-bin/") and errcode in _SERVER_SETUP:
        return ConfigurationError(
            f"{_SERVER_SETUP[errcode]} ({where})", errcode=errcode, errmsg=errmsg
        )
    cls: type[WeChatError]
    if errcode in _CODE_ERRORS:
        cls = InvalidCodeError
    elif errcode in _CREDENTIAL_ERRORS or (errcode == 40001 and endpoint in _SECRET_CALLS):
        cls = InvalidCredentialError
    elif errcode in _TOKEN_ERRORS or errcode == 40001:
        cls = TokenExpiredError
    elif errcode == 48001:
        cls = APIUnauthorizedError
    elif errcode in (40226, 45011):
        cls = UserBlockedError if errcode == 40226 else RateLimitError
    else:
        cls = WeChatAPIError
    message = f"{cls.default_message} ({where})"
    if errcode == 48001 and endpoint == "sns/userinfo":
        message += _UNAUTHORIZED_USERINFO
    return cls(message, errcode=errcode, errmsg=errmsg)


#: Where WeChat's request id starts in an errmsg, in each form seen:
#: ``, rid: ID``, `` rid: ID``, ``, hints: [ req_id: ID ]``, `` hint: [ID]``.
#: WeChat appends it: everything from there on is dropped.
_REQUEST_ID = re.compile(r"\b(?:rid|req_?id|request_?id|hints?)\s*[:=\[]", re.IGNORECASE)


def _clean(errmsg: str) -> str:
    """Shorten WeChat's errmsg for a message: no request id, no odd characters."""
    found = _REQUEST_ID.search(errmsg)
    text = (errmsg[: found.start()] if found else errmsg).rstrip(" \t,;:")
    return "".join(ch for ch in text if ch.isprintable())[:120]
