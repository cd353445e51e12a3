"""Flask-WeChat-Web: "Sign in with WeChat" for Flask."""

from __future__ import annotations

import typing as t

from ._lazy import lazy_exports
from .errors import (
    AccessDeniedError,
    APIUnauthorizedError,
    ConfigurationError,
    InvalidCodeError,
    InvalidCredentialError,
    InvalidRequestError,
    LoginRefusedError,
    MalformedAnswerError,
    RateLimitError,
    SnapshotUserError,
    StateMismatchError,
    StorageUnavailableError,
    TokenExpiredError,
    TooManyRequestsError,
    UserBlockedError,
    WeChatAPIError,
    WeChatError,
    WeChatUnavailableError,
)
from .identity import WeChatIdentity, WeChatUser
from .signals import wechat_authorized, wechat_logged_out, wechat_login_failed
from .storage import SessionStorage, SQLAlchemyStorage, TokenStorage

if t.TYPE_CHECKING:
    from .extension import WeChatWeb

__version__ = "0.1.0"

__all__ = [
    "APIUnauthorizedError",
    "AccessDeniedError",
    "ConfigurationError",
    "InvalidCodeError",
    "InvalidCredentialError",
    "InvalidRequestError",
    "LoginRefusedError",
    "MalformedAnswerError",
    "RateLimitError",
    "SQLAlchemyStorage",
    "SessionStorage",
    "SnapshotUserError",
    "StateMismatchError",
    "StorageUnavailableError",
    "TokenExpiredError",
    "TooManyRequestsError",
    "TokenStorage",
    "UserBlockedError",
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

#: The extension imports Authlib and requests: not needed to load the pytest
#: plugin or the errors.
__getattr__ = lazy_exports(__name__, {"WeChatWeb": ".extension"})
