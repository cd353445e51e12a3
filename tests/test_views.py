"""The QR login flow end to end through the test client and the fake over HTTP."""

from __future__ import annotations

import json
import re
import typing as t
from urllib.parse import urlsplit

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_login import login_required

from flask_wechat_web import WeChatWeb, _session
from flask_wechat_web.testing import FakeWeChat

from .conftest import (
    MICROMESSENGER_UA,
    SignalRecorder,
    callback_path,
    log_in,
    make_app,
    query_of,
    start_login,
)


def test_login_redirects_to_qrconnect_in_wechat_order(client: FlaskClient, app: Flask) -> None:
    location = start_login(client)
    parts = urlsplit(location)
    assert parts.path.endswith("/connect/qrconnect")
    assert parts.fragment == "wechat_redirect"
    names = [pair.split("=")[0] for pair in parts.query.split("&")]
    assert names == ["appid", "redirect_uri", "response_type", "scope", "state"]
    query = query_of(location)
    assert query["appid"] == [app.config["WECHAT_WEB_APPID"]]
    assert query["redirect_uri"] == ["http://localhost/wechat/authorized"]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["snsapi_login"]
    # redirect_uri is percent-encoded whole, as WeChat requires.
    assert "redirect_uri=http%3A%2F%2Flocalhost%2Fwechat%2Fauthorized&" in parts.query


def test_state_is_random_alphanumeric_and_long(client: FlaskClient) -> None:
    states = {query_of(start_login(client))["state"][0] for _ in range(20)}
    assert len(states) == 20
    for state in states:
        assert state.isalnum() and state.isascii()
        assert 22 <= len(state) <= 128  # >= 128 bits from 62 symbols


def test_full_qr_login(
    client: FlaskClient, fake_wechat: FakeWeChat, signals: SignalRecorder
) -> None:
    response, _ = log_in(client, fake_wechat, next="/private")
    assert response.status_code == 302
    assert response.location == "/private"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "code=" not in response.location
    user = fake_wechat.user
    assert client.get("/").get_data(as_text=True) == f"hello {user.nickname}"
    assert client.get("/private").status_code == 200
    assert fake_wechat.calls["access_token"] == 1
    assert fake_wechat.calls["userinfo"] == 1
    [event] = signals.named("authorized")
    identity = event["identity"]
    assert identity.openid == fake_wechat.openid(user, fake_wechat.website_app.appid)
    assert identity.unionid == fake_wechat.unionid(user)
    assert identity.nickname == user.nickname
    assert event["token"]["access_token"]
    assert event["user"].get_id() == identity.unionid
    assert signals.named("failed") == []


def test_emoji_nickname_arrives_intact(client: FlaskClient, fake_wechat: FakeWeChat) -> None:
    emoji_user = next(u for u in fake_wechat.users if "😀" in u.nickname)
    fake_wechat.user = emoji_user
    log_in(client, fake_wechat)
    assert client.get("/").get_data(as_text=True) == f"hello {emoji_user.nickname}"


def test_login_required_goes_to_wechat_and_back(
    client: FlaskClient, fake_wechat: FakeWeChat
) -> None:
    response = client.get("/private?tab=2")
    assert response.status_code == 302
    login = urlsplit(response.location)
    assert login.path == "/wechat/login"
    assert query_of(response.location)["next"] == ["/private?tab=2"]
    authorize = client.get(f"{login.path}?{login.query}").location
    done = client.get(callback_path(fake_wechat.approve(authorize)))
    assert done.location == "/private?tab=2"
    assert client.get("/private").status_code == 200


def test_refused_next_falls_back_to_root(client: FlaskClient, fake_wechat: FakeWeChat) -> None:
    response, _ = log_in(client, fake_wechat, next="//evil.com")
    assert response.location == "/"


def extension_data(client: FlaskClient) -> dict[str, t.Any]:
    """What the extension keeps in the client's session: its non-empty fields."""
    with client.session_transaction() as session:
        stored = json.loads(session.get(_session.KEY, "[]"))
    return {name: value for name, value in zip(_session.FIELDS, stored, strict=False) if value != 0}


