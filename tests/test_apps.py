"""The apps' ways in (issue 21): the mobile app, the mini program, bearer tokens, ``/session``.

Over real HTTP to the fake WeChat (the ``fake_wechat`` fixture serves it on
loopback), through the Flask test client.
"""

from __future__ import annotations

import json
import logging
import time
import typing as t
from pathlib import Path

import pytest
from cachelib import FileSystemCache, SimpleCache
from flask import Flask
from flask.testing import FlaskClient
from flask_login import UserMixin, current_user, login_required
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from flask_wechat_web import ConfigurationError, WeChatWeb
from flask_wechat_web.testing import FakeWeChat

from .conftest import (
    MICROMESSENGER_UA,
    SignalRecorder,
    callback_path,
    log_in,
    make_app,
    stored_token,
)

JSON = "application/json"
WEBSITE = {"WECHAT_WEB_APPID": "wx" + "3" * 16, "WECHAT_WEB_SECRET": "c" * 32}


@pytest.fixture
def store() -> SimpleCache:
    return SimpleCache()


@pytest.fixture
def app_and_wechat(fake_wechat: FakeWeChat, store: SimpleCache) -> tuple[Flask, WeChatWeb]:
    app, wechat = make_app(fake_wechat, WECHAT_WEB_STORE=store)

    @app.route("/api/me")
    @login_required
    def me() -> dict[str, t.Any]:
        return {"id": current_user.get_id(), "source": getattr(current_user, "source", None)}

    return app, wechat


def post_code(client: FlaskClient, path: str, code: str, **headers: str) -> TestResponse:
    return client.post(path, json={"code": code}, headers=headers)


def mini_login(client: FlaskClient, fake: FakeWeChat, **headers: str) -> TestResponse:
    return post_code(client, "/wechat/miniprogram/login", fake.miniprogram_code(), **headers)


def app_login(client: FlaskClient, fake: FakeWeChat, **headers: str) -> TestResponse:
    return post_code(client, "/wechat/app/login", fake.app_code(), **headers)


def bearer(answer: TestResponse) -> dict[str, str]:
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def no_cookies(app: Flask) -> FlaskClient:
    """A client like a mini program's ``wx.request``: it keeps no cookie."""
    return app.test_client(use_cookies=False)


# -- settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"WECHAT_WEB_APP_APPID": "wx" + "1" * 16}, "WECHAT_WEB_APP_SECRET"),
        ({"WECHAT_WEB_APP_SECRET": "a" * 32}, "WECHAT_WEB_APP_APPID"),
        ({"WECHAT_WEB_MINIPROGRAM_APPID": "wx" + "2" * 16}, "WECHAT_WEB_MINIPROGRAM_SECRET"),
        ({"WECHAT_WEB_MINIPROGRAM_SECRET": "b" * 32}, "WECHAT_WEB_MINIPROGRAM_APPID"),
        (
            {"WECHAT_WEB_MINIPROGRAM_APPID": "nope", "WECHAT_WEB_MINIPROGRAM_SECRET": "b" * 32},
            "WECHAT_WEB_MINIPROGRAM_APPID is malformed",
        ),
        ({**WEBSITE, "WECHAT_WEB_API_TOKEN_TTL": 0}, "WECHAT_WEB_API_TOKEN_TTL"),
        ({**WEBSITE, "WECHAT_WEB_API_TOKEN_TTL": "7d"}, "WECHAT_WEB_API_TOKEN_TTL"),
        ({**WEBSITE, "WECHAT_WEB_STORE": "redis://localhost"}, "WECHAT_WEB_STORE"),
    ],
)
def test_half_a_pair_or_a_bad_value_fails_at_init_app(given: dict[str, t.Any], named: str) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k", **given)
    with pytest.raises(ConfigurationError) as raised:
        WeChatWeb(app)
    assert named in str(raised.value)
    for value in given.values():
        if isinstance(value, str) and len(value) == 32:
            assert value not in str(raised.value)  # never an AppSecret


def test_an_app_sharing_another_apps_appid_is_refused(fake_wechat: FakeWeChat) -> None:
    config = fake_wechat.config()
    with pytest.raises(ConfigurationError, match="WECHAT_WEB_MINIPROGRAM_APPID equals"):
        make_app(fake_wechat, WECHAT_WEB_MINIPROGRAM_APPID=config["WECHAT_WEB_APP_APPID"])


