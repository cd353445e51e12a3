"""A Flask-Security-Too site in Chromium: its login page's WeChat button, the fake's consent, in."""

from __future__ import annotations

import typing as t

import pytest

pytest.importorskip("flask_security")

from flask_wechat_web.testing import FakeWeChat

from ..conftest import Served
from ..test_contrib_flask_security import link, make_fs_app
from .conftest import _context
from .test_browser import Shot, log_in_as

pytestmark = pytest.mark.e2e


def test_flask_security_login_page_signs_in_with_wechat(
    fake_wechat: FakeWeChat, browser: t.Any, screenshot: Shot
) -> None:
    app = make_fs_app(fake_wechat)
    link(app, "alice@example.com", fake_wechat.unionid(fake_wechat.user))
    served = Served(app)
    # WeChat's console takes the site's domain; here its loopback host and port.
    fake_wechat.set_domain(served.netloc)
    context = _context(browser, "en", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    try:
        page.goto(f"http://{served.netloc}/login")
        button = page.get_by_role("button", name="Continue with wechat")
        assert button.is_visible()
        assert page.get_by_label("Password").is_visible()  # beside the passwords
        screenshot(page, "1-login-page")
        button.click()
        log_in_as(page, "en", fake_wechat.user.nickname)
        page.wait_for_url(f"http://{served.netloc}/")
        assert page.content().count("hello alice@example.com") == 1
        screenshot(page, "2-logged-in")
    finally:
        context.close()
        served.stop()
