"""From WeChat's answers to a :class:`WeChatIdentity`: the code exchange and the profile.

Shared by every way in that redeems an OAuth code (the QR page, the
in-WeChat authorization) and by ``wechat.fetch_identity``.
"""

from __future__ import annotations

import logging
import typing as t

from . import scopes
from .client import USERINFO_PATH, parse_body
from .config import LANGUAGES
from .errors import MalformedAnswerError
from .identity import WeChatIdentity
from .storage import compact_token

if t.TYPE_CHECKING:
    from .flows.base import Flow
    from .state import WeChatWebState

logger = logging.getLogger("flask_wechat_web.extension")  # as docs/in-wechat.rst says


def exchange_code(
    state: WeChatWebState, flow: Flow, code: str
) -> tuple[dict[str, t.Any], WeChatIdentity]:
    """Redeem ``code`` with ``flow``'s credentials: the token and the identity."""
    raw = state.remote(flow).fetch_access_token(code=code)
    token = compact_token({**raw, "appid": state.config[flow.appid_key]})
    identity = identity_of(state, flow, token, snapshot=raw.get("is_snapshotuser"))
    if identity.unionid is None and identity.has_profile:
        _warn_no_unionid(state, flow, identity.appid)
    return token, identity


def identity_of(
    state: WeChatWebState,
    flow: Flow,
    token: t.Mapping[str, t.Any],
    *,
    userinfo: t.Mapping[str, t.Any] | None = None,
    snapshot: t.Any = None,
) -> WeChatIdentity:
    """The identity ``token`` stands for; its profile is read on first use, if not given."""
    config = state.config
    scope = scopes.normalised(token.get("scope")) or flow.scope(config)
    unionid = token.get("unionid") or (userinfo or {}).get("unionid")
    return WeChatIdentity(
        config[flow.appid_key],
        token["openid"],
        unionid,
        scope,
        is_snapshot_user=str(snapshot) == "1" or snapshot is True,
        raw=userinfo,
        source=flow.name,
        load_userinfo=lambda: userinfo_of(state, flow, token, None),
    )


def userinfo_of(
    state: WeChatWebState, flow: Flow, token: t.Mapping[str, t.Any], lang: str | None
) -> dict[str, t.Any]:
    """``sns/userinfo`` for ``token``, in ``lang`` (default ``WECHAT_WEB_LANG``)."""
    lang = lang or state.config["WECHAT_WEB_LANG"]
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}")
    resp = state.remote(flow).request("GET", USERINFO_PATH, token=token, params={"lang": lang})
    userinfo = parse_body(resp, USERINFO_PATH)
    if userinfo["openid"] != token["openid"]:
        raise MalformedAnswerError(USERINFO_PATH, "openid", "is not the token's openid")
    return userinfo


def _warn_no_unionid(state: WeChatWebState, flow: Flow, appid: str) -> None:
    """Say once per way in why logins come without a ``unionid``, and what it costs."""
    if flow.name in state.warned_no_unionid:
        return
    state.warned_no_unionid.add(flow.name)
    logger.warning(
        "WeChat logins through the %s %s come without a unionid: the app is "
        "not bound to an Open Platform account (open.weixin.qq.com > 管理中心 > "
        "公众帐号 > 绑定). Users are then known only by openid, which differs in each "
        "app, so a person who logs in both on the website and inside WeChat "
        "becomes two users. Bind both apps to one Open Platform account.",
        flow.app_kind,
        appid,
    )
