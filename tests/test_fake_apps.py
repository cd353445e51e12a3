"""FakeWeChat's mobile app and mini program: OpenSDK codes, ``wx.login`` codes, jscode2session."""

from __future__ import annotations

import base64
import json
import re
import typing as t
from urllib.parse import urlencode

import pytest
import requests
from flask import Flask
from werkzeug.test import Client, TestResponse

from flask_wechat_web import WeChatWeb
from flask_wechat_web.testing.fake import FakeApp, FakeWeChat

API = "https://api.weixin.qq.com"


@pytest.fixture
def fake() -> FakeWeChat:
    return FakeWeChat(domain="site.example")


@pytest.fixture
def client(fake: FakeWeChat) -> Client:
    return Client(fake)


def api(client: Client, path: str, **params: str) -> tuple[TestResponse, dict[str, t.Any]]:
    response = client.get(path, query_string=params, base_url=API)
    return response, json.loads(response.data.decode("utf-8"))


def exchange(client: Client, app: FakeApp, code: str) -> dict[str, t.Any]:
    params = {"appid": app.appid, "secret": app.secret, "code": code}
    return api(client, "/sns/oauth2/access_token", **params, grant_type="authorization_code")[1]


def jscode2session(client: Client, app: FakeApp, code: str, **change: str) -> dict[str, t.Any]:
    params = {"appid": app.appid, "secret": app.secret, "js_code": code}
    params["grant_type"] = "authorization_code"
    return api(client, "/sns/jscode2session", **{**params, **change})[1]


# -- the mobile app (OpenSDK SendAuth) --------------------------------------------


def test_an_app_code_logs_in_with_the_mobile_apps_pair(fake: FakeWeChat, client: Client) -> None:
    token = exchange(client, fake.mobile_app, fake.app_code())
    assert token["scope"] == "snsapi_userinfo" and token["expires_in"] == 7200
    assert token["openid"] == fake.openid(fake.user, fake.mobile_app.appid)
    assert token["unionid"] == fake.unionid(fake.user), "bound by default"
    params = {"access_token": token["access_token"], "openid": token["openid"]}
    profile = api(client, "/sns/userinfo", **params)[1]
    assert profile["nickname"] == "张三😀" and profile["unionid"] == token["unionid"]


def test_an_app_code_is_bound_to_its_appid_single_use_and_short_lived(
    fake: FakeWeChat, client: Client
) -> None:
    code = fake.app_code(fake.users[1])
    for other in (fake.website_app, fake.mp_app):
        assert exchange(client, other, code)["errcode"] == 40029
    assert exchange(client, fake.mobile_app, code)["openid"], "a refusal does not burn it"
    assert exchange(client, fake.mobile_app, code)["errcode"] == 40163
    late = fake.app_code()
    fake.advance(600)
    assert exchange(client, fake.mobile_app, late)["errcode"] == 40029


def test_codes_need_an_app_of_their_kind(fake: FakeWeChat) -> None:
    with pytest.raises(ValueError, match="'website' app, not 'app'"):
        fake.app_code(app=fake.website_app)
    with pytest.raises(ValueError, match="'app' app, not 'miniprogram'"):
        fake.miniprogram_code(app=fake.mobile_app)


def test_each_app_has_its_own_openid_and_one_unionid(fake: FakeWeChat, client: Client) -> None:
    alice = fake.users[1]
    app_token = exchange(client, fake.mobile_app, fake.app_code(alice))
    session = jscode2session(client, fake.miniprogram, fake.miniprogram_code(alice))
    openids = {fake.openid(alice, app.appid) for app in (fake.website_app, fake.mp_app)}
    openids |= {app_token["openid"], session["openid"]}
    assert len(openids) == 4
    assert app_token["unionid"] == session["unionid"] == fake.unionid(alice)


# -- the mini program (wx.login, jscode2session) ----------------------------------


