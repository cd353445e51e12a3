"""The sandbox as a person uses it: the site's own fake WeChat, codes only to the site."""

from __future__ import annotations

import html
import json
import re
import shlex
import typing as t
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from flask_login import current_user
from werkzeug.test import Client, TestResponse

from flask_wechat_web import WeChatWeb
from flask_wechat_web.testing import FakeWeChat

from .conftest import MICROMESSENGER_UA, callback_path, consent_form, query_of


def sandbox_site(**config: t.Any) -> FlaskClient:
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="k", WECHAT_WEB_SANDBOX=True, **config)
    WeChatWeb(app)

    @app.route("/")
    def index() -> str:
        return current_user.nickname if current_user.is_authenticated else "anonymous"

    return app.test_client()


def press(client: FlaskClient, page: TestResponse, **choice: str) -> TestResponse:
    """Press a button of the sandbox's page."""
    action, fields = consent_form(page.text)
    return client.post(action, data={**fields, **choice})


def sandbox_page(client: FlaskClient, redirect_uri: str, **headers: str) -> TestResponse:
    location = client.get("/wechat/login", headers=headers).location
    parts = urlsplit(location)
    query = dict(query_of(location))
    query["redirect_uri"] = [redirect_uri]
    tampered = urlencode([(k, v[0]) for k, v in query.items()])
    return client.get(f"{parts.path}?{tampered}", headers=headers)


def test_a_login_through_the_consent_page() -> None:
    client = sandbox_site()
    page = client.get(client.get("/wechat/login").location)
    assert page.status_code == 200 and "以 Alice Smith 的身份登录" in page.text
    approved = press(client, page, user="alice")
    assert approved.status_code == 302
    assert approved.location.startswith("http://localhost/wechat/authorized?code=")
    client.get(callback_path(approved.location))
    assert client.get("/").text == "Alice Smith"


def test_codes_go_only_to_the_sites_own_host() -> None:
    client = sandbox_site()
    for uri in ("http://evil.example/wechat/authorized", "http://localhost.evil.example/"):
        page = sandbox_page(client, uri)
        assert page.status_code == 200 and "<h1>redirect_uri 参数错误</h1>" in page.text
        assert "<form" not in page.text
        fields = dict(query_of(client.get("/wechat/login").location))
        fields["redirect_uri"] = [uri]
        query = urlencode([(k, v[0]) for k, v in fields.items()])
        form = {"endpoint": "qrconnect", "query": query, "user": "alice"}
        forged = client.post("/_wechat_sandbox/connect/confirm", data=form)
        assert forged.status_code == 200 and "Location" not in forged.headers


def test_the_sites_host_with_its_port_is_its_own_for_the_official_account() -> None:
    client = sandbox_site()
    site = {"base_url": "http://127.0.0.1:5000", "headers": {"User-Agent": MICROMESSENGER_UA}}
    page = client.get(client.get("/wechat/login", **site).location, **site)
    assert "的身份登录" in page.text, page.text[:300]
    action, fields = consent_form(page.text)
    form = {**fields, "user": "zhangsan"}
    approved = client.post(action, data=form, **site)
    assert approved.location.startswith("http://127.0.0.1:5000/wechat/authorized?code=")
    form["query"] = form["query"].replace("5000", "5001")
    other_port = client.post(action, data=form, **site)
    assert "10003" in other_port.text and "Location" not in other_port.headers


def test_a_configured_callback_host_is_the_domain() -> None:
    client = sandbox_site(WECHAT_WEB_CALLBACK_URL="https://auth.example.com/wechat/authorized")
    page = client.get(client.get("/wechat/login").location)
    assert press(client, page, user="alice").location.startswith("https://auth.example.com/")
    assert (
        "redirect_uri 参数错误" in sandbox_page(client, "http://localhost/wechat/authorized").text
    )


def test_deny_stays_on_wechats_page() -> None:
    client = sandbox_site()
    denied = press(client, client.get(client.get("/wechat/login").location), deny="1")
    assert denied.status_code == 200 and "Location" not in denied.headers
    assert "你已拒绝授权" in denied.text
    assert client.get("/").text == "anonymous"


def _links(page: str) -> dict[str, str]:
    """A page's links: their text, and where they lead."""
    found = re.findall(r'<a [^>]*href="([^"]*)"[^>]*>(.*?)</a>', page)
    return {html.unescape(text): html.unescape(href) for href, text in found}