def test_the_default_store_is_a_file_cache_in_the_instance_folder(
    fake_wechat: FakeWeChat, tmp_path: t.Any
) -> None:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(TESTING=True, SECRET_KEY="k", **fake_wechat.config())
    WeChatWeb(app)
    fake_wechat.configure(app)
    state = app.extensions["wechat_web"]
    assert isinstance(state.store, FileSystemCache)
    client = no_cookies(app)
    answer = mini_login(client, fake_wechat)
    assert answer.status_code == 200
    assert list((tmp_path / "wechat_web_store").iterdir())  # the session key, kept there


# -- identity.source ------------------------------------------------------------------


def test_every_identity_names_its_way_in(
    fake_wechat: FakeWeChat, client: FlaskClient, signals: SignalRecorder
) -> None:
    log_in(client, fake_wechat)
    log_in(client, fake_wechat, ua=MICROMESSENGER_UA)
    assert app_login(client, fake_wechat).status_code == 200
    assert mini_login(client, fake_wechat).status_code == 200
    sources = [event["identity"].source for event in signals.named("authorized")]
    assert sources == ["qr", "mp", "app", "miniprogram"]


# -- the mini program -----------------------------------------------------------------


def test_mini_program_login_in_one_call(
    fake_wechat: FakeWeChat, app: Flask, wechat: WeChatWeb
) -> None:
    client = no_cookies(app)
    answer = mini_login(client, fake_wechat)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == JSON
    body = answer.get_json()
    user = fake_wechat.user
    openid = fake_wechat.openid(user, fake_wechat.miniprogram.appid)
    unionid = fake_wechat.unionid(user)
    assert body["user"] == {
        "id": unionid,
        "openid": openid,
        "unionid": unionid,
        "source": "miniprogram",
        "nickname": None,
        "headimgurl": None,
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 604800
    assert fake_wechat.calls["jscode2session"] == 1
    assert fake_wechat.calls["access_token"] == fake_wechat.calls["userinfo"] == 0
    # The session key stays on the server, for the site alone.
    with app.test_request_context():
        assert wechat.session_key(openid) == fake_wechat.session_key(user)
    # wx.request keeps no cookie: the bearer token is its login.
    me = client.get("/api/me", headers=bearer(answer))
    assert me.get_json() == {"id": unionid, "source": "miniprogram"}


def test_the_session_key_never_leaves_the_server(
    fake_wechat: FakeWeChat, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = fake_wechat.miniprogram_code()
    answer = post_code(client, "/wechat/miniprogram/login", code)
    key = fake_wechat.session_key(fake_wechat.user)
    assert key is not None and answer.status_code == 200
    assert key not in answer.get_data(as_text=True)
    assert key not in str(answer.headers)  # the session cookie among them
    session = client.get("/wechat/session", headers=bearer(answer))
    assert key not in session.get_data(as_text=True)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "jscode2session" in logged  # urllib3's request line is there...
    assert code not in logged  # ...with neither the code
    assert key not in logged  # nor the session key
    # A reused code: the error's text carries neither.
    again = post_code(client, "/wechat/miniprogram/login", code)
    assert again.status_code == 400
    assert code not in again.get_data(as_text=True)


def test_a_malformed_answer_quotes_no_session_key(
    fake_wechat: FakeWeChat, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_wechat.override("jscode2session", {"unionid": ["not", "an", "id"]})
    answer = mini_login(client, fake_wechat)
    assert (answer.status_code, answer.get_json()["error"]) == (502, "MalformedAnswerError")
    key = fake_wechat.session_key(fake_wechat.user)
    assert key is not None
    assert key not in answer.get_data(as_text=True) and key not in caplog.text
    assert "unionid" in caplog.text  # the field at fault is named, never its value


@pytest.mark.parametrize(
    ("arrange", "status", "error"),
    [
        ("reuse", 400, "InvalidCodeError"),
        ("unknown", 400, "InvalidCodeError"),
        ("block", 403, "UserBlockedError"),
        ("rate", 429, "RateLimitError"),
        ("busy", 502, "WeChatUnavailableError"),
        ("down", 502, "WeChatUnavailableError"),
    ],
)
def test_wechats_refusals_are_json_errors(
    fake_wechat: FakeWeChat,
    client: FlaskClient,
    signals: SignalRecorder,
    arrange: str,
    status: int,
    error: str,
) -> None:
    code = fake_wechat.miniprogram_code()
    if arrange == "reuse":
        assert post_code(client, "/wechat/miniprogram/login", code).status_code == 200
    elif arrange == "unknown":
        code = "0" * 32
    elif arrange == "block":
        fake_wechat.block(fake_wechat.user)
    elif arrange == "rate":
        fake_wechat.override("jscode2session", {"errcode": 45011, "errmsg": "minute-quota"})
    elif arrange == "busy":
        fake_wechat.inject("jscode2session", "errcode_-1")
    else:
        fake_wechat.inject("jscode2session", "http_503")
    answer = post_code(client, "/wechat/miniprogram/login", code, **{"Accept-Language": "en"})
    assert answer.status_code == status
    assert answer.mimetype == JSON
    body = answer.get_json()
    assert body["error"] == error
    assert body["message"] and body["message"].isascii()
    assert signals.named("failed")[-1]["error"].__class__.__name__ == error


def test_the_45011_rate_limit_itself(fake_wechat: FakeWeChat, app: Flask) -> None:
    client = no_cookies(app)
    answers = [mini_login(client, fake_wechat).status_code for _ in range(101)]
    assert answers[:100] == [200] * 100
    assert answers[100] == 429


def test_errors_speak_the_requests_language(fake_wechat: FakeWeChat, client: FlaskClient) -> None:
    fake_wechat.block(fake_wechat.user)
    zh_cn = mini_login(client, fake_wechat, **{"Accept-Language": "zh-CN"}).get_json()
    zh_tw = mini_login(client, fake_wechat, **{"Accept-Language": "zh-TW"}).get_json()
    en = mini_login(client, fake_wechat, **{"Accept-Language": "en"}).get_json()
    assert len({zh_cn["message"], zh_tw["message"], en["message"]}) == 3
    assert not zh_cn["message"].isascii() and en["message"].isascii()


@pytest.mark.parametrize("path", ["/wechat/miniprogram/login", "/wechat/app/login"])
def test_only_a_json_post_is_taken(
    fake_wechat: FakeWeChat, app: Flask, client: FlaskClient, path: str
) -> None:
    code = fake_wechat.miniprogram_code()
    # A form another site posts (no preflight): never a login.
    form = client.post(path, data={"code": code}, headers={"Origin": "https://evil.example"})
    assert (form.status_code, form.get_json()["error"]) == (415, "InvalidRequestError")
    text = client.post(path, data='{"code": "x"}', content_type="text/plain")
    assert text.status_code == 415
    get = client.get(path, query_string={"code": code})
    assert (get.status_code, get.headers["Allow"]) == (405, "POST")
    assert get.get_json()["error"] == "InvalidRequestError"
    nested = "[" * 2000 + "]" * 2000  # deeper than Python's json parser recurses
    for body in ("[1]", '"code"', "{", '{"code": 5}', "{}", "null", nested, "\xff"):
        answer = client.post(path, data=body, content_type=JSON)
        assert answer.status_code == 400, body
        assert answer.get_json()["error"] == "InvalidRequestError"
    malformed = post_code(client, path, "a b")
    assert malformed.get_json()["error"] == "InvalidCodeError"
    huge = client.post(path, data='{"code": "' + "a" * 5000 + '"}', content_type=JSON)
    assert huge.status_code == 413
    # No CORS header unless the site adds its own.
    preflight = client.options(path, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert fake_wechat.calls["jscode2session"] == fake_wechat.calls["access_token"] == 0
    assert not client.get("/api/me").status_code == 200


def test_a_site_without_the_app_answers_404_json(fake_wechat: FakeWeChat, store: t.Any) -> None:
    app, _ = make_app(
        fake_wechat,
        WECHAT_WEB_STORE=store,
        WECHAT_WEB_MINIPROGRAM_APPID=None,
        WECHAT_WEB_MINIPROGRAM_SECRET=None,
    )
    app.config["WECHAT_WEB_MINIPROGRAM_APPID"] = None  # configure() filled it in
    app.config["WECHAT_WEB_MINIPROGRAM_SECRET"] = None
    answer = mini_login(app.test_client(), fake_wechat)
    assert (answer.status_code, answer.get_json()["error"]) == (404, "InvalidRequestError")


def test_a_configuration_error_is_a_500_json(fake_wechat: FakeWeChat, store: t.Any) -> None:
    app, wechat = make_app(fake_wechat, WECHAT_WEB_STORE=store)

    class SiteUser(UserMixin):  # type: ignore[misc]
        id = 1

    wechat.user_handler(lambda identity: SiteUser())  # and no user_loader for it
    answer = mini_login(app.test_client(), fake_wechat)
    assert answer.status_code == 500
    assert answer.get_json()["error"] == "ConfigurationError"
    assert "user_loader" not in answer.get_data(as_text=True)  # that is for the log


# -- the mobile app -------------------------------------------------------------------


def test_mobile_app_login_in_two_calls(fake_wechat: FakeWeChat, app: Flask) -> None:
    client = app.test_client()
    answer = app_login(client, fake_wechat)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    user = fake_wechat.user
    assert body["user"]["source"] == "app"
    assert body["user"]["openid"] == fake_wechat.openid(user, fake_wechat.mobile_app.appid)
    assert body["user"]["unionid"] == fake_wechat.unionid(user)
    assert body["user"]["nickname"] == user.nickname
    assert fake_wechat.calls["access_token"] == fake_wechat.calls["userinfo"] == 1
    # A native app's HTTP client keeps the session cookie: logged in both ways.
    assert client.get("/api/me").status_code == 200
    assert no_cookies(app).get("/api/me", headers=bearer(answer)).status_code == 200


def test_the_mobile_apps_token_is_stored_and_usable(
    fake_wechat: FakeWeChat, app: Flask, wechat: WeChatWeb
) -> None:
    client = app.test_client()
    assert app_login(client, fake_wechat).status_code == 200
    token = stored_token(client)
    assert token["appid"] == fake_wechat.mobile_app.appid
    with app.app_context():
        identity = wechat.fetch_identity(token)
    assert identity.source == "app" and identity.nickname == fake_wechat.user.nickname
    # The mini program's login has no WeChat token to keep.
    mini = app.test_client()
    assert mini_login(mini, fake_wechat).status_code == 200
    cookie = mini.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    with app.test_request_context(headers={"Cookie": f"{cookie.key}={cookie.value}"}):
        assert wechat.token is None


def test_a_code_of_another_app_is_refused(fake_wechat: FakeWeChat, client: FlaskClient) -> None:
    code = fake_wechat.miniprogram_code()  # not the mobile app's
    answer = post_code(client, "/wechat/app/login", code)
    assert (answer.status_code, answer.get_json()["error"]) == (400, "InvalidCodeError")
    again = app_login(client, fake_wechat)
    assert again.status_code == 200


def test_one_user_across_web_app_and_mini_program(fake_wechat: FakeWeChat, app: Flask) -> None:
    web = app.test_client()
    response, _ = log_in(web, fake_wechat)
    assert response.status_code == 302
    web_id = web.get("/api/me").get_json()["id"]
    app_id = app_login(app.test_client(), fake_wechat).get_json()["user"]["id"]
    mini_id = mini_login(no_cookies(app), fake_wechat).get_json()["user"]["id"]
    assert web_id == app_id == mini_id == fake_wechat.unionid(fake_wechat.user)


# -- bearer tokens --------------------------------------------------------------------


def test_a_refused_bearer_token_gets_401_json(fake_wechat: FakeWeChat, app: Flask) -> None:
    client = no_cookies(app)
    answer = mini_login(client, fake_wechat)
    token = answer.get_json()["access_token"]
    forged = [token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), "nonsense", token + "x"]
    for value in forged:
        refused = client.get("/api/me", headers={"Authorization": f"Bearer {value}"})
        assert refused.status_code == 401
        assert refused.get_json()["error"] == "TokenExpiredError"
    # Signed with another site's key.
    other, _ = make_app(fake_wechat, SECRET_KEY="another key", WECHAT_WEB_STORE=SimpleCache())
    foreign = mini_login(no_cookies(other), fake_wechat)
    assert client.get("/api/me", headers=bearer(foreign)).status_code == 401
    # Never read from a URL.
    assert client.get("/api/me", query_string={"access_token": token}).status_code == 302
    # Without a bearer token, @login_required still sends a browser to WeChat.
    assert client.get("/api/me").status_code == 302


def test_a_bearer_token_outlives_a_key_rotation_only_with_the_fallback(
    fake_wechat: FakeWeChat, app: Flask
) -> None:
    answer = mini_login(no_cookies(app), fake_wechat)
    app.config["SECRET_KEY"] = app.secret_key = "the new secret key"
    assert no_cookies(app).get("/api/me", headers=bearer(answer)).status_code == 401
    app.config["SECRET_KEY_FALLBACKS"] = ["a test secret key"]
    assert no_cookies(app).get("/api/me", headers=bearer(answer)).status_code == 200


def test_a_bearer_token_expires(fake_wechat: FakeWeChat, store: t.Any) -> None:
    app, _ = make_app(fake_wechat, WECHAT_WEB_STORE=store, WECHAT_WEB_API_TOKEN_TTL=1)
    app.route("/api/me")(login_required(lambda: "me"))
    client = no_cookies(app)
    answer = mini_login(client, fake_wechat)
    assert answer.get_json()["expires_in"] == 1
    assert client.get("/api/me", headers=bearer(answer)).status_code == 200
    time.sleep(2.1)
    assert client.get("/api/me", headers=bearer(answer)).status_code == 401


def test_logout_revokes_that_logins_token_only(fake_wechat: FakeWeChat, app: Flask) -> None:
    phone, tablet = no_cookies(app), no_cookies(app)
    first, second = mini_login(phone, fake_wechat), mini_login(tablet, fake_wechat)
    out = phone.post("/wechat/logout", headers=bearer(first))
    assert out.status_code == 204
    assert phone.get("/api/me", headers=bearer(first)).status_code == 401
    assert tablet.get("/api/me", headers=bearer(second)).status_code == 200  # another device


def test_cookie_logout_revokes_the_token_of_its_login(fake_wechat: FakeWeChat, app: Flask) -> None:
    client = app.test_client()
    answer = app_login(client, fake_wechat)
    assert client.post("/wechat/logout", json={}).status_code == 204
    assert no_cookies(app).get("/api/me", headers=bearer(answer)).status_code == 401


def test_api_token_hook_adds_and_replaces(fake_wechat: FakeWeChat, app: Flask) -> None:
    wechat = app.extensions["wechat_web"].extension

    @wechat.api_token
    def own_token(user: t.Any, identity: t.Any) -> dict[str, t.Any]:
        return {"access_token": f"site-{identity.source}", "refresh_token": "r"}

    body = mini_login(no_cookies(app), fake_wechat).get_json()
    assert body["access_token"] == "site-miniprogram"
    assert body["refresh_token"] == "r"
    assert body["token_type"] == "Bearer" and body["user"]["source"] == "miniprogram"


def test_the_flask_jwt_extended_recipe_of_the_docs(fake_wechat: FakeWeChat, store: t.Any) -> None:
    import flask_jwt_extended  # noqa: F401  (in the test extra: the recipe needs it)

    # PyJWT warns of an HMAC key under 32 bytes.
    key = "a test secret key long enough for a JWT"
    app, wechat = make_app(fake_wechat, WECHAT_WEB_STORE=store, SECRET_KEY=key)
    page = (Path(__file__).parent.parent / "docs" / "api-tokens.rst").read_text(encoding="utf-8")
    after = page.split(".. flask-jwt-extended recipe:", 1)[1]
    block = after.split(".. code-block:: python\n\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    exec(compile("\n".join(lines), "docs/api-tokens.rst", "exec"), {"app": app, "wechat": wechat})
    client = no_cookies(app)
    body = mini_login(client, fake_wechat).get_json()
    assert body["access_token"].count(".") == 2  # a JWT
    assert body["expires_in"] == 900 and body["token_type"] == "Bearer"
    orders = client.get("/api/orders", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert orders.status_code == 200
    assert orders.get_json() == {"user": body["user"]["id"], "orders": []}


# -- GET /session ---------------------------------------------------------------------


def test_session_for_single_page_sites(fake_wechat: FakeWeChat, app: Flask) -> None:
    client = app.test_client()
    anonymous = client.get("/wechat/session")
    assert anonymous.status_code == 200
    assert anonymous.get_json() == {"user": None, "login_url": "http://localhost/wechat/login"}
    assert anonymous.headers["Cache-Control"] == "no-store"
    log_in(client, fake_wechat)
    body = client.get("/wechat/session").get_json()
    user = fake_wechat.user
    assert body["user"] == {
        "id": fake_wechat.unionid(user),
        "openid": fake_wechat.openid(user, fake_wechat.website_app.appid),
        "unionid": fake_wechat.unionid(user),
        "source": "qr",
        "nickname": user.nickname,
        "headimgurl": body["user"]["headimgurl"],
    }
    # Its token, read here and never in a URL, works without the cookie.
    token = body["access_token"]
    assert client.get("/wechat/session").get_json()["access_token"] == token  # the same one
    headers = {"Authorization": f"Bearer {token}"}
    by_token = no_cookies(app).get("/wechat/session", headers=headers).get_json()
    assert by_token["user"]["source"] == "qr" and "access_token" not in by_token
    client.post("/wechat/logout")
    assert no_cookies(app).get("/api/me", headers=headers).status_code == 401


def test_session_never_answers_an_earlier_logins_token(fake_wechat: FakeWeChat, app: Flask) -> None:
    client = app.test_client()
    assert app_login(client, fake_wechat).status_code == 200  # the first user, in the app
    alice = fake_wechat.users[1]
    url = client.get("/wechat/login?mode=qr").location
    assert client.get(callback_path(fake_wechat.approve(url, user=alice))).status_code == 302
    body = client.get("/wechat/session").get_json()
    assert body["user"]["id"] == fake_wechat.unionid(alice)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = no_cookies(app).get("/api/me", headers=headers).get_json()
    assert me["id"] == fake_wechat.unionid(alice)


def test_session_by_bearer_token(fake_wechat: FakeWeChat, app: Flask) -> None:
    answer = mini_login(no_cookies(app), fake_wechat)
    body = no_cookies(app).get("/wechat/session", headers=bearer(answer)).get_json()
    assert body["user"] == answer.get_json()["user"]


JSON_BODIES = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=8,
    ).map(lambda value: json.dumps(value).encode()),
    st.text(max_size=80).map(lambda code: json.dumps({"code": code}).encode()),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(["/wechat/app/login", "/wechat/miniprogram/login"]),
    body=JSON_BODIES,
    content_type=st.sampled_from([JSON, "application/json; charset=utf-8", "text/plain", ""]),
    auth=st.sampled_from(["", "Bearer ", "Bearer x.y.z", "bearer " + "a" * 5000, "Basic eA=="]),
)
def test_the_json_routes_never_fail_badly(
    app: Flask, path: str, body: bytes, content_type: str, auth: str
) -> None:
    # ``app`` is built once for the test: no code posted here is one WeChat issued.
    headers = {"Content-Type": content_type, "Authorization": auth}
    answer = app.test_client().post(path, data=body, headers=headers)
    assert answer.mimetype == JSON
    assert 400 <= answer.status_code < 500 or answer.status_code == 502, answer.status_code
    assert set(answer.get_json()) == {"error", "message"}


@pytest.mark.parametrize("path", ["/wechat/miniprogram/login", "/wechat/app/login"])
def test_a_body_over_the_sites_own_limit_is_a_413_json(fake_wechat: FakeWeChat, path: str) -> None:
    app, _ = make_app(fake_wechat, MAX_CONTENT_LENGTH=64, WECHAT_WEB_STORE=SimpleCache())
    answer = app.test_client().post(path, data='{"code": "' + "a" * 100 + '"}', content_type=JSON)
    assert answer.status_code == 413
    assert answer.get_json()["error"] == "InvalidRequestError"


@pytest.mark.parametrize("csrf_first", [True, False])
def test_the_app_logins_pass_flask_wtfs_csrf_protect(
    fake_wechat: FakeWeChat, csrf_first: bool
) -> None:
    from flask_wtf.csrf import CSRFProtect

    app = Flask(__name__)
    app.config.update(SECRET_KEY="k", TESTING=True, WECHAT_WEB_STORE=SimpleCache())
    app.config.update(fake_wechat.config())
    if csrf_first:
        CSRFProtect(app)
    WeChatWeb(app)
    if not csrf_first:
        CSRFProtect(app)
    fake_wechat.configure(app)
    client = app.test_client()
    assert mini_login(client, fake_wechat).status_code == 200
    assert app_login(client, fake_wechat).status_code == 200
    # The browser's logout form still needs its token.
    assert client.post("/wechat/logout").status_code == 400
