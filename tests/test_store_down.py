"""``WECHAT_WEB_STORE`` going away (a Redis restart): clean answers, never a 500.

A real Redis server of the test's own, stopped in the middle: a mini
program login answers 503 JSON; a bearer token that can no longer be
checked for revocation is refused (401 JSON), never trusted; an app's
logout answers 503 JSON and changes nothing; a browser's logout still logs
it out.
"""

from __future__ import annotations

import logging
import typing as t

import pytest
import redis
from cachelib import RedisCache
from flask import Flask
from flask_login import current_user, login_required

from flask_wechat_web.testing import FakeWeChat

from .conftest import make_app, redis_server


@pytest.fixture
def site(fake_wechat: FakeWeChat) -> t.Iterator[tuple[Flask, t.Any]]:
    with redis_server() as (url, process):
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        app, _ = make_app(fake_wechat, WECHAT_WEB_STORE=RedisCache(client))

        @app.route("/api/me")
        @login_required
        def me() -> str:
            return str(current_user.get_id())

        yield app, process


def _login(app: Flask, fake: FakeWeChat) -> tuple[t.Any, dict[str, str]]:
    client = app.test_client()
    answer = client.post("/wechat/miniprogram/login", json={"code": fake.miniprogram_code()})
    assert answer.status_code == 200
    return client, {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def _stop(process: t.Any) -> None:
    process.terminate()
    process.wait(10)


def test_a_login_while_the_store_is_down_is_a_503_json(
    site: tuple[Flask, t.Any], fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app, process = site
    _stop(process)
    code = fake_wechat.miniprogram_code()
    answer = app.test_client().post("/wechat/miniprogram/login", json={"code": code})
    assert answer.status_code == 503
    assert answer.get_json()["error"] == "StorageUnavailableError"
    assert fake_wechat.session_key(fake_wechat.user) not in caplog.text


def test_a_bearer_token_that_cannot_be_checked_is_refused(
    site: tuple[Flask, t.Any], fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app, process = site
    _, headers = _login(app, fake_wechat)
    api = app.test_client(use_cookies=False)
    assert api.get("/api/me", headers=headers).status_code == 200
    _stop(process)
    with caplog.at_level(logging.WARNING):
        refused = api.get("/api/me", headers=headers)
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "TokenExpiredError"
    assert "WECHAT_WEB_STORE" in caplog.text


def test_an_apps_logout_while_the_store_is_down_changes_nothing(
    site: tuple[Flask, t.Any], fake_wechat: FakeWeChat
) -> None:
    app, process = site
    client, _ = _login(app, fake_wechat)
    _stop(process)
    answer = client.post("/wechat/logout", json={})
    assert answer.status_code == 503
    assert answer.get_json()["error"] == "StorageUnavailableError"
    assert client.get("/api/me").status_code == 200  # still logged in: try again later


def test_a_browsers_logout_while_the_store_is_down_still_logs_out(
    site: tuple[Flask, t.Any], fake_wechat: FakeWeChat
) -> None:
    app, process = site
    client, _ = _login(app, fake_wechat)
    _stop(process)
    answer = client.post("/wechat/logout")
    assert answer.status_code == 302
    assert client.get("/api/me").status_code != 200