def test_logout(client: FlaskClient, fake_wechat: FakeWeChat, signals: SignalRecorder) -> None:
    log_in(client, fake_wechat)
    assert {"account", "token", "profile"} <= set(extension_data(client))
    response = client.post("/wechat/logout", data={"next": "/bye"})
    assert response.status_code == 302 and response.location == "/bye"
    assert client.get("/").get_data(as_text=True) == "hello stranger"
    assert not {"account", "token", "profile"} & set(extension_data(client))
    [event] = signals.named("logged_out")
    assert event["user"].nickname == fake_wechat.user.nickname


def test_logout_by_get_changes_nothing_and_shows_a_post_button(
    client: FlaskClient, fake_wechat: FakeWeChat, signals: SignalRecorder
) -> None:
    log_in(client, fake_wechat)
    page = client.get("/wechat/logout?next=/bye")
    assert page.status_code == 200
    form = re.search(r'<form method="post" action="/wechat/logout".*?</form>', page.text, re.S)
    assert form is not None and '<input type="hidden" name="next" value="/bye">' in form[0]
    assert client.get("/").get_data(as_text=True) == f"hello {fake_wechat.user.nickname}"
    assert signals.named("logged_out") == []
    response = client.post("/wechat/logout", data={"next": "https://evil.com"})
    assert response.location == "/"
    assert client.get("/").get_data(as_text=True) == "hello stranger"


def test_the_logout_page_says_who_is_logged_in(
    client: FlaskClient, fake_wechat: FakeWeChat
) -> None:
    english = {"Accept-Language": "en"}
    fake_wechat.user = fake_wechat.users[1]  # Alice Smith
    log_in(client, fake_wechat)
    page = client.get("/wechat/logout", headers=english).text
    assert 'You are logged in as <strong lang="">Alice Smith</strong>.' in page
    assert '<form method="post" action="/wechat/logout"' in page


def test_the_logout_page_of_a_user_without_a_nickname(fake_wechat: FakeWeChat) -> None:
    from flask_login import UserMixin

    class Member(UserMixin):
        id = "7"

    app, wechat = make_app(fake_wechat)
    app.login_manager.user_loader(lambda user_id: Member())  # type: ignore[attr-defined]
    wechat.user_handler(lambda identity: Member())
    client = app.test_client()
    log_in(client, fake_wechat)
    page = client.get("/wechat/logout", headers={"Accept-Language": "en"}).text
    assert "You are logged in to this site with WeChat." in page
    assert '<form method="post" action="/wechat/logout"' in page


def test_the_logout_page_offers_a_login_to_nobody(client: FlaskClient) -> None:
    page = client.get("/wechat/logout?next=/bye", headers={"Accept-Language": "en"}).text
    assert "<h1>You are not logged in</h1>" in page
    assert "<form" not in page, "no log-out button for no one"
    assert '<a class="button" href="/wechat/login?next=/bye">Log in with WeChat</a>' in page
    assert 'href="/">Back to the site</a>' in page


ANDROID_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126 Mobile"


@pytest.mark.parametrize("user_agent", [MICROMESSENGER_UA, ANDROID_UA])
def test_no_qr_page_where_it_cannot_be_scanned(client: FlaskClient, user_agent: str) -> None:
    """Inside WeChat, the in-WeChat login; on another phone, the phone's page."""
    response = client.get("/wechat/qrcode?next=/x", headers={"User-Agent": user_agent})
    assert (response.status_code, response.location) == (302, "/wechat/login?next=/x")
    login = client.get(response.location, headers={"User-Agent": user_agent})
    if user_agent == MICROMESSENGER_UA:
        assert "/connect/oauth2/authorize?" in login.location
    else:
        assert login.status_code == 200 and 'id="open-url"' in login.text
    assert client.get("/wechat/qrcode?next=/x").status_code == 200  # a computer


def test_same_callback_twice_answers_the_same_without_second_exchange(
    client: FlaskClient, fake_wechat: FakeWeChat
) -> None:
    first, callback = log_in(client, fake_wechat, next="/private")
    second = client.get(callback)
    assert (second.status_code, second.location) == (302, "/private")
    assert fake_wechat.calls["access_token"] == 1


def test_callback_replayed_from_another_browser_fails(
    app: Flask, client: FlaskClient, fake_wechat: FakeWeChat, signals: SignalRecorder
) -> None:
    _, callback = log_in(client, fake_wechat)
    other = app.test_client()
    other.get("/flash")  # the other browser has a session cookie of its own
    response = other.get(callback)
    assert response.status_code == 400
    assert fake_wechat.calls["access_token"] == 1
    assert other.get("/").get_data(as_text=True) == "hello stranger"
    [event] = signals.named("failed")
    assert event["error"].reason == "unknown"


