"""FakeWeChat in-process: WeChat's rules, faults, the sandbox pages, the adapter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import typing as t
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client, TestResponse

from flask_wechat_web.testing.fake import FakeApp, FakeUser, FakeWeChat

from .conftest import MICROMESSENGER_UA, consent_form

CALLBACK = "https://site.example/wechat/authorized"
API = "https://api.weixin.qq.com"
PREFIX = "/_wechat_sandbox"
JS_PATH = "/connect/zh_CN/htmledition/js/wxLogin.js"
IN_WECHAT = {"User-Agent": MICROMESSENGER_UA}


@pytest.fixture
def fake() -> FakeWeChat:
    return FakeWeChat(domain="site.example")


@pytest.fixture
def client(fake: FakeWeChat) -> Client:
    return Client(fake)


def authorize_url(app: FakeApp, **params: str | None) -> str:
    """An authorize URL in WeChat's documented order; ``None`` drops a param."""
    scope = "snsapi_login" if app.kind == "website" else "snsapi_userinfo"
    query: dict[str, str | None] = {
        "appid": app.appid,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": scope,
        "state": "s7ate",
    }
    query.update(params)
    path = "/connect/qrconnect" if app.kind == "website" else "/connect/oauth2/authorize"
    pairs = [(k, v) for k, v in query.items() if v is not None]
    return f"https://open.weixin.qq.com{path}?{urlencode(pairs)}#wechat_redirect"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def open_page(client: Client, url: str, **headers: str) -> TestResponse:
    """GET an authorize page in WeChat's browser (the QR page does not mind)."""
    return client.get(path_of(url), headers={**IN_WECHAT, **headers})


def api(client: Client, path: str, **params: str) -> tuple[TestResponse, dict[str, t.Any]]:
    response = client.get(path, query_string=params, base_url=API)
    return response, json.loads(response.data.decode("utf-8"))


def changed(params: dict[str, str], change: dict[str, str | None]) -> dict[str, str]:
    """``params`` with ``change`` applied; a ``None`` value removes the key."""
    merged = {**params, **change}
    return {k: v for k, v in merged.items() if v is not None}


def exchange(client: Client, app: FakeApp, code: str) -> dict[str, t.Any]:
    return api(
        client,
        "/sns/oauth2/access_token",
        appid=app.appid,
        secret=app.secret,
        code=code,
        grant_type="authorization_code",
    )[1]


def log_in(
    fake: FakeWeChat, client: Client, app: FakeApp | None = None, **params: str | None
) -> dict[str, t.Any]:
    """Approve and exchange the code: the token response."""
    app = app or fake.website_app
    code = query_of(fake.approve(authorize_url(app, **params)))["code"][0]
    return exchange(client, app, code)


def confirm(client: Client, url: str, **choice: str) -> TestResponse:
    """Open the page and press one of its buttons, as a person would."""
    action, fields = consent_form(open_page(client, url).get_data(as_text=True))
    return client.post(action, data={**fields, **choice})


def wechat_error(response: TestResponse) -> str:
    """The title of WeChat's error page, which is HTTP 200 and leads nowhere."""
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert "<form" not in page and "code=" not in page
    title = re.search(r"<h1>(.*?)</h1>", page)
    assert title is not None
    return title.group(1)


# -- authorize pages -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["website", "mp"])
def test_a_visit_shows_the_page_and_mints_no_code(
    fake: FakeWeChat, client: Client, kind: str
) -> None:
    app = fake.website_app if kind == "website" else fake.mp_app
    for method in ("GET", "HEAD"):
        response = client.open(path_of(authorize_url(app)), method=method, headers=IN_WECHAT)
        assert response.status_code == 200 and "Location" not in response.headers
    page = open_page(client, authorize_url(app)).get_data(as_text=True)
    assert "的身份登录" in page and "code=" not in page  # zh_CN, the default
    assert not fake._codes, "nothing minted without an approval"
    assert fake.calls["qrconnect" if kind == "website" else "authorize"] == 3


def test_approval_redirects_with_code_and_state(fake: FakeWeChat, client: Client) -> None:
    url = authorize_url(fake.website_app, redirect_uri=CALLBACK + "?next=%2Fhome#top")
    response = confirm(client, url, user="zhangsan")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?next=%2Fhome&code=")
    assert location.endswith("&state=s7ate#top")
    assert re.fullmatch(r"[0-9A-Za-z]{32}", query_of(location)["code"][0])
    assert (fake.calls["qrconnect"], fake.calls["confirm"]) == (1, 1)


def test_state_is_left_out_when_none_was_given(fake: FakeWeChat, client: Client) -> None:
    response = confirm(client, authorize_url(fake.mp_app, state=None), user="alice")
    assert list(query_of(response.headers["Location"])) == ["code"]
    assert fake.calls["authorize"] == 1


def test_snsapi_base_in_wechat_is_silent_but_never_for_a_prefetch(
    fake: FakeWeChat, client: Client
) -> None:
    url = authorize_url(fake.mp_app, scope="snsapi_base")
    response = open_page(client, url)
    assert response.status_code == 302
    token = exchange(client, fake.mp_app, query_of(response.headers["Location"])["code"][0])
    assert token["openid"] == fake.openid(fake.user, fake.mp_app.appid)
    client.set_cookie("fake_wechat_user", "visitor-1")
    location = open_page(client, url).headers["Location"]
    token = exchange(client, fake.mp_app, query_of(location)["code"][0])
    assert token["openid"] == fake.openid(fake.users[-1], fake.mp_app.appid)
    assert fake.users[-1].key == "visitor-1"
    minted = len(fake._codes)
    for headers in ({"Sec-Purpose": "prefetch"}, {"Purpose": "prefetch"}):
        page = open_page(client, url, **headers)
        assert page.status_code == 200 and "静默授权" in page.get_data(as_text=True)
    head = client.head(path_of(url), headers=IN_WECHAT)
    assert head.status_code == 200 and "Location" not in head.headers
    assert len(fake._codes) == minted


