"""Scan to follow (``/wechat/follow``), over real HTTP: a served site, the fake pushing to it."""

from __future__ import annotations

import re
import typing as t

import pytest
import requests
from cachelib import SimpleCache
from flask import Flask

from flask_wechat_web import WeChatIdentity, WeChatWeb
from flask_wechat_web.testing import FakeWeChat
from flask_wechat_web.testing.fake import USER_COOKIE
from flask_wechat_web.testing.model import FakeUser

from .conftest import MICROMESSENGER_UA, Served, make_app

DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"


class Clock:
    """The site's clock, moved by the test."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Site:
    """A site with only an Official Account (no website app), served on loopback."""

    def __init__(self, fake: FakeWeChat, **config: t.Any) -> None:
        settings = {
            "WECHAT_WEB_APPID": None,
            "WECHAT_WEB_SECRET": None,
            "WECHAT_WEB_STORE": SimpleCache(),
            "WECHAT_WEB_FOLLOW_LOGIN": True,
            "WECHAT_WEB_SITE_NAME": "Example Shop",
            "WECHAT_WEB_UI_LOCALE": "en",
            **fake.push_config(),
            **config,
        }
        self.app, self.wechat = make_app(fake, **settings)
        self.clock = Clock()
        self.wechat.clock = self.clock
        self.identities: list[WeChatIdentity] = []
        from flask_wechat_web.signals import wechat_authorized

        wechat_authorized.connect(self._logged_in, self.app)
        self.served = Served(self.app)
        self.fake = fake
        fake.set_domain(self.served.netloc)
        self.base = f"http://{self.served.netloc}"

    def _logged_in(self, sender: Flask, identity: WeChatIdentity, **kwargs: t.Any) -> None:
        self.identities.append(identity)

    def browser(self) -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = DESKTOP_UA
        return session

    def open_follow(self, browser: requests.Session, query: str = "next=/private") -> str:
        """The follow page's HTML; the QR code's url is the only one the fake issued last."""
        page = browser.get(f"{self.base}/wechat/login?{query}")
        assert page.status_code == 200, page.text
        assert "/wechat/follow" in page.url
        return page.text

    def latest_qr(self) -> str:
        """The url of the last QR code the fake made (the page draws it, as an SVG)."""
        return list(self.fake.qrcodes.values())[-1].url

    def status(self, browser: requests.Session) -> dict[str, t.Any]:
        answer = browser.get(f"{self.base}/wechat/follow/status")
        assert answer.status_code == 200, answer.text
        return t.cast(dict[str, t.Any], answer.json())

    def scan(self, user: FakeUser | None = None, qr: str | None = None) -> str | None:
        delivery = self.fake.scan(qr or self.latest_qr(), self.served.push_url, user)
        assert delivery is not None and delivery.taken
        return delivery.reply


def phone(user: FakeUser) -> requests.Session:
    """WeChat's browser on ``user``'s phone (the fake knows them by its cookie)."""
    session = requests.Session()
    session.headers["User-Agent"] = MICROMESSENGER_UA
    session.cookies.set(USER_COOKIE, user.key)
    return session


def link_in(reply: str | None) -> str:
    assert reply is not None
    found = re.search(r"http://\S+/wechat/follow/confirm/wwl_[A-Za-z0-9_-]{32}", reply)
    assert found, reply
    return found.group(0)


def confirm(link: str, user: FakeUser, button: str = "confirm") -> requests.Response:
    """Open the reply's link in WeChat (snsapi_base, silent) and press a button."""
    session = phone(user)
    page = session.get(link)
    assert page.status_code == 200, page.text
    assert "Example Shop" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    return session.post(link, data={"csrf_token": token.group(1), button: "1"})


@pytest.fixture
def site(fake_wechat: FakeWeChat) -> t.Iterator[Site]:
    site = Site(fake_wechat)
    yield site
    site.served.stop()


