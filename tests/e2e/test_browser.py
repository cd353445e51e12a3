"""The example site in headless Chromium, logging in through the sandbox."""

from __future__ import annotations

import re
import typing as t

import pytest

from .conftest import Server

pytestmark = pytest.mark.e2e

IPHONE_WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800322d) "
    "NetType/WIFI Language/zh_CN"
)
Shot = t.Callable[[t.Any, str], t.Any]


@pytest.fixture
def desktop(browser: t.Any) -> t.Iterator[t.Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    yield context.new_page()
    context.close()


@pytest.fixture
def phone_in_wechat(browser: t.Any) -> t.Iterator[t.Any]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        user_agent=IPHONE_WECHAT_UA,
        locale="zh-CN",
    )
    yield context.new_page()
    context.close()


def log_in_as(page: t.Any, nickname_part: str) -> None:
    page.get_by_role("button", name=re.compile(f"Log in as .*{re.escape(nickname_part)}")).click()


def test_desktop_qr_login_and_logout(
    example_site: Server, desktop: t.Any, screenshot: Shot
) -> None:
    page = desktop
    page.goto(example_site.url + "/")
    screenshot(page, "1-home")
    page.get_by_role("link", name=re.compile("Sign in with WeChat")).click()
    page.wait_for_url(re.compile(r"/_wechat_sandbox/connect/qrconnect\?"))
    assert page.url.split("?")[1].startswith("appid=wx")
    screenshot(page, "2-sandbox-consent")
    log_in_as(page, "张三")
    page.wait_for_url(example_site.url + "/")
    assert "你好, 张三😀" in page.locator("h1").inner_text()
    screenshot(page, "3-greeting")
    page.get_by_role("link", name=re.compile("account page")).click()
    page.wait_for_url(example_site.url + "/account")
    assert "张三😀" in page.content()
    screenshot(page, "4-account")
    page.get_by_role("button", name="Log out").first.click()
    page.wait_for_load_state()
    assert page.get_by_role("link", name=re.compile("Sign in with WeChat")).is_visible()
    screenshot(page, "5-logged-out")


def test_login_required_page_comes_back(
    example_site: Server, desktop: t.Any, screenshot: Shot
) -> None:
    page = desktop
    page.goto(example_site.url + "/account")
    page.wait_for_url(re.compile(r"/_wechat_sandbox/connect/qrconnect\?"))
    log_in_as(page, "Alice")
    page.wait_for_url(example_site.url + "/account")
    screenshot(page, "account")


def test_embedded_qr_page(example_site: Server, desktop: t.Any, screenshot: Shot) -> None:
    page = desktop
    page.goto(example_site.url + "/wechat/qrcode?next=/account")
    frame_element = page.wait_for_selector("#wechat-qrcode iframe")
    frame = frame_element.content_frame()
    frame.wait_for_selector("text=Log in as")
    screenshot(page, "1-qr")
    frame.get_by_role("button", name=re.compile("Log in as .*张三")).click()
    page.wait_for_url(example_site.url + "/account")
    assert "张三😀" in page.content()
    screenshot(page, "2-account")


@pytest.mark.parametrize("scope", ["snsapi_userinfo", "snsapi_base"])
def test_in_wechat_browser(
    request: pytest.FixtureRequest, phone_in_wechat: t.Any, screenshot: Shot, scope: str
) -> None:
    site = request.getfixturevalue(
        "example_site" if scope == "snsapi_userinfo" else "example_site_base_scope"
    )
    page = phone_in_wechat
    page.goto(site.url + "/")
    if scope == "snsapi_userinfo":
        page.get_by_role("link", name=re.compile("Sign in with WeChat")).click()
        page.wait_for_url(re.compile(r"/_wechat_sandbox/connect/oauth2/authorize\?"))
        assert f"scope={scope}" in page.url
        screenshot(page, "1-consent")
        log_in_as(page, "张三")
        page.wait_for_url(site.url + "/")
    else:  # WeChat shows no page for snsapi_base: straight back to the site
        with page.expect_response(re.compile(r"/wechat/authorized\?code=")):
            page.get_by_role("link", name=re.compile("Sign in with WeChat")).click()
        # The browser keeps the authorize link's #wechat_redirect through the redirects.
        page.wait_for_url(re.compile(re.escape(site.url) + r"/(#wechat_redirect)?$"))
    heading = page.locator("h1").inner_text()
    if scope == "snsapi_userinfo":
        assert "张三😀" in heading
    else:
        assert "张三" not in heading  # snsapi_base: an openid and no profile
        assert page.locator("code").first.inner_text().strip()
    screenshot(page, "2-greeting")


def test_deny_stays_on_wechats_page(example_site: Server, desktop: t.Any, screenshot: Shot) -> None:
    page = desktop
    page.goto(example_site.url + "/")
    page.get_by_role("link", name=re.compile("Sign in with WeChat")).click()
    page.get_by_role("button", name=re.compile("Deny")).click()
    page.wait_for_load_state()
    assert "You declined" in page.content()  # as today's WeChat: the site is not told
    assert "/_wechat_sandbox/connect/confirm" in page.url
    screenshot(page, "denied")
    page.go_back()
    page.wait_for_url(re.compile(r"/_wechat_sandbox/connect/qrconnect\?"))
    log_in_as(page, "王五")
    page.wait_for_url(example_site.url + "/")
    assert "王五" in page.locator("h1").inner_text()


def test_forged_callback_is_a_400_page(
    example_site: Server, desktop: t.Any, screenshot: Shot
) -> None:
    page = desktop
    response = page.goto(example_site.url + "/wechat/authorized?code=forged&state=Forged123")
    assert response is not None and response.status == 400
    assert "not valid" in page.content()
    assert "Traceback" not in page.content()
    screenshot(page, "forged")