def test_in_wechat_page_outside_wechat_says_open_it_in_wechat(
    fake: FakeWeChat, client: Client
) -> None:
    desktop = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
    for scope in ("snsapi_userinfo", "snsapi_base"):
        url = authorize_url(fake.mp_app, scope=scope)
        response = client.get(path_of(url), headers=desktop)
        assert wechat_error(response) == "请在微信客户端打开链接"
        assert wechat_error(client.get(path_of(url))) == "请在微信客户端打开链接"
    assert not fake._codes
    assert open_page(client, authorize_url(fake.website_app)).status_code == 200, "QR: any browser"


def test_each_host_serves_its_own_paths(fake: FakeWeChat, client: Client) -> None:
    page = path_of(authorize_url(fake.website_app))
    assert client.get(page, base_url=API).status_code == 404
    assert client.get(page, base_url="https://open.weixin.qq.com").status_code == 200
    for path in ("/sns/auth", "/sns/oauth2/access_token", "/sns/userinfo"):
        assert client.get(path).status_code == 404
        assert client.get(path, base_url=API).status_code == 200
    assert Client(fake.open_app).get("/sns/auth", base_url=API).status_code == 404
    assert Client(fake.api_app).get(page).status_code == 404
    assert client.get(JS_PATH, base_url=API).status_code == 404


@pytest.mark.parametrize(
    ("kind", "params", "title"),
    [
        ("website", {"appid": None}, "AppID 参数错误"),
        ("website", {"appid": "wx0123456789abcdef"}, "AppID 参数错误"),
        ("website", {"response_type": "token"}, "response_type 参数错误"),
        ("website", {"response_type": None}, "response_type 参数错误"),
        ("website", {"scope": "snsapi_userinfo"}, "Scope 参数错误或没有 Scope 权限"),
        ("website", {"scope": None}, "Scope 参数错误或没有 Scope 权限"),
        ("website", {"redirect_uri": "/wechat/authorized"}, "redirect_uri 参数错误"),
        ("website", {"redirect_uri": "ftp://site.example/"}, "redirect_uri 参数错误"),
        ("website", {"redirect_uri": "https://site.example:bad/"}, "redirect_uri 参数错误"),
        ("website", {"redirect_uri": None}, "redirect_uri 参数错误"),
        ("website", {"redirect_uri": "https://elsewhere.example/cb"}, "redirect_uri 参数错误"),
        ("mp", {"scope": "snsapi_login"}, "Scope 参数错误或没有 Scope 权限"),
        ("mp", {"scope": "snsapi_base,snsapi_userinfo"}, "Scope 参数错误或没有 Scope 权限"),
        ("mp", {"state": "has-dash"}, "state 参数错误"),
        ("mp", {"state": "a" * 129}, "state 参数错误"),
        (
            "mp",
            {"redirect_uri": "https://elsewhere.example/cb"},
            "redirect_uri 域名与后台配置不一致",
        ),
    ],
)
def test_invalid_authorize_requests_show_wechats_error_page(
    fake: FakeWeChat, client: Client, kind: str, params: dict[str, str | None], title: str
) -> None:
    app = fake.website_app if kind == "website" else fake.mp_app
    assert wechat_error(open_page(client, authorize_url(app, **params))) == title
    with pytest.raises(ValueError, match=re.escape(title)):
        fake.approve(authorize_url(app, **params))
    with pytest.raises(ValueError, match=re.escape(title)):
        fake.deny(authorize_url(app, **params))
    assert not fake._codes


def test_app_kind_must_match_the_path(fake: FakeWeChat, client: Client) -> None:
    website_on_mp = authorize_url(fake.website_app).replace("qrconnect", "oauth2/authorize")
    mp_on_website = authorize_url(fake.mp_app).replace("oauth2/authorize", "qrconnect")
    for url in (website_on_mp, mp_on_website):
        response = open_page(client, url)
        assert wechat_error(response) == "Scope 参数错误或没有 Scope 权限"
        assert "10005" in response.get_data(as_text=True)


def test_official_account_links_need_wechats_parameter_order(
    fake: FakeWeChat, client: Client
) -> None:
    app = fake.mp_app
    misordered = (
        f"/connect/oauth2/authorize?appid={app.appid}&redirect_uri=https%3A%2F%2Fsite.example%2F"
        "&scope=snsapi_userinfo&response_type=code&state=x"
    )
    response = client.get(misordered, headers=IN_WECHAT)
    assert wechat_error(response) == "Scope 参数错误或没有 Scope 权限"
    # The website app's qrconnect tolerates any order, as wxLogin.js relies on.
    website = fake.website_app
    reordered = (
        f"/connect/qrconnect?scope=snsapi_login&appid={website.appid}&state=x"
        "&redirect_uri=https%3A%2F%2Fsite.example%2F&response_type=code"
    )
    assert "的身份登录" in client.get(reordered).get_data(as_text=True)


