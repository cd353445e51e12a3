"""Whatever WeChat answers, each public method returns a valid result or raises a WeChatError."""

from __future__ import annotations

import json
import os
import typing as t

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_wechat_web import (
    MalformedAnswerError,
    TokenExpiredError,
    WeChatError,
    WeChatIdentity,
    WeChatWeb,
)
from flask_wechat_web.testing import FakeWeChat

from .conftest import log_in, make_app, query_of, start_login, stored_token
from .hostile import HostileServer, response

# Under CI every endpoint gets 2,000 answers; locally fewer, to keep the suite fast.
for name, examples in (("answers-ci", 2000), ("answers-dev", 150)):
    settings.register_profile(
        name,
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
PROFILE = settings.get_profile("answers-ci" if os.environ.get("CI") == "true" else "answers-dev")

OPENID = "o" + "A" * 27
TOKEN = {
    "access_token": "AT" + "a" * 60,
    "refresh_token": "RT" + "r" * 60,
    "openid": OPENID,
    "scope": "snsapi_login",
    "expires_at": 4_000_000_000,
}
VALID = {
    "token": {
        "access_token": "AT" + "b" * 60,
        "expires_in": 7200,
        "refresh_token": "RT" + "s" * 60,
        "openid": OPENID,
        "scope": "snsapi_login",
        "unionid": "u" + "U" * 27,
    },
    "userinfo": {
        "openid": OPENID,
        "nickname": "微信用户 😀",
        "sex": 0,
        "province": "",
        "city": "",
        "country": "",
        "headimgurl": "https://thirdwx.qlogo.cn/mmopen/x/132",
        "privilege": [],
        "unionid": "u" + "U" * 27,
    },
    "auth": {"errcode": 0, "errmsg": "ok"},
}
VALID["refresh"] = VALID["token"]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=5,
)


