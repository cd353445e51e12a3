"""The pages offer the site's other ways in: the QR page, the phone's page, follow and code."""

from __future__ import annotations

import re
import typing as t
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from cachelib import SimpleCache
from flask.testing import FlaskClient

from flask_wechat_web.testing import FakeWeChat

from .conftest import make_app

DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"
ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
BOTH = [(True, True), (True, False), (False, True), (False, False)]


def client(fake: FakeWeChat, follow: bool, code: bool, **config: t.Any) -> FlaskClient:
    app, _ = make_app(
        fake,
        WECHAT_WEB_FOLLOW_LOGIN=follow,
        WECHAT_WEB_CODE_LOGIN=code,
        WECHAT_WEB_STORE=SimpleCache(),
        **fake.push_config(),
        **config,
    )
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the links' English, as asserted
    return browser


def offered(html: str) -> dict[str, list[str]]:
    """The ways in the page links to (``?mode=``), each with the ``next`` its link keeps."""
    found: dict[str, list[str]] = {}
    for href in re.findall(r'href="([^"]*/wechat/login\?[^"]*)"', html):
        query = parse_qs(urlsplit(unescape(href)).query)
        for mode in query.get("mode", []):
            found[mode] = query.get("next", [])
    return found


def expected(follow: bool, code: bool, *, but: str = "") -> set[str]:
    return {mode for mode, on in (("follow", follow), ("code", code)) if on and mode != but}


@pytest.mark.parametrize(("follow", "code"), BOTH)
def test_the_qr_page_offers_follow_and_code(
    fake_wechat: FakeWeChat, follow: bool, code: bool
) -> None:
    page = client(fake_wechat, follow, code).get(
        "/wechat/qrcode?next=/private", headers={"User-Agent": DESKTOP_UA}
    )
    assert page.status_code == 200
    ways = offered(page.text)
    assert set(ways) - {"qr"} == expected(follow, code)
    for mode in expected(follow, code):
        assert ways[mode] == ["/private"]
    if follow:
        assert "Or follow our Official Account" in page.text
    if code:
        assert "Or log in with a code from WeChat" in page.text


@pytest.mark.parametrize("code", [True, False])
def test_a_phone_is_offered_the_code_not_the_follow_qr(fake_wechat: FakeWeChat, code: bool) -> None:
    page = client(fake_wechat, True, code).get(
        "/wechat/login?next=/private", headers={"User-Agent": ANDROID_UA}
    )
    assert page.status_code == 200
    ways = offered(page.text)
    assert "follow" not in ways, "the phone showing that QR code cannot scan it"
    assert ways.get("code") == (["/private"] if code else None)


@pytest.mark.parametrize(("follow", "code"), [(True, True), (True, False), (False, True)])
def test_follow_and_code_pages_offer_each_other(
    fake_wechat: FakeWeChat, follow: bool, code: bool
) -> None:
    browser = client(fake_wechat, follow, code, WECHAT_WEB_APPID=None, WECHAT_WEB_SECRET=None)
    for mode, path in (("follow", "/wechat/follow"), ("code", "/wechat/code")):
        if not expected(follow, code) >= {mode}:
            continue
        page = browser.get(f"{path}?next=/private", headers={"User-Agent": DESKTOP_UA})
        assert page.status_code == 200, page.text
        ways = offered(page.text)
        assert set(ways) == expected(follow, code, but=mode)
        assert all(next_url == ["/private"] for next_url in ways.values())
