"""The errcode table: each errcode becomes the error class the spec names."""

from __future__ import annotations

import pytest

from flask_wechat_web import (
    InvalidCodeError,
    InvalidCredentialError,
    StateMismatchError,
    TokenExpiredError,
    WeChatAPIError,
    WeChatError,
    WeChatUnavailableError,
)
from flask_wechat_web.errors import error_for_errcode


@pytest.mark.parametrize(
    ("errcode", "endpoint", "cls"),
    [
        (40029, "sns/oauth2/access_token", InvalidCodeError),
        (40163, "sns/oauth2/access_token", InvalidCodeError),
        (42003, "sns/oauth2/access_token", InvalidCodeError),
        (41008, "sns/oauth2/access_token", InvalidCodeError),
        (40013, "sns/oauth2/access_token", InvalidCredentialError),
        (40125, "sns/oauth2/access_token", InvalidCredentialError),
        (40001, "sns/oauth2/access_token", InvalidCredentialError),
        (40013, "sns/oauth2/refresh_token", InvalidCredentialError),
        (40001, "sns/oauth2/refresh_token", TokenExpiredError),
        (42001, "sns/userinfo", TokenExpiredError),
        (40014, "sns/userinfo", TokenExpiredError),
        (40001, "sns/userinfo", TokenExpiredError),
        (42002, "sns/oauth2/refresh_token", TokenExpiredError),
        (40030, "sns/oauth2/refresh_token", TokenExpiredError),
        (-1, "sns/userinfo", WeChatUnavailableError),
        (48001, "sns/userinfo", WeChatAPIError),
        (40003, "sns/auth", WeChatAPIError),
    ],
)
def test_errcode_table(errcode: int, endpoint: str, cls: type[WeChatError]) -> None:
    error = error_for_errcode(errcode, "some text, rid: 6521-14d6", endpoint=endpoint)
    assert type(error) is cls
    assert error.errcode == errcode
    assert error.errmsg == "some text, rid: 6521-14d6"
    assert str(errcode) in str(error)
    assert "rid" not in str(error)


def test_api_errors_share_a_base() -> None:
    for cls in (InvalidCodeError, InvalidCredentialError, TokenExpiredError):
        assert issubclass(cls, WeChatAPIError) and issubclass(cls, WeChatError)
    assert issubclass(WeChatUnavailableError, WeChatError)


@pytest.mark.parametrize(
    "reason", ["missing", "malformed", "no_cookie", "unknown", "expired", "used", "evicted"]
)
def test_every_state_failure_explains_itself(reason: str) -> None:
    error = StateMismatchError(reason)
    assert error.reason == reason
    assert len(error.message) > 40
    assert error.status == 400