def test_optional_parameters_are_accepted(fake: FakeWeChat, client: Client) -> None:
    mp = authorize_url(fake.mp_app).replace("#", "&forcePopup=true&connect_redirect=1#")
    assert confirm(client, mp, user="alice").status_code == 302
    website = authorize_url(fake.website_app, lang="en", style="white", stylelite="1")
    assert confirm(client, website, user="alice").status_code == 302


def test_state_rules_differ_by_flow(fake: FakeWeChat, client: Client) -> None:
    assert (
        confirm(client, authorize_url(fake.mp_app, state="A1" * 64), user="alice").status_code
        == 302
    )
    free_state = "x-y_z!" * 40
    location = fake.approve(authorize_url(fake.website_app, state=free_state))
    assert query_of(location)["state"] == [free_state]


def test_callback_domain_rules(fake: FakeWeChat, client: Client) -> None:
    website = fake.add_app("wx" + "1" * 16, "a" * 32, domain="site.example")
    mp = fake.add_app("wx" + "2" * 16, "b" * 32, kind="mp", domain="site.example")
    test_account = fake.add_app("wx" + "7" * 16, "c" * 32, kind="mp", domain="127.0.0.1:5000")
    ok = [
        (website, ["https://site.example/cb", "http://site.example:8080/any/path"]),
        (mp, ["https://site.example/cb", "http://SITE.example/other"]),
        (test_account, ["http://127.0.0.1:5000/cb"]),
    ]
    for app, uris in ok:
        for uri in uris:
            assert "code=" in fake.approve(authorize_url(app, redirect_uri=uri))
    bad = [
        (website, ["https://a.site.example/", "https://example/", "http://localhost/cb"]),
        (mp, ["https://site.example:8443/cb", "https://pay.site.example/cb"]),
        (test_account, ["http://127.0.0.1/cb", "http://127.0.0.1:5001/cb"]),
    ]
    minted = len(fake._codes)
    for app, uris in bad:
        for uri in uris:
            response = open_page(client, authorize_url(app, redirect_uri=uri))
            code = "10003" if app.kind == "mp" else None
            title = "redirect_uri 域名与后台配置不一致" if code else "redirect_uri 参数错误"
            assert wechat_error(response) == title
            assert code is None or code in response.get_data(as_text=True)
            with pytest.raises(ValueError, match=title):
                fake.approve(authorize_url(app, redirect_uri=uri))
            post = {"endpoint": "qrconnect" if code is None else "authorize", "user": "alice"}
            post["query"] = urlsplit(authorize_url(app, redirect_uri=uri)).query
            assert wechat_error(client.post("/connect/confirm", data=post)) == title
    assert len(fake._codes) == minted
    with pytest.raises(ValueError, match="callback domain"):
        fake.add_app("wx" + "8" * 16, "d" * 32, domain="https://site.example/")


def test_the_default_domain_is_the_test_clients_host() -> None:
    fake = FakeWeChat()
    assert fake.website_app.domain == fake.mp_app.domain == "localhost"
    assert "code=" in fake.approve(
        authorize_url(fake.website_app, redirect_uri="http://localhost/cb")
    )
    with pytest.raises(ValueError, match="redirect_uri"):
        fake.approve(authorize_url(fake.website_app))
    fake.set_domain("site.example")
    assert "code=" in fake.approve(authorize_url(fake.mp_app))
    fake.reset()
    assert fake.website_app.domain == "localhost"


def test_approve_and_deny_in_process(fake: FakeWeChat, client: Client) -> None:
    url = authorize_url(fake.website_app)
    approved = fake.approve(url, fake.users[1])
    assert approved.startswith(CALLBACK + "?code=")
    token = exchange(client, fake.website_app, query_of(approved)["code"][0])
    assert token["openid"] == fake.openid(fake.users[1], fake.website_app.appid)
    assert fake.deny(url) == CALLBACK + "?state=s7ate"
    assert fake.calls["qrconnect"] == 2 and len(fake._codes) == 1
    with pytest.raises(ValueError, match="not a WeChat authorize URL"):
        fake.approve("https://open.weixin.qq.com/elsewhere")


def test_approve_defaults_to_the_current_user(fake: FakeWeChat, client: Client) -> None:
    fake.user = fake.users[2]
    token = log_in(fake, client)
    assert token["openid"] == fake.openid(fake.users[2], fake.website_app.appid)


# -- the consent page (sandbox) --------------------------------------------------


def test_consent_page_is_self_contained(fake: FakeWeChat, client: Client) -> None:
    response = open_page(client, authorize_url(fake.website_app))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert '<meta name="viewport"' in page
    assert "Flask-WeChat-Web 沙箱" in page and "不会连接真正的微信" in page
    assert fake.website_app.appid in page and "snsapi_login" in page
    for user in fake.users:
        assert f"以 {user.nickname} 的身份登录" in page
        assert f'name="user" value="{user.key}"' in page
    assert 'name="deny"' in page and "<svg" in page
    assert not re.search(r"(src|href)=(?!\"data:)|url\(|@import", page), "loads nothing"
    assert "AS</span>" in page, "initials as the avatar placeholder"


def test_consent_form_approves_as_the_chosen_user(fake: FakeWeChat, client: Client) -> None:
    response = confirm(client, authorize_url(fake.website_app), user="alice")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert query_of(location)["state"] == ["s7ate"]
    token = exchange(client, fake.website_app, query_of(location)["code"][0])
    assert token["openid"] == fake.openid(fake.users[1], fake.website_app.appid)
    assert fake.calls["confirm"] == 1


