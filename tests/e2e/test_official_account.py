"""The Official Account's sign-ins in Chromium, in each language: scan to follow, a code by message.

The example site in sandbox mode, as a computer's browser and as the phone:
the sandbox's scan page plays the phone's camera, its chat plays WeChat's
chat with the account. Every page of both sign-ins is screenshotted.
"""

from __future__ import annotations

import re
import typing as t
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from flask_wechat_web.i18n import translations
from flask_wechat_web.testing import FakeWeChat

from ..conftest import redis_server
from .conftest import Server, _context, start_example
from .test_browser import IPHONE_WECHAT_UA, Shot, assert_lang, ext, site

pytestmark = pytest.mark.e2e

DESKTOP = {"viewport": {"width": 1280, "height": 860}}
#: WeChat's browser on a phone: where the account's reply link opens.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": IPHONE_WECHAT_UA,
}
#: The sample user the sandbox's silent ``snsapi_base`` knows the phone as.
PHONE_OWNER = FakeWeChat().user.key
#: Another sample user: the one whose scan the phone owner did not make.
SOMEONE_ELSE = "alice"
_CODE = re.compile(r"\d{4} \d{4}")


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[tuple[Server, Server]]:
    """The example twice, with stores of their own in a fresh Redis: the second's QR codes
    expire after one second.

    Not the instance folder's store: the codes' and wrong tries' bounds would carry over
    from run to run, and from one site to the other.
    """
    with redis_server() as (url, _), ThreadPoolExecutor(2) as pool:
        base = url.rpartition("/")[0]
        starting = [  # side by side: each takes seconds to start
            pool.submit(start_example, tmp_path_factory.mktemp("oa"), REDIS_URL=f"{base}/0"),
            pool.submit(
                start_example,
                tmp_path_factory.mktemp("oa-short"),
                REDIS_URL=f"{base}/1",
                WECHAT_WEB_FOLLOW_TTL="1",
            ),
        ]
        try:
            yield starting[0].result(), starting[1].result()
        finally:
            for future in starting:
                if future.exception() is None:
                    future.result().stop()


@pytest.fixture
def oa_site(sites: tuple[Server, Server]) -> Server:
    return sites[0]


@pytest.fixture
def short_lived_site(sites: tuple[Server, Server]) -> Server:
    return sites[1]


def scan(phone: t.Any, base: str, user: str) -> None:
    """The sandbox's camera: ``user`` scans the site's newest QR code, and reads the reply."""
    phone.goto(base + "/_wechat_sandbox/scan")
    phone.locator(f'button[name="user"][value="{user}"]').click()
    phone.wait_for_load_state()


def open_follow(page: t.Any, base: str, locale: str) -> None:
    """From the home page, as a person: the follow sign-in's link beside "Log in with WeChat"."""
    page.goto(base + "/")
    page.get_by_role("link", name=site(locale, "Scan to follow our Official Account")).click()
    page.wait_for_url(re.compile(r"/wechat/follow\?"))
    assert_lang(page, locale)
    expect(page.locator(".qr svg")).to_be_visible()


def test_follow_logs_in_by_itself(
    oa_site: Server, browser: t.Any, screenshot: Shot, locale: str
) -> None:
    """Waiting page, scan, the chat's link, "Log in" on the phone: the computer moves on."""
    desktop, phone = _context(browser, locale, **DESKTOP), _context(browser, locale, **PHONE)
    try:
        page, mobile = desktop.new_page(), phone.new_page()
        open_follow(page, oa_site.url, locale)
        box = page.locator(".qr svg").bounding_box()
        assert box is not None and 180 <= box["width"] <= 260
        screenshot(page, "1-waiting")
        mobile.goto(oa_site.url + "/_wechat_sandbox/scan")
        assert_lang(mobile, locale)
        screenshot(mobile, "2-sandbox-scan")
        scan(mobile, oa_site.url, PHONE_OWNER)
        link = mobile.locator(".chat a")
        assert "/wechat/follow/confirm/" in link.inner_text()
        screenshot(mobile, "3-sandbox-scan-reply")
        scanned = page.get_by_text(ext(locale, "Scanned: confirm the login in WeChat."))
        expect(scanned).to_be_visible()  # the page's own poll
        screenshot(page, "4-scanned")
        link.click()
        mobile.wait_for_url(re.compile(r"/wechat/follow/confirm/"))
        assert_lang(mobile, locale)
        expect(mobile.locator("h1")).to_have_text(ext(locale, "Log in on a computer?"))
        assert mobile.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scroll"
        screenshot(mobile, "5-confirm-ask")
        mobile.get_by_role("button", name=ext(locale, "Log in"), exact=True).click()
        expect(mobile.locator("h1")).to_have_text(ext(locale, "Done"))
        screenshot(mobile, "6-confirm-done")
        page.wait_for_url(oa_site.url + "/")  # by itself: no click on the computer
        expect(page.locator(".welcome")).to_be_visible()
        screenshot(page, "7-logged-in")
    finally:
        desktop.close()
        phone.close()


