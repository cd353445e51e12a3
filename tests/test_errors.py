"""The errcode table: each errcode becomes the error class the spec names."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_wechat_web import (
    APIUnauthorizedError,
    InvalidCodeError,
    InvalidCredentialError,
    StateMismatchError,
    TokenExpiredError,
    WeChatAPIError,
    WeChatError,
    WeChatUnavailableError,
)
from flask_wechat_web.errcodes import error_for_errcode
from flask_wechat_web.testing import FakeWeChat

from .conftest import log_in, make_app


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
        (48001, "sns/userinfo", APIUnauthorizedError),
        (48001, "sns/oauth2/access_token", APIUnauthorizedError),
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


RID = "6523abcd-4902c840-48420627"


@pytest.mark.parametrize(
    "errmsg",
    [
        f"invalid code, rid: {RID}",
        f"invalid code rid: {RID}",
        f"invalid code rid:{RID}",
        f"invalid code, RID: {RID}",
        f"invalid code, hints: [ req_id: {RID} ]",
        f"invalid code hints: [ req_id: {RID} ]",
        f"invalid code hints: [req_id: {RID}]",
        f"invalid code, hints: [ req_id: {RID}",
        f"invalid code hint: [{RID}]",
        f"invalid code, hint: [{RID}]",
        f"invalid code hint:[{RID}]",
        f"invalid code; req_id: {RID}",
        f"invalid code hints: [ req_id: {RID} ] rid: {RID}",
    ],
)
def test_no_request_id_in_the_message(errmsg: str) -> None:
    error = error_for_errcode(40029, errmsg, endpoint="sns/oauth2/access_token")
    assert RID not in str(error)
    assert "(invalid code)" in str(error)
    assert error.errmsg == errmsg  # WeChat's own, kept whole


BASES = st.sampled_from(
    ["invalid code", "api unauthorized", "invalid credential, access_token is invalid", ""]
)
SEPARATORS = st.sampled_from([" ", "  ", ", ", ",", "; ", ";", ", \t"])
FORMS = st.sampled_from(
    [
        "rid: {}",
        "rid:{}",
        "Rid: {}",
        "hints: [ req_id: {} ]",
        "hints: [req_id: {}]",
        "hints: [ req_id: {}",
        "hint: [{}]",
        "hint:[{}]",
        "hint: [ {} ]",
        "req_id: {}",
        "request_id: {}",
    ]
)
IDS = st.from_regex(r"[0-9A-Za-z]{8,12}(-[0-9a-f]{4,8}){0,2}", fullmatch=True)


@given(base=BASES, separator=SEPARATORS, forms=st.lists(FORMS, min_size=1, max_size=2), rid=IDS)
def test_no_request_id_survives(base: str, separator: str, forms: list[str], rid: str) -> None:
    errmsg = base + "".join(separator + form.format(rid) for form in forms)
    error = error_for_errcode(40029, errmsg, endpoint="sns/oauth2/access_token")
    assert rid not in str(error)
    assert f"({base})" in str(error)


def test_no_request_id_in_the_log_of_a_failed_login(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(fake_wechat)
    errmsg = f"invalid openid hints: [ req_id: {RID} ]"
    fake_wechat.override("userinfo", {"errcode": 40003, "errmsg": errmsg}, times=1)
    with caplog.at_level(logging.WARNING):
        page, _ = log_in(app.test_client(), fake_wechat)
    assert page.status_code == 502
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "errcode 40003 (invalid openid)" in logged and RID not in logged


@pytest.mark.parametrize("endpoint", ["access_token", "userinfo"])
def test_48001_names_the_console_setting_and_never_says_try_again(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture, endpoint: str
) -> None:
    from flask_wechat_web import wechat_login_failed

    app, _ = make_app(fake_wechat, WECHAT_WEB_UI_LOCALE="en")
    fake_wechat.override(endpoint, {"errcode": 48001, "errmsg": "api unauthorized"}, times=1)
    failures: list[BaseException] = []
    with wechat_login_failed.connected_to(lambda s, error: failures.append(error), app):
        page, _ = log_in(app.test_client(), fake_wechat)
    [error] = failures
    assert isinstance(error, APIUnauthorizedError) and isinstance(error, WeChatAPIError)
    assert page.status_code == error.status == 502
    for text in (error.message, str(error.user_message)):
        assert "again later" not in text.lower() and "try again" not in text.lower()
    assert "接口权限" in error.message and "网站应用" in error.message
    assert "not set up correctly on this site" in page.get_data(as_text=True)


def test_api_errors_share_a_base() -> None:
    for cls in (InvalidCodeError, InvalidCredentialError, TokenExpiredError, APIUnauthorizedError):
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