def test_jscode2session_answers_as_wechat(fake: FakeWeChat, client: Client) -> None:
    code = fake.miniprogram_code()
    assert re.fullmatch(r"[A-Za-z0-9]{32}", code)
    response, body = api(
        client,
        "/sns/jscode2session",
        appid=fake.miniprogram.appid,
        secret=fake.miniprogram.secret,
        js_code=code,
        grant_type="authorization_code",
    )
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/plain"
    assert list(body) == ["openid", "session_key", "unionid"]
    assert body["openid"] == fake.openid(fake.user, fake.miniprogram.appid)
    assert body["unionid"] == fake.unionid(fake.user)
    assert re.fullmatch(r"[A-Za-z0-9+/]{22}==", body["session_key"])
    assert len(base64.b64decode(body["session_key"])) == 16
    assert fake.session_key(fake.user) == body["session_key"]


def test_each_code_brings_a_new_session_key(fake: FakeWeChat, client: Client) -> None:
    assert fake.session_key(fake.user) is None
    first = jscode2session(client, fake.miniprogram, fake.miniprogram_code())
    second = jscode2session(client, fake.miniprogram, fake.miniprogram_code())
    assert first["openid"] == second["openid"]
    assert first["session_key"] != second["session_key"]
    assert fake.session_key(fake.user) == second["session_key"]
    assert fake.session_key(fake.users[1]) is None
    assert fake.session_key(fake.user, fake.mobile_app) is None


def test_an_unbound_mini_program_gives_no_unionid(fake: FakeWeChat, client: Client) -> None:
    other = fake.add_app("wx" + "6" * 16, "b" * 32, kind="miniprogram", bound=False)
    body = jscode2session(client, other, fake.miniprogram_code(app=other))
    assert set(body) == {"openid", "session_key"}
    assert body["openid"] == fake.openid(fake.user, other.appid)
    assert fake.session_key(fake.user, other) == body["session_key"]


@pytest.mark.parametrize(
    ("change", "errcode"),
    [
        ({"appid": ""}, 41002),
        ({"appid": "wx0123456789abcdef"}, 40013),
        ({"secret": ""}, 41004),
        ({"secret": "0" * 32}, 40125),
        ({"js_code": ""}, 41008),
        ({"js_code": "A" * 32}, 40029),
        ({"grant_type": "client_credential"}, 40002),
    ],
)
def test_jscode2session_errors(
    fake: FakeWeChat, client: Client, change: dict[str, str], errcode: int
) -> None:
    code = fake.miniprogram_code()
    response, body = api(
        client,
        "/sns/jscode2session",
        **{
            "appid": fake.miniprogram.appid,
            "secret": fake.miniprogram.secret,
            "js_code": code,
            "grant_type": "authorization_code",
            **change,
        },
    )
    assert response.status_code == 200
    assert body["errcode"] == errcode and "session_key" not in body
    assert re.search(r", rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$", body["errmsg"])
    assert "session_key" in jscode2session(client, fake.miniprogram, code), "not burnt"


def test_codes_do_not_cross_endpoints_or_apps(fake: FakeWeChat, client: Client) -> None:
    mini = fake.miniprogram
    assert exchange(client, mini, fake.miniprogram_code())["errcode"] == 40029
    assert jscode2session(client, mini, fake.app_code())["errcode"] == 40029
    website = fake.website_app
    assert jscode2session(client, website, fake.miniprogram_code())["errcode"] == 40013
    other = fake.add_app("wx" + "7" * 16, "c" * 32, kind="miniprogram")
    assert jscode2session(client, other, fake.miniprogram_code())["errcode"] == 40029


def test_a_wx_login_code_is_single_use_for_five_minutes(fake: FakeWeChat, client: Client) -> None:
    code, late = fake.miniprogram_code(), fake.miniprogram_code()
    assert "session_key" in jscode2session(client, fake.miniprogram, code)
    assert jscode2session(client, fake.miniprogram, code)["errcode"] == 40163
    fake.advance(299)
    assert "session_key" in jscode2session(client, fake.miniprogram, fake.miniprogram_code())
    expired = fake.miniprogram_code()
    fake.advance(300)
    assert jscode2session(client, fake.miniprogram, late)["errcode"] == 40029
    assert jscode2session(client, fake.miniprogram, expired)["errcode"] == 40029