def test_a_denial_offers_the_way_back_to_the_site_and_another_try() -> None:
    client = sandbox_site()
    consent = client.get(client.get("/wechat/login?next=/account").location)
    denied = press(client, consent, deny="1")
    assert "你已拒绝授权" in denied.text
    links = _links(denied.text)
    assert links["返回网站"] == "/"
    again = client.get(links["重新选择"])
    assert again.status_code == 200 and 'name="deny"' in again.text  # the same consent page
    # In wxLogin.js's frame: the QR again, in the frame; the site is around it.
    framed = client.get("/wechat/qrcode")
    options = json.loads(re.search(r"new WxLogin\((.*)\);", framed.text).group(1))  # type: ignore[union-attr]
    query = urlencode(
        {"appid": options["appid"], "scope": options["scope"], "state": options["state"]}
    )
    frame_url = (
        f"/_wechat_sandbox/connect/qrconnect?{query}&redirect_uri={options['redirect_uri']}"
        "&login_type=jssdk&self_redirect=false"
    )
    denied = press(client, client.get(frame_url), deny="1")
    links = _links(denied.text)
    assert list(links) == ["重新选择"]
    assert 'name="deny"' in client.get(links["重新选择"]).text


def test_the_fake_on_its_own_leads_back_to_the_callbacks_host() -> None:
    fake = FakeWeChat(domain="site.example")
    client = Client(fake)
    url = (
        f"/connect/qrconnect?appid={fake.website_app.appid}"
        "&redirect_uri=https%3A%2F%2Fsite.example%2Fwechat%2Fauthorized"
        "&response_type=code&scope=snsapi_login&state=s1"
    )
    denied = press(t.cast(t.Any, client), client.get(url), deny="1")
    assert _links(denied.get_data(as_text=True))["返回网站"] == "https://site.example/"


def _babel_site(**config: t.Any) -> FlaskClient:
    from flask_babel import Babel

    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="k", WECHAT_WEB_SANDBOX=True, **config)
    Babel(app, locale_selector=lambda: request.cookies.get("lang", "en"))
    WeChatWeb(app)
    return app.test_client()


@pytest.mark.parametrize("chosen", ["zh_TW", "zh_CN", "en"])
def test_the_sandbox_speaks_the_language_the_site_chose(chosen: str) -> None:
    """Flask-Babel's locale (a cookie here) over the browser's ``Accept-Language``."""
    lang = chosen.replace("_", "-")
    client = _babel_site()
    client.set_cookie("lang", chosen)
    english_browser = {"Accept-Language": "en" if chosen != "en" else "zh-TW"}
    consent = client.get(client.get("/wechat/login").location, headers=english_browser)
    assert f'<html lang="{lang}">' in consent.text
    denied = press(client, consent, deny="1")
    assert f'<html lang="{lang}">' in denied.text
    in_wechat = {**english_browser, "User-Agent": MICROMESSENGER_UA}
    mp = client.get(client.get("/wechat/login", headers=in_wechat).location, headers=in_wechat)
    assert f'<html lang="{lang}">' in mp.text


def test_the_sandbox_follows_the_ui_locale_setting() -> None:
    client = sandbox_site(WECHAT_WEB_UI_LOCALE="zh_TW")
    english = {"Accept-Language": "en"}
    consent = client.get(client.get("/wechat/login", headers=english).location, headers=english)
    assert '<html lang="zh-TW">' in consent.text


def test_the_in_wechat_page_outside_wechat_says_so() -> None:
    client = sandbox_site()
    page = client.get(client.get("/wechat/login?mode=mp").location)
    assert page.status_code == 200 and "请在微信客户端打开链接" in page.text
    assert "<form" not in page.text


def test_the_qr_page_names_the_login_once_and_its_fallback_link_works() -> None:
    """The page's heading is not the frame's; the link opens the sandbox's own page."""
    client = sandbox_site()
    english = {"Accept-Language": "en"}
    page = client.get("/wechat/qrcode?next=/x", headers=english).text
    frame = client.get(client.get("/wechat/login?mode=qr").location, headers=english).text
    [own_heading] = re.findall(r"<h1>(.*?)</h1>", page)
    assert own_heading not in frame
    link = re.search(r'<a href="([^"]+)">(No QR code\?[^<]*)</a>', page)
    assert link is not None
    assert "WeChat's own" not in link[2], "in the sandbox, it is the sandbox's page"
    opened = client.get(html.unescape(link[1]))
    assert opened.location.startswith("/_wechat_sandbox/connect/qrconnect?")
    assert 'name="deny"' in client.get(opened.location).text


# -- the app-codes page: the sandbox plays the mobile app and the mini program --------

APP_CODES = "/_wechat_sandbox/app-codes"


def sandbox_of(client: FlaskClient) -> FakeWeChat:
    fake = client.application.extensions["wechat_web"].sandbox
    assert isinstance(fake, FakeWeChat)
    return fake


