"""The waiting page's long poll: ``/wechat/follow/status?wait=``, over real HTTP."""

from __future__ import annotations

import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import requests

from flask_wechat_web.flows import follow as follow_flow
from flask_wechat_web.testing import FakeWeChat

from .test_follow import Site, confirm, link_in

#: Long enough for a request sent from another thread to be held at the site.
SETTLE = 0.3


@pytest.fixture
def site(fake_wechat: FakeWeChat) -> t.Iterator[Site]:
    site = Site(fake_wechat)
    yield site
    site.served.stop()


def held(
    pool: ThreadPoolExecutor, browser: requests.Session, site: Site, query: str
) -> Future[dict[str, t.Any]]:
    """A status request sent from another thread, answered (once it is) as JSON."""

    def ask() -> dict[str, t.Any]:
        answer = browser.get(f"{site.base}/wechat/follow/status?{query}", timeout=30)
        assert answer.status_code == 200, answer.text
        return t.cast(dict[str, t.Any], answer.json())

    future = pool.submit(ask)
    time.sleep(SETTLE)
    return future


def test_a_held_request_answers_the_change(site: Site, fake_wechat: FakeWeChat) -> None:
    browser = site.browser()
    site.open_follow(browser)
    user = fake_wechat.users[0]
    with ThreadPoolExecutor(1) as pool:
        scanned = held(pool, browser, site, "wait=10&known=waiting")
        reply = site.scan(user)
        assert scanned.result()["status"] == "scanned"
        done = held(pool, browser, site, "wait=10&known=scanned")
        confirm(link_in(reply), user)
        assert done.result() == {"status": "done", "next": "/private"}
    assert browser.get(f"{site.base}/private").text.startswith("private for")


def test_the_wait_is_capped(
    site: Site, fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follow_flow, "MAX_WAIT", 0.5)
    browser = site.browser()
    site.open_follow(browser)
    for wait in ("3600", "1e308", "inf", "nan", "-5", "soon", ""):
        answer = browser.get(f"{site.base}/wechat/follow/status?wait={wait}", timeout=30)
        assert answer.json() == {"status": "waiting", "next": "/private"}, wait


def test_a_held_request_knows_the_browser_by_its_cookie_alone(
    site: Site, fake_wechat: FakeWeChat
) -> None:
    browser = site.browser()
    site.open_follow(browser)
    ticket, code = fake_wechat.qrcode_of(site.latest_qr())
    user = fake_wechat.users[0]
    reply = site.scan(user)
    other = site.browser()
    with ThreadPoolExecutor(2) as pool:
        mine = held(pool, browser, site, "wait=10")
        query = f"wait=10&known=scanned&scene={code.scene}&ticket={ticket}"
        theirs = held(pool, other, site, query)
        assert theirs.result()["status"] == "expired"  # no scene in its session: not held
        confirm(link_in(reply), user)
        assert mine.result()["status"] == "done"
    assert other.get(f"{site.base}/private", allow_redirects=False).status_code != 200