def test_a_browsers_user_cookie_is_offered_on_the_page(fake: FakeWeChat, client: Client) -> None:
    client.set_cookie("fake_wechat_user", "client-7")
    page = open_page(client, authorize_url(fake.website_app)).get_data(as_text=True)
    assert "以 用户 client-7 的身份登录" in page
    location = confirm(client, authorize_url(fake.website_app), user="client-7").headers["Location"]
    token = exchange(client, fake.website_app, query_of(location)["code"][0])
    assert token["openid"] == fake.openid(fake.users[-1], fake.website_app.appid)


def test_denial_shows_wechats_page_and_tells_the_site_nothing(
    fake: FakeWeChat, client: Client
) -> None:
    for app in (fake.website_app, fake.mp_app):
        response = confirm(client, authorize_url(app), deny="1")
        assert response.status_code == 200
        assert "Location" not in response.headers
        assert "你已拒绝授权" in response.get_data(as_text=True)
    fake.deny_redirect = True  # older WeChat
    response = confirm(client, authorize_url(fake.mp_app), deny="1")
    assert response.status_code == 302
    assert response.headers["Location"] == CALLBACK + "?state=s7ate"
    assert not fake._codes


def test_consent_form_is_validated_again(fake: FakeWeChat, client: Client) -> None:
    bad_query = {"endpoint": "qrconnect", "query": "appid=wx0", "user": "alice"}
    assert wechat_error(client.post("/connect/confirm", data=bad_query)) == "AppID 参数错误"
    wrong_endpoint = {"endpoint": "elsewhere", "query": "", "user": "alice"}
    assert wechat_error(client.post("/connect/confirm", data=wrong_endpoint)) == "请求参数错误"
    response = confirm(client, authorize_url(fake.website_app), user="nobody")
    assert wechat_error(response) == "请求参数错误"
    assert client.get("/connect/confirm").status_code == 405
    assert not fake._codes


def test_consent_page_for_official_accounts(fake: FakeWeChat, client: Client) -> None:
    prefetched = open_page(
        client, authorize_url(fake.mp_app, scope="snsapi_base"), Purpose="prefetch"
    )
    assert "静默授权" in prefetched.get_data(as_text=True)
    fake.snapshot = True
    page = open_page(client, authorize_url(fake.mp_app)).get_data(as_text=True)
    assert "is_snapshotuser" in page


def test_embedded_qr_sends_the_top_window_back(fake: FakeWeChat, client: Client) -> None:
    url = authorize_url(
        fake.website_app, response_type=None, login_type="jssdk", self_redirect="default"
    )
    page = open_page(client, url).get_data(as_text=True)
    assert 'class="compact' in page
    response = confirm(client, url, user="zhangsan")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    target = re.search(r"window\.top\.location\.href = (\".*?\");", page)
    assert target is not None
    callback = json.loads(target.group(1))
    assert callback.startswith(CALLBACK + "?code=")
    assert 'target="_top"' in page


def test_embedded_qr_with_self_redirect_navigates_the_frame(
    fake: FakeWeChat, client: Client
) -> None:
    url = authorize_url(fake.website_app, login_type="jssdk", self_redirect="true")
    assert open_page(client, url).status_code == 200
    response = confirm(client, url, user="zhangsan")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(CALLBACK + "?code=")
    fake.deny_redirect = True
    response = confirm(client, url, deny="1")
    assert response.headers["Location"] == CALLBACK + "?state=s7ate"


# -- mounted under a prefix ------------------------------------------------------


def test_links_carry_the_mount_prefix(fake: FakeWeChat) -> None:
    client = Client(DispatcherMiddleware(NotFound(), {PREFIX: fake.open_app, "/api": fake.api_app}))
    url = PREFIX + path_of(authorize_url(fake.website_app))
    page = client.get(url).get_data(as_text=True)
    assert f'action="{PREFIX}/connect/confirm"' in page
    response = client.post(
        f"{PREFIX}/connect/confirm",
        data={"endpoint": "qrconnect", "query": urlsplit(url).query, "user": "alice"},
    )
    assert response.status_code == 302
    code = query_of(response.headers["Location"])["code"][0]
    app = fake.website_app
    params = {"appid": app.appid, "secret": app.secret, "code": code}
    params["grant_type"] = "authorization_code"
    token = client.get("/api/sns/oauth2/access_token", query_string=params)
    assert b"access_token" in token.data
    assert client.get(f"{PREFIX}/sns/oauth2/access_token").status_code == 404
    assert client.get(PREFIX + JS_PATH).status_code == 200
    assert client.get(JS_PATH).status_code == 404


# -- wxLogin.js ------------------------------------------------------------------


def test_wxlogin_js_is_served_and_counted(fake: FakeWeChat, client: Client) -> None:
    response = client.get(JS_PATH)
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert b"window.WxLogin" in response.data
    assert fake.calls["wxlogin_js"] == 1


