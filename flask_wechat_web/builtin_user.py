"""The built-in user of a site with no user handler: kept in the session, loaded back.

Its ids are stored once (the session's ``account``) and its profile as a
short list, so the session cookie stays within the extension's budget.
"""

from __future__ import annotations

import logging
import typing as t

from . import _session
from .identity import WeChatIdentity, WeChatUser
from .state import get_state

logger = logging.getLogger(__name__)

#: What the built-in user's profile may take in the session (see ``_session.BUDGET``).
PROFILE_BUDGET = 600
#: The profile fields the built-in user keeps, in their stored order, and
#: their empty values (what WeChat sends for sex and region since 2021).
_PROFILE: tuple[tuple[str, t.Any], ...] = (
    ("nickname", ""),
    ("headimgurl", ""),
    ("sex", 0),
    ("province", ""),
    ("city", ""),
    ("country", ""),
    ("privilege", []),
)


def load(user_id: str) -> WeChatUser | None:
    """Flask-Login's loader for the built-in user, read back from the session."""
    data = _session.data()
    account = data.account()
    if account is None:
        return None
    appid, openid, unionid, scope = account
    stored = data.get("profile")
    raw: dict[str, t.Any] = {}
    if isinstance(stored, list):
        raw = {"openid": openid}
        for index, (key, empty) in enumerate(_PROFILE):
            raw[key] = stored[index] if index < len(stored) else empty
        if unionid:
            raw["unionid"] = unionid
    source = get_state().flow_of({"appid": appid}).name
    user = WeChatUser(WeChatIdentity(appid, openid, unionid, scope, raw=raw, source=source))
    return user if user.get_id() == user_id else None


def remember(identity: WeChatIdentity) -> None:
    """Keep the built-in user in the session: its ids once, and its profile.

    The profile is a list in ``_PROFILE`` order, without the
    empty values WeChat sends at its end since 2021 (no sex, no region).
    """
    data = _session.data()
    data.set_account(
        {
            "appid": identity.appid,
            "openid": identity.openid,
            "unionid": identity.unionid,
            "scope": identity.scope,
        }
    )
    raw, profile = identity.raw, None
    if raw:  # not under snsapi_base
        profile = [raw.get(key, empty) for key, empty in _PROFILE]
        # Each field is measured only when the whole is too long: a prefix never costs more.
        for index, (key, empty) in enumerate(_PROFILE):
            if _session.cost(profile) <= PROFILE_BUDGET:
                break
            if _session.cost(profile[: index + 1]) > PROFILE_BUDGET:
                # Longer than WeChat ever sends: keep what fits, the nickname first.
                logger.warning("WeChat sent a %s too long to keep in the session.", key)
                profile[index] = empty
        while profile and profile[-1] == _PROFILE[len(profile) - 1][1]:
            profile.pop()
    data.set("profile", profile)


def forget() -> None:
    """Drop the WeChat account and the built-in user's profile from the session."""
    data = _session.data()
    data.set("account", None)
    data.set("profile", None)
