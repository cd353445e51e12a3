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


def test_a_phone_scans_through_the_fakes_http_form(site: Site, fake_wechat: FakeWeChat) -> None:
    # As a benchmark or a test drives a fake in another process: POST /_fake/scan.
    assert fake_wechat.server is not None
    scan_url = f"{fake_wechat.server.open_base_url}/_fake/scan"
    browser = site.browser()
    site.open_follow(browser)
    form = {"qr": site.latest_qr(), "url": site.served.push_url + "?from=test", "user": "bob"}
    answer = requests.post(scan_url, data=form, timeout=10)
    assert answer.status_code == 200, answer.text
    delivery = answer.json()
    assert delivery["status"] == 200 and delivery["deliveries"] == 1
    user = next(user for user in fake_wechat.users if user.key == "bob")
    assert fake_wechat.follows(user)
    confirm(link_in(delivery["reply"]), user)
    assert site.status(browser)["status"] == "done"
    for bad in ({"url": "http://example.com/push"}, {"user": "<b>"}, {"mode": "loud"}):
        assert requests.post(scan_url, data={**form, **bad}, timeout=10).status_code == 400
    browser.get(f"{site.base}/wechat/follow?new=1")
    newest = {key: value for key, value in form.items() if key != "qr"}
    again = requests.post(scan_url, data=newest, timeout=10).json()
    assert again["reply"] is not None and "/wechat/follow/confirm/" in again["reply"]
    unknown = requests.post(scan_url, data={**form, "qr": "nope"}, timeout=10)
    assert unknown.status_code == 404
    browser.get(f"{site.base}/wechat/follow?new=1")
    fake_wechat.advance(301)
    expired = requests.post(scan_url, data={**form, "qr": site.latest_qr()}, timeout=10)
    assert (expired.status_code, expired.json()) == (410, {"expired": True})
