"""A call made with a user's token is renewed once when WeChat rejects it; check_token is not."""

from __future__ import annotations

import json
import socket
import typing as t
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient

from flask_wechat_web import TokenExpiredError, WeChatAPIError, WeChatWeb
from flask_wechat_web.testing import FakeWeChat

from .conftest import log_in, make_app, stored_token
from .hostile import HostileServer, response


def add_routes(app: Flask, wechat: WeChatWeb) -> None:
    """Pages that call WeChat with the current user's token, the ways a site does."""

    @app.route("/identity")
    def identity() -> t.Any:
        try:
            found = wechat.fetch_identity(wechat.token)
        except TokenExpiredError as error:
            return str(error), 401
        return jsonify(nickname=found.nickname)

    @app.route("/remote")
    def remote() -> t.Any:
        return jsonify(wechat.remote.get("sns/userinfo", params={"lang": "en"}).json())

    @app.route("/identity-of-other")
    def identity_of_other() -> t.Any:
        try:
            found = wechat.fetch_identity(app.config["OTHER_TOKEN"])
        except TokenExpiredError as error:
            return str(error), 401
        return jsonify(nickname=found.nickname)

    @app.route("/check")
    def check() -> t.Any:
        try:
            return jsonify(wechat.check_token(wechat.token))
        except TokenExpiredError as error:
            return str(error), 401


@pytest.fixture
def site(fake_wechat: FakeWeChat) -> tuple[Flask, WeChatWeb, FlaskClient]:
    app, wechat = make_app(fake_wechat)
    add_routes(app, wechat)
    client = app.test_client()
    log_in(client, fake_wechat)
    return app, wechat, client


@pytest.mark.parametrize("path", ["/identity", "/remote"])
def test_a_token_revoked_early_is_refreshed_stored_and_the_call_retried(
    site: tuple[Flask, WeChatWeb, FlaskClient], fake_wechat: FakeWeChat, path: str
) -> None:
    _, _, client = site
    before = stored_token(client)
    fake_wechat.advance(7201)  # WeChat rejects the token (42001); its expires_at has not passed
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    assert page.get_json()["nickname"] == fake_wechat.user.nickname
    assert fake_wechat.calls["refresh_token"] == 1
    after = stored_token(client)
    assert after["access_token"] != before["access_token"]
    assert client.get(path).status_code == 200
    assert fake_wechat.calls["refresh_token"] == 1  # the stored fresh token is used


def test_check_token_is_a_pure_question(
    site: tuple[Flask, WeChatWeb, FlaskClient], fake_wechat: FakeWeChat
) -> None:
    _, _, client = site
    before = stored_token(client)
    assert client.get("/check").get_json() is True
    fake_wechat.advance(7201)
    assert client.get("/check").get_json() is False
    assert fake_wechat.calls["refresh_token"] == 0
    assert stored_token(client) == before


def test_a_dead_refresh_token_drops_only_the_current_users_token(
    site: tuple[Flask, WeChatWeb, FlaskClient], fake_wechat: FakeWeChat
) -> None:
    app, wechat, client = site
    other = app.test_client()
    fake_wechat.user = fake_wechat.users[1]
    log_in(other, fake_wechat)
    others_token = stored_token(other)

    app.config["OTHER_TOKEN"] = others_token
    mine = stored_token(client)
    fake_wechat.advance(31 * 86400)  # every token and refresh token is dead
    assert client.get("/identity-of-other").status_code == 401
    assert stored_token(client) == mine  # another user's dead token drops nothing here
    page = client.get("/identity")
    assert page.status_code == 401 and "log in" in page.get_data(as_text=True)
    with client.session_transaction() as session:
        assert "_wechat_web_token" not in session  # the user's own: dropped


class RejectingWeChat:
    """Answers userinfo with ``errcode`` for the first token, and a profile after a refresh."""

    OLD, NEW = "OLD" + "a" * 60, "NEW" + "b" * 60
    OPENID = "o" + "Q" * 27

    def __init__(self, errcode: int) -> None:
        self.errcode = errcode
        self.paths: list[str] = []
        self.server = HostileServer(self.answer)

    def answer(self, conn: socket.socket, head: bytes) -> None:
        target = head.split(b" ")[1].decode()
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        self.paths.append(path)
        if path.endswith("refresh_token"):
            body: dict[str, t.Any] = {
                "access_token": self.NEW,
                "expires_in": 7200,
                "refresh_token": query["refresh_token"][0],
                "openid": self.OPENID,
                "scope": "snsapi_login",
            }
        elif query["access_token"] == [self.NEW]:
            body = {"openid": self.OPENID, "nickname": "李雷", "sex": 0, "privilege": []}
        else:
            body = {"errcode": self.errcode, "errmsg": "rejected, rid: 1-2-3"}
        conn.sendall(response(json.dumps(body).encode()))


@pytest.mark.parametrize("errcode", [42001, 40014, 40001])
@pytest.mark.parametrize("how", ["fetch_identity", "remote.get", "fetch_identity in a job"])
def test_each_rejection_code_is_refreshed_once_whoever_calls(
    fake_wechat: FakeWeChat, errcode: int, how: str
) -> None:
    wechat_api = RejectingWeChat(errcode)
    try:
        app, wechat = make_app(fake_wechat)
        app.config["WECHAT_WEB_API_BASE_URL"] = wechat_api.server.url
        token = {
            "access_token": RejectingWeChat.OLD,
            "refresh_token": "R" * 60,
            "openid": RejectingWeChat.OPENID,
            "expires_at": 4_000_000_000,
        }
        # A job has an app context and no request, so no current user.
        context = app.app_context() if how.endswith("job") else app.test_request_context()
        with context:
            if how.startswith("fetch_identity"):
                nickname = wechat.fetch_identity(token).nickname
            else:
                nickname = wechat.remote.get("sns/userinfo", token=token).json()["nickname"]
    finally:
        wechat_api.server.close()
    assert nickname == "李雷"
    assert wechat_api.paths == ["/sns/userinfo", "/sns/oauth2/refresh_token", "/sns/userinfo"]


def test_other_errcodes_are_not_refreshed(fake_wechat: FakeWeChat) -> None:
    wechat_api = RejectingWeChat(48001)  # a base-scope token: refreshing changes nothing
    try:
        app, wechat = make_app(fake_wechat)
        app.config["WECHAT_WEB_API_BASE_URL"] = wechat_api.server.url
        token = {"access_token": RejectingWeChat.OLD, "openid": RejectingWeChat.OPENID}
        with app.test_request_context(), pytest.raises(WeChatAPIError) as info:
            wechat.fetch_identity(token)
    finally:
        wechat_api.server.close()
    assert info.value.errcode == 48001
    assert wechat_api.paths == ["/sns/userinfo"]


def test_no_token_is_a_token_error_whoever_asks(fake_wechat: FakeWeChat) -> None:
    app, wechat = make_app(fake_wechat)
    add_routes(app, wechat)
    client = app.test_client()  # logged in to nothing
    for path in ("/identity", "/check"):
        page = client.get(path)
        assert page.status_code == 401 and "log in with WeChat" in page.get_data(as_text=True)
    with app.test_request_context(), pytest.raises(TokenExpiredError):
        wechat.remote.get("sns/userinfo")
    with app.test_request_context(), pytest.raises(TokenExpiredError):
        wechat.refresh_token(None)