NODE_HARNESS = """
const script = require("fs").readFileSync(0, "utf8");
const container = {innerHTML: "old", children: [], appendChild(c) { this.children.push(c); }};
global.window = global;
global.document = {
  currentScript: {src: process.argv[1]},
  getElementById: (id) => (id === "login" ? container : null),
  getElementsByTagName: () => [],
  createElement: (tag) => ({tag}),
};
eval(script);
new WxLogin({id: "login", appid: "wxA", scope: "snsapi_login",
             redirect_uri: encodeURIComponent("https://site.example/cb?a=1"),
             state: "xyz", self_redirect: process.argv[2] === "true" ? true : undefined,
             style: "white"});
process.stdout.write(JSON.stringify({html: container.innerHTML, frame: container.children[0]}));
"""


@pytest.mark.parametrize("self_redirect", ["default", "true"])
def test_wxlogin_js_builds_the_iframe_under_its_own_prefix(
    fake: FakeWeChat, self_redirect: str
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = Client(fake).get(JS_PATH).data
    origin = "http://localhost:5000" + PREFIX
    result = subprocess.run(
        [node, "-e", NODE_HARNESS, origin + JS_PATH, self_redirect],
        input=script,
        capture_output=True,
        check=True,
        timeout=10,
    )
    built = json.loads(result.stdout)
    frame = built["frame"]
    assert built["html"] == ""
    assert (frame["tag"], frame["width"], frame["height"]) == ("iframe", "300px", "400px")
    assert (frame["frameBorder"], frame["scrolling"], frame["allowTransparency"]) == (
        "0",
        "no",
        "true",
    )
    assert frame["src"] == (
        f"{origin}/connect/qrconnect?appid=wxA&scope=snsapi_login"
        "&redirect_uri=https%3A%2F%2Fsite.example%2Fcb%3Fa%3D1&state=xyz"
        f"&login_type=jssdk&self_redirect={self_redirect}&style=white"
    )


# -- the code exchange -----------------------------------------------------------


def test_token_response(fake: FakeWeChat, client: Client) -> None:
    token = log_in(fake, client)
    assert set(token) == {
        "access_token",
        "expires_in",
        "refresh_token",
        "openid",
        "scope",
        "unionid",
    }
    assert token["expires_in"] == 7200 and token["scope"] == "snsapi_login"
    assert re.fullmatch(r"[A-Za-z0-9_-]{80,}", token["access_token"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{80,}", token["refresh_token"])
    assert token["openid"] == fake.openid(fake.user, fake.website_app.appid)
    assert token["unionid"] == fake.unionid(fake.user)


@pytest.mark.parametrize(
    ("change", "errcode"),
    [
        ({"appid": None}, 41002),
        ({"appid": "wx0123456789abcdef"}, 40013),
        ({"secret": None}, 41004),
        ({"secret": "0" * 32}, 40125),
        ({"code": None}, 41008),
        ({"code": "A" * 32}, 40029),
        ({"grant_type": "client_credentials"}, 40002),
        ({"grant_type": None}, 40002),
    ],
)
def test_access_token_errors(
    fake: FakeWeChat, client: Client, change: dict[str, str | None], errcode: int
) -> None:
    app = fake.website_app
    code = query_of(fake.approve(authorize_url(app)))["code"][0]
    params = {"appid": app.appid, "secret": app.secret, "code": code}
    params["grant_type"] = "authorization_code"
    response, body = api(client, "/sns/oauth2/access_token", **changed(params, change))
    assert response.status_code == 200
    assert body["errcode"] == errcode
    assert re.search(r", rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$", body["errmsg"])
    assert exchange(client, app, code)["openid"], "a failed call does not burn the code"


def test_code_of_another_app_is_invalid(fake: FakeWeChat, client: Client) -> None:
    code = query_of(fake.approve(authorize_url(fake.mp_app)))["code"][0]
    assert exchange(client, fake.website_app, code)["errcode"] == 40029


def test_codes_are_single_use(fake: FakeWeChat, client: Client) -> None:
    code = query_of(fake.approve(authorize_url(fake.website_app)))["code"][0]
    assert "access_token" in exchange(client, fake.website_app, code)
    assert exchange(client, fake.website_app, code)["errcode"] == 40163
    fake.advance(3600)
    assert exchange(client, fake.website_app, code)["errcode"] == 40163


@pytest.mark.parametrize(("kind", "lifetime"), [("website", 600), ("mp", 300)])
def test_codes_expire(fake: FakeWeChat, client: Client, kind: str, lifetime: int) -> None:
    app = fake.website_app if kind == "website" else fake.mp_app
    first = query_of(fake.approve(authorize_url(app)))["code"][0]
    second = query_of(fake.approve(authorize_url(app)))["code"][0]
    fake.advance(lifetime - 1)
    assert "access_token" in exchange(client, app, first)
    fake.advance(2)
    assert exchange(client, app, second)["errcode"] == 40029, "WeChat: expired is invalid"


def test_api_accepts_post_forms(fake: FakeWeChat, client: Client) -> None:
    app = fake.website_app
    code = query_of(fake.approve(authorize_url(app)))["code"][0]
    data = {"appid": app.appid, "secret": app.secret, "code": code}
    data["grant_type"] = "authorization_code"
    response = client.post("/sns/oauth2/access_token", data=data, base_url=API)
    assert "access_token" in json.loads(response.data)


# -- refresh ---------------------------------------------------------------------


def refresh(client: Client, app: FakeApp, token: str, **extra: str) -> dict[str, t.Any]:
    params = {"appid": app.appid, "grant_type": "refresh_token", "refresh_token": token}
    return api(client, "/sns/oauth2/refresh_token", **{**params, **extra})[1]


def userinfo(client: Client, token: dict[str, t.Any], **extra: str) -> dict[str, t.Any]:
    params = {"access_token": token["access_token"], "openid": token["openid"], **extra}
    return api(client, "/sns/userinfo", **params)[1]


def test_refresh_extends_a_live_token(fake: FakeWeChat, client: Client) -> None:
    token = log_in(fake, client)
    fake.advance(7000)
    renewed = refresh(client, fake.website_app, token["refresh_token"], secret="ignored")
    assert renewed["access_token"] == token["access_token"]
    assert renewed["refresh_token"] == token["refresh_token"]
    assert renewed["expires_in"] == 7200 and renewed["scope"] == "snsapi_login"
    assert renewed["openid"] == token["openid"]
    fake.advance(7000)
    assert "nickname" in userinfo(client, token)


def test_refresh_replaces_an_expired_token(fake: FakeWeChat, client: Client) -> None:
    token = log_in(fake, client)
    fake.advance(7201)
    assert userinfo(client, token)["errcode"] == 42001
    renewed = refresh(client, fake.website_app, token["refresh_token"])
    assert renewed["access_token"] != token["access_token"]
    assert renewed["refresh_token"] == token["refresh_token"]
    assert "nickname" in userinfo(client, renewed)
    assert userinfo(client, token)["errcode"] == 42001


@pytest.mark.parametrize(
    ("change", "errcode"),
    [
        ({"appid": None}, 41002),
        ({"appid": "wx0123456789abcdef"}, 40013),
        ({"refresh_token": None}, 41003),
        ({"refresh_token": "nope"}, 40030),
        ({"grant_type": "authorization_code"}, 40002),
    ],
)
def test_refresh_errors(
    fake: FakeWeChat, client: Client, change: dict[str, str | None], errcode: int
) -> None:
    token = log_in(fake, client)
    params = {"appid": fake.website_app.appid, "grant_type": "refresh_token"}
    params["refresh_token"] = token["refresh_token"]
    body = api(client, "/sns/oauth2/refresh_token", **changed(params, change))[1]
    assert body["errcode"] == errcode


def test_refresh_token_of_another_app_and_expiry(fake: FakeWeChat, client: Client) -> None:
    token = log_in(fake, client)
    assert refresh(client, fake.mp_app, token["refresh_token"])["errcode"] == 40030
    fake.advance(30 * 86400 - 10)
    assert "access_token" in refresh(client, fake.website_app, token["refresh_token"])
    fake.advance(20)
    assert refresh(client, fake.website_app, token["refresh_token"])["errcode"] == 42002


# -- userinfo and auth -----------------------------------------------------------


def test_profiles_are_as_since_2021(fake: FakeWeChat, client: Client) -> None:
    for user in fake.users:
        fake.user = user
        token = log_in(fake, client)
        assert userinfo(client, token, lang="en") == {
            "openid": token["openid"],
            "nickname": user.nickname,
            "sex": 0,
            "language": "",
            "city": "",
            "province": "",
            "country": "",
            "headimgurl": user.headimgurl,
            "privilege": [],
            "unionid": token["unionid"],
        }


def test_the_older_profile_and_its_languages(fake: FakeWeChat, client: Client) -> None:
    app = fake.add_app("wx" + "3" * 16, "c" * 32, domain="site.example", empty_profile=False)
    token = log_in(fake, client, app)
    default = userinfo(client, token)
    assert default == {
        "openid": token["openid"],
        "nickname": "张三😀",
        "sex": 1,
        "language": "zh_CN",
        "city": "深圳",
        "province": "广东",
        "country": "中国",
        "headimgurl": "https://thirdwx.qlogo.cn/mmopen/vi_32/zhangsan/132",
        "privilege": [],
        "unionid": token["unionid"],
    }
    assert userinfo(client, token, lang="zh_TW")["province"] == "廣東"
    english = userinfo(client, token, lang="en")
    assert (english["language"], english["province"], english["country"]) == (
        "en",
        "Guangdong",
        "China",
    )
    assert userinfo(client, token, lang="fr")["language"] == "zh_CN"
    fake.user = fake.users[1]
    assert userinfo(client, log_in(fake, client, app))["privilege"] == ["chinaunicom"]


def test_unionid_only_for_bound_apps(fake: FakeWeChat, client: Client) -> None:
    unbound = fake.add_app("wx" + "4" * 16, "d" * 32, bound=False, domain="site.example")
    token = log_in(fake, client, unbound)
    assert "unionid" not in token
    assert "unionid" not in userinfo(client, token)
    other = fake.add_app("wx" + "5" * 16, "e" * 32, kind="mp", domain="site.example")
    website_token = log_in(fake, client)
    mp_token = log_in(fake, client, other)
    assert website_token["unionid"] == mp_token["unionid"] == fake.unionid(fake.user)
    assert website_token["openid"] != mp_token["openid"]


def test_snsapi_base_gives_openid_only(fake: FakeWeChat, client: Client) -> None:
    token = log_in(fake, client, fake.mp_app, scope="snsapi_base")
    assert token["scope"] == "snsapi_base" and "unionid" not in token
    assert token["openid"] == fake.openid(fake.user, fake.mp_app.appid)
    assert userinfo(client, token)["errcode"] == 48001


def test_snapshot_mode(fake: FakeWeChat, client: Client) -> None:
    fake.snapshot = True
    token = log_in(fake, client, fake.mp_app)
    assert token["is_snapshotuser"] == 1
    assert token["openid"] != fake.openid(fake.user, fake.mp_app.appid)
    assert token["unionid"] != fake.unionid(fake.user)
    assert userinfo(client, token)["errcode"] == 48001
    assert "is_snapshotuser" not in log_in(fake, client), "website logins are not affected"
    assert "is_snapshotuser" not in log_in(fake, client, fake.mp_app, scope="snsapi_base")


@pytest.mark.parametrize("path", ["/sns/userinfo", "/sns/auth"])
def test_token_check_errors(fake: FakeWeChat, client: Client, path: str) -> None:
    token = log_in(fake, client)
    good = {"access_token": token["access_token"], "openid": token["openid"]}
    cases = [
        ({"openid": token["openid"]}, 41001),
        ({"access_token": token["access_token"]}, 41009),
        ({**good, "access_token": "unknown"}, 40014),
        ({**good, "openid": fake.openid(fake.users[1], fake.website_app.appid)}, 40003),
    ]
    for params, errcode in cases:
        assert api(client, path, **params)[1]["errcode"] == errcode
    fake.advance(7201)
    assert api(client, path, **good)[1]["errcode"] == 42001


def test_auth_says_ok_for_a_valid_token(fake: FakeWeChat, client: Client) -> None:
    token = log_in(fake, client)
    params = {"access_token": token["access_token"], "openid": token["openid"]}
    assert api(client, "/sns/auth", **params)[1] == {"errcode": 0, "errmsg": "ok"}
    assert fake.calls["auth"] == 1


def test_api_bodies_are_raw_utf8_text_plain(fake: FakeWeChat, client: Client) -> None:
    token = log_in(fake, client)
    response = client.get(
        "/sns/userinfo",
        query_string={"access_token": token["access_token"], "openid": token["openid"]},
        base_url=API,
    )
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Content-Length"] == str(len(response.data))
    assert "张三😀".encode() in response.data
    assert b"https:\\/\\/thirdwx.qlogo.cn\\/mmopen" in response.data
    first = api(client, "/sns/auth")[1]["errmsg"]
    assert first != api(client, "/sns/auth")[1]["errmsg"], "a new rid each time"


def test_unknown_paths_are_404_text(client: Client) -> None:
    response = client.get("/cgi-bin/token")
    assert (response.status_code, response.mimetype) == (404, "text/plain")


# -- faults, in-process through the requests adapter -------------------------------


@pytest.fixture
def session(fake: FakeWeChat) -> t.Iterator[requests.Session]:
    with requests.Session() as session:
        session.mount("https://api.weixin.qq.com/", fake.requests_adapter())
        yield session


def auth_call(session: requests.Session, timeout: float = 5) -> requests.Response:
    return session.get("https://api.weixin.qq.com/sns/auth", timeout=timeout)


def test_adapter_builds_real_responses(fake: FakeWeChat, session: requests.Session) -> None:
    token = log_in(fake, Client(fake))
    response = session.get(
        "https://api.weixin.qq.com/sns/userinfo",
        params={"access_token": token["access_token"], "openid": token["openid"]},
    )
    assert (response.status_code, response.reason) == (200, "OK")
    assert response.url.startswith("https://api.weixin.qq.com/sns/userinfo?access_token=")
    assert response.encoding == "ISO-8859-1", "as requests guesses for text/plain"
    assert response.text != response.content.decode("utf-8")
    assert json.loads(response.content.decode("utf-8"))["nickname"] == "张三😀"
    posted = session.post("https://api.weixin.qq.com/sns/auth", data={"openid": "x"})
    assert posted.json()["errcode"] == 41001


@pytest.mark.parametrize(
    ("fault", "status", "mimetype"),
    [
        ("http_500", 500, "text/html"),
        ("http_503", 503, "text/html"),
        ("not_json", 200, "text/html"),
        ("errcode_-1", 200, "text/plain"),
    ],
)
def test_answering_faults(
    fake: FakeWeChat, session: requests.Session, fault: str, status: int, mimetype: str
) -> None:
    fake.inject("auth", fault, times=1)
    response = auth_call(session)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(mimetype)
    if fault == "errcode_-1":
        assert response.json()["errcode"] == -1
    else:
        with pytest.raises(ValueError):
            json.loads(response.content)
    assert auth_call(session).json()["errcode"] == 41001, "times=1 is used up"


def test_drop_is_a_connection_error(fake: FakeWeChat, session: requests.Session) -> None:
    fake.inject("auth", "drop")
    for _ in range(2):
        with pytest.raises(requests.exceptions.ConnectionError):
            auth_call(session)
    with pytest.raises(ConnectionResetError):
        Client(fake).get("/sns/auth", base_url=API)
    fake.clear_faults()
    assert auth_call(session).status_code == 200
    assert fake.calls["auth"] == 4


def test_truncated_body(fake: FakeWeChat, session: requests.Session) -> None:
    fake.inject("auth", "truncated", times=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        auth_call(session)


def test_latency_past_the_read_timeout(fake: FakeWeChat, session: requests.Session) -> None:
    fake.inject("auth", "latency", delay=0.3)
    start = time.perf_counter()
    with pytest.raises(requests.exceptions.ReadTimeout):
        auth_call(session, timeout=0.1)
    assert time.perf_counter() - start < 0.25, "gives up at the timeout"
    start = time.perf_counter()
    assert auth_call(session, timeout=1).status_code == 200
    assert time.perf_counter() - start >= 0.3


def test_faults_only_hit_their_endpoint_and_count(fake: FakeWeChat, client: Client) -> None:
    fake.inject("userinfo", "http_500", times=2)
    token = log_in(fake, client)
    assert client.get("/sns/userinfo", base_url=API).status_code == 500
    assert client.get("/sns/userinfo", base_url=API).status_code == 500
    assert "nickname" in userinfo(client, token)
    assert fake.calls["userinfo"] == 3 and fake.calls["access_token"] == 1


def test_inject_checks_its_arguments(fake: FakeWeChat) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        fake.inject("qrconnect", "drop")
    with pytest.raises(ValueError, match="fault"):
        fake.inject("auth", "explode")
    with pytest.raises(ValueError, match="times"):
        fake.inject("auth", "drop", times=0)


def test_override_sets_fields_of_good_answers_only(fake: FakeWeChat, client: Client) -> None:
    fake.override("userinfo", {"nickname": ["x"], "extra": 1}, times=2)
    token = log_in(fake, client)
    assert userinfo(client, {**token, "access_token": "wrong"})["errcode"] == 40014
    changed = userinfo(client, token)
    assert changed["nickname"] == ["x"] and changed["extra"] == 1
    assert changed["openid"] == token["openid"]
    assert userinfo(client, token)["nickname"] == ["x"]
    assert userinfo(client, token)["nickname"] == fake.user.nickname, "times=2 is used up"
    fake.override("userinfo", {"nickname": "y"})
    fake.clear_faults()
    assert userinfo(client, token)["nickname"] == fake.user.nickname


def test_override_checks_its_arguments(fake: FakeWeChat) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        fake.override("qrconnect", {})
    with pytest.raises(ValueError, match="times"):
        fake.override("auth", {}, times=0)


# -- state -----------------------------------------------------------------------


def test_reset_returns_to_a_fresh_fake() -> None:
    fake = FakeWeChat(domain="site.example")
    client = Client(fake)
    calls = fake.calls
    token = log_in(fake, client)
    fake.add_app(fake.website_app.appid, "f" * 32, bound=False, domain="other.example")
    fake.users.append(FakeUser("extra", "Extra"))
    fake.user, fake.snapshot, fake.deny_redirect = fake.users[1], True, True
    fake.inject("auth", "drop")
    fake.advance(10)
    fake.reset()
    assert fake.calls is calls and not calls
    assert fake.website_app.secret != "f" * 32 and fake.website_app.bound
    assert fake.website_app.domain == "site.example", "the constructor's domain is kept"
    assert len(fake.users) == 3 and fake.user is fake.users[0]
    assert (fake.snapshot, fake.deny_redirect) == (False, False)
    assert userinfo(client, token)["errcode"] == 40014
    assert client.get("/sns/auth", base_url=API).status_code == 200


def test_add_app_validates_and_replaces(fake: FakeWeChat) -> None:
    with pytest.raises(ValueError, match="kind"):
        fake.add_app("wx" + "6" * 16, "a" * 32, kind="minigame")
    replaced = fake.add_app(fake.mp_app.appid, "a" * 32, kind="mp", bound=False)
    assert fake.mp_app is replaced and fake.app_for(replaced.appid) is replaced


def test_injectable_clock() -> None:
    now = [1000.0]
    fake = FakeWeChat(clock=lambda: now[0], domain="site.example")
    client = Client(fake)
    first = query_of(fake.approve(authorize_url(fake.website_app)))["code"][0]
    second = query_of(fake.approve(authorize_url(fake.website_app)))["code"][0]
    assert "access_token" in exchange(client, fake.website_app, first)
    now[0] += 601
    assert exchange(client, fake.website_app, second)["errcode"] == 40029


def test_concurrent_logins(fake: FakeWeChat) -> None:
    client = Client(fake)
    results: list[dict[str, t.Any]] = []
    url = authorize_url(fake.website_app)
    code = query_of(fake.approve(url))["code"][0]

    def work() -> None:
        for _ in range(20):
            results.append(log_in(fake, client))
            results.append(exchange(client, fake.website_app, code))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tokens = [r["access_token"] for r in results if "access_token" in r]
    assert len(tokens) == len(set(tokens)) == 161, "one use of the shared code wins"
    assert fake.calls["access_token"] == 320


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["/connect/qrconnect", "/connect/oauth2/authorize"]),
    st.lists(
        st.tuples(
            st.sampled_from(
                ["appid", "redirect_uri", "response_type", "scope", "state", "login_type", "x"]
            ),
            st.one_of(
                st.sampled_from(
                    [
                        "wx5f2b8e9c1d3a7b60",
                        "wx9c3e7a1b5d2f8064",
                        "code",
                        "snsapi_login",
                        "snsapi_base",
                        "jssdk",
                        "https://localhost/cb",
                    ]
                ),
                st.text(),
            ),
        ),
        max_size=7,
    ),
)
def test_any_authorize_query_gives_a_page_and_no_code(
    path: str, pairs: list[tuple[str, str]]
) -> None:
    fake = FakeWeChat()
    response = Client(fake).get(path, query_string=urlencode(pairs), headers=IN_WECHAT)
    silent = path.endswith("authorize") and dict(pairs).get("scope") == "snsapi_base"
    assert response.status_code == 200 or (silent and response.status_code == 302)
    assert bool(fake._codes) == (response.status_code == 302)
