"""Where the current user's WeChat token is kept between requests.

A storage is any object with the three methods of :class:`TokenStorage`; a
site can plug in its own (Redis, a cache) without subclassing anything here.
"""

from __future__ import annotations

import typing as t

from flask import session

from .identity import WeChatIdentity

#: The token fields worth keeping; WeChat's answer has nothing else useful.
TOKEN_FIELDS = (
    "access_token",
    "refresh_token",
    "expires_at",
    "openid",
    "unionid",
    "scope",
    "appid",
)


class TokenStorage(t.Protocol):
    """The interface of a token storage."""

    def get(self) -> dict[str, t.Any] | None:
        """The current user's token, or ``None``."""

    def set(self, token: t.Mapping[str, t.Any], identity: WeChatIdentity, user: t.Any) -> None:
        """Keep ``token``, just obtained for ``identity`` and ``user``."""

    def delete(self) -> None:
        """Forget the current user's token (on logout, or when it is dead)."""


def compact_token(token: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The fields of ``token`` worth storing, with ``expires_at`` set."""
    return {key: token[key] for key in TOKEN_FIELDS if token.get(key) is not None}


class SessionStorage:
    """Keeps the token in the Flask session (the default).

    Stores only :data:`TOKEN_FIELDS` (about 300 bytes), so the session
    cookie stays far below browsers' 4 KB limit.
    """

    key = "_wechat_web_token"

    def get(self) -> dict[str, t.Any] | None:
        token = session.get(self.key)
        return dict(token) if isinstance(token, dict) else None

    def set(self, token: t.Mapping[str, t.Any], identity: WeChatIdentity, user: t.Any) -> None:
        session[self.key] = compact_token(token)

    def delete(self) -> None:
        session.pop(self.key, None)
