"""The example site in headless Chromium, logging in through the sandbox.

Each page is visited in 简体中文, 繁體中文 and English (the browser's language),
and screenshotted; every page must say its language in ``<html lang>``.
"""

from __future__ import annotations

import os
import re
import subprocess
import typing as t
from functools import cache

import pytest
from babel import Locale
from babel.support import NullTranslations, Translations

from flask_wechat_web.i18n import translations
from flask_wechat_web.testing import FakeWeChat

from .conftest import FONTS_CONF, LANGS, ROOT, Server, _context

pytestmark = pytest.mark.e2e

IPHONE_WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800322d) "
    "NetType/WIFI Language/zh_CN"
)
ANDROID_CHROME_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
Shot = t.Callable[[t.Any, str], t.Any]


@cache
def _example_catalog(locale: str) -> NullTranslations:
    return Translations.load(str(ROOT / "example" / "translations"), [Locale.parse(locale)])


def ext(locale: str, message: str, **values: str) -> str:
    """An extension text in ``locale``, from the catalogs the pages use."""
    return translations(locale).gettext(message) % values


def site(locale: str, message: str, **values: str) -> str:
    """An example-site text in ``locale``."""
    return _example_catalog(locale).gettext(message) % values


@pytest.fixture
def phone_in_wechat(browser: t.Any, locale: str) -> t.Iterator[t.Any]:
    context = _context(
        browser,
        locale,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        user_agent=IPHONE_WECHAT_UA,
    )
    yield context.new_page()
    context.close()


def assert_lang(page: t.Any, locale: str) -> None:
    assert page.locator("html").get_attribute("lang") == LANGS[locale]


def log_in_as(page: t.Any, locale: str, nickname_part: str) -> None:
    before, after = (
        re.escape(part) for part in ext(locale, "Log in as %(name)s", name="\0").split("\0")
    )
    name = re.compile(f"{before}.*{re.escape(nickname_part)}.*{after}")
    page.get_by_role("button", name=name).click()


def click_sign_in(page: t.Any, locale: str) -> None:
    page.get_by_role("link", name=site(locale, "Log in with WeChat")).click()


def test_desktop_qr_login_and_logout(
    example_site: Server, desktop: t.Any, screenshot: Shot, locale: str
) -> None:
    page = desktop
    page.goto(example_site.url + "/")
    assert_lang(page, locale)
    screenshot(page, "1-home")
    click_sign_in(page, locale)
    page.wait_for_url(re.compile(r"/_wechat_sandbox/connect/qrconnect\?"))
    assert page.url.split("?")[1].startswith("appid=wx")
    assert ("&lang=en" in page.url) == (locale == "en")
    assert_lang(page, locale)
    screenshot(page, "2-sandbox-consent")
    log_in_as(page, locale, "张三")
    page.wait_for_url(example_site.url + "/")
    heading = page.locator("h1").inner_text()
    assert heading == site(locale, "Hello, %(name)s", name="张三😀")
    screenshot(page, "3-greeting")
    page.get_by_role("link", name=site(locale, "Open my account page")).click()
    page.wait_for_url(example_site.url + "/account")
    assert "张三😀" in page.content()
    assert_lang(page, locale)
    screenshot(page, "4-account")
    page.goto(example_site.url + "/wechat/logout?next=/account")  # a link's GET asks first
    assert_lang(page, locale)
    assert page.locator("h1").inner_text() == ext(locale, "Log out?")
    assert page.locator("main").get_by_role("button", name=ext(locale, "Log out")).is_visible()
    screenshot(page, "5-logout-confirmation")
    page.get_by_role("link", name=ext(locale, "Back to the site")).click()
    page.wait_for_url(example_site.url + "/")
    page.get_by_role("button", name=site(locale, "Log out")).first.click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == ext(locale, "You have logged out.")
    assert page.get_by_role("link", name=site(locale, "Log in with WeChat")).is_visible()
    screenshot(page, "6-logged-out")


