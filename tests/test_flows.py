"""Every way a person meets WeChat login: in WeChat, on a phone, the embedded QR."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, urlsplit

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from flask_wechat_web import WeChatIdentity, wechat_authorized
from flask_wechat_web.testing import FakeWeChat

from .conftest import (
    MICROMESSENGER_UA,
    SignalRecorder,
    callback_path,
    log_in,
    make_app,
    query_of,
    start_login,
    stored_token,
)

WXWORK_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 wxwork/4.1.0 MicroMessenger/7.0.1 Language/zh"
)
WINDOWS_WECHAT_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/81.0.4044.138 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) "
    "WindowsWechat(0x63090a13)"
)
ANDROID_CHROME_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.mark.parametrize(
    ("ua", "path"),
    [
        (MICROMESSENGER_UA, "/connect/oauth2/authorize"),
        (WINDOWS_WECHAT_UA, "/connect/oauth2/authorize"),
        (DESKTOP_UA, "/connect/qrconnect"),
    ],
)
def test_flow_follows_the_browser(client: FlaskClient, ua: str, path: str) -> None:
    assert path_of(start_login(client, ua=ua)) == path


def test_official_account_url_is_wechat_shaped(client: FlaskClient, app: Flask) -> None:
    location = start_login(client, ua=MICROMESSENGER_UA)
    parts = urlsplit(location)
    assert [p.split("=")[0] for p in parts.query.split("&")] == [
        "appid",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
    ]
    assert parts.fragment == "wechat_redirect"
    query = query_of(location)
    assert query["appid"] == [app.config["WECHAT_WEB_MP_APPID"]]
    assert query["scope"] == ["snsapi_userinfo"]
    assert re.fullmatch(r"[A-Za-z0-9]{1,128}", query["state"][0])


def test_mode_forces_a_flow(client: FlaskClient) -> None:
    assert path_of(start_login(client, ua=MICROMESSENGER_UA, mode="qr")).endswith("qrconnect")
    assert path_of(start_login(client, ua=DESKTOP_UA, mode="mp")).endswith("oauth2/authorize")


def test_mode_mp_without_an_official_account_is_a_400(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat, WECHAT_WEB_MP_APPID=None, WECHAT_WEB_MP_SECRET=None)
    response = app.test_client().get("/wechat/login?mode=mp")
    assert response.status_code == 400
    assert "WECHAT_WEB_MP_APPID" in response.get_data(as_text=True)


@pytest.mark.parametrize("ua", [ANDROID_CHROME_UA, WXWORK_UA])
def test_phone_outside_wechat_gets_the_choice_page(client: FlaskClient, ua: str) -> None:
    response = client.get("/wechat/login?next=/account", headers={"User-Agent": ua})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "在微信中继续" in body and "复制链接" in body
    assert 'value="http://localhost/wechat/login?next=/account"' in body
    assert "mode=qr" in body
    qr = client.get("/wechat/login?next=/account&mode=qr", headers={"User-Agent": ua})
    assert path_of(qr.location).endswith("/connect/qrconnect")


def test_phone_without_an_official_account_is_sent_to_a_computer(
    fake_wechat: FakeWeChat,
) -> None:
    app, _ = make_app(fake_wechat, WECHAT_WEB_MP_APPID=None, WECHAT_WEB_MP_SECRET=None)
    client = app.test_client()
    response = client.get("/wechat/login", headers={"User-Agent": ANDROID_CHROME_UA})
    body = response.get_data(as_text=True)
    assert "请在电脑上登录" in body and "在微信中继续" not in body
    # Inside WeChat with no Official Account: the QR page, as the spec says.
    assert path_of(start_login(client, ua=MICROMESSENGER_UA)).endswith("/connect/qrconnect")


def test_official_account_login_uses_its_own_credentials(
    client: FlaskClient, app: Flask, fake_wechat: FakeWeChat, signals: SignalRecorder
) -> None:
    response, _ = log_in(client, fake_wechat, ua=MICROMESSENGER_UA, next="/private")
    assert response.location == "/private"
    identity = signals.named("authorized")[0]["identity"]
    assert identity.appid == app.config["WECHAT_WEB_MP_APPID"]
    assert identity.scope == "snsapi_userinfo"
    assert identity.nickname == fake_wechat.user.nickname
    assert (fake_wechat.calls["access_token"], fake_wechat.calls["userinfo"]) == (1, 1)


def test_snsapi_base_makes_one_call_and_has_no_profile(
    fake_wechat: FakeWeChat, signals: SignalRecorder
) -> None:
    app, _ = make_app(fake_wechat, WECHAT_WEB_MP_SCOPE="snsapi_base")
    identities: list[WeChatIdentity] = []
    with wechat_authorized.connected_to(lambda s, identity, **kw: identities.append(identity), app):
        client = app.test_client()
        response, _ = log_in(client, fake_wechat, ua=MICROMESSENGER_UA)
    assert response.status_code == 302
    [identity] = identities
    assert identity.scope == "snsapi_base"
    assert identity.openid == fake_wechat.openid(fake_wechat.user, fake_wechat.mp_app.appid)
    assert identity.nickname is None and identity.headimgurl is None and identity.raw == {}
    assert (fake_wechat.calls["access_token"], fake_wechat.calls["userinfo"]) == (1, 0)
    assert client.get("/private").status_code == 200


def test_a_scope_with_empty_items_still_gives_the_profile(
    app: Flask, client: FlaskClient, fake_wechat: FakeWeChat, signals: SignalRecorder
) -> None:
    wechat = app.extensions["wechat_web"].extension
    scope = "snsapi_base,snsapi_userinfo,"  # as WeChat's refresh answers carry it
    fake_wechat.override("access_token", {"scope": scope}, times=1)
    response, _ = log_in(client, fake_wechat, ua=MICROMESSENGER_UA)
    assert response.status_code == 302
    identity = signals.named("authorized")[0]["identity"]
    assert identity.has_profile and identity.nickname == fake_wechat.user.nickname
    assert identity.scope == "snsapi_base,snsapi_userinfo"
    assert fake_wechat.calls["userinfo"] == 1
    # The same after a refresh answers it.
    fake_wechat.override("refresh_token", {"scope": scope}, times=1)
    with app.test_request_context():
        fresh = wechat.refresh_token(stored_token(client))
        assert fresh["scope"] == "snsapi_base,snsapi_userinfo"
        identity = wechat.fetch_identity(fresh)
    assert identity.has_profile and identity.nickname == fake_wechat.user.nickname


def test_code_is_redeemed_only_with_the_app_that_issued_the_state(
    client: FlaskClient, fake_wechat: FakeWeChat
) -> None:
    qr_state = query_of(start_login(client))["state"][0]
    mp_callback = fake_wechat.approve(start_login(client, ua=MICROMESSENGER_UA))
    code = query_of(mp_callback)["code"][0]
    response = client.get(f"/wechat/authorized?code={code}&state={qr_state}")
    assert response.status_code == 400  # 40029: the website app cannot redeem it
    assert client.get("/").get_data(as_text=True) == "hello stranger"


def test_one_person_two_apps_one_builtin_user(
    fake_wechat: FakeWeChat, signals: SignalRecorder
) -> None:
    app, _ = make_app(fake_wechat)
    users = []
    with wechat_authorized.connected_to(lambda s, user, **kw: users.append(user), app):
        log_in(app.test_client(), fake_wechat)
        log_in(app.test_client(), fake_wechat, ua=MICROMESSENGER_UA)
    website, official = users
    assert website.openid != official.openid
    assert website.get_id() == official.get_id() == fake_wechat.unionid(fake_wechat.user)


def test_missing_unionid_is_explained_once_per_app(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(fake_wechat)
    fake_wechat.add_app(fake_wechat.website_app.appid, fake_wechat.website_app.secret, bound=False)
    fake_wechat.add_app(fake_wechat.mp_app.appid, fake_wechat.mp_app.secret, kind="mp", bound=False)
    for ua in ("Mozilla/5.0", "Mozilla/5.0", MICROMESSENGER_UA, MICROMESSENGER_UA):
        response, _ = log_in(app.test_client(), fake_wechat, ua=ua)
        assert response.status_code == 302
    warnings = [r.getMessage() for r in caplog.records if "without a unionid" in r.getMessage()]
    assert len(warnings) == 2
    assert "website app" in warnings[0] and "Official Account" in warnings[1]
    assert "two users" in warnings[0]


@pytest.mark.parametrize(
    ("lang", "province"), [("zh_CN", "广东"), ("zh_TW", "廣東"), ("en", "Guangdong")]
)
def test_profile_language(fake_wechat: FakeWeChat, lang: str, province: str) -> None:
    app, _ = make_app(fake_wechat, WECHAT_WEB_LANG=lang)
    website = fake_wechat.website_app  # regions came only in the profile sent before 2021
    fake_wechat.add_app(website.appid, website.secret, empty_profile=False)
    fake_wechat.user = next(u for u in fake_wechat.users if u.province)
    identities: list[WeChatIdentity] = []
    with wechat_authorized.connected_to(lambda s, identity, **kw: identities.append(identity), app):
        log_in(app.test_client(), fake_wechat)
    assert identities[0].province == province
    assert identities[0].raw["language"] == lang


def test_profile_empty_for_apps_after_2021(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    fake_wechat.user = next(u for u in fake_wechat.users if u.province)
    identities: list[WeChatIdentity] = []
    with wechat_authorized.connected_to(lambda s, identity, **kw: identities.append(identity), app):
        log_in(app.test_client(), fake_wechat)
    identity = identities[0]
    assert (identity.province, identity.city, identity.country, identity.sex) == ("", "", "", 0)
    assert identity.nickname == fake_wechat.user.nickname


def test_qrcode_page_embeds_wxlogin(client: FlaskClient, app: Flask) -> None:
    response = client.get("/wechat/qrcode?next=/private")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert f'<script src="{app.config["WECHAT_WEB_WXLOGIN_JS_URL"]}"></script>' in body
    options = re.search(r"new WxLogin\((\{.*?\})\);", body)
    assert options is not None
    import json

    data = json.loads(options.group(1))
    assert data["appid"] == app.config["WECHAT_WEB_APPID"]
    assert data["scope"] == "snsapi_login"
    assert unquote(data["redirect_uri"]) == "http://localhost/wechat/authorized"
    assert "%2F" in data["redirect_uri"]  # encoded by us: the script pastes it raw
    assert data["id"] == "wechat-qrcode" and data["self_redirect"] is False
    assert f'id="{data["id"]}"' in body


def qr_frame_url(page: str, fake: FakeWeChat, self_redirect: str) -> tuple[str, str]:
    """The URL wxLogin.js would load in its iframe for ``page``'s QR; and its state."""
    found = re.search(r'"state": "([A-Za-z0-9]+)"', page)
    assert found is not None
    state = found.group(1)
    url = (
        f"http://open.example/connect/qrconnect?appid={fake.website_app.appid}"
        "&scope=snsapi_login&redirect_uri=http%3A%2F%2Flocalhost%2Fwechat%2Fauthorized"
        f"&state={state}&login_type=jssdk&self_redirect={self_redirect}"
    )
    return url, state