def encoded(value: t.Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def near_valid(endpoint: str) -> st.SearchStrategy[bytes]:
    """WeChat's answer with some fields dropped, and some set to anything."""
    valid = VALID[endpoint]
    # Beside WeChat's fields: those Authlib reads from a token (OAuth2Token, TokenAuth).
    extra = ["error", "errcode", "errmsg", "is_snapshotuser", "expires_at", "token_type", "appid"]
    names = st.sampled_from([*valid, *extra])
    changed = st.dictionaries(names, JSON, max_size=3)
    dropped = st.sets(st.sampled_from(list(valid)), max_size=2)
    return st.builds(
        lambda changes, drops, ascii_only: encoded(
            {k: v for k, v in {**valid, **changes}.items() if k not in drops}, ascii_only
        ),
        changed,
        dropped,
        st.booleans(),
    )


HOSTILE_BYTES = st.sampled_from(
    [
        b"\xef\xbb\xbf" + encoded(VALID["auth"], True),
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b'{"errcode": 1e999}',
        b'{"errcode": NaN}',
        b'{"expires_in": Infinity}',
        b'{"errcode": ' + b"9" * 5000 + b"}",
        b'{"nickname": "\xff\xfe"}',
        b"<html>502 Bad Gateway</html>",
        b"",
    ]
)


#: Each endpoint's answers: near-valid ones, any JSON, any bytes, known attacks.
ANSWERS = {
    endpoint: near_valid(endpoint)
    | st.builds(encoded, JSON, st.booleans())
    | st.binary(max_size=64)
    | HOSTILE_BYTES
    for endpoint in VALID
}


class Upstream:
    """A WeChat on loopback answering every call with ``body``."""

    def __init__(self) -> None:
        self.body = b"{}"
        self.server = HostileServer(lambda conn, head: conn.sendall(response(self.body)))


@pytest.fixture(scope="module")
def upstream() -> t.Iterator[Upstream]:
    hostile = Upstream()
    yield hostile
    hostile.server.close()


@pytest.fixture
def site(fake_wechat: FakeWeChat, upstream: Upstream) -> tuple[Flask, WeChatWeb]:
    app, wechat = make_app(fake_wechat)
    app.config["WECHAT_WEB_API_BASE_URL"] = upstream.server.url
    return app, wechat


def check_token_dict(token: t.Mapping[str, t.Any]) -> None:
    for name in ("access_token", "refresh_token", "openid"):
        assert isinstance(token[name], str) and token[name].isprintable() and token[name]
    assert isinstance(token["expires_at"], int)
    assert str(token.get("token_type", "bearer")).lower() == "bearer"


def call(wechat: WeChatWeb, endpoint: str) -> None:
    """Call ``endpoint`` through the public API; check what came back."""
    if endpoint == "token":
        check_token_dict(wechat.remote.fetch_access_token(code="c" * 32))
    elif endpoint == "refresh":
        token = wechat.refresh_token(TOKEN)
        check_token_dict(token)
        assert token["openid"] == OPENID and "appid" not in token
    elif endpoint == "auth":
        assert wechat.check_token(TOKEN) in (True, False)
    else:
        identity = wechat.fetch_identity(TOKEN)
        assert isinstance(identity, WeChatIdentity) and identity.openid == OPENID
        assert identity.unionid is None or (isinstance(identity.unionid, str) and identity.unionid)
        for text in (identity.nickname, identity.headimgurl, identity.city, identity.country):
            assert text is None or isinstance(text, str)
        assert identity.sex in (None, 0, 1, 2)
        assert identity.privilege is None or all(isinstance(p, str) for p in identity.privilege)


@pytest.mark.parametrize("endpoint", ["token", "refresh", "userinfo", "auth"])
@settings(PROFILE)
@given(data=st.data())
def test_any_answer_is_a_result_or_a_wechat_error(
    site: tuple[Flask, WeChatWeb], upstream: Upstream, endpoint: str, data: st.DataObject
) -> None:
    # ``site`` is built once per endpoint, not per example: nothing here keeps state.
    app, wechat = site
    upstream.body = data.draw(ANSWERS[endpoint], label="answer")
    with app.test_request_context():
        try:
            call(wechat, endpoint)
        except WeChatError as error:
            assert TOKEN["access_token"] not in str(error)
            assert app.config["WECHAT_WEB_SECRET"] not in str(error)


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("token", {**VALID["token"], "expires_in": 1e999}, "(body)"),
        ("token", {**VALID["token"], "expires_in": "7200"}, "expires_in"),
        ("token", {**VALID["token"], "openid": ["o"]}, "openid"),
        ("token", {**VALID["token"], "openid": ""}, "openid"),
        ("token", {**VALID["token"], "scope": {"a": 1}}, "scope"),
        ("token", {**VALID["token"], "unionid": 12}, "unionid"),
        ("token", {**VALID["token"], "error": "invalid_grant"}, "error"),
        ("token", {"error": "invalid_grant"}, "error"),
        ("token", {**VALID["token"], "access_token": "a\nb"}, "access_token"),
        ("refresh", {**VALID["token"], "expires_in": -1}, "expires_in"),
        ("refresh", {**VALID["token"], "expires_in": True}, "expires_in"),
        ("userinfo", {**VALID["userinfo"], "privilege": "chinaunicom"}, "privilege"),
        ("userinfo", {**VALID["userinfo"], "sex": 3}, "sex"),
        ("userinfo", {**VALID["userinfo"], "nickname": 7}, "nickname"),
        ("userinfo", {**VALID["userinfo"], "headimgurl": "javascript:alert(1)"}, "headimgurl"),
        ("userinfo", {**VALID["userinfo"], "openid": "o" + "B" * 27}, "openid"),
        ("auth", {"errcode": "0"}, "errcode"),
        ("auth", {"errcode": 1.5}, "errcode"),
        ("auth", {"errmsg": "ok"}, "errcode"),
    ],
)
def test_each_bad_field_is_named(
    site: tuple[Flask, WeChatWeb],
    upstream: Upstream,
    endpoint: str,
    body: dict[str, t.Any],
    field: str,
) -> None:
    app, wechat = site
    upstream.body = json.dumps(body).encode()
    with app.test_request_context(), pytest.raises(MalformedAnswerError) as info:
        call(wechat, endpoint)
    assert info.value.field == field
    assert info.value.status == 502
    named = "its body" if field == "(body)" else f"its field {field!r}"
    assert named in str(info.value) and "sns/" in str(info.value)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b'{"openid": "\xc3\x28"}', "not UTF-8"),
        (b"[" * 30_000 + b"]" * 30_000, "deeper"),  # within the size cap
        (b'{"a": [[[[1]]]]}', "deeper"),
        (b'{"errcode": NaN}', "NaN"),
        (b'{"expires_in": ' + b"7" * 40 + b"}", "digits"),
        (b"[]", "not a JSON object"),
    ],
)
def test_bad_bodies_end_the_login_in_a_clean_502(
    site: tuple[Flask, WeChatWeb], upstream: Upstream, body: bytes, why: str
) -> None:
    app, _ = site
    upstream.body = body
    client = app.test_client()
    failures: list[BaseException] = []
    from flask_wechat_web import wechat_login_failed

    state = query_of(start_login(client))["state"][0]
    with wechat_login_failed.connected_to(lambda s, error: failures.append(error), app):
        page = client.get(f"/wechat/authorized?code={'c' * 32}&state={state}")
    assert page.status_code == 502
    assert "微信暂时没有响应" in page.get_data(as_text=True)  # zh_CN, the default
    [error] = failures
    assert isinstance(error, MalformedAnswerError) and why in str(error)