def test_state_is_single_use(client: FlaskClient, fake_wechat: FakeWeChat) -> None:
    callback = callback_path(fake_wechat.approve(start_login(client)))
    fake_wechat.inject("access_token", "errcode_-1", times=1)
    assert client.get(callback).status_code == 502
    again = client.get(callback)
    assert again.status_code == 400
    assert "already used" in again.get_data(as_text=True)
    assert fake_wechat.calls["access_token"] == 1


def test_several_tabs_each_complete(client: FlaskClient, fake_wechat: FakeWeChat) -> None:
    authorize_urls = [start_login(client, next=f"/tab{i}") for i in range(3)]
    callbacks = [callback_path(fake_wechat.approve(url)) for url in authorize_urls]
    for i in (2, 0, 1):
        response = client.get(callbacks[i])
        assert response.location == f"/tab{i}"


def test_twenty_abandoned_tabs_keep_the_cookie_small(
    client: FlaskClient, fake_wechat: FakeWeChat, signals: SignalRecorder
) -> None:
    urls = [start_login(client, next=f"/articles/{i}?from=list") for i in range(21)]
    cookie = client.get_cookie("session")
    assert cookie is not None and len(cookie.value) < 2000
    # The newest tab still works; the oldest fell out of the cap and says so.
    assert client.get(callback_path(fake_wechat.approve(urls[-1]))).status_code == 302
    response = client.get(callback_path(fake_wechat.approve(urls[0])))
    assert response.status_code == 400
    assert "Too many logins" in response.get_data(as_text=True)
    assert signals.named("failed")[-1]["error"].reason == "evicted"


def test_expired_state_fails(fake_wechat: FakeWeChat) -> None:
    now = [1_000_000.0]
    app, _ = make_app(fake_wechat)
    app.extensions["wechat_web"].extension.clock = lambda: now[0]
    client = app.test_client()
    callback = callback_path(fake_wechat.approve(start_login(client)))
    now[0] += 601
    response = client.get(callback)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert fake_wechat.calls["access_token"] == 0


def test_state_ttl_is_configurable(fake_wechat: FakeWeChat) -> None:
    now = [1_000_000.0]
    app, _ = make_app(fake_wechat, WECHAT_WEB_STATE_TTL=30)
    app.extensions["wechat_web"].extension.clock = lambda: now[0]
    client = app.test_client()
    callback = callback_path(fake_wechat.approve(start_login(client)))
    now[0] += 29
    assert client.get(callback).status_code == 302


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "missing"),
        ("code=abc", "missing"),
        ("state=&code=abc", "malformed"),
        ("state=a&state=b&code=abc", "malformed"),
        ("state=not-alnum!&code=abc", "malformed"),
        ("state=" + "A" * 200 + "&code=abc", "malformed"),
        ("state=Forged0123456789Forged0123456789&code=abc", "unknown"),
    ],
)
def test_bad_state_is_a_400_without_calling_wechat(
    client: FlaskClient,
    fake_wechat: FakeWeChat,
    signals: SignalRecorder,
    query: str,
    reason: str,
) -> None:
    client.get("/flash")  # a session cookie exists
    response = client.get(f"/wechat/authorized?{query}")
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"
    assert fake_wechat.calls["access_token"] == 0
    assert signals.named("failed")[0]["error"].reason == reason
    assert client.get("/").get_data(as_text=True) == "hello stranger"


def test_no_session_cookie_is_named_as_the_cause(
    app: Flask, client: FlaskClient, fake_wechat: FakeWeChat
) -> None:
    callback = callback_path(fake_wechat.approve(start_login(client)))
    fresh = app.test_client()  # e.g. the login began on another host
    response = fresh.get(callback)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "session cookie" in body and "SameSite" in body


def test_denial_is_a_403(
    client: FlaskClient, fake_wechat: FakeWeChat, signals: SignalRecorder
) -> None:
    callback = callback_path(fake_wechat.deny(start_login(client)))
    assert "code=" not in callback
    response = client.get(callback)
    assert response.status_code == 403
    assert "登录已取消" in response.get_data(as_text=True)
    assert type(signals.named("failed")[0]["error"]).__name__ == "AccessDeniedError"
    assert fake_wechat.calls["access_token"] == 0