def test_embedded_qr_state_is_checked_like_any_other(
    client: FlaskClient, fake_wechat: FakeWeChat
) -> None:
    body = client.get("/wechat/qrcode?next=/private").get_data(as_text=True)
    url, state = qr_frame_url(body, fake_wechat, "default")
    done = client.get(callback_path(fake_wechat.approve(url)))
    assert done.status_code == 302 and done.location == "/private"
    forged = url.replace(state, "A" * 32)
    assert client.get(callback_path(fake_wechat.approve(forged))).status_code == 400


def test_macro_with_self_redirect_leaves_the_frame(
    app: Flask, client: FlaskClient, fake_wechat: FakeWeChat
) -> None:
    @app.route("/login-page")
    def login_page() -> str:
        return render_template_string(
            '{% from "wechat/macros.html" import wechat_qrcode %}'
            '{{ wechat_qrcode(next="/private", id="qr", self_redirect=True,'
            ' href="data:text/css;base64,e30=") }}'
        )

    body = client.get("/login-page").get_data(as_text=True)
    assert '<div id="qr"' in body
    assert '"self_redirect": true' in body and '"href": "data:text/css;base64,e30="' in body
    url, _ = qr_frame_url(body, fake_wechat, "true")
    done = client.get(callback_path(fake_wechat.approve(url)))
    assert done.status_code == 200
    assert 'window.top.location.replace("/private")' in done.get_data(as_text=True)
    assert client.get("/private").status_code == 200


