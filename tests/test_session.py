"""What the extension keeps in the session: a fixed budget, each value once, one write."""

from __future__ import annotations

import secrets
import string
import typing as t
from collections import Counter

import pytest
from flask import Flask
from flask.sessions import SecureCookieSession
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_wechat_web import WeChatIdentity, WeChatWeb, _session
from flask_wechat_web.testing import FakeWeChat

from .conftest import MICROMESSENGER_UA, callback_path, log_in, make_app, start_login

#: Browsers keep a cookie of at most this many bytes (name, value and attributes).
COOKIE_LIMIT = 4093
_URL_SAFE = string.ascii_letters + string.digits + "-._~"


def long_next(length: int = 1000) -> str:
    """A path of ``length`` characters that compresses as little as a real one could."""
    return "/" + "".join(secrets.choice(_URL_SAFE) for _ in range(length - 1))


class CookieMeter:
    """Follows a test client's responses and keeps the largest ``Set-Cookie`` line."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.largest = 0

    def get(self, url: str, **kwargs: t.Any) -> TestResponse:
        return self._measured(self.client.get(url, **kwargs))

    def _measured(self, response: TestResponse) -> TestResponse:
        for line in response.headers.getlist("Set-Cookie"):
            self.largest = max(self.largest, len(f"Set-Cookie: {line}".encode()))
        return response


def test_cookie_budget_holds_for_long_next_many_logins_and_many_tabs(
    fake_wechat: FakeWeChat,
) -> None:
    app, _ = make_app(fake_wechat, SESSION_COOKIE_SECURE=True, SESSION_COOKIE_SAMESITE="Lax")
    browser = CookieMeter(app.test_client())
    for _ in range(20):  # twenty logins in a row, each with a 1,000-character next
        target = long_next()
        login = browser.get("/wechat/login", query_string={"next": target})
        done = browser.get(callback_path(fake_wechat.approve(login.location)))
        assert (done.status_code, done.location) == (302, target)
    # Then twenty tabs, while logged in (token and profile in the session too).
    tabs = [browser.get("/wechat/login", query_string={"next": long_next()}) for _ in range(20)]
    callbacks = [callback_path(fake_wechat.approve(tab.location)) for tab in tabs]
    assert browser.get(callbacks[-1]).status_code == 302  # the newest tab completes
    dropped = browser.get(callbacks[0])
    assert dropped.status_code == 400
    assert "Too many logins" in dropped.get_data(as_text=True)
    assert 1500 < browser.largest <= COOKIE_LIMIT, browser.largest  # the long next is in it


def test_many_short_tabs_each_complete_within_the_budget(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    browser = CookieMeter(app.test_client())
    log_in(browser.client, fake_wechat)
    tabs = [start_login(browser.client, next=f"/articles/{i}") for i in range(10)]
    for i, tab in enumerate(tabs):
        done = browser.get(callback_path(fake_wechat.approve(tab)))
        assert done.location == f"/articles/{i}"
    assert browser.largest <= COOKIE_LIMIT


@pytest.mark.parametrize("user_index", [0, 1, 2])
def test_cookie_after_logins_holds_each_value_once(
    fake_wechat: FakeWeChat, user_index: int
) -> None:
    fake_wechat.user = fake_wechat.users[user_index]
    app, wechat = make_app(fake_wechat)
    client = app.test_client()
    for _ in range(5):  # the used states' memory fills up too
        response, _ = log_in(client, fake_wechat)
        assert response.status_code == 302
        cookie = client.get_cookie("session")
        assert cookie is not None and len(cookie.value) <= 700
    with client.session_transaction() as session:
        ours = session[_session.KEY]
    with app.test_request_context(headers={"Cookie": f"session={cookie.value}"}):
        stored = wechat.storage.get()
    assert stored is not None
    for value in (stored["openid"], stored["access_token"], stored["refresh_token"]):
        assert ours.count(value) == 1
    if stored.get("unionid"):
        assert ours.count(stored["unionid"]) == 1  # and Flask-Login's _user_id


class CountingSession(SecureCookieSession):
    """A cookie session that counts reads and writes of the extension's key."""

    opened: t.ClassVar[list[CountingSession]] = []

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()
        CountingSession.opened.append(self)

    def __getitem__(self, key: str) -> t.Any:
        self.reads[key] += 1
        return super().__getitem__(key)

    def get(self, key: str, default: t.Any = None) -> t.Any:
        self.reads[key] += 1
        return super().get(key, default)

    def __setitem__(self, key: str, value: t.Any) -> None:
        self.writes[key] += 1
        super().__setitem__(key, value)


def ours(counts: Counter[str]) -> int:
    """Reads or writes of the extension's session keys (one, ``_wechat_web``, is all)."""
    return sum(n for key, n in counts.items() if key.startswith("_wechat_web"))


def test_at_most_one_read_and_one_write_of_our_session_value_per_request(
    fake_wechat: FakeWeChat,
) -> None:
    app, _ = make_app(fake_wechat)
    app.session_interface.session_class = CountingSession
    CountingSession.opened.clear()
    client = app.test_client()
    for ua in ("Mozilla/5.0", MICROMESSENGER_UA):  # QR, then the Official Account
        response, callback = log_in(client, fake_wechat, ua=ua, next="/private")
        assert response.status_code == 302
        assert client.get(callback).location == "/private"  # the repeat, answered again
    assert client.get("/private").status_code == 200
    assert client.get("/wechat/qrcode").status_code == 200
    assert client.post("/wechat/logout").status_code == 302
    sessions = [s for s in CountingSession.opened if ours(s.reads) or ours(s.writes)]
    assert len(sessions) >= 8
    assert max(ours(s.reads) for s in sessions) == 1
    assert max(ours(s.writes) for s in sessions) == 1  # the callback too


def test_a_huge_profile_is_cut_to_its_budget(app: Flask, wechat: WeChatWeb) -> None:
    identity = WeChatIdentity(
        "wx0123456789abcdef",
        "o" * 28,
        nickname="长" * 2000,
        headimgurl="https://thirdwx.qlogo.cn/mmopen/vi_32/x/132",
        province="广东",
    )
    with app.test_request_context():
        user = wechat.user_for(identity)
        stored = _session.data().get("profile")
    assert user.nickname == "长" * 2000  # this login's user is whole
    assert stored == ["", "https://thirdwx.qlogo.cn/mmopen/vi_32/x/132", 0, "广东"]