def test_new_follower_confirms_and_logs_in(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    page = site.open_follow(browser)
    assert "<svg" in page and "Example Shop" in page
    assert site.status(browser)["status"] == "waiting"
    user = fake_wechat.users[1]
    assert not fake_wechat.follows(user)
    reply = site.scan(user)
    assert fake_wechat.follows(user)
    assert "Example Shop" in t.cast(str, reply)
    assert site.status(browser)["status"] == "scanned"
    done = confirm(link_in(reply), user)
    assert done.status_code == 200 and "go back to your computer" in done.text
    answer = site.status(browser)
    assert answer == {"status": "done", "next": "/private"}
    assert browser.get(f"{site.base}/private").text.startswith("private for")
    identity = site.identities[-1]
    assert identity.source == "follow"
    assert identity.openid == fake_wechat.openid(user, fake_wechat.mp_app.appid)
    assert identity.unionid == fake_wechat.unionid(user)
    assert fake_wechat.calls["qrcode_create"] == 1


def test_existing_follower_scans_bare_scene(site: Site, fake_wechat: FakeWeChat) -> None:
    user = fake_wechat.users[0]
    fake_wechat.follow(user)
    browser = site.browser()
    site.open_follow(browser)
    reply = site.scan(user)
    confirm(link_in(reply), user)
    assert site.status(browser)["status"] == "done"


def test_done_stays_done_and_a_new_login_gets_a_new_qr_code(
    site: Site, fake_wechat: FakeWeChat
) -> None:
    user = fake_wechat.users[0]
    browser = site.browser()
    site.open_follow(browser)
    confirm(link_in(site.scan(user)), user)
    assert site.status(browser)["status"] == "done"
    assert site.status(browser)["status"] == "done"  # asked again: still this browser's login
    assert len(site.identities) == 1  # logged in once
    logout = browser.get(f"{site.base}/wechat/logout")
    assert logout.status_code == 200
    assert browser.post(f"{site.base}/wechat/logout").status_code in (200, 302)
    assert site.status(browser)["status"] == "used"  # spent, and no longer logged in
    site.open_follow(browser)  # logging in again: a QR code of its own
    assert fake_wechat.calls["qrcode_create"] == 2
    assert site.status(browser)["status"] == "waiting"


def test_reload_reuses_the_qr_code(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    site.open_follow(browser)
    site.open_follow(browser)
    browser.get(f"{site.base}/wechat/follow?new=1")  # still good: the same one
    assert fake_wechat.calls["qrcode_create"] == 1
    assert len(fake_wechat.qrcodes) == 1


def test_cancel_marks_it_used(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    site.open_follow(browser)
    user = fake_wechat.users[0]
    cancelled = confirm(link_in(site.scan(user)), user, "cancel")
    assert cancelled.status_code == 200 and "Login canceled" in cancelled.text
    assert site.status(browser)["status"] == "used"
    assert browser.get(f"{site.base}/private", allow_redirects=False).status_code != 200
    assert site.scan(user) == "This QR code has been used. Get a new one on the computer."
    browser.get(f"{site.base}/wechat/follow?new=1")
    assert fake_wechat.calls["qrcode_create"] == 2
    assert site.status(browser)["status"] == "waiting"


def test_confirmation_off_the_scan_logs_in(fake_wechat: FakeWeChat) -> None:
    site = Site(fake_wechat, WECHAT_WEB_FOLLOW_CONFIRM=False)
    try:
        browser = site.browser()
        site.open_follow(browser)
        reply = site.scan(fake_wechat.users[0])
        assert reply == "You are logging in on Example Shop on the computer."
        assert site.status(browser)["status"] == "done"
        assert site.scan(fake_wechat.users[1]) == (
            "This QR code has been used. Get a new one on the computer."
        )
    finally:
        site.served.stop()


def test_status_is_bound_to_the_session(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    site.open_follow(browser)
    ticket, code = fake_wechat.qrcode_of(site.latest_qr())
    user = fake_wechat.users[0]
    confirm(link_in(site.scan(user)), user)
    other = site.browser()
    for query in (f"scene={code.scene}", f"ticket={ticket}", ""):
        answer = other.get(f"{site.base}/wechat/follow/status?{query}")
        assert answer.json()["status"] == "expired"
    assert other.get(f"{site.base}/private", allow_redirects=False).status_code != 200
    assert site.status(browser)["status"] == "done"
    assert site.status(browser)["status"] == "done"  # the same login, not a second
    assert len(site.identities) == 1


def test_unknown_scene_and_foreign_ticket_ignored(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    site.open_follow(browser)
    _, code = fake_wechat.qrcode_of(site.latest_qr())
    for scene in ("marketing_42", "wwl_" + "x" * 32, code.scene):
        message = fake_wechat.event("SCAN", scene=scene)  # its own random Ticket
        delivery = fake_wechat.push(site.served.push_url, message)
        assert delivery.taken and delivery.reply is None
    assert site.status(browser)["status"] == "waiting"


def test_first_confirmed_scan_wins(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    site.open_follow(browser)
    first, second = fake_wechat.users[0], fake_wechat.users[1]
    link = link_in(site.scan(first))
    assert link_in(site.scan(second)) == link
    confirm(link, second)
    assert "has been used" in phone(first).get(link).text  # the first scanner's, too late
    assert site.scan(first) == "This QR code has been used. Get a new one on the computer."
    assert site.status(browser)["status"] == "done"
    assert site.identities[-1].openid == fake_wechat.openid(second, fake_wechat.mp_app.appid)


def test_expired_qr_code(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    site.open_follow(browser)
    site.clock.now += 301
    assert site.status(browser)["status"] == "expired"
    reply = site.scan(fake_wechat.users[0])
    assert reply == "This QR code has expired. Get a new one on the computer."
    page = browser.get(f"{site.base}/wechat/follow").text
    assert "has expired" in page and "<svg" not in page
    browser.get(f"{site.base}/wechat/follow?new=1")
    assert fake_wechat.calls["qrcode_create"] == 2


def test_replayed_push_acted_on_once(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    site.open_follow(browser)
    ticket, code = fake_wechat.qrcode_of(site.latest_qr())
    user = fake_wechat.users[0]
    message = {**fake_wechat.event("subscribe", scene=code.scene, user=user), "Ticket": ticket}
    reply = fake_wechat.push(site.served.push_url, message).reply
    # Again (a retry, or a replay): not acted on again, the same reply repeated.
    assert fake_wechat.push(site.served.push_url, message).reply == reply
    confirm(link_in(reply), user)
    assert site.status(browser)["status"] == "done"
    assert len(site.identities) == 1


def test_link_opened_by_another_user_refused(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    site.open_follow(browser)
    link = link_in(site.scan(fake_wechat.users[0]))
    stranger = phone(fake_wechat.users[1])
    page = stranger.get(link)
    assert page.status_code == 403 and "Only the WeChat user who scanned" in page.text
    assert "csrf_token" not in page.text
    assert site.status(browser)["status"] == "scanned"


def test_forged_form_refused(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    site.open_follow(browser)
    user = fake_wechat.users[0]
    link = link_in(site.scan(user))
    session = phone(user)
    session.get(link)
    forged = session.post(link, data={"csrf_token": "guess", "confirm": "1"})
    assert forged.status_code == 400
    assert site.status(browser)["status"] == "scanned"


def test_unionid_absent_when_unfollowed(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    site.open_follow(browser)
    user = fake_wechat.users[0]
    link = link_in(site.scan(user))
    confirm(link, user)
    fake_wechat.unfollow(user)
    assert site.status(browser)["status"] == "done"
    assert site.identities[-1].unionid is None


def test_unverified_account_is_a_configuration_error(site: Site, fake_wechat: FakeWeChat) -> None:
    fake_wechat.add_app(
        fake_wechat.mp_app.appid, fake_wechat.mp_app.secret, kind="mp", verified=False
    )
    page = site.browser().get(f"{site.base}/wechat/login")
    assert page.status_code == 500
    assert "ConfigurationError" in page.text and "verified service account" in page.text


def test_no_500_on_bad_input(site: Site) -> None:
    browser = site.browser()
    for path in (
        "/wechat/follow/confirm/nope",
        "/wechat/follow/confirm/wwl_" + "a" * 32,
        "/wechat/follow/confirm/wwl_" + "a" * 32 + "?code=x&state=y",
        "/wechat/follow/status",
        "/wechat/follow?next=//evil.example",
    ):
        assert browser.get(site.base + path).status_code < 500, path
    assert browser.post(site.base + "/wechat/follow/confirm/nope").status_code < 500


def test_the_sandbox_scan(fake_wechat: FakeWeChat) -> None:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="a test secret key",
        WECHAT_WEB_SANDBOX=True,
        WECHAT_WEB_FOLLOW_LOGIN=True,
        WECHAT_WEB_STORE=SimpleCache(),
        WECHAT_WEB_UI_LOCALE="en",
    )
    WeChatWeb(app)
    client = app.test_client()
    page = client.get("/wechat/follow?next=/")
    assert page.status_code == 200, page.text
    assert "/_wechat_sandbox/scan" in page.text
    scan_page = client.get("/_wechat_sandbox/scan")
    assert scan_page.status_code == 200
    user = re.search(r'name="user" value="([^"]+)"', scan_page.text)
    assert user
    chat = client.post("/_wechat_sandbox/scan", data={"user": user.group(1)})
    assert chat.status_code == 200
    link = re.search(r'href="(http://localhost/wechat/follow/confirm/[^"]+)"', chat.text)
    assert link, chat.text
    path = link.group(1).removeprefix("http://localhost")
    phone_headers = {"User-Agent": MICROMESSENGER_UA}
    asked = client.get(path, headers=phone_headers, follow_redirects=True)
    assert asked.status_code == 200, asked.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', asked.text)
    assert token, asked.text
    done = client.post(path, data={"csrf_token": token.group(1), "confirm": "1"})
    assert "go back to your computer" in done.text
    assert client.get("/wechat/follow/status").json["status"] == "done"


def test_one_address_gets_sixty_qr_codes_per_ten_minutes(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(
        fake_wechat,
        WECHAT_WEB_APPID=None,
        WECHAT_WEB_SECRET=None,
        WECHAT_WEB_FOLLOW_LOGIN=True,
        WECHAT_WEB_STORE=SimpleCache(),
        **fake_wechat.push_config(),
    )
    for _ in range(60):  # a bot, a new browser each time
        assert app.test_client().get("/wechat/follow").status_code == 200
    refused = app.test_client().get("/wechat/follow")
    assert refused.status_code == 429
    assert fake_wechat.calls["qrcode_create"] == 60  # the quota is not spent further
    other = app.test_client().get("/wechat/follow", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200  # another address still gets one