def test_signals_and_flash_on_denied_in_wechat(
    client: FlaskClient, fake_wechat: FakeWeChat, signals: SignalRecorder
) -> None:
    callback = callback_path(fake_wechat.deny(start_login(client, ua=MICROMESSENGER_UA)))
    assert client.get(callback).status_code == 403
    assert len(signals.named("failed")) == 1


def test_lazy_profile_login_makes_one_call(fake_wechat: FakeWeChat) -> None:
    app, wechat = make_app(fake_wechat)
    known: dict[str, object] = {}

    class User:
        is_active = True
        is_authenticated = True
        is_anonymous = False

        def __init__(self, key: str) -> None:
            self.key = key

        def get_id(self) -> str:
            return self.key

    @wechat.user_handler
    def find(identity: WeChatIdentity) -> User:
        key = identity.unionid or identity.openid
        if key not in known:
            known[key] = identity.nickname  # a new user: read the profile once
        return User(key)

    app.login_manager.user_loader(lambda key: User(key) if key in known else None)
    log_in(app.test_client(), fake_wechat)
    assert (fake_wechat.calls["access_token"], fake_wechat.calls["userinfo"]) == (1, 1)
    log_in(app.test_client(), fake_wechat)  # a returning user: the token call only
    assert (fake_wechat.calls["access_token"], fake_wechat.calls["userinfo"]) == (2, 1)


def test_lazy_profile_failure_fails_the_login_cleanly(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app, _ = make_app(fake_wechat)
    fake_wechat.inject("userinfo", "errcode_-1", times=1)
    response, _ = log_in(app.test_client(), fake_wechat)
    assert response.status_code == 502
