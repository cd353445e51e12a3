"""Renewing a user's token: the one path of every call made with one.

WeChat's access tokens live two hours and are revoked early at times; its
refresh tokens thirty days. Every way a token gets renewed (``wechat.token``
past its expiry, a call WeChat rejects, ``refresh_token``) comes here.
"""

from __future__ import annotations

import typing as t

from flask import has_request_context

from .client import is_expired
from .errors import TokenExpiredError
from .storage import compact_token, same_account

if t.TYPE_CHECKING:
    from .flows.base import Flow
    from .state import WeChatWebState


def refresh(state: WeChatWebState, flow: Flow, token: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A fresh token for ``token`` from ``sns/oauth2/refresh_token``; nothing stored."""
    remote = state.remote(flow)
    refresh_token = token.get("refresh_token")
    if not refresh_token:
        raise TokenExpiredError(
            "This WeChat token has no refresh token, so it cannot be "
            "refreshed: the user must log in with WeChat again."
        )
    fresh = remote.refresh(refresh_token, token.get("openid"))
    # The token's app is ours to say: an appid in the answer is not WeChat's.
    return compact_token({**token, **fresh, "appid": token.get("appid")})


def store_refreshed(
    state: WeChatWebState, appid: str, token: t.Mapping[str, t.Any], **_: t.Any
) -> None:
    """Authlib's ``update_token`` hook: keep a refreshed token in the storage."""
    state.extension.storage.set(compact_token({**token, "appid": appid}), None)


def refresh_stored(state: WeChatWebState, token: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Renew a user's ``token``; stored when it is the current user's.

    Requests of one user that find the token expired (or rejected by WeChat)
    queue on a lock; those after the first find the refreshed token in the
    storage and use it. A refresh token WeChat no longer accepts drops the
    current user's stored token (never another user's).
    """
    storage = state.extension.storage
    key = (token.get("appid"), token.get("openid"))
    with state.refresh_locks[hash(key) % len(state.refresh_locks)]:
        # Outside a request (a job) there is no current user.
        stored = storage.get() if has_request_context() else None
        mine = stored is not None and same_account(stored, token)
        if (
            stored is not None
            and mine
            and not is_expired(stored)
            and (
                # WeChat issues a new access token, or extends the one
                # that had not yet expired.
                stored.get("access_token") != token.get("access_token")
                or stored.get("expires_at", 0) > token.get("expires_at", 0)
            )
        ):
            return stored
        try:
            return refresh(state, state.flow_of(token), token)
        except TokenExpiredError:
            if mine:
                storage.delete()
            raise
