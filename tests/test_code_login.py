"""The code sign-in end to end: a keyword sent to the Official Account, its code typed in a browser.

The fake WeChat pushes the person's text over real HTTP to a served site,
reads the site's passive reply (decrypted, its signature checked) as the
person would, and the code from it is typed into the site's ``/code`` page.
"""

from __future__ import annotations

import re
import threading
import typing as t
from pathlib import Path

import pytest
from cachelib import FileSystemCache, SimpleCache
from flask import Flask
from flask.testing import FlaskClient
from flask_login import current_user

from flask_wechat_web import wechat_authorized
from flask_wechat_web.testing import FakeWeChat
from flask_wechat_web.testing.model import FakeUser

from .conftest import MICROMESSENGER_UA, Served, make_app


class EnglishClient(FlaskClient):
    """A browser asking for English pages, unless a request says otherwise."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def code_site(fake: FakeWeChat, mode: str = "safe", **config: t.Any) -> Flask:
    settings = {
        "WECHAT_WEB_CODE_LOGIN": True,
        "WECHAT_WEB_STORE": SimpleCache(),
        **fake.push_config(mode),
        **config,
    }
    app, _ = make_app(fake, **settings)
    app.test_client_class = EnglishClient

    @app.route("/who")
    def who() -> str:
        return current_user.get_id() if current_user.is_authenticated else "nobody"

    return app


class Site:
    """A served site with the code sign-in, and its logins as ``wechat_authorized`` tells them."""

    def __init__(self, fake: FakeWeChat, app: Flask) -> None:
        self.fake, self.app = fake, app
        self.served = Served(app)
        self.identities: list[t.Any] = []
        wechat_authorized.connect(self._logged_in, app)

    def _logged_in(self, sender: Flask, identity: t.Any, **kwargs: t.Any) -> None:
        self.identities.append(identity)

    def send(self, content: str, user: FakeUser | None = None, mode: str = "safe") -> t.Any:
        """The person sends the account ``content`` in WeChat; what WeChat got back."""
        message = self.fake.text(content, user=user)
        return self.fake.push(self.served.push_url, message, mode=mode)

    def code(self, user: FakeUser | None = None) -> str:
        delivery = self.send("登录", user)
        assert delivery.login_code, delivery.reply
        return t.cast(str, delivery.login_code)


@pytest.fixture
def site(fake_wechat: FakeWeChat) -> t.Iterator[Site]:
    served = Site(fake_wechat, code_site(fake_wechat))
    yield served
    served.served.stop()


def form_token(client: FlaskClient, next_url: str = "/") -> str:
    page = client.get("/wechat/code", query_string={"next": next_url})
    assert page.status_code == 200
    found = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def type_code(client: FlaskClient, code: str, next_url: str = "/who", **kwargs: t.Any) -> t.Any:
    token = form_token(client, next_url)
    form = {"code": code, "form_token": token, "next": next_url}
    return client.post("/wechat/code", data=form, **kwargs)


def wrong(code: str) -> str:
    """The same record (first 4 digits), other check digits."""
    digits = code.replace(" ", "")
    return digits[:4] + f"{(int(digits[4:]) + 1) % 10000:04d}"


# -- the way there, and a login ------------------------------------------------------


def test_login_goes_to_the_code_page_without_a_website_app(fake_wechat: FakeWeChat) -> None:
    app = code_site(fake_wechat, WECHAT_WEB_APPID=None, WECHAT_WEB_SECRET=None)
    answer = app.test_client().get("/wechat/login", query_string={"next": "/private"})
    assert answer.status_code == 302
    assert answer.location == "/wechat/code?next=/private"


def test_in_wechat_without_web_authorization_login_reaches_the_code_page(
    fake_wechat: FakeWeChat,
) -> None:
    app = code_site(fake_wechat, WECHAT_WEB_MP_WEB_AUTH=False)
    client = app.test_client()
    answer = client.get("/wechat/login", headers={"User-Agent": MICROMESSENGER_UA})
    assert answer.location.startswith("/wechat/code?")
    desktop = client.get("/wechat/login")  # the website app still comes first elsewhere
    assert "/connect/qrconnect" in desktop.location
    with_auth = code_site(fake_wechat).test_client()
    inside = with_auth.get("/wechat/login", headers={"User-Agent": MICROMESSENGER_UA})
    assert "/connect/oauth2/authorize" in inside.location


@pytest.mark.parametrize("mode", ["safe", "compatible", "plaintext"])
def test_a_follower_logs_in_with_the_code_from_the_reply(
    fake_wechat: FakeWeChat, mode: str
) -> None:
    site = Site(fake_wechat, code_site(fake_wechat, mode))
    try:
        alice = fake_wechat.users[0]
        fake_wechat.follow(alice)
        delivery = site.send("登录", alice, mode=mode)
        assert delivery.reply and delivery.login_code
        assert "127.0.0.1" in delivery.reply  # the site's host, as no name is set
        client = site.app.test_client()
        answer = type_code(client, delivery.login_code, "/who")
        assert (answer.status_code, answer.location) == (302, "/who")
        (identity,) = site.identities
        assert identity.source == "code"
        assert identity.openid == fake_wechat.openid(alice, fake_wechat.mp_app.appid)
        assert identity.unionid == fake_wechat.unionid(alice)
        assert client.get("/who").text != "nobody"
    finally:
        site.served.stop()


def test_the_code_is_typed_with_a_dash_without_the_space_or_full_width(site: Site) -> None:
    for spelled in (
        lambda code: code.replace(" ", ""),
        lambda code: code.replace(" ", "-"),
        lambda code: f"  {code} ",
        lambda code: code.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"}),
    ):
        answer = type_code(site.app.test_client(), spelled(site.code()))
        assert answer.status_code == 302


def test_an_unverified_account_logs_in_by_openid(site: Site) -> None:
    mp = site.fake.mp_app
    site.fake.add_app(mp.appid, mp.secret, kind="mp", domain=mp.domain, verified=False)
    answer = type_code(site.app.test_client(), site.code())
    assert answer.status_code == 302
    (identity,) = site.identities
    assert (identity.source, identity.unionid) == ("code", None)


def test_reply_names_the_site_and_speaks_the_keywords_language(fake_wechat: FakeWeChat) -> None:
    site = Site(fake_wechat, code_site(fake_wechat, WECHAT_WEB_SITE_NAME="Example Shop"))
    try:
        english = site.send("  LOGIN ").reply
        assert english is not None
        assert english.startswith("Your login code for Example Shop: ")
        assert "It expires in 5 minutes." in english
        chinese = site.send("验证码").reply
        assert chinese is not None and "Example Shop" in chinese
    finally:
        site.served.stop()


@pytest.mark.parametrize("content", ["hello", "登录 please", "1234 5678", ""])
def test_a_text_that_is_no_keyword_gets_no_reply(site: Site, content: str) -> None:
    delivery = site.send(content)
    assert (delivery.status, delivery.text, delivery.reply) == (200, "success", None)


def test_an_event_gets_no_code(site: Site) -> None:
    delivery = site.fake.push(site.served.push_url, site.fake.event("subscribe"))
    assert (delivery.text, delivery.reply) == ("success", None)


def test_the_page_names_the_account_and_keeps_next(fake_wechat: FakeWeChat) -> None:
    app = code_site(fake_wechat, WECHAT_WEB_MP_NAME="Example 服务号")
    client = app.test_client()
    page = client.get("/wechat/code?next=/private", headers={"Accept-Language": "en"})
    assert "Example 服务号" in page.text and "<strong>login</strong>" in page.text
    assert 'autocomplete="one-time-code"' in page.text and 'inputmode="numeric"' in page.text
    assert 'name="next" value="/private"' in page.text
    chinese = client.get("/wechat/code", headers={"Accept-Language": "zh-CN"})
    assert "<strong>登录</strong>" in chinese.text
    evil = client.get("/wechat/code?next=//evil.example")
    assert 'name="next" value="/"' in evil.text


def test_no_code_page_when_the_code_sign_in_is_off(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    assert app.test_client().get("/wechat/code").status_code == 404


# -- single use, expiry, replay -------------------------------------------------------


def test_a_code_works_once(site: Site) -> None:
    code = site.code()
    assert type_code(site.app.test_client(), code).status_code == 302
    again = type_code(site.app.test_client(), code)
    assert again.status_code == 400
    assert "wrong or has expired" in again.text


def test_a_code_expires(site: Site) -> None:
    now = [1_000_000.0]
    site.app.extensions["wechat_web"].extension.clock = lambda: now[0]
    code = site.code()
    now[0] += 301
    late = type_code(site.app.test_client(), code)
    assert late.status_code == 400
    assert site.identities == []


def test_the_same_push_again_issues_one_code_and_repeats_its_reply(site: Site) -> None:
    # WeChat delivers again when the first answer came too late: it never showed that
    # reply, so the second answer carries it (encrypted: a replay by anyone else is unread).
    message = site.fake.text("登录")
    first = site.fake.push(site.served.push_url, message)
    again = site.fake.push(site.served.push_url, message)
    assert first.login_code and again.login_code == first.login_code
    code = t.cast(str, first.login_code)
    client = site.app.test_client()
    assert type_code(client, code).status_code == 302  # one code, good once
    assert type_code(site.app.test_client(), code).status_code == 400


# -- guessing, bounded -----------------------------------------------------------------


def test_five_wrong_check_digits_burn_the_code(site: Site) -> None:
    code = site.code()
    for attempt in range(5):
        client = site.app.test_client()  # a new browser each time: only the code counts here
        answer = type_code(client, wrong(code), environ_base={"REMOTE_ADDR": f"10.0.0.{attempt}"})
        assert answer.status_code == 400
    assert type_code(site.app.test_client(), code).status_code == 400  # burned


def test_all_wrong_answers_look_the_same(site: Site) -> None:
    code = site.code()
    unknown = type_code(site.app.test_client(), "00000000" if code[:4] != "0000" else "11111111")
    near = type_code(site.app.test_client(), wrong(code))
    strip = re.compile(r'name="(form_token|csrf_token)" value="[^"]*"')
    assert unknown.status_code == near.status_code == 400
    assert strip.sub("", unknown.text) == strip.sub("", near.text)


def test_one_browser_gets_five_wrong_codes_per_ten_minutes(site: Site) -> None:
    now = [1_000_000.0]
    site.app.extensions["wechat_web"].extension.clock = lambda: now[0]
    client = site.app.test_client()
    for attempt in range(5):
        address = {"REMOTE_ADDR": f"10.0.1.{attempt}"}  # other addresses: only the browser counts
        assert type_code(client, "12345678", environ_base=address).status_code == 400
    code = site.code()
    blocked = type_code(client, code, environ_base={"REMOTE_ADDR": "10.0.1.9"})
    assert blocked.status_code == 429
    assert "Too many wrong codes. Try again in 10 minutes." in blocked.text
    now[0] += 601
    fresh = site.code()  # the first one expired meanwhile
    assert type_code(client, fresh, environ_base={"REMOTE_ADDR": "10.0.1.9"}).status_code == 302


def test_one_address_gets_twenty_wrong_codes_even_without_cookies(site: Site) -> None:
    address = {"REMOTE_ADDR": "192.0.2.7"}
    for _ in range(20):
        fresh = site.app.test_client()  # cookies dropped every time
        assert type_code(fresh, "12345678", environ_base=address).status_code == 400
    code = site.code()
    assert type_code(site.app.test_client(), code, environ_base=address).status_code == 429
    assert type_code(site.app.test_client(), code).status_code == 302  # another address


def test_an_account_gets_five_codes_per_ten_minutes(site: Site) -> None:
    now = [1_000_000.0]
    site.app.extensions["wechat_web"].extension.clock = lambda: now[0]
    for _ in range(5):
        site.code()
    refused = site.send("login")
    assert refused.login_code is None
    assert refused.reply and "Wait 10 minutes" in refused.reply
    assert site.code(site.fake.users[1])  # another person is not held up
    now[0] += 601
    assert site.code()


def test_an_account_whose_codes_saw_ten_wrong_attempts_waits_an_hour(site: Site) -> None:
    now = [1_000_000.0]
    site.app.extensions["wechat_web"].extension.clock = lambda: now[0]
    for burned in range(2):
        code = site.code()
        for attempt in range(5):
            address = {"REMOTE_ADDR": f"10.{burned}.2.{attempt}"}
            assert (
                type_code(site.app.test_client(), wrong(code), environ_base=address).status_code
                == 400
            )
    refused = site.send("登录")
    assert refused.login_code is None and refused.reply and "60" in refused.reply
    now[0] += 3601
    assert site.code()


# -- failures: the store, CSRF ----------------------------------------------------------


class DownStore(SimpleCache):
    down = False

    def get(self, key: str) -> t.Any:
        if self.down:
            raise ConnectionError("redis://:password@10.0.0.1 is down")
        return super().get(key)


def test_store_down_is_a_clean_503(fake_wechat: FakeWeChat) -> None:
    store = DownStore()
    site = Site(fake_wechat, code_site(fake_wechat, WECHAT_WEB_STORE=store))
    try:
        code = site.code()
        client = site.app.test_client()
        token = form_token(client)
        store.down = True
        answer = client.post("/wechat/code", data={"code": code, "form_token": token})
        assert answer.status_code == 503
        assert "password" not in answer.text and "Traceback" not in answer.text
        store.down = False
        assert (
            client.post("/wechat/code", data={"code": code, "form_token": token}).status_code == 302
        )
    finally:
        site.served.stop()


def test_a_form_from_another_browser_or_site_is_refused(site: Site) -> None:
    code = site.code()
    victim = site.app.test_client()
    victim.get("/wechat/code")
    forged = victim.post("/wechat/code", data={"code": code, "form_token": "attackers-token"})
    assert forged.status_code == 400 and "expired" in forged.text
    assert victim.get("/who").text == "nobody"
    assert type_code(victim, code).status_code == 302  # the code was not spent


@pytest.mark.parametrize("csrf_first", [True, False])
def test_with_csrf_protect_the_page_form_passes(fake_wechat: FakeWeChat, csrf_first: bool) -> None:
    from flask_wtf.csrf import CSRFProtect

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="a test secret key",
        TESTING=True,
        WECHAT_WEB_CODE_LOGIN=True,
        WECHAT_WEB_STORE=SimpleCache(),
        **fake_wechat.config(),
        **fake_wechat.push_config(),
    )
    from flask_wechat_web import WeChatWeb

    if csrf_first:
        CSRFProtect(app)
    WeChatWeb(app)
    fake_wechat.configure(app)
    if not csrf_first:
        CSRFProtect(app)
    site = Site(fake_wechat, app)
    try:
        code = site.code()
        client = app.test_client()
        page = client.get("/wechat/code").text
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        assert "csrf_token" in fields and "form_token" in fields
        without = client.post(
            "/wechat/code", data={"code": code, "form_token": fields["form_token"]}
        )
        assert without.status_code == 400  # Flask-WTF's own check
        answer = client.post("/wechat/code", data={**fields, "code": code})
        assert (answer.status_code, answer.location) == (302, "/")
    finally:
        site.served.stop()


def test_a_file_store_works_the_same(fake_wechat: FakeWeChat, tmp_path: Path) -> None:
    store = FileSystemCache(str(tmp_path / "store"), threshold=0)
    site = Site(fake_wechat, code_site(fake_wechat, WECHAT_WEB_STORE=store))
    try:
        code = site.code()
        assert type_code(site.app.test_client(), code).status_code == 302
        assert type_code(site.app.test_client(), code).status_code == 400
    finally:
        site.served.stop()


# -- the sandbox: the chat with the account, through the test client ----------------------


def test_through_the_sandbox() -> None:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="a test secret key",
        TESTING=True,
        WECHAT_WEB_SANDBOX=True,
        WECHAT_WEB_CODE_LOGIN=True,
        WECHAT_WEB_STORE=SimpleCache(),
    )
    from flask_wechat_web import WeChatWeb

    WeChatWeb(app)
    client = app.test_client()
    page = client.get("/wechat/code", headers={"Accept-Language": "en"})
    assert 'href="/_wechat_sandbox/message" target="_blank"' in page.text
    chat = client.get("/_wechat_sandbox/message")
    assert chat.status_code == 200
    fake = app.extensions["wechat_web"].sandbox
    sent = client.post(
        "/_wechat_sandbox/message", data={"user": fake.users[1].key, "content": "登录"}
    )
    found = re.search(r"data-reply>([^<]*)<", sent.text)
    assert found, sent.text
    code = re.search(r"[0-9]{4} [0-9]{4}", found.group(1))
    assert code
    assert type_code(client, code.group(0)).status_code == 302
    assert client.get("/wechat/session").json["user"]["openid"] == fake.openid(
        fake.users[1], fake.mp_app.appid
    )
    bad = client.post("/_wechat_sandbox/message", data={"user": "nobody", "content": "登录"})
    assert bad.status_code == 400


def test_two_browsers_typing_one_code_at_once_log_in_one(
    fake_wechat: FakeWeChat, tmp_path: Path
) -> None:
    store = FileSystemCache(str(tmp_path / "store"), threshold=0)
    site = Site(fake_wechat, code_site(fake_wechat, WECHAT_WEB_STORE=store))
    try:
        code = site.code()
        clients = [site.app.test_client() for _ in range(8)]
        tokens = [form_token(client) for client in clients]
        start = threading.Barrier(len(clients))
        statuses: list[int] = []

        def spend(client: FlaskClient, token: str) -> None:
            start.wait()
            answer = client.post("/wechat/code", data={"code": code, "form_token": token})
            statuses.append(answer.status_code)

        threads = [
            threading.Thread(target=spend, args=pair) for pair in zip(clients, tokens, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(statuses) == [302] + [400] * 7
    finally:
        site.served.stop()