def get_code(client: FlaskClient, kind: str, user: str, **headers: str) -> tuple[str, str]:
    """Press a user's button for ``kind``: the code shown, and the curl line."""
    page = client.post(APP_CODES, data={kind: user}, headers=headers)
    assert page.status_code == 200 and page.mimetype == "text/html"
    code = re.search(r"<pre class=\"code\" data-code>([A-Za-z0-9]{32})</pre>", page.text)
    curl = re.search(r"<pre class=\"curl\">(.*?)</pre>", page.text, re.S)
    assert code and curl
    return code.group(1), html.unescape(curl.group(1)).replace("\\\n", "")


def redeem(fake: FakeWeChat, path: str, **params: str) -> dict[str, t.Any]:
    answer = Client(fake.api_app).get(path, query_string=params)
    return dict(json.loads(answer.data))


def test_the_app_codes_page_offers_each_user_both_codes() -> None:
    client = sandbox_site()
    page = client.get(APP_CODES, headers={"Accept-Language": "en"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Flask-WeChat-Web sandbox" in page.text
    for user in sandbox_of(client).users:
        assert f'name="app" value="{user.key}"' in page.text
        assert f'name="miniprogram" value="{user.key}"' in page.text
    assert "data-code" not in page.text, "a visit mints nothing"
    assert client.head(APP_CODES).status_code == 200


def test_a_mini_program_code_and_the_curl_line_that_posts_it() -> None:
    client = sandbox_site()
    config = client.application.config
    code, curl = get_code(client, "miniprogram", "alice")
    assert shlex.split(curl) == [
        "curl",
        "-i",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"code": code}),
        "http://localhost/wechat/miniprogram/login",
    ]
    fake = sandbox_of(client)
    session = redeem(
        fake,
        "/sns/jscode2session",
        appid=config["WECHAT_WEB_MINIPROGRAM_APPID"],
        secret=config["WECHAT_WEB_MINIPROGRAM_SECRET"],
        js_code=code,
        grant_type="authorization_code",
    )
    assert session["openid"] == fake.openid(fake.users[1], fake.miniprogram.appid)


def test_a_mobile_app_code_for_the_sites_own_pair_under_its_prefix() -> None:
    appid, secret = "wx" + "a1" * 8, "b2" * 16
    client = sandbox_site(
        WECHAT_WEB_APP_APPID=appid, WECHAT_WEB_APP_SECRET=secret, WECHAT_WEB_URL_PREFIX="/auth"
    )
    code, curl = get_code(client, "app", "wangwu")
    assert shlex.split(curl)[-1] == "http://localhost/auth/app/login"
    fake = sandbox_of(client)
    token = redeem(
        fake,
        "/sns/oauth2/access_token",
        appid=appid,
        secret=secret,
        code=code,
        grant_type="authorization_code",
    )
    assert token["openid"] == fake.openid(fake.users[2], appid)
    assert token["unionid"] == fake.unionid(fake.users[2])


def test_the_start_up_warning_names_the_app_codes_page(caplog: pytest.LogCaptureFixture) -> None:
    sandbox_site()
    assert "Codes for a mobile app or a mini program: /_wechat_sandbox/app-codes." in caplog.text


def test_the_sandbox_fills_in_both_new_pairs() -> None:
    client = sandbox_site()
    config, fake = client.application.config, sandbox_of(client)
    assert config["WECHAT_WEB_APP_APPID"] == fake.mobile_app.appid
    assert config["WECHAT_WEB_APP_SECRET"] == fake.mobile_app.secret
    assert config["WECHAT_WEB_MINIPROGRAM_APPID"] == fake.miniprogram.appid
    assert config["WECHAT_WEB_MINIPROGRAM_SECRET"] == fake.miniprogram.secret


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("zh-CN", "移动应用和小程序的登录 code"),
        ("zh-TW", "行動應用程式和小程式的登入 code"),
        ("en", "Codes for the app and the mini program"),
    ],
)
def test_the_app_codes_page_speaks_the_sites_language(language: str, title: str) -> None:
    client = sandbox_site()
    page = client.get(APP_CODES, headers={"Accept-Language": language})
    assert f"<h1>{title}</h1>" in page.text
    _, curl = get_code(client, "app", "zhangsan", **{"Accept-Language": language})
    assert curl.startswith("curl -i ")


@pytest.mark.parametrize(
    "form", [{}, {"app": "nobody"}, {"miniprogram": ""}, {"website": "zhangsan"}]
)
def test_a_wrong_press_mints_nothing_and_says_so(form: dict[str, str]) -> None:
    client = sandbox_site()
    page = client.post(APP_CODES, data=form, headers={"Accept-Language": "en"})
    assert page.status_code == 400 and "Choose a user and a kind of code" in page.text
    assert "data-code" not in page.text
    assert client.put(APP_CODES).status_code == 405
