"""Flask-WeChat-Web: "Sign in with WeChat" for Flask."""

from __future__ import annotations

from .errors import (
    AccessDeniedError,
    ConfigurationError,
    InvalidCodeError,
    InvalidCredentialError,
    LoginRefusedError,
    MalformedAnswerError,
    SnapshotUserError,
    StateMismatchError,
    TokenExpiredError,
    WeChatAPIError,
    WeChatError,
    WeChatUnavailableError,
)
from .extension import WeChatWeb
from .identity import WeChatIdentity, WeChatUser
from .signals import wechat_authorized, wechat_logged_out, wechat_login_failed
from .storage import SessionStorage, SQLAlchemyStorage, TokenStorage

__all__ = [
    "AccessDeniedError",
    "ConfigurationError",
    "InvalidCodeError",
    "InvalidCredentialError",
    "LoginRefusedError",
    "MalformedAnswerError",
    "SQLAlchemyStorage",
    "SessionStorage",
    "SnapshotUserError",
    "StateMismatchError",
    "TokenExpiredError",
    "TokenStorage",
    "WeChatAPIError",
    "WeChatError",
    "WeChatIdentity",
    "WeChatUnavailableError",
    "WeChatUser",
    "WeChatWeb",
    "wechat_authorized",
    "wechat_logged_out",
    "wechat_login_failed",
]
