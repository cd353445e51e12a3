"""Every failure at WeChat ends in a clean page, a signal, and no secret anywhere."""

from __future__ import annotations

import logging
import socket

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_wechat_web import WeChatUnavailableError
from flask_wechat_web.testing import FakeWeChat

from .conftest import (
    SignalRecorder,
    callback_path,
    log_in,
    make_app,
    query_of,
    start_login,
    stored_token,
)

FAULTS = ["http_500", "http_503", "not_json", "errcode_-1", "drop", "latency"]


def assert_no_secret(
    app: Flask, response: TestResponse, caplog: pytest.LogCaptureFixture, *extra: str
) -> None:
    secrets = [app.config["WECHAT_WEB_SECRET"], *extra]
    seen = [response.get_data(as_text=True), str(response.headers)]
    seen += [record.getMessage() for record in caplog.records]
    seen += [str(record.exc_info) for record in caplog.records if record.exc_info]
    for text in seen:
        for secret in secrets:
            assert secret not in text


@pytest.mark.parametrize("endpoint", ["access_token", "userinfo"])
@pytest.mark.parametrize("fault", FAULTS)
def test_fault_ends_in_502(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture, endpoint: str, fault: str
) -> None:
    caplog.set_level(logging.DEBUG)
    app, _ = make_app(fake_wechat, WECHAT_WEB_TIMEOUT=0.3)
    client = app.test_client()
    failures: list[object] = []
    from flask_wechat_web import wechat_login_failed

    def record(sender: object, error: object) -> None:
        failures.append(error)

    fake_wechat.inject(endpoint, fault, times=1, delay=1.0)
    with wechat_login_failed.connected_to(record, app):
        response, _ = log_in(client, fake_wechat)
    assert response.status_code == 502
    assert "微信暂时没有响应" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    [error] = failures
    assert isinstance(error, WeChatUnavailableError)
    assert client.get("/").get_data(as_text=True) == "hello stranger"
    assert_no_secret(app, response, caplog)
    assert app.config["WECHAT_WEB_SECRET"] not in str(error)
    # The token call was never retried: a retry would get 40163.
    assert fake_wechat.calls["access_token"] == 1