def test_language_switch(example_site: Server, desktop: t.Any, locale: str) -> None:
    page = desktop
    page.goto(example_site.url + "/")
    for other in [*(other for other in LANGS if other != locale), locale]:
        switch = page.get_by_role("navigation", name=site(locale, "Language"))
        switch.locator(f'a[hreflang="{LANGS[other]}"]').click()
        page.wait_for_load_state()
        assert_lang(page, other)
        assert page.url == example_site.url + "/"
        locale = other


def test_login_required_page_comes_back(
    example_site: Server, desktop: t.Any, screenshot: Shot, locale: str
) -> None:
    page = desktop
    page.goto(example_site.url + "/account")
    page.wait_for_url(re.compile(r"/_wechat_sandbox/connect/qrconnect\?"))
    log_in_as(page, locale, "Alice")
    page.wait_for_url(example_site.url + "/account")
    screenshot(page, "account")


def test_embedded_qr_page(
    example_site: Server, desktop: t.Any, screenshot: Shot, locale: str
) -> None:
    page = desktop
    page.goto(example_site.url + "/wechat/qrcode?next=/account")
    assert_lang(page, locale)
    frame = page.wait_for_selector("#wechat-qrcode iframe").content_frame()
    frame.wait_for_selector("button.login")
    assert frame.locator("html").get_attribute("lang") == LANGS[locale]
    screenshot(page, "1-qr")
    log_in_as(frame, locale, "张三")
    page.wait_for_url(example_site.url + "/account")
    assert "张三😀" in page.content()
    screenshot(page, "2-account")


def test_phone_outside_wechat_gets_the_choice_page(
    example_site: Server, browser: t.Any, screenshot: Shot, locale: str
) -> None:
    context = _context(
        browser,
        locale,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        user_agent=ANDROID_CHROME_UA,
    )
    page = context.new_page()
    try:
        page.goto(example_site.url + "/wechat/login?next=/account")
        assert_lang(page, locale)
        assert page.locator("h1").inner_text() == ext(locale, "Continue in WeChat")
        screenshot(page, "phone")
    finally:
        context.close()


@pytest.mark.parametrize("scope", ["snsapi_userinfo", "snsapi_base"])
def test_in_wechat_browser(
    request: pytest.FixtureRequest,
    phone_in_wechat: t.Any,
    screenshot: Shot,
    scope: str,
    locale: str,
) -> None:
    site_server = request.getfixturevalue(
        "example_site" if scope == "snsapi_userinfo" else "example_site_base_scope"
    )
    page = phone_in_wechat
    page.goto(site_server.url + "/")
    assert_lang(page, locale)
    screenshot(page, "0-home")
    assert "QR" not in page.locator(".hero").inner_text()  # no scanning inside WeChat
    if scope == "snsapi_userinfo":
        click_sign_in(page, locale)
        page.wait_for_url(re.compile(r"/_wechat_sandbox/connect/oauth2/authorize\?"))
        assert f"scope={scope}" in page.url
        assert_lang(page, locale)
        screenshot(page, "1-consent")
        log_in_as(page, locale, "张三")
        page.wait_for_url(site_server.url + "/")
    else:  # WeChat shows no page for snsapi_base: straight back to the site
        with page.expect_response(re.compile(r"/wechat/authorized\?code=")):
            click_sign_in(page, locale)
        # The browser keeps the authorize link's #wechat_redirect through the redirects.
        page.wait_for_url(re.compile(re.escape(site_server.url) + r"/(#wechat_redirect)?$"))
    heading = page.locator("h1").inner_text()
    if scope == "snsapi_userinfo":
        assert "张三😀" in heading
    else:
        assert "张三" not in heading  # snsapi_base: an openid and no profile
        assert page.locator("code").first.inner_text().strip()
    screenshot(page, "2-greeting")