def test_a_hundred_calls_per_user_per_minute(fake: FakeWeChat, client: Client) -> None:
    zhangsan, alice = fake.users[:2]
    for _ in range(100):
        assert "openid" in jscode2session(client, fake.miniprogram, fake.miniprogram_code())
    waiting = fake.miniprogram_code()
    assert jscode2session(client, fake.miniprogram, waiting)["errcode"] == 45011
    other = jscode2session(client, fake.miniprogram, fake.miniprogram_code(alice))
    assert other["openid"] == fake.openid(alice, fake.miniprogram.appid), "per user"
    fake.advance(60)
    assert jscode2session(client, fake.miniprogram, waiting)["openid"], "refused, not burnt"
    assert fake.session_key(zhangsan)


def test_a_blocked_user_gets_40226_until_reset(fake: FakeWeChat, client: Client) -> None:
    alice = fake.users[1]
    fake.block(alice)
    code = fake.miniprogram_code(alice)
    assert jscode2session(client, fake.miniprogram, code)["errcode"] == 40226
    assert "openid" in jscode2session(client, fake.miniprogram, fake.miniprogram_code())
    assert fake.session_key(alice) is None
    fake.reset()
    assert "openid" in jscode2session(client, fake.miniprogram, fake.miniprogram_code(alice))


def test_faults_overrides_and_counts(fake: FakeWeChat, client: Client) -> None:
    fake.inject("jscode2session", "errcode_-1", times=1)
    code = fake.miniprogram_code()
    assert jscode2session(client, fake.miniprogram, code)["errcode"] == -1
    fake.override("jscode2session", {"unionid": ""}, times=1)
    assert jscode2session(client, fake.miniprogram, code)["unionid"] == ""
    assert fake.calls["jscode2session"] == 2 and fake.calls["access_token"] == 0
    fake.inject("jscode2session", "drop")
    with pytest.raises(ConnectionResetError):
        jscode2session(client, fake.miniprogram, fake.miniprogram_code())


@pytest.mark.parametrize("kind", ["app", "miniprogram"])
@pytest.mark.parametrize("path", ["/connect/qrconnect", "/connect/oauth2/authorize"])
def test_apps_have_no_authorize_page(
    fake: FakeWeChat, client: Client, kind: str, path: str
) -> None:
    app = fake.mobile_app if kind == "app" else fake.miniprogram
    query = {"appid": app.appid, "redirect_uri": "https://site.example/wechat/authorized"}
    query |= {"response_type": "code", "scope": "snsapi_userinfo", "state": "s"}
    url = f"https://open.weixin.qq.com{path}?{urlencode(query)}#wechat_redirect"
    with pytest.raises(ValueError, match=f"a {kind} app, which logs in without a web page"):
        fake.approve(url)
    page = client.get(f"{path}?{urlencode(query)}", headers={"User-Agent": "MicroMessenger"})
    assert page.status_code == 200 and "Scope 参数错误或没有 Scope 权限" in page.text
    assert "code=" not in page.text


# -- registration, configuration, reset --------------------------------------------


def test_apps_of_every_kind_can_be_added(fake: FakeWeChat) -> None:
    mobile = fake.add_app(fake.mobile_app.appid, "d" * 32, kind="app", bound=False)
    mini = fake.add_app(fake.miniprogram.appid, "e" * 32, kind="miniprogram", bound=False)
    assert fake.mobile_app is mobile and fake.miniprogram is mini
    assert fake.app_for(mini.appid) is mini
    with pytest.raises(ValueError, match="kind"):
        fake.add_app("wx" + "8" * 16, "a" * 32, kind="minigame")
    fake.reset()
    assert fake.mobile_app.bound and fake.mobile_app.secret != "d" * 32
    assert (fake.mobile_app.kind, fake.miniprogram.kind) == ("app", "miniprogram")