def test_error_view_gets_a_redirect_and_a_flash(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat, WECHAT_WEB_ERROR_VIEW="oops")
    client = app.test_client()
    response = client.get(callback_path(fake_wechat.deny(start_login(client))))
    assert response.status_code == 302 and response.location == "/oops"
    flashed = client.get("/oops").get_data(as_text=True)
    assert flashed == "你拒绝了微信授权，本网站没有收到你的任何信息。"


def test_head_does_not_consume_the_state(client: FlaskClient, fake_wechat: FakeWeChat) -> None:
    callback = callback_path(fake_wechat.approve(start_login(client)))
    assert client.head(callback).status_code == 405
    assert client.post(callback).status_code == 405
    assert client.get(callback).status_code == 302


def test_no_route_answers_options(app: Flask) -> None:
    # Every route is a top-level navigation: none needs a CORS preflight, and
    # an OPTIONS answers 405 like any other method a route does not take.
    client = app.test_client()
    allowed = {
        "wechat.login": {"GET", "HEAD"},
        "wechat.qrcode": {"GET", "HEAD"},
        "wechat.authorized": {"GET", "HEAD"},
        "wechat.logout": {"GET", "HEAD", "POST"},
        "wechat.follow": {"GET", "HEAD"},
        "wechat.follow_status": {"GET", "HEAD"},
        "wechat.follow_confirm": {"GET", "HEAD", "POST"},
        "wechat.code_login": {"GET", "HEAD", "POST"},
    }
    # The JSON routes of apps and single-page sites (tests/test_apps.py) answer
    # a preflight, without any CORS header: only a site's own CORS allows one.
    json_routes = {"wechat.app_login", "wechat.miniprogram_login", "wechat.session"}
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("wechat.")]
    assert {rule.endpoint for rule in rules} == set(allowed) | json_routes
    for rule in rules:
        if rule.endpoint in json_routes:
            continue
        response = client.options(rule.rule)
        assert response.status_code == 405, rule.endpoint
        assert set(response.headers["Allow"].split(", ")) == allowed[rule.endpoint]


def test_user_handler_maps_and_refuses(fake_wechat: FakeWeChat) -> None:
    app, wechat = make_app(fake_wechat)
    seen = []

    @wechat.user_handler
    def refuse(identity: object) -> None:
        seen.append(identity)
        return None

    app.login_manager.user_loader(lambda user_id: None)
    client = app.test_client()
    response, _ = log_in(client, fake_wechat)
    assert response.status_code == 403
    assert len(seen) == 1
    assert client.get("/").get_data(as_text=True) == "hello stranger"


def test_blueprint_can_be_mounted_elsewhere(fake_wechat: FakeWeChat) -> None:
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="k", **fake_wechat.config())
    wechat = WeChatWeb(app, register_blueprint=False)
    app.register_blueprint(wechat.blueprint, url_prefix="/auth/wechat")
    fake_wechat.configure(app)
    client = app.test_client()
    response = client.get("/auth/wechat/login")
    assert query_of(response.location)["redirect_uri"] == [
        "http://localhost/auth/wechat/authorized"
    ]
    assert client.get(callback_path(fake_wechat.approve(response.location))).status_code == 302


def test_callback_url_setting_is_sent_to_wechat(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(
        fake_wechat, WECHAT_WEB_CALLBACK_URL="https://auth.example.com/wechat/authorized"
    )
    location = start_login(app.test_client())
    assert query_of(location)["redirect_uri"] == ["https://auth.example.com/wechat/authorized"]


def test_in_process_fake_without_a_server() -> None:
    fake = FakeWeChat()
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="k", **fake.config())
    WeChatWeb(app)
    fake.configure(app)
    client = app.test_client()
    response = client.get(callback_path(fake.approve(start_login(client))))
    assert response.status_code == 302
    assert fake.calls["access_token"] == 1 and fake.calls["userinfo"] == 1


class SiteUser:
    is_active = is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return "site-user-1"