def test_deny_stays_on_wechats_page(
    example_site: Server, desktop: t.Any, screenshot: Shot, locale: str
) -> None:
    page = desktop
    page.goto(example_site.url + "/")
    click_sign_in(page, locale)
    page.get_by_role("button", name=ext(locale, "Deny")).click()
    page.wait_for_load_state()
    assert_lang(page, locale)
    # As today's WeChat: the site is not told.
    assert page.locator("h1").inner_text() == ext(locale, "You declined")
    assert "/_wechat_sandbox/connect/confirm" in page.url
    screenshot(page, "denied")
    page.go_back()
    page.wait_for_url(re.compile(r"/_wechat_sandbox/connect/qrconnect\?"))
    log_in_as(page, locale, "王五")
    page.wait_for_url(example_site.url + "/")
    assert "王五" in page.locator("h1").inner_text()


def test_forged_callback_is_a_400_page(
    example_site: Server, desktop: t.Any, screenshot: Shot, locale: str
) -> None:
    page = desktop
    response = page.goto(example_site.url + "/wechat/authorized?code=forged&state=Forged123")
    assert response is not None and response.status == 400
    assert_lang(page, locale)
    # A fresh browser has no session cookie to check the state against.
    assert page.locator("h1").inner_text() == ext(locale, "Login could not be checked")
    assert "Traceback" not in page.content()
    screenshot(page, "forged")


def test_sandbox_error_and_denied_pages(browser: t.Any, screenshot: Shot, locale: str) -> None:
    fake = FakeWeChat(domain="site.example")
    fake.deny_redirect = False
    with fake.serve() as server:
        context = _context(browser, locale, viewport={"width": 800, "height": 640})
        in_wechat = _context(
            browser, locale, viewport={"width": 390, "height": 844}, user_agent=IPHONE_WECHAT_UA
        )
        page = context.new_page()
        try:
            bad = f"{server.open_base_url}/connect/qrconnect?appid=wx0123456789abcdef"
            assert page.goto(bad).status == 200  # as WeChat's own error page
            assert_lang(page, locale)
            assert page.locator("h1").inner_text() == "AppID 参数错误"  # WeChat's words
            meaning = page.locator(".meaning")
            if locale == "zh_CN":
                assert meaning.count() == 0
            else:
                assert ext(locale, "The AppID is wrong.") in meaning.inner_text()
            screenshot(page, "1-error")
            good = (
                f"{server.open_base_url}/connect/oauth2/authorize?appid={fake.mp_app.appid}"
                "&redirect_uri=https%3A%2F%2Fsite.example%2Fcb&response_type=code"
                "&scope=snsapi_userinfo&state=s1#wechat_redirect"
            )
            page.goto(good)  # outside WeChat
            assert page.locator("h1").inner_text() == "请在微信客户端打开链接"
            screenshot(page, "2-open-in-wechat")
            page = in_wechat.new_page()
            page.goto(good)
            page.get_by_role("button", name=ext(locale, "Deny")).click()
            page.wait_for_load_state()
            assert_lang(page, locale)
            assert page.locator("h1").inner_text() == ext(locale, "You declined")
            screenshot(page, "3-denied")
        finally:
            context.close()
            in_wechat.close()


def test_setup_and_relay_error_pages(
    relay_site: Server, desktop: t.Any, screenshot: Shot, locale: str
) -> None:
    """A site that only relays: its login is the site owner's 500, a bad relay a 400."""
    page = desktop
    response = page.goto(relay_site.url + "/wechat/login")
    assert response is not None and response.status == 500
    assert_lang(page, locale)
    assert page.locator("h1").inner_text() == ext(locale, "WeChat login is not set up on this site")
    screenshot(page, "1-setup-error")
    response = page.goto(relay_site.url + "/wechat/relay?code=x")
    assert response is not None and response.status == 400
    assert_lang(page, locale)
    assert page.locator("h1").inner_text() == ext(locale, "This login link is not valid")
    page.locator("summary").click()
    screenshot(page, "2-relay-error")


def test_only_the_colour_font_has_emoji() -> None:
    fonts = subprocess.run(
        ["fc-list", ":charset=1f600", "family"],
        env={**os.environ, "FONTCONFIG_FILE": str(FONTS_CONF)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert fonts.stdout.split("\n") == ["Noto Color Emoji", ""]
