"""Logging in a person the Official Account knows by openid: after a scan, or a code.

Scan to follow and the code sign-in both end with an openid of the account
from a verified push. The unionid, which joins that person to the website
app, the mobile app and the mini program, comes from ``cgi-bin/user/info``
while they follow, when the account is bound to an Open Platform account.
That call needs the server access token, so it is made here, when the
waiting browser logs in, never inside WeChat's 5 s answer to a push.
"""

from __future__ import annotations

import logging
import typing as t

from . import login
from .answers import USER_INFO_PATH
from .errors import APIUnauthorizedError
from .identity import WeChatIdentity
from .server_token import with_server_token

if t.TYPE_CHECKING:
    from .state import WeChatWebState

logger = logging.getLogger(__name__)

#: What a follower's identity carries: the ids, no profile (none since 2021-12-27).
SCOPE = "snsapi_base"


def unionid_of(state: WeChatWebState, openid: str) -> str | None:
    """The follower's unionid: ``None`` when unbound, unfollowed, or the account has no API.

    An unverified subscription account gets 48001 for ``user/info``: it
    logs people in by openid alone, and the log says so once.
    """
    remote = state.remote(state.flow_named("mp"))
    try:
        answer = with_server_token(
            state,
            lambda token: remote.get_json(
                USER_INFO_PATH, access_token=token, openid=openid, lang="zh_CN"
            ),
        )
    except APIUnauthorizedError:
        if "user/info" not in state.warned_no_unionid:
            state.warned_no_unionid.add("user/info")
            logger.info(
                "The Official Account may not call user/info (48001, an unverified "
                "account): followers log in by their openid, with no unionid."
            )
        return None
    return t.cast("str | None", answer.get("unionid")) if answer["subscribe"] else None


def log_in_follower(state: WeChatWebState, openid: str, source: str) -> t.Any:
    """Log this browser in as the account's follower ``openid``; the user.

    ``source`` is the way in: ``"follow"`` or ``"code"``.
    """
    appid = str(state.config["WECHAT_WEB_MP_APPID"])
    unionid = unionid_of(state, openid)
    token = {"appid": appid, "openid": openid, "scope": SCOPE}
    if unionid:
        token["unionid"] = unionid
    identity = WeChatIdentity(appid, openid, unionid, SCOPE, raw={}, source=source)
    return login.finish(state, token, identity)