def test_user_handler_without_user_loader_is_explained(
    app: Flask,
    wechat: WeChatWeb,
    fake_wechat: FakeWeChat,
    signals: SignalRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    called: list[object] = []

    @wechat.user_handler
    def site_user(identity: object) -> SiteUser:
        called.append(identity)
        return SiteUser()

    client = app.test_client()
    response, _ = log_in(client, fake_wechat)
    assert response.status_code == 500  # the site's bug: never "WeChat is not responding"
    body = response.get_data(as_text=True)
    assert "user_loader" in body and "SiteUser" in body and "微信暂时没有响应" not in body
    assert len(called) == 1
    assert client.get("/").get_data(as_text=True) == "hello stranger"
    assert type(signals.named("failed")[0]["error"]).__name__ == "ConfigurationError"
    assert [r.levelname for r in caplog.records if "user_loader" in r.getMessage()] == ["ERROR"]


def test_refusing_handler_needs_no_user_loader(fake_wechat: FakeWeChat) -> None:
    app, wechat = make_app(fake_wechat)
    wechat.user_handler(lambda identity: None)
    client = app.test_client()
    response, _ = log_in(client, fake_wechat)
    assert response.status_code == 403
    assert "这个微信账号不能登录本网站" in response.get_data(as_text=True)
    assert client.get("/").get_data(as_text=True) == "hello stranger"


def test_unregistered_blueprint_is_a_configuration_error(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="k", **fake_wechat.config())
    WeChatWeb(app, register_blueprint=False)  # and never registered

    @app.route("/private")
    @login_required
    def private() -> str:
        return "private"

    response = app.test_client().get("/private")
    assert response.status_code == 500  # not a BuildError's bare 500
    body = response.get_data(as_text=True)
    assert "app.register_blueprint(wechat.blueprint" in body
    assert response.headers["Cache-Control"] == "no-store"
    assert [r.levelname for r in caplog.records if "blueprint" in r.getMessage()] == ["ERROR"]


def csrf_site(fake: FakeWeChat) -> Flask:
    from flask_wtf.csrf import CSRFProtect

    app, _ = make_app(fake)
    CSRFProtect(app)

    @app.route("/account")
    def account() -> str:  # the site's own page, with the macro
        return render_template_string(
            '{% from "wechat/macros.html" import wechat_logout_form %}'
            '{{ wechat_logout_form(next="/bye") }}'
        )

    return app


def hidden_csrf_token(html: str) -> str:
    found = re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', html)
    assert found is not None, html
    return found.group(1)


@pytest.mark.parametrize("page", ["/wechat/logout", "/account"])
def test_logout_form_carries_flask_wtf_csrf_token(fake_wechat: FakeWeChat, page: str) -> None:
    client = csrf_site(fake_wechat).test_client()
    log_in(client, fake_wechat)
    token = hidden_csrf_token(client.get(page).get_data(as_text=True))
    refused = client.post("/wechat/logout")  # a forged form: no token
    assert refused.status_code == 400
    assert client.get("/").get_data(as_text=True) == f"hello {fake_wechat.user.nickname}"
    done = client.post("/wechat/logout", data={"csrf_token": token, "next": "/bye"})
    assert (done.status_code, done.location) == (302, "/bye")
    assert client.get("/").get_data(as_text=True) == "hello stranger"


def test_logout_macro_without_flask_wtf_has_no_token_field(app: Flask, client: FlaskClient) -> None:
    @app.route("/account")
    def account() -> str:
        return render_template_string(
            '{% from "wechat/macros.html" import wechat_logout_form %}'
            '{{ wechat_logout_form(label="Sign out") }}'
        )

    html = client.get("/account").get_data(as_text=True)
    assert html.startswith('<form method="post" action="/wechat/logout"')
    assert "csrf" not in html and ">Sign out</button>" in html


def test_our_pages_may_not_be_framed_but_the_callback_may_by_the_site(
    client: FlaskClient, fake_wechat: FakeWeChat
) -> None:
    for path in ("/wechat/login", "/wechat/qrcode", "/wechat/logout"):
        csp = client.get(path).headers["Content-Security-Policy"]
        assert csp == "frame-ancestors 'none'", path
    response, _ = log_in(client, fake_wechat)
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    failed = client.get("/wechat/authorized?state=Forged0123456789Forged0123456789&code=abc")
    assert failed.status_code == 400
    assert failed.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert "Content-Security-Policy" not in client.get("/").headers  # the site's own pages
