"""Where a person could get stuck, walked in Chromium in each language.

The example site in sandbox mode, as a desktop browser, a phone's own browser
and WeChat's browser: a way out of every page, one language per page (the one
the person chose), the extension's pages in the site's layout.
"""

from __future__ import annotations

import re
import typing as t

import pytest

from .conftest import LANGS, Server, _context
from .test_browser import (
    ANDROID_CHROME_UA,
    IPHONE_WECHAT_UA,
    Shot,
    assert_lang,
    click_sign_in,
    ext,
    log_in_as,
    site,
)

pytestmark = pytest.mark.e2e

SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
#: For each language, another one the person picks on the site.
OTHER = {"zh_CN": "zh_TW", "zh_TW": "en", "en": "zh_TW"}


def choose_language(page: t.Any, shown: str, chosen: str) -> None:
    """Pick ``chosen`` with the site's language switch, as a person does."""
    switch = page.get_by_role("navigation", name=site(shown, "Language"))
    switch.locator(f'a[hreflang="{LANGS[chosen]}"]').click()
    page.wait_for_load_state()
    assert_lang(page, chosen)


def assert_in_site_layout(page: t.Any, locale: str) -> None:
    """The site's header, its language switch and its sandbox banner are there."""
    assert page.locator(".topbar .brand").is_visible()
    assert page.get_by_role("navigation", name=site(locale, "Language")).is_visible()
    assert site(locale, "Sandbox mode") in page.locator(".sandbox-banner").inner_text()


def frame_gaps(frame: t.Any) -> tuple[float, float]:
    """The empty space above and below the content of wxLogin.js's 400px frame."""
    box = frame.evaluate(
        """() => {
            const kids = [...document.querySelector("main").children]
                .filter(e => e.offsetParent !== null);
            const top = Math.min(...kids.map(e => e.getBoundingClientRect().top));
            const bottom = Math.max(...kids.map(e => e.getBoundingClientRect().bottom));
            return [top, window.innerHeight - bottom];
        }"""
    )
    return float(box[0]), float(box[1])