def test_config_carries_the_two_new_pairs(fake: FakeWeChat) -> None:
    config = fake.config()
    assert config["WECHAT_WEB_APP_APPID"] == fake.mobile_app.appid
    assert config["WECHAT_WEB_APP_SECRET"] == fake.mobile_app.secret
    assert config["WECHAT_WEB_MINIPROGRAM_APPID"] == fake.miniprogram.appid
    assert config["WECHAT_WEB_MINIPROGRAM_SECRET"] == fake.miniprogram.secret
    pairs = {
        (config[f"WECHAT_WEB_{k}APPID"], config[f"WECHAT_WEB_{k}SECRET"])
        for k in ("", "MP_", "APP_", "MINIPROGRAM_")
    }
    assert len(pairs) == 4


def test_configure_fills_in_only_missing_pairs(fake: FakeWeChat) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k", WECHAT_WEB_APPID=fake.website_app.appid)
    app.config.update(WECHAT_WEB_SECRET=fake.website_app.secret)
    # A whole pair: half of one fails at init_app (issue 21's server side).
    app.config["WECHAT_WEB_MINIPROGRAM_APPID"] = "wx" + "9" * 16
    app.config["WECHAT_WEB_MINIPROGRAM_SECRET"] = "9" * 32
    WeChatWeb(app)
    fake.configure(app)
    assert app.config["WECHAT_WEB_APP_APPID"] == fake.mobile_app.appid
    assert app.config["WECHAT_WEB_APP_SECRET"] == fake.mobile_app.secret
    assert app.config["WECHAT_WEB_MINIPROGRAM_APPID"] == "wx" + "9" * 16


# -- over real HTTP -----------------------------------------------------------------


def test_both_logins_over_http(fake_wechat: FakeWeChat) -> None:
    api_url = fake_wechat.config()["WECHAT_WEB_API_BASE_URL"]
    assert api_url.startswith("http://127.0.0.1:")
    mini, mobile = fake_wechat.miniprogram, fake_wechat.mobile_app
    with requests.Session() as http:
        answer = http.get(
            f"{api_url}/sns/jscode2session",
            params={
                "appid": mini.appid,
                "secret": mini.secret,
                "js_code": fake_wechat.miniprogram_code(),
                "grant_type": "authorization_code",
            },
            timeout=5,
        )
        token = http.get(
            f"{api_url}/sns/oauth2/access_token",
            params={
                "appid": mobile.appid,
                "secret": mobile.secret,
                "code": fake_wechat.app_code(),
                "grant_type": "authorization_code",
            },
            timeout=5,
        ).json()
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/plain"
    assert answer.json()["session_key"] == fake_wechat.session_key(fake_wechat.user)
    assert answer.json()["unionid"] == token["unionid"] == fake_wechat.unionid(fake_wechat.user)
    assert fake_wechat.calls["jscode2session"] == fake_wechat.calls["access_token"] == 1


def test_a_fake_in_another_process_gives_codes_over_http(fake_wechat: FakeWeChat) -> None:
    server = fake_wechat.server
    assert server is not None
    api_url = server.api_base_url
    with requests.Session() as http:
        mini = http.post(f"{server.open_base_url}/_fake/miniprogram-code", timeout=5)
        made_up = http.post(
            f"{api_url}/_fake/app-code", data={"user": "phone-7"}, timeout=5
        ).json()["code"]
        bad = http.post(f"{api_url}/_fake/app-code", data={"user": "no one"}, timeout=5)
        assert http.get(f"{api_url}/_fake/app-code", timeout=5).status_code == 405
        session = http.get(
            f"{api_url}/sns/jscode2session",
            params={
                "appid": fake_wechat.miniprogram.appid,
                "secret": fake_wechat.miniprogram.secret,
                "js_code": mini.json()["code"],
                "grant_type": "authorization_code",
            },
            timeout=5,
        ).json()
    assert mini.headers["Content-Type"] == "application/json"
    assert session["openid"] == fake_wechat.openid(fake_wechat.user, fake_wechat.miniprogram.appid)
    token = exchange(Client(fake_wechat), fake_wechat.mobile_app, made_up)
    assert fake_wechat.users[-1].key == "phone-7"
    assert token["unionid"] == fake_wechat.unionid(fake_wechat.users[-1])
    assert bad.status_code == 400 and "32 letters" in bad.text
    assert "app_code" not in fake_wechat.calls and fake_wechat.calls["jscode2session"] == 1
