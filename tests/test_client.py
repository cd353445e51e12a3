"""WeChat's dialect on Authlib, and one pooled connection per app."""

from __future__ import annotations

import threading
import typing as t

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from flask_wechat_web import InvalidCredentialError, TokenExpiredError, WeChatWeb
from flask_wechat_web.client import WeChatOAuth2Session, WeChatRemoteApp
from flask_wechat_web.testing import FakeWeChat
from flask_wechat_web.transport import ConnectionPool

from .conftest import MICROMESSENGER_UA, log_in, stored_token


def test_remote_is_an_authlib_app_registered_as_wechat(app: Flask, wechat: WeChatWeb) -> None:
    from authlib.integrations.flask_client import FlaskOAuth2App
    from authlib.integrations.requests_client import OAuth2Session

    with app.app_context():
        remote = wechat.remote
        assert isinstance(remote, WeChatRemoteApp) and isinstance(remote, FlaskOAuth2App)
        assert remote.name == "wechat"
        assert issubclass(remote.client_cls, OAuth2Session)
        assert remote.client_cls is WeChatOAuth2Session
        assert app.extensions["wechat_web"].registry.create_client("wechat") is remote
    assert "authlib.integrations.flask_client" not in app.extensions


def test_ten_logins_open_one_api_connection(app: Flask, fake_wechat: FakeWeChat) -> None:
    server = fake_wechat.server
    for _ in range(10):
        response, _ = log_in(app.test_client(), fake_wechat)
        assert response.status_code == 302
    assert fake_wechat.calls["access_token"] == 10
    assert fake_wechat.calls["userinfo"] == 10
    assert server.api_connections == 1