def test_a_denial_leads_back(
    example_site: Server, browser: t.Any, screenshot: Shot, locale: str
) -> None:
    """Desktop, WeChat's browser and the embedded frame: never a dead end."""
    in_wechat = {**PHONE, "user_agent": IPHONE_WECHAT_UA}
    for device, options in (("desktop", {}), ("in-wechat", in_wechat)):
        context = _context(browser, locale, **options)
        page = context.new_page()
        try:
            page.goto(example_site.url + "/account")  # asks for a login first
            page.get_by_role("button", name=ext(locale, "Deny")).click()
            page.wait_for_load_state()
            assert page.locator("h1").inner_text() == ext(locale, "You declined")
            assert_lang(page, locale)
            screenshot(page, f"{device}-1-denied")
            page.get_by_role("link", name=ext(locale, "Choose again")).click()
            log_in_as(page, locale, "王五")  # the consent page, again
            page.wait_for_url(example_site.url + "/account")
            page.goto(example_site.url + "/wechat/logout")
            page.locator(".wechat-card").get_by_role("button", name=ext(locale, "Log out")).click()
            page.wait_for_url(example_site.url + "/")
            click_sign_in(page, locale)
            page.get_by_role("button", name=ext(locale, "Deny")).click()
            page.get_by_role("link", name=ext(locale, "Back to the site")).click()
            page.wait_for_url(example_site.url + "/")
            assert page.get_by_role("link", name=site(locale, "Log in with WeChat")).is_visible()
        finally:
            context.close()
    context = _context(browser, locale, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    try:
        page.goto(example_site.url + "/wechat/qrcode?next=/account")
        frame = page.wait_for_selector("#wechat-qrcode iframe").content_frame()
        frame.get_by_role("button", name=ext(locale, "Deny")).click()
        frame.wait_for_selector("text=" + ext(locale, "You declined"))
        top, bottom = frame_gaps(frame)
        assert abs(top - bottom) < 4, "the frame's content sits in its middle, no empty end"
        screenshot(page, "frame-1-denied")
        frame.get_by_role("link", name=ext(locale, "Choose again")).click()
        log_in_as(frame, locale, "张三")
        page.wait_for_url(example_site.url + "/account")
    finally:
        context.close()


def test_the_sandbox_speaks_the_language_the_person_chose(
    example_site: Server, desktop: t.Any, screenshot: Shot, locale: str
) -> None:
    page, chosen = desktop, OTHER[locale]
    page.goto(example_site.url + "/")
    choose_language(page, locale, chosen)
    click_sign_in(page, chosen)
    page.wait_for_url(re.compile(r"/_wechat_sandbox/connect/qrconnect\?"))
    assert_lang(page, chosen)
    assert page.get_by_role("button", name=ext(chosen, "Deny")).is_visible()
    screenshot(page, "1-consent")
    page.get_by_role("button", name=ext(chosen, "Deny")).click()
    page.wait_for_load_state()
    assert_lang(page, chosen)
    assert page.locator("h1").inner_text() == ext(chosen, "You declined")
    page.goto(example_site.url + "/wechat/qrcode")
    assert_lang(page, chosen)
    frame = page.wait_for_selector("#wechat-qrcode iframe").content_frame()
    frame.wait_for_selector("button.login")
    assert frame.locator("html").get_attribute("lang") == LANGS[chosen]
    assert frame.get_by_role("button", name=ext(chosen, "Deny")).is_visible()
    screenshot(page, "2-qrcode")


def test_the_extensions_pages_sit_in_the_sites_layout(
    example_site: Server, desktop: t.Any, screenshot: Shot, locale: str
) -> None:
    page = desktop
    for step, path in (
        ("1-logout", "/wechat/logout"),
        ("2-qrcode", "/wechat/qrcode"),
        ("3-error", "/wechat/authorized?code=forged&state=Forged123"),
    ):
        page.goto(example_site.url + path)
        assert_lang(page, locale)
        assert_in_site_layout(page, locale)
        assert (
            page.locator(".wechat-card")
            .get_by_role("link", name=ext(locale, "Back to the site"))
            .is_visible()
        )
        screenshot(page, step)
    # The site's language switch works from the extension's own page.
    page.goto(example_site.url + "/wechat/logout")
    chosen = OTHER[locale]
    choose_language(page, locale, chosen)
    assert page.url == example_site.url + "/wechat/logout"
    assert page.locator("h1").inner_text() == ext(chosen, "You are not logged in")
    context = page.context.browser.new_context(
        locale=LANGS[locale], **PHONE, user_agent=ANDROID_CHROME_UA
    )
    phone = context.new_page()
    try:
        phone.goto(example_site.url + "/wechat/login?next=/account")
        assert_in_site_layout(phone, locale)
        assert phone.locator("h1").inner_text() == ext(locale, "Continue in WeChat")
        screenshot(phone, "4-phone")
    finally:
        context.close()


def test_the_logout_page_says_who_or_offers_the_login(
    example_site: Server, desktop: t.Any, screenshot: Shot, locale: str
) -> None:
    page = desktop
    page.goto(example_site.url + "/wechat/logout?next=/account")
    assert page.locator("h1").inner_text() == ext(locale, "You are not logged in")
    card = page.locator(".wechat-card")
    assert card.get_by_role("button").count() == 0, "no log-out button for no one"
    screenshot(page, "1-not-logged-in")
    card.get_by_role("link", name=ext(locale, "Log in with WeChat")).click()
    log_in_as(page, locale, "张三")
    page.wait_for_url(example_site.url + "/account")
    page.goto(example_site.url + "/wechat/logout")
    assert page.locator("h1").inner_text() == ext(locale, "Log out?")
    assert "张三😀" in card.locator("p").first.inner_text()
    screenshot(page, "2-logged-in")
    card.get_by_role("button", name=ext(locale, "Log out")).click()
    page.wait_for_url(example_site.url + "/")


def test_no_qr_to_scan_on_the_phone_that_shows_it(
    example_site: Server, browser: t.Any, screenshot: Shot, locale: str
) -> None:
    safari = _context(browser, locale, **PHONE, user_agent=SAFARI_ON_IPHONE)
    wechat = _context(browser, locale, **PHONE, user_agent=IPHONE_WECHAT_UA)
    try:
        page = safari.new_page()
        page.goto(example_site.url + "/")
        assert page.locator('a[href*="/wechat/qrcode"]').count() == 0
        screenshot(page, "1-phone-home")
        page = wechat.new_page()
        page.goto(example_site.url + "/wechat/qrcode?next=/account")
        page.wait_for_url(re.compile(r"/_wechat_sandbox/connect/oauth2/authorize\?"))
        assert_lang(page, locale)
        screenshot(page, "2-in-wechat-qrcode")
        log_in_as(page, locale, "张三")
        page.wait_for_url(example_site.url + "/account")
    finally:
        safari.close()
        wechat.close()


def test_the_qr_page_says_it_once_and_its_link_opens_the_sandbox(
    example_site: Server, desktop: t.Any, screenshot: Shot, locale: str
) -> None:
    page = desktop
    page.goto(example_site.url + "/wechat/qrcode?next=/account")
    frame = page.wait_for_selector("#wechat-qrcode iframe").content_frame()
    frame.wait_for_selector("button.login")
    headings = [page.locator(".wechat-card h1").inner_text(), frame.locator("h1").inner_text()]
    assert headings == [ext(locale, "Scan to log in"), ext(locale, "Log in with WeChat")]
    top, bottom = frame_gaps(frame)
    assert abs(top - bottom) < 4, "no empty gap under the frame's content"
    screenshot(page, "1-qrcode")
    link = page.get_by_role("link", name=ext(locale, "No QR code? Open the sandbox's login page"))
    link.click()
    page.wait_for_url(re.compile(r"/_wechat_sandbox/connect/qrconnect\?"))
    log_in_as(page, locale, "Alice")
    page.wait_for_url(example_site.url + "/account")


def test_the_app_codes_page_gives_a_code_and_its_curl_line(
    example_site: Server, browser: t.Any, screenshot: Shot, locale: str
) -> None:
    """On a phone-sized screen, in the person's language, nothing wider than the screen."""
    context = _context(browser, locale, **PHONE)
    try:
        page = context.new_page()
        page.goto(example_site.url + "/_wechat_sandbox/app-codes")
        assert_lang(page, locale)
        assert page.locator("h1").inner_text() == ext(
            locale, "Codes for the app and the mini program"
        )
        assert page.locator("pre").count() == 0, "a visit mints nothing"
        label = ext(
            locale,
            "%(code)s for %(name)s",
            code=ext(locale, "Mini program code"),
            name="Alice Smith",
        )
        page.get_by_role("button", name=label).click()
        page.wait_for_load_state()
        code = page.locator("pre.code").inner_text()
        assert re.fullmatch(r"[A-Za-z0-9]{32}", code)
        curl = page.locator("pre.curl").inner_text()
        assert f'{{"code": "{code}"}}' in curl
        assert curl.endswith(f"{example_site.url}/wechat/miniprogram/login")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"], "the curl line scrolls in its box"
        screenshot(page, "1-code")
    finally:
        context.close()