def test_recovers_after_a_dropped_connection(client: FlaskClient, fake_wechat: FakeWeChat) -> None:
    log_in(client, fake_wechat)
    fake_wechat.inject("access_token", "drop", times=1)
    assert log_in(client, fake_wechat)[0].status_code == 502
    assert log_in(client, fake_wechat)[0].status_code == 302


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_unreachable_or_tls_failing_api_host(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture, scheme: str
) -> None:
    caplog.set_level(logging.DEBUG)
    app, _ = make_app(fake_wechat)
    if scheme == "http":
        api = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    else:
        api = fake_wechat.server.api_base_url.replace("http://", "https://")  # TLS to plain HTTP
    app.config["WECHAT_WEB_API_BASE_URL"] = api
    client = app.test_client()
    callback = callback_path(fake_wechat.approve(start_login(client)))
    code = callback.split("code=")[1].split("&")[0]
    errors: list[BaseException] = []
    from flask_wechat_web import wechat_login_failed

    with wechat_login_failed.connected_to(lambda s, error: errors.append(error), app):
        response = client.get(callback)
    assert response.status_code == 502
    assert_no_secret(app, response, caplog, code)
    [error] = errors
    assert app.config["WECHAT_WEB_SECRET"] not in str(error) and code not in str(error)
    assert error.__context__ is None and error.__cause__ is None
    assert any("WeChat login failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("setup", "status", "name"),
    [
        ("wrong_secret", 502, "InvalidCredentialError"),
        ("used_code", 400, "InvalidCodeError"),
        ("expired_code", 400, "InvalidCodeError"),
    ],
)
def test_errcodes_at_login(
    fake_wechat: FakeWeChat,
    caplog: pytest.LogCaptureFixture,
    setup: str,
    status: int,
    name: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    app, _ = make_app(fake_wechat)
    client = app.test_client()
    callback = callback_path(fake_wechat.approve(start_login(client)))
    if setup == "wrong_secret":
        fake_wechat.add_app(app.config["WECHAT_WEB_APPID"], "f" * 32)
    elif setup == "wrong_appid":
        fake_wechat.reset()
        fake_wechat.add_app("wx" + "9" * 16, "f" * 32)
    elif setup == "used_code":
        import requests

        code = callback.split("code=")[1].split("&")[0]
        requests.get(
            f"{fake_wechat.server.api_base_url}/sns/oauth2/access_token",
            params={
                "appid": app.config["WECHAT_WEB_APPID"],
                "secret": app.config["WECHAT_WEB_SECRET"],
                "code": code,
                "grant_type": "authorization_code",
            },
            timeout=5,
        ).close()
    else:
        fake_wechat.advance(601)
    errors: list[BaseException] = []
    from flask_wechat_web import wechat_login_failed

    with wechat_login_failed.connected_to(lambda s, error: errors.append(error), app):
        response = client.get(callback)
    assert response.status_code == status
    assert type(errors[0]).__name__ == name
    assert_no_secret(app, response, caplog)


def test_unknown_appid_is_an_invalid_credential(fake_wechat: FakeWeChat) -> None:
    # An AppID WeChat does not know (deleted, or a typo in a deploy).
    app, _ = make_app(fake_wechat, WECHAT_WEB_APPID="wx" + "9" * 16)
    client = app.test_client()
    state = query_of(start_login(client))["state"][0]
    response = client.get(f"/wechat/authorized?code={'c' * 32}&state={state}")
    assert response.status_code == 502
    assert "credentials" in response.get_data(as_text=True)


def test_snapshot_user_is_not_logged_in(fake_wechat: FakeWeChat) -> None:
    from .conftest import MICROMESSENGER_UA

    app, wechat = make_app(fake_wechat)
    handled: list[object] = []
    wechat.user_handler(lambda identity: handled.append(identity))
    fake_wechat.snapshot = True
    client = app.test_client()
    response, _ = log_in(client, fake_wechat, ua=MICROMESSENGER_UA)
    assert response.status_code == 403
    assert "使用完整服务" in response.get_data(as_text=True)
    assert handled == []
    assert client.get("/").get_data(as_text=True) == "hello stranger"


def test_signal_sender_is_the_app(
    app: Flask, client: FlaskClient, fake_wechat: FakeWeChat, signals: SignalRecorder
) -> None:
    client.get(callback_path(fake_wechat.deny(start_login(client))))
    assert signals.events[0][1] is app


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("endpoint", ["refresh_token", "auth"])
def test_faults_on_refresh_and_check_raise_unavailable(
    app: Flask,
    client: FlaskClient,
    fake_wechat: FakeWeChat,
    caplog: pytest.LogCaptureFixture,
    endpoint: str,
    fault: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    app.config["WECHAT_WEB_TIMEOUT"] = 0.3
    log_in(client, fake_wechat)
    token = stored_token(client)
    wechat = app.extensions["wechat_web"].extension
    fake_wechat.inject(endpoint, fault, times=1, delay=1.0)
    with app.test_request_context(), pytest.raises(WeChatUnavailableError) as info:
        if endpoint == "auth":
            wechat.check_token(token)
        else:
            wechat.refresh_token(token)
    text = str(info.value) + "".join(r.getMessage() for r in caplog.records)
    for secret in (app.config["WECHAT_WEB_SECRET"], token["access_token"], token["refresh_token"]):
        assert secret not in text
    assert info.value.__context__ is None


def test_forged_host_headers_do_not_reach_the_redirect_uri(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(
        fake_wechat, WECHAT_WEB_CALLBACK_URL="https://www.example.com/wechat/authorized"
    )
    response = app.test_client().get(
        "/wechat/login?next=/ok",
        headers={"Host": "evil.com", "X-Forwarded-Host": "evil.com"},
    )
    assert query_of(response.location)["redirect_uri"] == [
        "https://www.example.com/wechat/authorized"
    ]