def test_sex_as_a_string_is_read_as_its_number(
    site: tuple[Flask, WeChatWeb], upstream: Upstream
) -> None:
    app, wechat = site
    upstream.body = json.dumps({**VALID["userinfo"], "sex": "2"}).encode()
    with app.test_request_context():
        identity = wechat.fetch_identity(TOKEN)
        assert identity.sex == 2 and identity.raw["sex"] == 2


def test_a_token_refused_outright_is_a_token_error(
    site: tuple[Flask, WeChatWeb], upstream: Upstream
) -> None:
    app, wechat = site
    upstream.body = b'{"errcode": 42001, "errmsg": "access_token expired"}'
    with app.test_request_context(), pytest.raises(TokenExpiredError):
        wechat.fetch_identity(TOKEN)  # refreshed once, refused again: no loop


#: Fields of a token answer that Authlib reads (``OAuth2Token``, ``TokenAuth``) or
#: the extension keeps, with values of the wrong type or shape.
AUTHLIB_READS = [
    ("expires_at", [1]),
    ("expires_at", "soon"),
    ("expires_at", 1.5),
    ("expires_at", True),
    ("expires_in", [1]),
    ("expires_in", "7200"),
    ("token_type", 7),
    ("token_type", "mac"),
    ("refresh_token", {"a": 1}),
    ("access_token", ["a"]),
    ("scope", [1]),
    ("unionid", {"a": 1}),
]


@pytest.mark.parametrize(("field", "value"), AUTHLIB_READS)
def test_a_token_field_of_the_wrong_type_ends_the_login_in_a_clean_502(
    fake_wechat: FakeWeChat, field: str, value: t.Any
) -> None:
    from flask_wechat_web import wechat_login_failed

    app, _ = make_app(fake_wechat)
    client = app.test_client()
    fake_wechat.override("access_token", {field: value}, times=1)
    failures: list[BaseException] = []
    with wechat_login_failed.connected_to(lambda s, error: failures.append(error), app):
        page, _ = log_in(client, fake_wechat)
    assert page.status_code == 502
    assert "微信暂时没有响应" in page.get_data(as_text=True)
    [error] = failures
    assert isinstance(error, MalformedAnswerError) and error.field == field
    assert log_in(client, fake_wechat)[0].status_code == 302  # the next login works


@pytest.mark.parametrize(("field", "value"), AUTHLIB_READS)
def test_a_refresh_answer_field_of_the_wrong_type_is_a_malformed_answer(
    fake_wechat: FakeWeChat, field: str, value: t.Any
) -> None:
    app, wechat = make_app(fake_wechat)
    client = app.test_client()
    log_in(client, fake_wechat)
    token = stored_token(client)
    fake_wechat.override("refresh_token", {field: value}, times=1)
    with app.test_request_context(), pytest.raises(MalformedAnswerError) as info:
        wechat.refresh_token(token)
    assert info.value.field == field and info.value.status == 502
    with app.test_request_context():
        assert wechat.refresh_token(token)["openid"] == token["openid"]


def test_a_refresh_answer_keeps_the_tokens_account(fake_wechat: FakeWeChat) -> None:
    """Its ``appid`` is the app's, never the answer's; another ``openid`` is refused."""
    app, wechat = make_app(fake_wechat)
    client = app.test_client()
    log_in(client, fake_wechat)
    token = stored_token(client)
    with app.test_request_context():
        fake_wechat.override("refresh_token", {"appid": "wx" + "0" * 16}, times=1)
        assert wechat.refresh_token(token)["appid"] == token["appid"]
        fake_wechat.override("refresh_token", {"openid": "o" + "Z" * 27}, times=1)
        with pytest.raises(MalformedAnswerError) as info:
            wechat.refresh_token(token)
        assert info.value.field == "openid"