def test_concurrent_logins_share_the_pool(app: Flask, fake_wechat: FakeWeChat) -> None:
    log_in(app.test_client(), fake_wechat)
    results: list[int] = []

    def worker() -> None:
        for _ in range(3):
            results.append(log_in(app.test_client(), fake_wechat)[0].status_code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [302] * 18
    assert fake_wechat.server.api_connections <= 6


def test_pool_is_made_again_after_fork() -> None:
    pool = ConnectionPool()
    first = pool.adapter
    assert pool.adapter is first
    pool._pid = -1  # what a forked worker sees: another pid
    assert pool.adapter is not first
    pool.close()


def test_bodies_are_utf8_whatever_the_content_type(
    app: Flask, client: FlaskClient, wechat: WeChatWeb, fake_wechat: FakeWeChat
) -> None:
    log_in(client, fake_wechat)
    emoji_user = next(u for u in fake_wechat.users if "😀" in u.nickname)
    fake_wechat.user = emoji_user
    log_in(client, fake_wechat)
    token = stored_token(client)
    with app.test_request_context():
        response = wechat.remote.get("sns/userinfo", token=token, params={"lang": "zh_CN"})
        assert response.headers["Content-Type"] == "text/plain"
        assert response.json()["nickname"] == emoji_user.nickname
        assert "openid=" in response.request.url and "access_token=" in response.request.url


def test_fetch_identity_check_and_refresh(
    app: Flask, client: FlaskClient, wechat: WeChatWeb, fake_wechat: FakeWeChat
) -> None:
    website = fake_wechat.website_app  # lang shows only in the profile sent before 2021
    fake_wechat.add_app(website.appid, website.secret, empty_profile=False)
    log_in(client, fake_wechat)
    token = stored_token(client)
    with app.test_request_context():
        identity = wechat.fetch_identity(token, lang="en")
        assert identity.nickname == fake_wechat.user.nickname
        assert identity.raw["language"] == "en"
        assert wechat.check_token(token) is True
        fake_wechat.advance(7201)
        assert wechat.check_token(token) is False
        assert fake_wechat.calls["refresh_token"] == 0  # a pure question
        # WeChat rejects the token before its expires_at: refreshed, then retried.
        assert wechat.fetch_identity(token).nickname == fake_wechat.user.nickname
        assert fake_wechat.calls["refresh_token"] == 1
        fresh = wechat.refresh_token(token)
        assert fresh["access_token"] != token["access_token"]
        assert fresh["refresh_token"] == token["refresh_token"]
        assert fresh["expires_at"] >= token["expires_at"]
        assert wechat.check_token(fresh) is True
        assert fake_wechat.calls["refresh_token"] == 2
        fake_wechat.advance(31 * 86400)
        with pytest.raises(TokenExpiredError, match="log in"):
            wechat.refresh_token(fresh)


def record_requests(app: Flask, wechat: WeChatWeb) -> list[tuple[str, str]]:
    """Every request the website app's remote sends from now on: (method, URL)."""
    sent: list[tuple[str, str]] = []

    def record(response: t.Any, *args: object, **kwargs: object) -> None:
        sent.append((response.request.method, response.request.url))

    with app.app_context():
        remote = wechat.remote
    original = remote.client_cls

    class Recording(original):  # type: ignore[misc,valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.hooks["response"].append(record)

    remote.client_cls = Recording
    # The thread's parked session is of the old class: let the next call build one.
    remote._idle.session = None
    return sent


def test_refresh_sends_no_secret(app: Flask, wechat: WeChatWeb, fake_wechat: FakeWeChat) -> None:
    client = app.test_client()
    log_in(client, fake_wechat)
    token = stored_token(client)
    sent = record_requests(app, wechat)
    with app.test_request_context():
        wechat.refresh_token(token)
    [(method, url)] = sent
    assert method == "GET" and "/sns/oauth2/refresh_token?" in url
    assert "secret" not in url
    assert url.split("?")[1].startswith("appid=")


def test_token_call_is_a_get_with_the_credentials_in_order(
    app: Flask, wechat: WeChatWeb, fake_wechat: FakeWeChat
) -> None:
    sent = record_requests(app, wechat)
    log_in(app.test_client(), fake_wechat)
    method, url = sent[0]
    assert method == "GET"
    query = url.split("?")[1]
    assert [pair.split("=")[0] for pair in query.split("&")] == [
        "appid",
        "secret",
        "code",
        "grant_type",
    ]
    assert f"secret={app.config['WECHAT_WEB_SECRET']}" in query
    assert "grant_type=authorization_code" in query


def test_wrong_secret_is_an_invalid_credential(fake_wechat: FakeWeChat) -> None:
    from .conftest import make_app

    app, wechat = make_app(fake_wechat)
    fake_wechat.add_app(app.config["WECHAT_WEB_APPID"], "e" * 32)
    with app.app_context():
        with pytest.raises(InvalidCredentialError) as info:
            wechat.remote.fetch_access_token(code="x" * 32)
    assert info.value.errcode == 40125
    assert app.config["WECHAT_WEB_SECRET"] not in str(info.value)


def test_in_wechat_browser_uses_the_official_account(
    client: FlaskClient, fake_wechat: FakeWeChat, app: Flask
) -> None:
    response, _ = log_in(client, fake_wechat, ua=MICROMESSENGER_UA)
    assert response.status_code == 302
    assert fake_wechat.calls["authorize"] == 1
    assert stored_token(client)["appid"] == app.config["WECHAT_WEB_MP_APPID"]


@pytest.fixture
def https_fake(tmp_path: t.Any) -> t.Iterator[tuple[FakeWeChat, str]]:
    """A fake WeChat served over HTTPS with a certificate from a local CA."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cafile, certfile = tmp_path / "ca.pem", tmp_path / "cert.pem"
    ca.cert_pem.write_to_path(str(cafile))
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    fake = FakeWeChat()
    with fake.serve(certfile=str(certfile)):
        yield fake, str(cafile)


@pytest.mark.parametrize("trusted", [True, False])
def test_login_over_verified_https(
    https_fake: tuple[FakeWeChat, str], monkeypatch: pytest.MonkeyPatch, trusted: bool
) -> None:
    fake, cafile = https_fake
    # The environment's CA bundle, as requests reads it (once per process here).
    monkeypatch.setenv(
        "REQUESTS_CA_BUNDLE", cafile if trusted else "/etc/ssl/certs/ca-certificates.crt"
    )
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="k", **fake.config())
    WeChatWeb(app)
    client = app.test_client()
    response, _ = log_in(client, fake)
    if trusted:
        assert response.status_code == 302
        assert fake.server is not None and fake.server.api_base_url.startswith("https://")
    else:
        assert response.status_code == 502  # never falls back to verify=False
        assert "TLS" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({}, {}),
        ({"lang": "zh_CN", "openid": "o张三 &=", "skip": None, "many": ["a", "b"]}, None),
        ([("lang", "en")], {"X-Extra": "1"}),
        ("lang=en", {"Accept": None}),
    ],
)
def test_a_call_is_prepared_as_requests_would(params: t.Any, headers: t.Any) -> None:
    """The session's shortcut past requests' protocol checks changes no request."""
    plain, ours = requests.Session(), WeChatOAuth2Session("wxappid", "secret")
    for session in (plain, ours):
        session.params = {"site": "1", "skip": "no"}
        session.headers["X-Site"] = "yes"
    url = "https://api.example.com/sns/userinfo?access_token=T"
    expected = plain.prepare_request(requests.Request("GET", url, params=params, headers=headers))
    request = requests.Request("GET", url, params=params, headers=headers)
    prepared = ours.prepare_request(request)
    assert prepared.url == expected.url
    assert dict(prepared.headers) == dict(expected.headers)
    assert request.params == (params or {}) and request.headers == (headers or {})  # untouched