def test_follow_refused_canceled_and_expired(
    oa_site: Server, short_lived_site: Server, browser: t.Any, screenshot: Shot, locale: str
) -> None:
    """Another's scan is not the phone's to confirm; a cancel leaves the QR code used; expiry."""
    desktop, phone = _context(browser, locale, **DESKTOP), _context(browser, locale, **PHONE)
    later = _context(browser, locale, **DESKTOP)
    try:
        page, mobile = desktop.new_page(), phone.new_page()
        open_follow(page, oa_site.url, locale)
        scan(mobile, oa_site.url, SOMEONE_ELSE)
        mobile.locator(".chat a").click()
        expect(mobile.locator("h1")).to_have_text(ext(locale, "Not your login"))
        screenshot(mobile, "1-confirm-not-yours")
        scan(mobile, oa_site.url, PHONE_OWNER)
        mobile.locator(".chat a").click()
        mobile.get_by_role("button", name=ext(locale, "Cancel")).click()
        expect(mobile.locator("h1")).to_have_text(ext(locale, "Login canceled"))
        screenshot(mobile, "2-confirm-canceled")
        used = ext(locale, "This QR code has been used or the login was canceled in WeChat.")
        expect(page.get_by_text(used)).to_be_visible()
        screenshot(page, "3-used")
        page.get_by_role("link", name=ext(locale, "Get a new QR code")).click()
        expect(page.locator(".qr svg")).to_be_visible()

        # A browser of its own: cookies know no port.
        page = later.new_page()
        open_follow(page, short_lived_site.url, locale)
        expired = page.get_by_text(ext(locale, "This QR code has expired."))
        expect(expired).to_be_visible()  # a second later, at the page's next poll
        assert not page.locator(".qr svg").is_visible()
        screenshot(page, "4-expired")
    finally:
        for context in (desktop, phone, later):
            context.close()


def test_code_by_message(oa_site: Server, browser: t.Any, screenshot: Shot, locale: str) -> None:
    """Send 登录 in the sandbox's chat, type the reply's code: logged in."""
    desktop = _context(browser, locale, **DESKTOP)
    try:
        page = desktop.new_page()
        page.goto(oa_site.url + "/")
        page.get_by_role("link", name=site(locale, "Log in with a code from WeChat")).click()
        page.wait_for_url(re.compile(r"/wechat/code\?"))
        assert_lang(page, locale)
        screenshot(page, "1-code")
        sandbox = ext(locale, "Sandbox: send the account a message as a sample user")
        with desktop.expect_page() as opened:
            page.get_by_role("link", name=sandbox).click()
        chat = opened.value
        chat.wait_for_load_state()
        assert_lang(chat, locale)
        screenshot(chat, "2-sandbox-message")
        chat.locator("#sandbox-message").fill("登录")
        chat.locator("button.login").click()
        reply = chat.locator("[data-reply]")
        expect(reply).to_contain_text(_CODE)
        code = t.cast(re.Match[str], _CODE.search(reply.inner_text())).group(0)
        screenshot(chat, "3-sandbox-message-reply")
        chat.close()
        page.locator("#wechat-code").fill(code)
        page.get_by_role("button", name=ext(locale, "Log in"), exact=True).click()
        page.wait_for_url(oa_site.url + "/")
        expect(page.locator(".welcome")).to_be_visible()
        screenshot(page, "4-logged-in")
    finally:
        desktop.close()


def test_wrong_codes_then_too_many(
    short_lived_site: Server, browser: t.Any, screenshot: Shot, locale: str
) -> None:
    """A wrong code says so; the browser's sixth try in ten minutes is refused."""
    desktop = _context(browser, locale, **DESKTOP)
    try:
        page = desktop.new_page()
        page.goto(short_lived_site.url + "/wechat/login?mode=code")
        keyword = {"zh_CN": "登录", "zh_TW": "登入", "en": "login"}[locale]
        wrong = ext(
            locale,
            "That code is wrong or has expired. Check it, or send %(keyword)s again for a new one.",
            keyword=keyword,
        )
        for attempt in range(5):
            page.locator("#wechat-code").fill(f"1234 567{attempt}")
            page.get_by_role("button", name=ext(locale, "Log in"), exact=True).click()
            expect(page.get_by_role("alert")).to_have_text(wrong)
            if attempt == 0:
                screenshot(page, "1-wrong-code")
        page.locator("#wechat-code").fill("1234 5679")
        page.get_by_role("button", name=ext(locale, "Log in"), exact=True).click()
        many = translations(locale).ngettext(
            "Too many wrong codes. Try again in %(minutes)s minute.",
            "Too many wrong codes. Try again in %(minutes)s minutes.",
            10,
        )
        expect(page.get_by_role("alert")).to_contain_text(many.split("%(minutes)s")[0])
        screenshot(page, "2-too-many")
    finally:
        desktop.close()
