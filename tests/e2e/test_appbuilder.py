"""A Flask-AppBuilder site with the contrib, on loopback, signed into in Chromium."""

from __future__ import annotations

import re
import typing as t

import pytest

from flask_wechat_web.testing import FakeWeChat

from ..conftest import Served
from ..test_contrib_appbuilder import fab_app
from .conftest import _context
from .test_browser import Shot, log_in_as

pytestmark = pytest.mark.e2e


def test_fab_login_page_to_logged_in(
    fake_wechat: FakeWeChat, browser: t.Any, screenshot: Shot
) -> None:
    served = Served(fab_app(fake_wechat, domain="127.0.0.1"))
    context = _context(browser, "en", viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        page.goto(f"http://{served.netloc}/login/?next=/users/userinfo/")
        button = page.locator("#btn-signin-wechat")
        assert "Sign In with" in button.inner_text()
        screenshot(page, "1-fab-login")
        button.click()
        page.wait_for_url(re.compile(r"/connect/qrconnect\?.*&state=[A-Za-z0-9]{32}"))
        screenshot(page, "2-consent")
        log_in_as(page, "en", fake_wechat.user.nickname)
        page.wait_for_url(f"http://{served.netloc}/users/userinfo/")
        assert fake_wechat.user.nickname in page.locator("body").inner_text()
        screenshot(page, "3-logged-in")
    finally:
        context.close()
        served.stop()
