"""The example site (``example/``) against the fake, through the test client."""

from __future__ import annotations

import re
import typing as t

import pytest
from cachelib import SimpleCache
from flask import Flask

from example import create_app
from flask_wechat_web.testing import FakeWeChat

from .conftest import log_in


@pytest.fixture
def example_app(fake_wechat: FakeWeChat, tmp_path: t.Any) -> t.Iterator[Flask]:
    from example.models import db

    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/example.db",
            "WECHAT_WEB_STORE": SimpleCache(),
            **fake_wechat.config(),
        }
    )
    fake_wechat.configure(app)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("fault", ["http_500", "not_json", "errcode_-1", "drop"])
def test_profile_api_answers_a_clean_502_when_wechat_fails(
    example_app: Flask, fake_wechat: FakeWeChat, fault: str
) -> None:
    client = example_app.test_client()
    log_in(client, fake_wechat)
    assert client.get("/api/wechat-profile").get_json()["nickname"] == fake_wechat.user.nickname
    fake_wechat.inject("userinfo", fault, times=1)
    response = client.get("/api/wechat-profile")
    assert response.status_code == 502
    assert response.get_json() == {"error": "本网站暂时无法连接微信，请稍后再试。"}  # zh_CN


def test_logout_button_posts_and_logs_out(example_app: Flask, fake_wechat: FakeWeChat) -> None:
    client = example_app.test_client()
    log_in(client, fake_wechat)
    home = client.get("/").get_data(as_text=True)
    assert fake_wechat.user.nickname in home
    form = re.search(r'<form class="inline-form" method="post" action="([^"]+)">', home)
    assert form is not None
    done = client.post(form.group(1))
    assert done.status_code == 302
    assert "微信登录" in client.get("/").get_data(as_text=True)


def test_the_extensions_pages_are_in_the_sites_layout(example_app: Flask) -> None:
    client = example_app.test_client()
    client.set_cookie("lang", "zh_TW")
    english = {"Accept-Language": "en"}
    for path in ("/wechat/logout", "/wechat/qrcode", "/wechat/authorized?state=Bad1&code=x"):
        page = client.get(path, headers=english).get_data(as_text=True)
        assert '<html lang="zh-TW">' in page, path
        assert 'class="brand"' in page and 'aria-label="語言"' in page, path  # header, switch
        assert 'class="wechat-card"' in page, path
        # The site's login link from here comes back home, not to this page.
        assert 'href="/wechat/login?next=/"' in page, path
    error = client.get("/wechat/authorized?state=Bad1&code=x").get_data(as_text=True)
    assert error.count('<p class="flash') == 0  # the card says it once


SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_the_home_page_offers_the_qr_only_on_a_computer(example_app: Flask) -> None:
    client = example_app.test_client()
    assert 'href="/wechat/qrcode?next=/"' in client.get("/").get_data(as_text=True)
    phone = client.get("/", headers={"User-Agent": SAFARI_ON_IPHONE}).get_data(as_text=True)
    assert "/wechat/qrcode" not in phone
    assert 'href="/wechat/login?next=/"' in phone  # the login, which knows phones


def test_one_user_across_web_mobile_app_and_mini_program(
    example_app: Flask, fake_wechat: FakeWeChat
) -> None:
    browser = example_app.test_client()
    response, _ = log_in(browser, fake_wechat)
    assert response.status_code == 302
    web = browser.get("/api/me").get_json()
    phone = example_app.test_client()
    app_answer = phone.post("/wechat/app/login", json={"code": fake_wechat.app_code()})
    assert app_answer.status_code == 200, app_answer.get_data(as_text=True)
    mini = example_app.test_client(use_cookies=False)
    mini_answer = mini.post(
        "/wechat/miniprogram/login", json={"code": fake_wechat.miniprogram_code()}
    )
    assert mini_answer.status_code == 200, mini_answer.get_data(as_text=True)
    token = mini_answer.get_json()["access_token"]
    me = mini.get("/api/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    # One person, one user: the three apps' openids differ, the unionid joins them.
    assert str(web["id"]) == app_answer.get_json()["user"]["id"] == str(me["id"])
    assert me["unionid"] == fake_wechat.unionid(fake_wechat.user)
    appids = {account["appid"] for account in me["accounts"]}
    assert appids == {
        fake_wechat.website_app.appid,
        fake_wechat.mobile_app.appid,
        fake_wechat.miniprogram.appid,
    }
    assert len({account["openid"] for account in me["accounts"]}) == 3
